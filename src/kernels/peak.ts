/**
 * A plain multiply-add rate (see multiply_add_peak.wgsl). Not part of the network: the bench
 * times it right after the convolutions it holds to a target, so that a rate measured on a
 * CPU driver, whose speed moves with the host's load, can be read against what the driver
 * did with the simplest possible work at that moment.
 */
import { floats, launch1d, type KernelDef } from './kernel.ts';

export interface PeakParams {
  /** Invocations, one element each. */
  count: number;
  /** Multiply-add rounds of each invocation's sixteen chains. */
  rounds: number;
}

const CHAINS = 16;
const M = 0.9990234375;

export const multiplyAddPeak: KernelDef<PeakParams> = {
  name: 'multiply_add_peak',
  inputs: ['x'],
  inputSizes: (p) => ({ x: p.count }),
  outputSizes: (p) => ({ y: p.count }),
  reference: (inp, p) => {
    const y = floats(inp.x, p.count);
    const f = Math.fround;
    const a = new Float64Array(CHAINS);
    for (let i = 0; i < p.count; i++) {
      for (let j = 0; j < CHAINS; j++) a[j] = f(inp.x[i] + j);
      for (let r = 0; r < p.rounds; r++) for (let j = 0; j < CHAINS; j++) a[j] = f(f(a[j] * M) + 0.5);
      const sum8 = (k: number) => f(f(f(a[k] + a[k + 1]) + f(a[k + 2] + a[k + 3])) + f(f(a[k + 4] + a[k + 5]) + f(a[k + 6] + a[k + 7])));
      y[i] = f(sum8(0) + sum8(8));
    }
    return { y };
  },
  variants: [{ name: 'registers', run: (gpu, b, p) => launch1d(gpu, 'multiply_add_peak', [b.x, b.y], { count: p.count, rounds: p.rounds }, p.count, { wg: 64 }) }],
  // A GPU may fuse each multiply-add (one rounding instead of two); M < 1 keeps that from growing.
  tolerance: 1e-5,
  cases: [
    { count: 1, rounds: 1 },
    { count: 67, rounds: 5 },
    { count: 300, rounds: 257 },
  ],
  flops: (p) => p.count * p.rounds * CHAINS * 2,
};
