/** 2x2 max-pool (stride 2, floor) and global average pooling, forward and backward. Layout NCHW. */
import type { Gpu } from '../gpu/runtime.ts';
import { floats, launch1d, launchPerGroup, type KernelDef, type Rng } from './kernel.ts';

export interface PoolParams {
  NC: number; // batch * channels
  H: number;
  W: number;
}
const half = (p: PoolParams) => ({ Ho: Math.floor(p.H / 2), Wo: Math.floor(p.W / 2) });

/** Launches a 2x2-pool kernel (Params: NC, H, W, Ho, Wo), one invocation per window or per input. */
function launchPool(gpu: Gpu, kernel: string, buffers: GPUBuffer[], p: PoolParams, per: 'window' | 'input'): void {
  const { Ho, Wo } = half(p);
  launch1d(gpu, kernel, buffers, { NC: p.NC, H: p.H, W: p.W, Ho, Wo }, per === 'window' ? p.NC * Ho * Wo : p.NC * p.H * p.W);
}
const poolCases: PoolParams[] = [
  { NC: 1, H: 2, W: 2 },
  { NC: 2, H: 3, W: 3 },
  { NC: 4, H: 6, W: 9 },
  { NC: 3, H: 7, W: 5 },
  { NC: 5, H: 31, W: 37 },
  { NC: 33, H: 1, W: 9 },
];

/** Index of the first maximum of the window at (i, j), row-major: the tie rule both sides use. */
function argmax2x2(x: ArrayLike<number>, nc: number, i: number, j: number, H: number, W: number): number {
  const base = (nc * H + 2 * i) * W + 2 * j;
  let best = base;
  for (const idx of [base + 1, base + W, base + W + 1]) if (x[idx] > x[best]) best = idx;
  return best;
}

/** Distinct values, so the argmax is unique and finite differences never cross a tie. */
function distinct(p: PoolParams, rng: Rng): Float32Array {
  const n = p.NC * p.H * p.W;
  const v = Float32Array.from({ length: n }, (_, k) => k / n - 0.5);
  for (let k = n - 1; k > 0; k--) {
    const r = Math.floor(rng() * (k + 1));
    [v[k], v[r]] = [v[r], v[k]];
  }
  return v;
}

export const maxPool2: KernelDef<PoolParams> = {
  name: 'maxpool2',
  inputs: ['x'],
  inputSizes: (p) => ({ x: p.NC * p.H * p.W }),
  outputSizes: (p) => ({ y: p.NC * half(p).Ho * half(p).Wo }),
  makeInput: { x: distinct },
  reference: (inp, p) => {
    const { Ho, Wo } = half(p);
    const y = floats(inp.x, p.NC * Ho * Wo);
    for (let nc = 0; nc < p.NC; nc++)
      for (let i = 0; i < Ho; i++)
        for (let j = 0; j < Wo; j++) y[(nc * Ho + i) * Wo + j] = inp.x[argmax2x2(inp.x, nc, i, j, p.H, p.W)];
    return { y };
  },
  variants: [
    {
      name: 'per-output',
      run: (gpu, b, p) => launchPool(gpu, 'maxpool2', [b.x, b.y], p, 'window'),
    },
  ],
  tolerance: 0,
  cases: poolCases,
  bytes: (p) => 4 * p.NC * p.H * p.W * 1.25,
};

export const maxPool2Backward: KernelDef<PoolParams> = {
  name: 'maxpool2_backward',
  inputs: ['x', 'dy'],
  inputSizes: (p) => ({ x: p.NC * p.H * p.W, dy: p.NC * half(p).Ho * half(p).Wo }),
  outputSizes: (p) => ({ dx: p.NC * p.H * p.W }),
  makeInput: { x: distinct },
  reference: (inp, p) => {
    const { Ho, Wo } = half(p);
    const dx = floats(inp.dy, p.NC * p.H * p.W);
    for (let nc = 0; nc < p.NC; nc++)
      for (let i = 0; i < Ho; i++)
        for (let j = 0; j < Wo; j++) dx[argmax2x2(inp.x, nc, i, j, p.H, p.W)] = inp.dy[(nc * Ho + i) * Wo + j];
    return { dx };
  },
  variants: [
    {
      name: 'per-input',
      run: (gpu, b, p) => launchPool(gpu, 'maxpool2_backward', [b.x, b.dy, b.dx], p, 'input'),
    },
    {
      name: 'per-window',
      run: (gpu, b, p) => {
        const { Ho, Wo } = half(p);
        // Inputs no window covers (H or W of 1) still need their zero gradient.
        if (Ho === 0 || Wo === 0) launchPool(gpu, 'maxpool2_backward', [b.x, b.dy, b.dx], p, 'input');
        else launchPool(gpu, 'maxpool2_backward_windows', [b.x, b.dy, b.dx], p, 'window');
      },
    },
  ],
  tolerance: 0,
  cases: poolCases,
  bytes: (p) => 4 * p.NC * p.H * p.W * 2.25,
};

/**
 * Where each window's maximum of a ReLU's output x lies: 2*dy + dx (0..3) of the first
 * maximum in row-major order, or 4 where the maximum is <= 0 (the ReLU passes no gradient).
 */
export function reluPoolArgmax(x: ArrayLike<number>, p: PoolParams): Uint32Array {
  const { Ho, Wo } = half(p);
  const codes = new Uint32Array(p.NC * Ho * Wo);
  for (let nc = 0; nc < p.NC; nc++)
    for (let i = 0; i < Ho; i++)
      for (let j = 0; j < Wo; j++) {
        const k = argmax2x2(x, nc, i, j, p.H, p.W);
        const base = (nc * p.H + 2 * i) * p.W + 2 * j;
        codes[(nc * Ho + i) * Wo + j] = x[k] > 0 ? (k - base >= p.W ? 2 : 0) + ((k - base) % p.W) : 4;
      }
  return codes;
}

/** Max-pool of a ReLU's output that also records each argmax (for maxPool2BackwardArgmax). */
export const maxPool2ReluArgmax: KernelDef<PoolParams> = {
  name: 'maxpool2_relu_argmax',
  inputs: ['x'],
  inputSizes: maxPool2.inputSizes,
  outputSizes: (p) => ({ y: p.NC * half(p).Ho * half(p).Wo, argmax: p.NC * half(p).Ho * half(p).Wo }),
  u32Outputs: ['argmax'],
  makeInput: { x: distinct },
  reference: (inp, p) => ({ y: maxPool2.reference(inp, p).y, argmax: Float64Array.from(reluPoolArgmax(inp.x, p)) }),
  variants: [
    {
      name: 'per-output',
      run: (gpu, b, p) => launchPool(gpu, 'maxpool2_relu_argmax', [b.x, b.y, b.argmax], p, 'window'),
    },
  ],
  tolerance: 0,
  cases: poolCases,
  bytes: (p) => 4 * p.NC * p.H * p.W * 1.5,
};

/** The gradient through maxPool2ReluArgmax (ReLU included): needs H, W >= 2. */
export const maxPool2BackwardArgmax: KernelDef<PoolParams> = {
  name: 'maxpool2_backward_argmax',
  inputs: ['argmax', 'dy'],
  inputSizes: (p) => ({ argmax: p.NC * half(p).Ho * half(p).Wo, dy: p.NC * half(p).Ho * half(p).Wo }),
  outputSizes: (p) => ({ dx: p.NC * p.H * p.W }),
  makeInput: { argmax: (p, rng) => Uint32Array.from({ length: p.NC * half(p).Ho * half(p).Wo }, () => Math.floor(rng() * 5)) },
  reference: (inp, p) => {
    const { Ho, Wo } = half(p);
    const dx = floats(inp.dy, p.NC * p.H * p.W);
    for (let nc = 0; nc < p.NC; nc++)
      for (let i = 0; i < Ho; i++)
        for (let j = 0; j < Wo; j++) {
          const o = (nc * Ho + i) * Wo + j;
          const code = inp.argmax[o];
          if (code < 4) dx[(nc * p.H + 2 * i + (code >> 1)) * p.W + 2 * j + (code & 1)] = inp.dy[o];
        }
    return { dx };
  },
  variants: [
    {
      name: 'per-window',
      run: (gpu, b, p) => launchPool(gpu, 'maxpool2_backward_argmax', [b.argmax, b.dy, b.dx], p, 'window'),
    },
  ],
  tolerance: 0,
  cases: poolCases.filter((c) => c.H >= 2 && c.W >= 2),
  bytes: (p) => 4 * p.NC * p.H * p.W * 1.5,
};

export interface GapParams {
  NC: number;
  HW: number;
}
const gapCases: GapParams[] = [
  { NC: 1, HW: 1 },
  { NC: 3, HW: 49 },
  { NC: 33, HW: 1369 },
  { NC: 70_000, HW: 5 },
];

export const gap: KernelDef<GapParams> = {
  name: 'gap',
  inputs: ['x'],
  inputSizes: (p) => ({ x: p.NC * p.HW }),
  outputSizes: (p) => ({ y: p.NC }),
  reference: (inp, p) => {
    const y = floats(inp.x, p.NC);
    for (let nc = 0; nc < p.NC; nc++) {
      let s = 0;
      for (let k = 0; k < p.HW; k++) s += inp.x[nc * p.HW + k];
      y[nc] = s / p.HW;
    }
    return { y };
  },
  variants: [
    { name: 'workgroup-tree', run: (gpu, b, p) => launchPerGroup(gpu, 'gap', [b.x, b.y], { NC: p.NC, HW: p.HW }, p.NC, 64) },
    { name: 'per-row', run: (gpu, b, p) => launch1d(gpu, 'gap_rows', [b.x, b.y], { NC: p.NC, HW: p.HW }, p.NC, { wg: 64 }) },
  ],
  tolerance: 1e-5,
  cases: gapCases,
  bytes: (p) => 4 * p.NC * p.HW,
};

export const gapBackward: KernelDef<GapParams> = {
  name: 'gap_backward',
  inputs: ['dy'],
  inputSizes: (p) => ({ dy: p.NC }),
  outputSizes: (p) => ({ dx: p.NC * p.HW }),
  reference: (inp, p) => ({ dx: floats(inp.dy, p.NC * p.HW).map((_, e) => inp.dy[Math.floor(e / p.HW)] / p.HW) }),
  variants: [{ name: 'per-input', run: (gpu, b, p) => launch1d(gpu, 'gap_backward', [b.dy, b.dx], { NC: p.NC, HW: p.HW }, p.NC * p.HW) }],
  tolerance: 1e-6,
  cases: gapCases,
  bytes: (p) => 4 * p.NC * p.HW,
};
