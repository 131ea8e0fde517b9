/** Dense layer (x [N,K] times w [J,K] transposed, plus b [J]), forward and backward. */
import { floats, launch1d, type KernelDef } from './kernel.ts';

export interface DenseParams {
  N: number;
  K: number;
  J: number;
}
const denseCases: DenseParams[] = [
  { N: 1, K: 1, J: 1 },
  { N: 3, K: 33, J: 2 },
  { N: 17, K: 256, J: 10 },
  { N: 64, K: 5, J: 3 },
];
const flops = (p: DenseParams) => 2 * p.N * p.K * p.J;

export const dense: KernelDef<DenseParams> = {
  name: 'dense',
  inputs: ['x', 'w', 'b'],
  inputSizes: (p) => ({ x: p.N * p.K, w: p.J * p.K, b: p.J }),
  outputSizes: (p) => ({ y: p.N * p.J }),
  reference: (i, p) => {
    const y = floats(i.x, p.N * p.J);
    for (let n = 0; n < p.N; n++)
      for (let j = 0; j < p.J; j++) {
        let s = i.b[j];
        for (let k = 0; k < p.K; k++) s += i.x[n * p.K + k] * i.w[j * p.K + k];
        y[n * p.J + j] = s;
      }
    return { y };
  },
  variants: [{ name: 'per-output', run: (gpu, b, p) => launch1d(gpu, 'dense', [b.x, b.w, b.b, b.y], { N: p.N, K: p.K, J: p.J }, p.N * p.J, { wg: 64 }) }],
  tolerance: 1e-5,
  cases: denseCases,
  flops,
};

export const denseGradInput: KernelDef<DenseParams> = {
  name: 'dense_grad_input',
  inputs: ['dy', 'w'],
  inputSizes: (p) => ({ dy: p.N * p.J, w: p.J * p.K }),
  outputSizes: (p) => ({ dx: p.N * p.K }),
  reference: (i, p) => {
    const dx = floats(i.dy, p.N * p.K);
    for (let n = 0; n < p.N; n++)
      for (let k = 0; k < p.K; k++) {
        let s = 0;
        for (let j = 0; j < p.J; j++) s += i.dy[n * p.J + j] * i.w[j * p.K + k];
        dx[n * p.K + k] = s;
      }
    return { dx };
  },
  variants: [{ name: 'per-output', run: (gpu, b, p) => launch1d(gpu, 'dense_grad_input', [b.dy, b.w, b.dx], { N: p.N, K: p.K, J: p.J }, p.N * p.K, { wg: 64 }) }],
  tolerance: 1e-5,
  cases: denseCases,
  flops,
};

export const denseGradParams: KernelDef<DenseParams> = {
  name: 'dense_grad_params',
  inputs: ['x', 'dy'],
  inputSizes: (p) => ({ x: p.N * p.K, dy: p.N * p.J }),
  outputSizes: (p) => ({ dw: p.J * p.K, db: p.J }),
  reference: (i, p) => {
    const dw = floats(i.dy, p.J * p.K);
    const db = floats(i.dy, p.J);
    for (let j = 0; j < p.J; j++) {
      let sb = 0;
      for (let n = 0; n < p.N; n++) sb += i.dy[n * p.J + j];
      db[j] = sb;
      for (let k = 0; k < p.K; k++) {
        let s = 0;
        for (let n = 0; n < p.N; n++) s += i.dy[n * p.J + j] * i.x[n * p.K + k];
        dw[j * p.K + k] = s;
      }
    }
    return { dw, db };
  },
  variants: [
    {
      name: 'per-output',
      run: (gpu, b, p) => launch1d(gpu, 'dense_grad_params', [b.x, b.dy, b.dw, b.db], { N: p.N, K: p.K, J: p.J }, p.J * (p.K + 1), { wg: 64 }),
    },
  ],
  tolerance: 1e-5,
  cases: denseCases,
  flops,
};
