/** Optimizer updates, in place on the GPU: SGD with momentum, and Adam(W). */
import { launch1d, type KernelDef } from './kernel.ts';

export interface LenParams {
  len: number;
}
const optimCases: LenParams[] = [{ len: 1 }, { len: 9 }, { len: 4099 }];

/** hyper = [lr, momentum, weightDecay] */
export const sgd: KernelDef<LenParams> = {
  name: 'sgd',
  inputs: ['w', 'v', 'g', 'hyper'],
  updates: ['w', 'v'],
  inputSizes: (p) => ({ w: p.len, v: p.len, g: p.len, hyper: 4 }),
  outputSizes: () => ({}),
  makeInput: { hyper: () => new Float32Array([0.05, 0.9, 1e-3, 0]) },
  reference: (i) => {
    const [lr, mom, wd] = i.hyper;
    for (let k = 0; k < i.w.length; k++) {
      const g = i.g[k] + wd * i.w[k];
      i.v[k] = mom * i.v[k] + g;
      i.w[k] -= lr * i.v[k];
    }
    return {};
  },
  variants: [{ name: 'elementwise', run: (gpu, b, p) => launch1d(gpu, 'sgd', [b.w, b.v, b.g, b.hyper], { len: p.len }, p.len) }],
  tolerance: 1e-6,
  cases: optimCases,
  bytes: (p) => 20 * p.len,
};

/** hyper = [lr, beta1, beta2, eps, weightDecay, 1-beta1^t, 1-beta2^t] */
export const adam: KernelDef<LenParams> = {
  name: 'adam',
  inputs: ['w', 'm', 'v', 'g', 'hyper'],
  updates: ['w', 'm', 'v'],
  inputSizes: (p) => ({ w: p.len, m: p.len, v: p.len, g: p.len, hyper: 8 }),
  outputSizes: () => ({}),
  makeInput: {
    v: (p, rng) => Float32Array.from({ length: p.len }, () => rng()),
    hyper: () => new Float32Array([1e-3, 0.9, 0.999, 1e-8, 1e-2, 1 - 0.9 ** 3, 1 - 0.999 ** 3, 0]),
  },
  reference: (i) => {
    const [lr, b1, b2, eps, wd, c1, c2] = i.hyper;
    for (let k = 0; k < i.w.length; k++) {
      const g = i.g[k];
      i.m[k] = b1 * i.m[k] + (1 - b1) * g;
      i.v[k] = b2 * i.v[k] + (1 - b2) * g * g;
      i.w[k] -= lr * (i.m[k] / c1 / (Math.sqrt(i.v[k] / c2) + eps) + wd * i.w[k]);
    }
    return {};
  },
  variants: [{ name: 'elementwise', run: (gpu, b, p) => launch1d(gpu, 'adam', [b.w, b.m, b.v, b.g, b.hyper], { len: p.len }, p.len) }],
  tolerance: 1e-5,
  cases: optimCases,
  bytes: (p) => 28 * p.len,
};
