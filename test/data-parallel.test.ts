// Data-parallel training: N devices with per-device batch b match one device with batch N*b.
import { describe, expect, it } from 'vitest';
import { createReplicas, destroyReplicas, gatherStats, parallelStep } from '../src/train/data-parallel.ts';
import { Classifier, type Arch } from '../src/nn/model.ts';
import { Adam } from '../src/nn/optim.ts';
import { takeStats, trainStep, type Batch } from '../src/nn/train-step.ts';
import { makeDataset } from '../src/data/synthetic.ts';
import { Rng } from '../src/util/rng.ts';

const SIZE = 18;
const arch: Arch = { blocks: 'c6-p-c8', inputChannels: 3, height: SIZE, width: SIZE, classes: 2 };
const data = makeDataset(21, ['disc', 'cross'], 96, SIZE);
const per = SIZE * SIZE * 3;
const batch = (step: number, n: number): Batch => ({
  pixels: data.pixels.subarray(step * n * per, (step + 1) * n * per),
  labels: data.labels.subarray(step * n, (step + 1) * n),
  n,
});

describe('data-parallel training', () => {
  for (const devices of [2, 3]) {
    it(`${devices} devices x batch 8 = 1 device x batch ${devices * 8}, over 4 steps`, async () => {
      const build = (backend: Parameters<Parameters<typeof createReplicas>[1]>[0]) => {
        const model = new Classifier(backend, arch, new Rng(5));
        return { model, opt: new Adam(backend, model.parameters(), { lr: 0.01 }) };
      };
      const [single] = await createReplicas(1, build);
      const many = await createReplicas(devices, build);
      const losses: [number, number][] = [];
      for (let step = 0; step < 4; step++) {
        const b = batch(step, devices * 8);
        trainStep(single.model, single.opt, b, single.stats);
        await parallelStep(many, b, b.n);
        await gatherStats(many);
        losses.push([(await takeStats(single.stats)).loss, (await takeStats(many[0].stats)).loss]);
      }
      for (const [a, b] of losses) expect(Math.abs(a - b)).toBeLessThan(1e-5);
      const ref = single.model.parameters();
      for (const r of many) {
        const params = r.model.parameters();
        for (let k = 0; k < ref.length; k++) {
          const want = await ref[k][1].toArray();
          const got = await params[k][1].toArray();
          expect(Math.max(...got.map((v, i) => Math.abs(v - want[i]))), ref[k][0]).toBeLessThan(1e-4);
        }
      }
      // The replicas themselves are bit-identical.
      const w0 = await many[0].model.fc.weight.toArray();
      for (const r of many.slice(1)) expect(Array.from(await r.model.fc.weight.toArray())).toEqual(Array.from(w0));
      destroyReplicas([single, ...many]);
    });
  }
});
