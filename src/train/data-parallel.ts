/**
 * Data-parallel training over several WebGPU devices (as the seed did with 8 GPUs):
 * one replica of the model per device, the global batch split evenly, gradients summed
 * across devices through the host after every backward pass, then the same update on
 * every device, so the replicas stay identical and replica 0 is saved as a plain model.
 * With one adapter, N logical devices are created on it (useful for testing; on a CPU
 * device they share the same cores, so expect no speed-up there).
 */
import type { Gpu } from '../gpu/runtime.ts';
import { openGpu } from '../gpu/dawn.ts';
import type { Classifier } from '../nn/model.ts';
import type { Optimizer } from '../nn/optim.ts';
import { accumulateGradients, type Batch } from '../nn/train-step.ts';
import { GpuBackend } from '../tensor/gpu-backend.ts';
import { Tensor } from '../tensor/tensor.ts';

export interface Replica {
  gpu: Gpu;
  backend: GpuBackend;
  model: Classifier;
  opt: Optimizer;
  stats: Tensor;
}

export async function createReplicas(
  count: number,
  build: (backend: GpuBackend) => { model: Classifier; opt: Optimizer },
): Promise<Replica[]> {
  const replicas: Replica[] = [];
  for (let i = 0; i < count; i++) {
    const gpu = await openGpu();
    const backend = new GpuBackend(gpu);
    const { model, opt } = build(backend);
    replicas.push({ gpu, backend, model, opt, stats: Tensor.zeros(backend, [4]).keep() });
  }
  return replicas;
}

function slice(b: Batch, start: number, end: number): Batch {
  const per = b.pixels.length / b.n;
  return { pixels: b.pixels.subarray(start * per, end * per), labels: b.labels.subarray(start, end), flips: b.flips?.subarray(start, end), n: end - start };
}

/** One synchronous data-parallel step: equal shares, summed gradients, identical updates. */
export async function parallelStep(replicas: Replica[], b: Batch, microBatch: number): Promise<void> {
  const share = Math.ceil(b.n / replicas.length);
  replicas.forEach((r, i) => {
    r.opt.beginStep();
    const part = slice(b, Math.min(b.n, i * share), Math.min(b.n, (i + 1) * share));
    if (part.n > 0) accumulateGradients(r.model, part, r.stats, microBatch, b.n);
  });
  const params = replicas.map((r) => r.model.parameters().map(([, t]) => t));
  for (let k = 0; k < params[0].length; k++) {
    const parts = await Promise.all(params.map((ps) => ps[k].grad?.toArray() ?? null));
    const sum = new Float32Array(params[0][k].size);
    for (const g of parts) if (g) for (let i = 0; i < sum.length; i++) sum[i] += g[i];
    params.forEach((ps, r) => {
      const p = ps[k];
      if (!p.grad) p.grad = Tensor.zeros(replicas[r].backend, p.shape).keep();
      replicas[r].backend.write(p.grad.storage, sum);
    });
  }
  for (const r of replicas) r.opt.step();
}

/** Adds every replica's device-side stats into replica 0's, so one readback reports the step. */
export async function gatherStats(replicas: Replica[]): Promise<void> {
  if (replicas.length === 1) return;
  const total = new Float32Array(4);
  for (const r of replicas) {
    const s = await r.stats.toArray();
    for (let i = 0; i < 4; i++) total[i] += s[i];
    r.backend.write(r.stats.storage, new Float32Array(4));
  }
  replicas[0].backend.write(replicas[0].stats.storage, total);
}

export function destroyReplicas(replicas: Replica[]): void {
  for (const r of replicas) {
    r.stats.dispose();
    r.opt.dispose();
    r.model.dispose();
    r.gpu.destroy();
  }
}
