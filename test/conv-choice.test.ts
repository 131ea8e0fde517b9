// The per-layer kernel choice: which convolutions a step runs, the measurement, and training
// on Winograd kernels following the direct kernels' trajectory.
import { describe, expect, it } from 'vitest';
import type { Gpu } from '../src/gpu/runtime.ts';
import { Classifier, type Arch } from '../src/nn/model.ts';
import { Sgd } from '../src/nn/optim.ts';
import { takeStats, trainStep, type Batch } from '../src/nn/train-step.ts';
import { describeChoices, fixedChoices, measureConvChoices, stepConvs } from '../src/nn/conv-choice.ts';
import { CHOOSABLE_KERNELS } from '../src/kernels/conv-choice-key.ts';
import { defaultVariant } from '../src/kernels/kernel.ts';
import { GpuBackend } from '../src/tensor/gpu-backend.ts';
import { Tensor } from '../src/tensor/tensor.ts';
import { makeDataset } from '../src/data/synthetic.ts';
import { Rng } from '../src/util/rng.ts';
import { useGpu } from './gpu-fixture.ts';

let gpu: Gpu;
useGpu((g) => (gpu = g));

const SIZE = 30;
const arch: Arch = { blocks: 'c8-p-c16-p-c12', inputChannels: 3, height: SIZE, width: SIZE, classes: 2 };

describe('the convolutions of a training step', () => {
  it('are each layer pooled or not, and grad-input from the second layer on, each shape once', () => {
    const convs = stepConvs({ ...arch, blocks: 'c8-p-c16-c16-p-c12' }, 4);
    expect(convs.map((c) => `${c.layer} ${c.kernel.name} ${c.params.Ci}->${c.params.Co} ${c.params.H}x${c.params.W}`)).toEqual([
      '1 conv2d_relu_maxpool 3->8 30x30',
      '2 conv2d_forward 8->16 14x14',
      '2 conv2d_grad_input 8->16 14x14',
      '3 conv2d_relu_maxpool 16->16 12x12',
      '3 conv2d_grad_input 16->16 12x12',
      '4 conv2d_forward 16->12 5x5',
      '4 conv2d_grad_input 16->12 5x5',
    ]);
  });

  it('are timed per variant, the default first, and the choice is one of them', async () => {
    const measured = await measureConvChoices(gpu, arch, 4);
    expect(measured).toHaveLength(stepConvs(arch, 4).length);
    for (const m of measured) {
      const names = Object.keys(m.ms);
      expect(names[0]).toBe(defaultVariant(CHOOSABLE_KERNELS.find((k) => k.name === m.kernel)!, gpu).name);
      expect(names).toContain(m.variant);
      for (const ms of Object.values(m.ms)) expect(ms).toBeGreaterThan(0);
      if (gpu.subgroupMinSize >= 8) expect(names).toEqual(expect.arrayContaining(['subgroup', 'winograd2', 'winograd4', 'winograd6']));
    }
    expect(describeChoices(measured)).toMatch(/^conv1 forward \w+.*; conv2 forward \w+.*, grad-input \w+.*; conv3 forward \w+.*, grad-input \w+/);
  });
});

describe('training on Winograd kernels', () => {
  const data = makeDataset(4, ['disc', 'cross'], 64, SIZE);
  const per = SIZE * SIZE * 3;
  const batch = (step: number): Batch => ({ pixels: data.pixels.subarray(step * 8 * per, (step + 1) * 8 * per), labels: data.labels.subarray(step * 8, (step + 1) * 8), n: 8 });

  async function run(variant: string | null) {
    const backend = new GpuBackend(gpu);
    if (variant) backend.useConvChoices(fixedChoices(gpu, arch, variant));
    const model = new Classifier(backend, arch, new Rng(9));
    const opt = new Sgd(backend, model.parameters(), { lr: 0.05, momentum: 0.9, weightDecay: 0 });
    const stats = Tensor.zeros(backend, [4]).keep();
    const losses: number[] = [];
    for (let step = 0; step < 6; step++) {
      trainStep(model, opt, batch(step), stats);
      losses.push((await takeStats(stats)).loss);
    }
    const params = await Promise.all(model.parameters().map(async ([name, t]) => [name, await t.toArray()] as const));
    model.dispose();
    return { losses, params };
  }

  it('follows the direct kernels: 6 SGD steps, losses and weights within 1e-4', async () => {
    if (gpu.subgroupMinSize < 8) return expect(fixedChoices(gpu, arch, 'winograd4').every((c) => !c.variant.startsWith('winograd'))).toBe(true);
    const direct = await run(null);
    for (const variant of ['winograd2', 'winograd4', 'winograd6']) {
      const wino = await run(variant);
      for (let i = 0; i < direct.losses.length; i++) expect(Math.abs(wino.losses[i] - direct.losses[i]) / direct.losses[i], `${variant} step ${i + 1} loss`).toBeLessThan(1e-4);
      for (const [k, [name, want]] of direct.params.entries()) {
        const got = wino.params[k][1];
        const scale = Math.max(...want.map(Math.abs));
        expect(Math.max(...got.map((v, i) => Math.abs(v - want[i]))) / scale, `${variant} ${name}`).toBeLessThan(1e-4);
      }
    }
    // The choice is really in force: the Winograd run is not the direct one bit for bit.
    const wino = await run('winograd4');
    expect(wino.params.some(([, got], k) => got.some((v, i) => v !== direct.params[k][1][i]))).toBe(true);
  });
});
