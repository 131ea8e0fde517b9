/** Softmax, and fused softmax + cross-entropy with its gradient and accuracy counts. */
import { floats, type KernelDef, type Rng } from './kernel.ts';

export interface RowsParams {
  N: number;
  J: number;
}
export interface XentParams extends RowsParams {
  /** Multiplies the gradient: 1/batch for a mean loss (1/global batch when micro-batching). */
  scale: number;
}

export function softmaxRow(z: ArrayLike<number>, row: number, J: number): number[] {
  let m = -Infinity;
  for (let j = 0; j < J; j++) m = Math.max(m, z[row + j]);
  const e = Array.from({ length: J }, (_, j) => Math.exp(z[row + j] - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

export const softmax: KernelDef<RowsParams> = {
  name: 'softmax',
  inputs: ['z'],
  inputSizes: (p) => ({ z: p.N * p.J }),
  outputSizes: (p) => ({ probs: p.N * p.J }),
  reference: (i, p) => {
    const probs = floats(i.z, p.N * p.J);
    for (let n = 0; n < p.N; n++) probs.set(softmaxRow(i.z, n * p.J, p.J), n * p.J);
    return { probs };
  },
  variants: [
    {
      name: 'per-row',
      run: (gpu, b, p) =>
        gpu.dispatch({ pipeline: gpu.pipeline('softmax', { WG: 64 }), buffers: [b.z, b.probs], params: { N: p.N, J: p.J }, workgroups: [Math.ceil(p.N / 64)] }),
    },
  ],
  tolerance: 1e-5,
  cases: [
    { N: 1, J: 1 },
    { N: 3, J: 2 },
    { N: 100, J: 10 },
  ],
};

const labels = (p: RowsParams, rng: Rng) => Float32Array.from({ length: p.N }, () => Math.floor(rng() * p.J));

export const softmaxXent: KernelDef<XentParams> = {
  name: 'softmax_xent',
  inputs: ['z', 'labels', 'stats'],
  updates: ['stats'],
  inputSizes: (p) => ({ z: p.N * p.J, labels: p.N, stats: 4 }),
  outputSizes: (p) => ({ dz: p.N * p.J, loss: 1 }),
  makeInput: { labels, stats: () => new Float32Array([0.5, 1, 2, 0]) },
  reference: (i, p) => {
    const dz = floats(i.z, p.N * p.J);
    let loss = 0;
    let hits = 0;
    for (let n = 0; n < p.N; n++) {
      const row = n * p.J;
      const label = i.labels[n];
      const pr = softmaxRow(i.z, row, p.J);
      loss -= Math.log(pr[label]);
      let arg = 0;
      for (let j = 1; j < p.J; j++) if (i.z[row + j] > i.z[row + arg]) arg = j;
      if (arg === label) hits++;
      for (let j = 0; j < p.J; j++) dz[row + j] = p.scale * (pr[j] - (j === label ? 1 : 0));
    }
    i.stats[0] += loss;
    i.stats[1] += hits;
    i.stats[2] += p.N;
    const lossOut = floats(i.z, 1);
    lossOut[0] = p.scale * loss;
    return { dz, loss: lossOut };
  },
  variants: [
    {
      name: 'one-workgroup',
      run: (gpu, b, p) =>
        gpu.dispatch({
          pipeline: gpu.pipeline('softmax_xent', { WG: 64 }),
          buffers: [b.z, b.labels, b.dz, b.loss, b.stats],
          params: { N: p.N, J: p.J, scale: p.scale },
          workgroups: [1],
        }),
    },
  ],
  tolerance: 1e-5,
  cases: [
    { N: 1, J: 1, scale: 1 },
    { N: 3, J: 2, scale: 1 / 3 },
    { N: 100, J: 10, scale: 0.01 },
    { N: 257, J: 3, scale: 0.5 },
  ],
};
