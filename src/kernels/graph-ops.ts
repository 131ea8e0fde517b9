/**
 * The kernels an imported graph needs beside its convolutions (conv-general.ts): pooling with
 * any window, broadcasting arithmetic, activations, channel affines (batch-norm), block copies
 * (Concat, Flatten) and transposes. Each WGSL file's header has the math and layout; here are
 * the plain references and the registry entries.
 */
import { floats, launch1d, type FloatArray, type KernelDef } from './kernel.ts';

/** The largest rank the broadcasting and transpose kernels take (their uniform holds 8 slots). */
export const MAX_RANK = 6;

// ---- pool2d ------------------------------------------------------------------------------

export interface Pool2dParams {
  NC: number;
  H: number;
  W: number;
  KH: number;
  KW: number;
  SH: number;
  SW: number;
  PT: number;
  PL: number;
  PB: number;
  PR: number;
  DH: number;
  DW: number;
  mode: 'max' | 'average';
  /** AveragePool's count_include_pad. */
  countPad: boolean;
  /** ONNX ceil_mode: the last window may start inside the padding's end. */
  ceil: boolean;
}

/** Output rows and columns as ONNX MaxPool/AveragePool define them (ceil_mode included). */
export function poolOutputSize(p: Pick<Pool2dParams, 'H' | 'W' | 'KH' | 'KW' | 'SH' | 'SW' | 'PT' | 'PL' | 'PB' | 'PR' | 'DH' | 'DW' | 'ceil'>): [number, number] {
  const out = (size: number, k: number, s: number, pa: number, pb: number, d: number) => {
    const span = size + pa + pb - (d * (k - 1) + 1);
    let n = (p.ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
    // With ceil_mode, a window must start inside the input or its leading padding.
    if (p.ceil && (n - 1) * s >= size + pa) n--;
    return n;
  };
  return [out(p.H, p.KH, p.SH, p.PT, p.PB, p.DH), out(p.W, p.KW, p.SW, p.PL, p.PR, p.DW)];
}

function poolReference(x: FloatArray, p: Pool2dParams): FloatArray {
  const [Ho, Wo] = poolOutputSize(p);
  const y = floats(x, p.NC * Ho * Wo);
  for (let nc = 0; nc < p.NC; nc++)
    for (let oy = 0; oy < Ho; oy++)
      for (let ox = 0; ox < Wo; ox++) {
        let [best, sum, inside, padded] = [-3.4028234663852886e38, 0, 0, 0];
        for (let ky = 0; ky < p.KH; ky++) {
          const iy = oy * p.SH - p.PT + ky * p.DH;
          if (iy >= p.H + p.PB) continue;
          for (let kx = 0; kx < p.KW; kx++) {
            const ix = ox * p.SW - p.PL + kx * p.DW;
            if (ix >= p.W + p.PR) continue;
            padded++;
            if (iy < 0 || iy >= p.H || ix < 0 || ix >= p.W) continue;
            const v = x[(nc * p.H + iy) * p.W + ix];
            best = Math.max(best, v);
            sum += v;
            inside++;
          }
        }
        y[(nc * Ho + oy) * Wo + ox] = p.mode === 'max' ? best : sum / Math.max(1, p.countPad ? padded : inside);
      }
  return y;
}

const poolBase = { NC: 2, SH: 1, SW: 1, PT: 0, PL: 0, PB: 0, PR: 0, DH: 1, DW: 1, countPad: false, ceil: false };

/** pool2d.wgsl's and pool2d_backward.wgsl's Params. */
function poolParams(p: Pool2dParams) {
  const [Ho, Wo] = poolOutputSize(p);
  const { NC, H, W, KH, KW, SH, SW, PT, PL, PB, PR, DH, DW } = p;
  return { NC, H, W, Ho, Wo, KH, KW, SH, SW, PT, PL, PB, PR, DH, DW, mode: p.mode === 'max' ? 0 : 1, countPad: p.countPad ? 1 : 0 };
}

export const pool2d: KernelDef<Pool2dParams> = {
  name: 'pool2d',
  inputs: ['x'],
  inputSizes: (p) => ({ x: p.NC * p.H * p.W }),
  outputSizes: (p) => {
    const [Ho, Wo] = poolOutputSize(p);
    return { y: p.NC * Ho * Wo };
  },
  reference: (i, p) => ({ y: poolReference(i.x as FloatArray, p) }),
  variants: [
    {
      name: 'direct',
      run: (gpu, b, p) => {
        const [Ho, Wo] = poolOutputSize(p);
        launch1d(gpu, 'pool2d', [b.x, b.y], poolParams(p), p.NC * Ho * Wo, { wg: 64 });
      },
    },
  ],
  tolerance: 1e-6,
  cases: [
    // ResNet's stem pool: 3x3 stride 2 pad 1.
    { ...poolBase, mode: 'max', H: 11, W: 9, KH: 3, KW: 3, SH: 2, SW: 2, PT: 1, PL: 1, PB: 1, PR: 1 },
    // SqueezeNet's: 3x3 stride 2, ceil_mode.
    { ...poolBase, mode: 'max', H: 12, W: 13, KH: 3, KW: 3, SH: 2, SW: 2, ceil: true },
    // DenseNet's transition: 2x2 average stride 2 on an odd size.
    { ...poolBase, mode: 'average', NC: 3, H: 7, W: 5, KH: 2, KW: 2, SH: 2, SW: 2 },
    // Inception-style average 3x3 stride 1 pad 1, with and without the padding counted.
    { ...poolBase, mode: 'average', H: 6, W: 5, KH: 3, KW: 3, PT: 1, PL: 1, PB: 1, PR: 1, countPad: true },
    { ...poolBase, mode: 'average', H: 6, W: 5, KH: 3, KW: 3, PT: 1, PL: 1, PB: 1, PR: 1, SH: 2, SW: 2, ceil: true },
    { ...poolBase, mode: 'max', NC: 1, H: 1, W: 1, KH: 1, KW: 1 },
  ],
  bytes: (p) => 4 * p.NC * p.H * p.W,
};

// ---- broadcasting arithmetic -------------------------------------------------------------

export const BINARY_OPS = { add: 0, sub: 1, mul: 2, div: 3 } as const;
export type BinaryOp = keyof typeof BINARY_OPS;

export interface BroadcastParams {
  op: BinaryOp;
  /** A ReLU after it (a residual block's add). */
  relu?: boolean;
  /** The output's shape; `a` and `b` have the same rank, 1 on broadcast dimensions. */
  shape: number[];
  a: number[];
  b: number[];
}

/** numpy's broadcast of two shapes, or null where they do not broadcast. */
export function broadcastShapes(a: readonly number[], b: readonly number[]): number[] | null {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let d = 0; d < rank; d++) {
    const x = a[a.length - rank + d] ?? 1;
    const y = b[b.length - rank + d] ?? 1;
    if (x !== y && x !== 1 && y !== 1) return null;
    out.push(x === 1 ? y : x);
  }
  return out;
}

/** Row-major strides of `shape` within `rank` dimensions, 0 where a dimension is broadcast to `out`. */
function broadcastStrides(shape: readonly number[], out: readonly number[]): number[] {
  const full = [...Array(out.length - shape.length).fill(1), ...shape];
  const strides = new Array<number>(out.length).fill(0);
  let s = 1;
  for (let d = out.length - 1; d >= 0; d--) {
    strides[d] = full[d] === 1 && out[d] !== 1 ? 0 : s;
    s *= full[d];
  }
  return strides;
}

const applyBinary = (op: BinaryOp, u: number, v: number) => (op === 'add' ? u + v : op === 'sub' ? u - v : op === 'mul' ? u * v : u / v);
const count = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

export const broadcastBinary: KernelDef<BroadcastParams> = {
  name: 'broadcast_binary',
  inputs: ['a', 'b'],
  inputSizes: (p) => ({ a: count(p.a), b: count(p.b) }),
  outputSizes: (p) => ({ y: count(p.shape) }),
  reference: (i, p) => {
    const [sa, sb] = [broadcastStrides(p.a, p.shape), broadcastStrides(p.b, p.shape)];
    const y = floats(i.a, count(p.shape));
    for (let k = 0; k < y.length; k++) {
      let [rest, ia, ib] = [k, 0, 0];
      for (let d = p.shape.length - 1; d >= 0; d--) {
        const c = rest % p.shape[d];
        rest = Math.floor(rest / p.shape[d]);
        ia += c * sa[d];
        ib += c * sb[d];
      }
      const v = applyBinary(p.op, i.a[ia], i.b[ib]);
      y[k] = p.relu ? Math.max(v, 0) : v;
    }
    return { y };
  },
  variants: [
    {
      name: 'strided',
      run: (gpu, b, p) => {
        const len = count(p.shape);
        gpu.dispatch({
          pipeline: gpu.pipeline('broadcast_binary', { WG: 256 }),
          buffers: [b.a, b.b, b.y],
          params: { len, op: BINARY_OPS[p.op], rank: p.shape.length, act: p.relu ? 1 : 0, dims: p.shape, sa: broadcastStrides(p.a, p.shape), sb: broadcastStrides(p.b, p.shape) },
          workgroups: gpu.grid(Math.ceil(len / 256)),
        });
      },
    },
    {
      name: 'same-shape',
      appliesTo: (p) => p.a.join() === p.shape.join() && p.b.join() === p.shape.join(),
      run: (gpu, b, p) => launch1d(gpu, 'binary_same_shape', [b.a, b.b, b.y], { len: count(p.shape), op: BINARY_OPS[p.op], act: p.relu ? 1 : 0 }, count(p.shape)),
    },
  ],
  tolerance: 1e-6,
  cases: [
    // A residual add, a squeeze-excite scale, a per-channel bias, a division by a scalar, rank 6.
    { op: 'add', shape: [2, 5, 3, 4], a: [2, 5, 3, 4], b: [2, 5, 3, 4] },
    { op: 'add', shape: [3, 7, 5, 9], a: [3, 7, 5, 9], b: [3, 7, 5, 9], relu: true },
    { op: 'div', shape: [1003], a: [1003], b: [1003] },
    { op: 'mul', shape: [2, 7, 5, 3], a: [2, 7, 5, 3], b: [2, 7, 1, 1], relu: true },
    { op: 'sub', shape: [3, 4, 2, 2], a: [1, 4, 1, 1], b: [3, 4, 2, 2] },
    { op: 'div', shape: [6, 5], a: [6, 5], b: [1, 1] },
    { op: 'mul', shape: [2, 1, 3, 2, 2, 3], a: [2, 1, 3, 1, 2, 1], b: [1, 1, 1, 2, 1, 3] },
  ],
  bytes: (p) => 12 * count(p.shape),
};

// ---- activations -------------------------------------------------------------------------

export const UNARY_OPS = { identity: 0, relu: 1, clip: 2, leakyRelu: 3, sigmoid: 4, hardSigmoid: 5, hardSwish: 6, swish: 7 } as const;
export type UnaryOp = keyof typeof UNARY_OPS;

export interface UnaryParams {
  len: number;
  op: UnaryOp;
  /** clip: lo; leakyRelu and hardSigmoid/hardSwish: alpha. */
  a?: number;
  /** clip: hi; hardSigmoid/hardSwish: beta. */
  b?: number;
}

export function unaryValue(op: UnaryOp, v: number, a = 0, b = 0): number {
  const sigmoid = (t: number) => 1 / (1 + Math.exp(-t));
  switch (op) {
    case 'relu':
      return Math.max(v, 0);
    case 'clip':
      return Math.min(Math.max(v, a), b);
    case 'leakyRelu':
      return v >= 0 ? v : a * v;
    case 'sigmoid':
      return sigmoid(v);
    case 'hardSigmoid':
      return Math.min(Math.max(a * v + b, 0), 1);
    case 'hardSwish':
      return v * Math.min(Math.max(a * v + b, 0), 1);
    case 'swish':
      return v * sigmoid(v);
    default:
      return v;
  }
}

export const unary: KernelDef<UnaryParams> = {
  name: 'unary',
  inputs: ['x'],
  inputSizes: (p) => ({ x: p.len }),
  outputSizes: (p) => ({ y: p.len }),
  reference: (i, p) => ({ y: floats(i.x, p.len).map((_, k) => unaryValue(p.op, i.x[k], p.a, p.b)) }),
  variants: [{ name: 'elementwise', run: (gpu, b, p) => launch1d(gpu, 'unary', [b.x, b.y], { len: p.len, op: UNARY_OPS[p.op], a: p.a ?? 0, b: p.b ?? 0 }, p.len) }],
  // exp() on the GPU is within a few ulps.
  tolerance: 1e-6,
  cases: (Object.keys(UNARY_OPS) as UnaryOp[]).flatMap((op) => [
    { len: 1, op, a: op === 'clip' ? 0 : 0.2, b: op === 'clip' ? 6 : 0.5 },
    { len: 1003, op, a: op === 'clip' ? -0.25 : 1 / 6, b: op === 'clip' ? 0.5 : 0.5 },
  ]),
  bytes: (p) => 8 * p.len,
};

// ---- per-channel affine (batch-norm) -----------------------------------------------------

export interface AffineParams {
  N: number;
  C: number;
  HW: number;
}

export const channelAffine: KernelDef<AffineParams> = {
  name: 'channel_affine',
  inputs: ['x', 'scale', 'shift'],
  inputSizes: (p) => ({ x: p.N * p.C * p.HW, scale: p.C, shift: p.C }),
  outputSizes: (p) => ({ y: p.N * p.C * p.HW }),
  reference: (i, p) => ({ y: floats(i.x, p.N * p.C * p.HW).map((_, k) => i.x[k] * i.scale[Math.floor(k / p.HW) % p.C] + i.shift[Math.floor(k / p.HW) % p.C]) }),
  variants: [{ name: 'elementwise', run: (gpu, b, p) => launch1d(gpu, 'channel_affine', [b.x, b.scale, b.shift, b.y], { len: p.N * p.C * p.HW, C: p.C, HW: p.HW }, p.N * p.C * p.HW) }],
  tolerance: 1e-6,
  cases: [
    { N: 1, C: 1, HW: 1 },
    { N: 3, C: 7, HW: 13 },
  ],
  bytes: (p) => 8 * p.N * p.C * p.HW,
};

// ---- block copies (Concat, Slice) ---------------------------------------------------------

export interface CopyBlocksParams {
  outer: number;
  inner: number;
  srcStride: number;
  srcOffset: number;
  dstStride: number;
  dstOffset: number;
  /** Elements of dst (it is updated in place: the other inputs' blocks are kept). */
  dstLen: number;
}

export const copyBlocks: KernelDef<CopyBlocksParams> = {
  name: 'copy_blocks',
  inputs: ['src', 'dst'],
  updates: ['dst'],
  inputSizes: (p) => ({ src: (p.outer - 1) * p.srcStride + p.srcOffset + p.inner, dst: p.dstLen }),
  outputSizes: () => ({}),
  reference: (i, p) => {
    for (let o = 0; o < p.outer; o++) for (let j = 0; j < p.inner; j++) i.dst[o * p.dstStride + p.dstOffset + j] = i.src[o * p.srcStride + p.srcOffset + j];
    return {};
  },
  variants: [
    {
      name: 'elementwise',
      run: (gpu, b, p) => launch1d(gpu, 'copy_blocks', [b.src, b.dst], { outer: p.outer, inner: p.inner, srcStride: p.srcStride, srcOffset: p.srcOffset, dstStride: p.dstStride, dstOffset: p.dstOffset }, p.outer * p.inner),
    },
  ],
  tolerance: 0,
  cases: [
    // The second of two Concat inputs along channels: [2, 3, 4] into [2, 8, 4] after 5 channels.
    { outer: 2, inner: 12, srcStride: 12, srcOffset: 0, dstStride: 32, dstOffset: 20, dstLen: 64 },
    { outer: 1, inner: 1, srcStride: 1, srcOffset: 0, dstStride: 1, dstOffset: 0, dstLen: 1 },
    // A slice: columns 1..3 of rows of 5.
    { outer: 7, inner: 3, srcStride: 5, srcOffset: 1, dstStride: 3, dstOffset: 0, dstLen: 21 },
  ],
  bytes: (p) => 8 * p.outer * p.inner,
};

// ---- transpose ---------------------------------------------------------------------------

export interface TransposeParams {
  /** The input's shape and the permutation: output dimension d is input dimension perm[d]. */
  shape: number[];
  perm: number[];
}

function transposeStrides(p: TransposeParams): { dims: number[]; sx: number[] } {
  const strides = new Array<number>(p.shape.length);
  let s = 1;
  for (let d = p.shape.length - 1; d >= 0; d--) {
    strides[d] = s;
    s *= p.shape[d];
  }
  return { dims: p.perm.map((d) => p.shape[d]), sx: p.perm.map((d) => strides[d]) };
}

export const transpose: KernelDef<TransposeParams> = {
  name: 'transpose',
  inputs: ['x'],
  inputSizes: (p) => ({ x: count(p.shape) }),
  outputSizes: (p) => ({ y: count(p.shape) }),
  reference: (i, p) => {
    const { dims, sx } = transposeStrides(p);
    const y = floats(i.x, count(p.shape));
    for (let k = 0; k < y.length; k++) {
      let [rest, ix] = [k, 0];
      for (let d = dims.length - 1; d >= 0; d--) {
        ix += (rest % dims[d]) * sx[d];
        rest = Math.floor(rest / dims[d]);
      }
      y[k] = i.x[ix];
    }
    return { y };
  },
  variants: [
    {
      name: 'strided',
      run: (gpu, b, p) => {
        const { dims, sx } = transposeStrides(p);
        const len = count(p.shape);
        gpu.dispatch({
          pipeline: gpu.pipeline('transpose', { WG: 256 }),
          buffers: [b.x, b.y],
          params: { len, rank: dims.length, dims, sx },
          workgroups: gpu.grid(Math.ceil(len / 256)),
        });
      },
    },
  ],
  tolerance: 0,
  cases: [
    { shape: [2, 5, 3, 4], perm: [0, 3, 1, 2] }, // NHWC -> NCHW
    { shape: [3, 7], perm: [1, 0] },
    { shape: [2, 1, 3, 2, 2, 3], perm: [5, 4, 3, 2, 1, 0] },
  ],
  bytes: (p) => 8 * count(p.shape),
};

// ---- backward ----------------------------------------------------------------------------

/** f'(x) of the unary ops, from the input x and the output y (see wgsl/unary_backward.wgsl). */
export function unaryDerivative(op: UnaryOp, x: number, y: number, a = 0, b = 0): number {
  switch (op) {
    case 'relu':
      return y > 0 ? 1 : 0;
    case 'clip':
      return y > a && y < b ? 1 : 0;
    case 'leakyRelu':
      return y >= 0 ? 1 : a;
    case 'sigmoid':
      return y * (1 - y);
    case 'hardSigmoid':
      return y > 0 && y < 1 ? a : 0;
    case 'hardSwish': {
      const t = a * x + b;
      return Math.min(Math.max(t, 0), 1) + (t > 0 && t < 1 ? x * a : 0);
    }
    case 'swish': {
      const s = 1 / (1 + Math.exp(-x));
      return s + x * s * (1 - s);
    }
    default:
      return 1;
  }
}

export const unaryBackward: KernelDef<UnaryParams> = {
  name: 'unary_backward',
  inputs: ['x', 'y', 'dy'],
  inputSizes: (p) => ({ x: p.len, y: p.len, dy: p.len }),
  outputSizes: (p) => ({ dx: p.len }),
  // y as the forward makes it from x, so the derivative's two readings agree.
  makeInput: {
    x: (p, rng) => Float32Array.from({ length: p.len }, () => rng() * 8 - 4),
    y: (p, rng) => Float32Array.from({ length: p.len }, () => rng() * 8 - 4),
  },
  reference: (i, p) => ({ dx: floats(i.dy, p.len).map((_, k) => i.dy[k] * unaryDerivative(p.op, i.x[k], i.y[k], p.a, p.b)) }),
  variants: [{ name: 'elementwise', run: (gpu, b, p) => launch1d(gpu, 'unary_backward', [b.x, b.y, b.dy, b.dx], { len: p.len, op: UNARY_OPS[p.op], a: p.a ?? 0, b: p.b ?? 0 }, p.len) }],
  tolerance: 1e-6,
  cases: unary.cases,
  bytes: (p) => 16 * p.len,
};

export interface ReduceParams {
  /** The full shape and the operand's (same rank, 1 where it was broadcast). */
  shape: number[];
  to: number[];
}

export const reduceToShape: KernelDef<ReduceParams> = {
  name: 'reduce_to_shape',
  inputs: ['x'],
  inputSizes: (p) => ({ x: count(p.shape) }),
  outputSizes: (p) => ({ y: count(p.to) }),
  reference: (i, p) => {
    const y = floats(i.x, count(p.to));
    const st = broadcastStrides(p.to, p.shape);
    for (let k = 0; k < i.x.length; k++) {
      let [rest, at] = [k, 0];
      for (let d = p.shape.length - 1; d >= 0; d--) {
        at += (rest % p.shape[d]) * st[d];
        rest = Math.floor(rest / p.shape[d]);
      }
      y[at] += i.x[k];
    }
    return { y };
  },
  variants: [
    {
      name: 'per-output',
      run: (gpu, b, p) => {
        const red = p.shape.map((d, i) => (p.to[i] === 1 && d !== 1 ? 1 : 0));
        const reducedCount = p.shape.reduce((a, d, i) => a * (red[i] ? d : 1), 1);
        gpu.dispatch({
          pipeline: gpu.pipeline('reduce_to_shape', { WG: 64 }),
          buffers: [b.x, b.y],
          params: { len: count(p.to), rank: p.shape.length, reducedCount, dims: p.shape, red },
          workgroups: gpu.grid(Math.ceil(count(p.to) / 64)),
        });
      },
    },
  ],
  tolerance: 1e-6,
  toleranceFor: (p) => 1e-6 * Math.max(1, Math.sqrt(count(p.shape) / count(p.to))),
  cases: [
    { shape: [2, 7, 5, 3], to: [2, 7, 1, 1] },
    { shape: [3, 4, 2, 2], to: [1, 4, 1, 1] },
    { shape: [6, 5], to: [1, 1] },
    { shape: [2, 1, 3, 2, 2, 3], to: [1, 1, 1, 2, 1, 3] },
    { shape: [4, 3], to: [4, 3] },
  ],
  bytes: (p) => 4 * count(p.shape),
};

export const pool2dBackward: KernelDef<Pool2dParams> = {
  name: 'pool2d_backward',
  inputs: ['x', 'dy'],
  inputSizes: (p) => {
    const [Ho, Wo] = poolOutputSize(p);
    return { x: p.NC * p.H * p.W, dy: p.NC * Ho * Wo };
  },
  outputSizes: (p) => ({ dx: p.NC * p.H * p.W }),
  reference: (i, p) => {
    const [Ho, Wo] = poolOutputSize(p);
    const dx = floats(i.dy, p.NC * p.H * p.W);
    for (let nc = 0; nc < p.NC; nc++)
      for (let oy = 0; oy < Ho; oy++)
        for (let ox = 0; ox < Wo; ox++) {
          const taps: number[] = [];
          let padded = 0;
          for (let ky = 0; ky < p.KH; ky++) {
            const iy = oy * p.SH - p.PT + ky * p.DH;
            if (iy >= p.H + p.PB) continue;
            for (let kx = 0; kx < p.KW; kx++) {
              const ix = ox * p.SW - p.PL + kx * p.DW;
              if (ix >= p.W + p.PR) continue;
              padded++;
              if (iy >= 0 && iy < p.H && ix >= 0 && ix < p.W) taps.push((nc * p.H + iy) * p.W + ix);
            }
          }
          const g = i.dy[(nc * Ho + oy) * Wo + ox];
          if (p.mode === 'max') {
            const best = taps.reduce((b, t) => (i.x[t] > i.x[b] ? t : b), taps[0]);
            if (best !== undefined) dx[best] += g;
          } else {
            const share = g / Math.max(1, p.countPad ? padded : taps.length);
            for (const t of taps) dx[t] += share;
          }
        }
    return { dx };
  },
  variants: [
    {
      name: 'per-input',
      run: (gpu, b, p) => launch1d(gpu, 'pool2d_backward', [b.x, b.dy, b.dx], poolParams(p), p.NC * p.H * p.W, { wg: 64 }),
    },
  ],
  tolerance: 1e-6,
  cases: pool2d.cases,
  bytes: (p) => 12 * p.NC * p.H * p.W,
};
