// End-to-end engine checks on the GPU: a tiny CNN learns, matches the CPU reference
// path step for step, and leaks no pooled memory over many steps.
import { describe, expect, it } from 'vitest';
import type { Gpu } from '../src/gpu/runtime.ts';
import { useGpu } from './gpu-fixture.ts';
import type { GpuBackend } from '../src/tensor/gpu-backend.ts';
import { CpuBackend } from '../src/tensor/cpu-backend.ts';
import type { Backend } from '../src/tensor/backend.ts';
import { Tensor } from '../src/tensor/tensor.ts';
import { Classifier, type Arch } from '../src/nn/model.ts';
import { Adam, Sgd } from '../src/nn/optim.ts';
import { evalStep, takeStats, trainStep, type Batch } from '../src/nn/train-step.ts';
import { imagesThatFit, trainingNeed } from '../src/nn/memory.ts';
import { makeDataset } from '../src/data/synthetic.ts';
import { Rng } from '../src/util/rng.ts';

let gpu: Gpu;
let backend: GpuBackend;
useGpu((g, b) => {
  gpu = g;
  backend = b;
});

const SIZE = 20;
const arch: Arch = { blocks: 'c8-p-c16', inputChannels: 3, height: SIZE, width: SIZE, classes: 2 };
const data = makeDataset(11, ['hbar', 'vbar'], 256, SIZE);
const PER = SIZE * SIZE * 3;

function batch(order: number[], start: number, n: number): Batch {
  const pixels = new Uint8Array(n * PER);
  const labels = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const k = order[start + i];
    pixels.set(data.pixels.subarray(k * PER, (k + 1) * PER), i * PER);
    labels[i] = data.labels[k];
  }
  return { pixels, labels, n };
}

describe('training on the GPU', () => {
  it('a tiny CNN learns a synthetic 2-class task to >= 95% training accuracy', async () => {
    const model = new Classifier(backend, arch, new Rng(1));
    const opt = new Adam(backend, model.parameters(), { lr: 0.01 });
    const stats = Tensor.zeros(backend, [4]).keep();
    const rng = new Rng(2);
    const first = { loss: NaN };
    for (let epoch = 0; epoch < 30; epoch++) {
      const order = rng.shuffle([...Array(256).keys()]);
      for (let s = 0; s < 256; s += 32) trainStep(model, opt, batch(order, s, 32), stats);
      const epochStats = await takeStats(stats);
      if (epoch === 0) first.loss = epochStats.loss;
    }
    evalStep(model, batch([...Array(256).keys()], 0, 256), stats, 64);
    const final = await takeStats(stats);
    expect(final.count).toBe(256);
    expect(final.loss).toBeLessThan(first.loss / 2);
    expect(final.accuracy).toBeGreaterThanOrEqual(0.95);
    model.dispose();
    opt.dispose();
    stats.dispose();
  });

  it('the GPU and the CPU reference path give the same losses for the first steps', async () => {
    const run = async (b: Backend) => {
      const model = new Classifier(b, arch, new Rng(4));
      const opt = new Sgd(b, model.parameters(), { lr: 0.05, momentum: 0.9 });
      const stats = Tensor.zeros(b, [4]).keep();
      const losses: number[] = [];
      const order = [...Array(256).keys()];
      for (let step = 0; step < 5; step++) {
        trainStep(model, opt, batch(order, step * 16, 16), stats);
        losses.push((await takeStats(stats)).loss);
      }
      const weights = await model.parameters()[0][1].toArray();
      model.dispose();
      opt.dispose();
      return { losses, weights };
    };
    const onGpu = await run(backend);
    const onCpu = await run(new CpuBackend());
    for (let i = 0; i < 5; i++) expect(Math.abs(onGpu.losses[i] - onCpu.losses[i]) / onCpu.losses[i]).toBeLessThan(1e-4);
    const maxDiff = Math.max(...onGpu.weights.map((v, k) => Math.abs(v - onCpu.weights[k])));
    expect(maxDiff).toBeLessThan(1e-4);
  });

  it('micro-batches give the same update as the whole batch', async () => {
    const run = async (micro: number) => {
      const model = new Classifier(backend, arch, new Rng(6));
      const opt = new Sgd(backend, model.parameters(), { lr: 0.1, momentum: 0 });
      const stats = Tensor.zeros(backend, [4]).keep();
      trainStep(model, opt, batch([...Array(256).keys()], 0, 24), stats, micro);
      const w = await model.fc.weight.toArray();
      const s = await takeStats(stats);
      model.dispose();
      opt.dispose();
      return { w, s };
    };
    const whole = await run(24);
    const split = await run(7);
    expect(split.s.count).toBe(24);
    expect(Math.abs(split.s.loss - whole.s.loss)).toBeLessThan(1e-5);
    expect(Math.max(...split.w.map((v, k) => Math.abs(v - whole.w[k])))).toBeLessThan(1e-5);
  });

  it('pooled bytes in use return to the same level after 100 steps (no leak)', async () => {
    const model = new Classifier(backend, arch, new Rng(8));
    const opt = new Sgd(backend, model.parameters(), { lr: 0.01 });
    const stats = Tensor.zeros(backend, [4]).keep();
    const order = [...Array(256).keys()];
    trainStep(model, opt, batch(order, 0, 8), stats);
    await gpu.sync();
    const before = { ...gpu.pool.stats };
    for (let i = 0; i < 100; i++) trainStep(model, opt, batch(order, (i * 8) % 248, 8), stats);
    await takeStats(stats);
    const after = gpu.pool.stats;
    expect(after.bytesInUse).toBe(before.bytesInUse);
    expect(after.bytesAllocated).toBe(before.bytesAllocated);
    model.dispose();
    opt.dispose();
    stats.dispose();
  });
});

describe('long runs and adapter limits', () => {
  it('1,000 training steps: pooled bytes flat, process memory bounded', async () => {
    const model = new Classifier(backend, arch, new Rng(8));
    const opt = new Sgd(backend, model.parameters(), { lr: 0.01 });
    const stats = Tensor.zeros(backend, [4]).keep();
    const order = [...Array(256).keys()];
    const batches = Array.from({ length: 31 }, (_, i) => batch(order, i * 8, 8));
    for (let i = 0; i < 50; i++) trainStep(model, opt, batches[i % 31], stats);
    await takeStats(stats);
    const pool = { ...gpu.pool.stats };
    const rss = process.memoryUsage().rss;
    for (let i = 0; i < 1000; i++) {
      trainStep(model, opt, batches[i % 31], stats);
      if (i % 100 === 99) await takeStats(stats);
    }
    await takeStats(stats);
    expect(gpu.pool.stats.bytesInUse).toBe(pool.bytesInUse);
    expect(gpu.pool.stats.bytesAllocated).toBe(pool.bytesAllocated);
    expect(process.memoryUsage().rss - rss).toBeLessThan(64 * 2 ** 20);
    model.dispose();
    opt.dispose();
    stats.dispose();
  });

  it('splits a batch that would exceed the binding limit, and names the limit when one image is too big', () => {
    const need = trainingNeed({ blocks: 'c32-p-c64-p-c128-p-c256', inputChannels: 3, height: 224, width: 224, classes: 2 }, 2);
    const plenty = { bytes: 2 ** 40, source: 'test' };
    // conv1's output for one image: 32 x 222 x 222 floats = 6.3 MB; lavapipe binds 128 MiB.
    expect(imagesThatFit('m', need, 64, plenty, 128 * 2 ** 20)).toBe(21);
    expect(() => imagesThatFit('m', need, 64, plenty, 4 * 2 ** 20)).toThrow(/^m: one image needs a 6.0 MiB buffer, over this adapter's maxStorageBufferBindingSize of 4.0 MiB/);
  });
});
