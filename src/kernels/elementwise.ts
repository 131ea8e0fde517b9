/** Elementwise kernels: ReLU (when not fused into a conv), its gradient, and gradient accumulation. */
import { floats, launch1d, type KernelDef } from './kernel.ts';

export interface LenParams {
  len: number;
}
const lenCases: LenParams[] = [{ len: 1 }, { len: 7 }, { len: 257 }, { len: 100_003 }];

export const relu: KernelDef<LenParams> = {
  name: 'relu',
  inputs: ['x'],
  inputSizes: (p) => ({ x: p.len }),
  outputSizes: (p) => ({ y: p.len }),
  reference: (i) => ({ y: floats(i.x, i.x.length).map((_, k) => Math.max(0, i.x[k])) }),
  variants: [{ name: 'elementwise', run: (gpu, b, p) => launch1d(gpu, 'relu', [b.x, b.y], { len: p.len }, p.len) }],
  tolerance: 0,
  cases: lenCases,
  bytes: (p) => 8 * p.len,
};

export const reluBackward: KernelDef<LenParams> = {
  name: 'relu_backward',
  inputs: ['dy', 'y'],
  inputSizes: (p) => ({ dy: p.len, y: p.len }),
  outputSizes: (p) => ({ dx: p.len }),
  reference: (i) => ({ dx: floats(i.dy, i.dy.length).map((_, k) => (i.y[k] > 0 ? i.dy[k] : 0)) }),
  variants: [{ name: 'elementwise', run: (gpu, b, p) => launch1d(gpu, 'relu_backward', [b.dy, b.y, b.dx], { len: p.len }, p.len) }],
  tolerance: 0,
  cases: lenCases,
  bytes: (p) => 12 * p.len,
};

export const addInto: KernelDef<LenParams> = {
  name: 'add_into',
  inputs: ['acc', 'v'],
  updates: ['acc'],
  inputSizes: (p) => ({ acc: p.len, v: p.len }),
  outputSizes: () => ({}),
  reference: (i) => {
    for (let k = 0; k < i.acc.length; k++) i.acc[k] += i.v[k];
    return {};
  },
  variants: [{ name: 'elementwise', run: (gpu, b, p) => launch1d(gpu, 'add_into', [b.acc, b.v], { len: p.len }, p.len) }],
  tolerance: 1e-6,
  cases: lenCases,
  bytes: (p) => 12 * p.len,
};
