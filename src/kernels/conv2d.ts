/**
 * 3x3, stride 1, valid convolution: forward (bias, optional fused ReLU), grad-input,
 * grad-weight with grad-bias (one pass over dy). Layout NCHW, weights [Co,Ci,3,3] (PyTorch's).
 *
 * grad-input is the full correlation of dy with the flipped, transposed weights, so it
 * runs on the forward kernels with PAD=2: one tuned kernel serves both directions.
 */
import type { Gpu } from '../gpu/runtime.ts';
import { channelLanes, floats, launch1d, launchPerGroup, type FloatArray, type GpuVariant, type HostArray, type KernelDef } from './kernel.ts';
import { maxPool2, maxPool2ReluArgmax, reluPoolArgmax } from './pooling.ts';
import { winogradConv, type WinogradTile } from './winograd.ts';

export interface ConvShape {
  N: number;
  Ci: number;
  H: number;
  W: number;
  Co: number;
}
export interface ConvForwardParams extends ConvShape {
  relu: boolean;
  /**
   * Zeros around the input on every side: 1 for the 'same' 3x3 convolutions of imported graphs
   * (read as zeros where the window leaves the input, no padded copy); absent: valid.
   */
  pad?: 1;
}

/** The forward's padding (0: valid). */
const padOf = (s: ConvForwardParams): number => s.pad ?? 0;

const out = (s: ConvShape) => ({ Ho: s.H - 2, Wo: s.W - 2 });
const convFlops = (s: ConvShape) => 2 * s.N * s.Co * (s.H - 2) * (s.W - 2) * s.Ci * 9;

/** CPU reference for the padded 3x3 correlation both directions use (float64 sums). */
export function correlate3x3(
  x: FloatArray,
  w: FloatArray,
  b: FloatArray | null,
  s: { N: number; Ci: number; H: number; W: number; Co: number },
  pad: number,
  relu: boolean,
): FloatArray {
  const Ho = s.H + 2 * pad - 2;
  const Wo = s.W + 2 * pad - 2;
  const y = floats(x, s.N * s.Co * Ho * Wo);
  const acc = new Float64Array(Wo);
  for (let n = 0; n < s.N; n++) {
    for (let co = 0; co < s.Co; co++) {
      for (let oy = 0; oy < Ho; oy++) {
        acc.fill(b ? b[co] : 0);
        for (let ci = 0; ci < s.Ci; ci++) {
          for (let ky = 0; ky < 3; ky++) {
            const iy = oy + ky - pad;
            if (iy < 0 || iy >= s.H) continue;
            const row = ((n * s.Ci + ci) * s.H + iy) * s.W;
            for (let kx = 0; kx < 3; kx++) {
              const wv = w[((co * s.Ci + ci) * 3 + ky) * 3 + kx];
              const lo = Math.max(0, pad - kx);
              const hi = Math.min(Wo, s.W + pad - kx);
              for (let ox = lo; ox < hi; ox++) acc[ox] += wv * x[row + ox + kx - pad];
            }
          }
        }
        const base = ((n * s.Co + co) * Ho + oy) * Wo;
        for (let ox = 0; ox < Wo; ox++) y[base + ox] = relu ? Math.max(0, acc[ox]) : acc[ox];
      }
    }
  }
  return y;
}

/** wf[ci,co,ky,kx] = w[co,ci,2-ky,2-kx] */
export function flipWeights(w: FloatArray, Co: number, Ci: number): FloatArray {
  const wf = floats(w, w.length);
  for (let co = 0; co < Co; co++)
    for (let ci = 0; ci < Ci; ci++)
      for (let t = 0; t < 9; t++) wf[(ci * Co + co) * 9 + t] = w[(co * Ci + ci) * 9 + 8 - t];
  return wf;
}

/** One launch of a direct 3x3 kernel: the forward, or grad-input as a forward (PAD=2, flipped weights). */
interface ConvLaunch {
  x: GPUBuffer;
  w: GPUBuffer;
  /** Read only where `bias`; grad-input passes any buffer. */
  b: GPUBuffer;
  /** Null: not written (a pooled conv's backward needs only the argmax). */
  y: GPUBuffer | null;
  shape: ConvShape;
  /** Zeros around x on every side (0 forward, 1 an imported graph's 'same', 2 grad-input). */
  pad: number;
  relu: boolean;
  bias: boolean;
  /** The weights are the forward's, to be flipped and transposed (grad-input). */
  flip?: boolean;
  /** The fused 2x2 max-pool's output and, with it, where each maximum lies (the subgroup kernel only). */
  pooled?: GPUBuffer | null;
  argmax?: GPUBuffer | null;
}

/** Output rows and columns of a stride-1 3x3 convolution padded by `pad`. */
const outputSize = (s: ConvShape, pad: number) => ({ Ho: s.H + 2 * pad - 2, Wo: s.W + 2 * pad - 2 });

function convNaive(gpu: Gpu, c: ConvLaunch) {
  const { shape: s, pad } = c;
  const { Ho, Wo } = outputSize(s, pad);
  launch1d(gpu, 'conv2d_naive', [c.x, c.w, c.b, c.y!], { N: s.N, Ci: s.Ci, H: s.H, W: s.W, Co: s.Co, Ho, Wo, pad, relu: +c.relu, bias: +c.bias }, s.N * s.Co * Ho * Wo, { wg: 64 });
}

/**
 * Output channels per invocation. Measured on lavapipe at N=16, Ci=32, 111x111, Co=64:
 * TM=2 4.4, TM=4 5.0, TM=8 3.9, TM=16 3.9 GFLOP/s (each lane is a whole SIMD register
 * there, so big register tiles spill).
 */
const TILE_CHANNELS = 4;

function convTiled(gpu: Gpu, c: ConvLaunch) {
  const { shape: s, pad } = c;
  const { Ho, Wo } = outputSize(s, pad);
  const xBlocks = Math.ceil(Wo / 4);
  const TM = TILE_CHANNELS;
  const WG = 64;
  const [gx, gy] = gpu.grid(Math.ceil((s.N * Ho * xBlocks) / WG));
  gpu.dispatch({
    pipeline: gpu.pipeline('conv2d_tiled', { WG, TM, PAD: pad, RELU: +c.relu, BIAS: +c.bias }),
    buffers: [c.x, c.w, c.b, c.y!],
    params: { N: s.N, Ci: s.Ci, H: s.H, W: s.W, Co: s.Co, Ho, Wo, xBlocks },
    workgroups: [gx, gy, Math.ceil(s.Co / TM)],
  });
}

/**
 * Forward with vec4-packed weights; `flip` packs the flipped, transposed weights grad-input
 * needs. 4 output channels per invocation: an 8-channel version (two vec4 groups) measured
 * 6.1 vs 7.0 GFLOP/s on lavapipe at N=16, Ci=32, 111x111, Co=64 (its 32 accumulators spill).
 */
function convVec4(gpu: Gpu, c: ConvLaunch) {
  const { shape: s, pad } = c;
  const flip = c.flip ?? false;
  const { Ho, Wo } = outputSize(s, pad);
  const xBlocks = Math.ceil(Wo / 4);
  const CoP = Math.ceil(s.Co / 4) * 4;
  const wp = gpu.pool.acquire(s.Ci * 9 * CoP * 4);
  // The weights as stored are [outC(after flip: inC), ...]: the pack kernel takes the stored dims.
  const [storedCo, storedCi] = flip ? [s.Ci, s.Co] : [s.Co, s.Ci];
  launch1d(gpu, 'conv2d_pack_weights', [c.w, wp], { Co: storedCo, Ci: storedCi, outCP: CoP }, s.Ci * 9 * CoP, { wg: 64, constants: { FLIP: +flip } });
  const WG = 128; // 16/32/64/256 measured within 10% of it on lavapipe
  const [gx, gy] = gpu.grid(Math.ceil((s.N * Ho * xBlocks) / WG));
  gpu.dispatch({
    pipeline: gpu.pipeline('conv2d_vec4', { WG, PAD: pad, RELU: +c.relu, BIAS: +c.bias }),
    buffers: [c.x, wp, c.b, c.y!],
    params: { N: s.N, Ci: s.Ci, H: s.H, W: s.W, Co: s.Co, Ho, Wo, xBlocks },
    workgroups: [gx, gy, CoP / 4],
  });
  gpu.pool.release(wp);
}

/** Subgroups of at least 8 lanes: the subgroup kernels pass 8 loads round per broadcast. */
export const hasSubgroups8 = (gpu: Gpu) => gpu.subgroupMinSize >= 8;

/**
 * Tile width of conv2d_subgroup for an output `Wo` wide: the one with the least time per
 * row of output, empty columns included. Speed per output relative to 16 columns, on
 * lavapipe at N=8, Ci=32, 111x111, Co=64: 4 -> 16.4, 8 -> 20.4, 16 -> 24.3 GFLOP/s.
 */
export function subgroupTileCols(Wo: number): 4 | 8 | 16 {
  const relativeSpeed = { 4: 0.67, 8: 0.84, 16: 1 } as const;
  const cost = (tc: 4 | 8 | 16) => (Math.ceil(Wo / tc) * tc) / relativeSpeed[tc];
  return ([4, 8, 16] as const).reduce((best, tc) => (cost(tc) < cost(best) ? tc : best));
}

/**
 * Output channels across the lanes, a 4-row output tile (4, 8 or 16 columns) whose input
 * window each subgroup loads once (see conv2d_subgroup.wgsl for why); `flip` as in
 * convVec4. Tried first without subgroups, every lane loading the (uniform) window
 * itself: 3.7 vs vec4's 6.7 GFLOP/s at N=16, Ci=32, 111x111, Co=64 on lavapipe.
 */
function convSubgroup(gpu: Gpu, c: ConvLaunch) {
  const { shape: s, pad } = c;
  const flip = c.flip ?? false;
  const { Ho, Wo } = outputSize(s, pad);
  const CoP = Math.ceil(s.Co / 4) * 4;
  const wq = gpu.pool.acquire(s.Ci * CoP * 12 * 4);
  const [storedCo, storedCi] = flip ? [s.Ci, s.Co] : [s.Co, s.Ci];
  launch1d(gpu, 'conv2d_pack_taps', [c.w, wq], { Co: storedCo, Ci: storedCi, outCP: CoP }, s.Ci * CoP * 12, { wg: 64, constants: { FLIP: +flip } });
  // Two output channels per lane on a CPU driver, where every window value a subgroup loads
  // then feeds twice the multiply-adds: train step 224x224 1,859 -> 1,744 ms, 64x64 153 -> 144 ms
  // on lavapipe. On the H200 the step is unchanged at 224 and slower at 64 (1.78 -> 1.86-2.07
  // ms): the grad-input layers lose more than the pooled forward ones gain, so one there.
  const CO_PER_LANE = gpu.onCpu && s.Co > 8 ? 2 : 1;
  // The second channel's accumulators take the tile row's spare slots: 4x8 at most.
  const TILE_COLS = Math.min(subgroupTileCols(Wo), 16 / CO_PER_LANE);
  const { WG, blocks: channelBlocks } = channelLanes(s.Co, CO_PER_LANE);
  // An output not asked for is bound to a 4-byte placeholder of its own the kernel never writes.
  const outputs = [c.y, c.pooled ?? null, c.argmax ?? null];
  const bound = outputs.map((o) => o ?? gpu.pool.acquire(4));
  const constants = { WG, PAD: pad, RELU: +c.relu, BIAS: +c.bias, TILE_COLS, CO_PER_LANE, STORE_Y: +!!c.y, POOL: +!!c.pooled, ARGMAX: +!!c.argmax };
  gpu.dispatch({
    pipeline: gpu.pipeline('conv2d_subgroup', constants),
    buffers: [c.x, wq, c.b, ...bound],
    params: { N: s.N, Ci: s.Ci, H: s.H, W: s.W, Co: s.Co, Ho, Wo, CoP, channelBlocks },
    workgroups: [Math.ceil(Wo / TILE_COLS), Math.ceil(Ho / 4), s.N * channelBlocks],
  });
  gpu.pool.release(wq);
  bound.forEach((buf, i) => {
    if (!outputs[i]) gpu.pool.release(buf);
  });
}

/**
 * Winograd F(2x2,3x3), F(4x4,3x3) and F(6x6,3x3) (see winograd.ts): never a kernel's default,
 * only where a measured per-layer choice picks them (nn/conv-choice.ts). F(2x2) rounds like
 * the direct kernels (largest error seen at 3..256 channels, relative to the largest output:
 * 8e-7); F(4x4)'s transforms (entries up to 8 and 1/24) cost bits: up to 1.1e-5 seen, hence
 * 5e-5; F(6x6) (entries up to 32 and 1/90: the points +-1/2 keep them that small) up to
 * 6.6e-6 on the test cases and 1.2e-5 at the reference layer, held to the same 5e-5.
 */
function winogradVariants<P>(run: (tile: WinogradTile) => GpuVariant<P>['run']): GpuVariant<P>[] {
  return [
    { name: 'winograd2', run: run(2), supported: hasSubgroups8, byMeasuredChoice: true },
    { name: 'winograd4', run: run(4), supported: hasSubgroups8, byMeasuredChoice: true, tolerance: 5e-5 },
    { name: 'winograd6', run: run(6), supported: hasSubgroups8, byMeasuredChoice: true, tolerance: 5e-5 },
  ];
}

/** The forward's launch: the kernel's buffers, bias and ReLU fused, its padding. */
const forward = (b: Record<string, GPUBuffer>, s: ConvForwardParams): ConvLaunch => ({ x: b.x, w: b.w, b: b.b, y: b.y, shape: s, pad: padOf(s), relu: s.relu, bias: true });

/** grad-input as a forward: dy [N,Co,Ho,Wo] correlated at PAD=2 with the flipped, transposed weights gives dx [N,Ci,H,W]. */
function gradInputLaunch(b: Record<string, GPUBuffer>, s: ConvShape, flipped?: GPUBuffer): ConvLaunch {
  const { Ho, Wo } = out(s);
  const w = flipped ?? b.w;
  return { x: b.dy, w, b: w, y: b.dx, shape: { N: s.N, Ci: s.Co, H: Ho, W: Wo, Co: s.Ci }, pad: 2, relu: false, bias: false, flip: !flipped };
}

/** grad-input on a kernel that takes its weights as they are: flipped and transposed first (conv2d_flip_weights). */
function gradInputWith(impl: (gpu: Gpu, c: ConvLaunch) => void) {
  return (gpu: Gpu, bufs: Record<string, GPUBuffer>, s: ConvShape) => {
    const wf = gpu.pool.acquire(s.Co * s.Ci * 9 * 4);
    launch1d(gpu, 'conv2d_flip_weights', [bufs.w, wf], { Co: s.Co, Ci: s.Ci }, s.Co * s.Ci * 9, { wg: 64 });
    impl(gpu, gradInputLaunch(bufs, s, wf));
    gpu.pool.release(wf);
  };
}

export const conv2dForward: KernelDef<ConvForwardParams> = {
  name: 'conv2d_forward',
  inputs: ['x', 'w', 'b'],
  inputSizes: (s) => ({ x: s.N * s.Ci * s.H * s.W, w: s.Co * s.Ci * 9, b: s.Co }),
  outputSizes: (s) => ({ y: s.N * s.Co * (s.H + 2 * padOf(s) - 2) * (s.W + 2 * padOf(s) - 2) }),
  reference: (i, s) => ({ y: correlate3x3(i.x as FloatArray, i.w as FloatArray, i.b as FloatArray, s, padOf(s), s.relu) }),
  variants: [
    { name: 'naive', run: (gpu, b, s) => convNaive(gpu, forward(b, s)) },
    { name: 'tiled', run: (gpu, b, s) => convTiled(gpu, forward(b, s)) },
    { name: 'vec4', run: (gpu, b, s) => convVec4(gpu, forward(b, s)) },
    { name: 'subgroup', run: (gpu, b, s) => convSubgroup(gpu, forward(b, s)), supported: hasSubgroups8 },
    ...winogradVariants<ConvForwardParams>((tile) => (gpu, b, s) => winogradConv(gpu, { x: b.x, w: b.w, b: b.b, y: b.y, shape: s, pad: s.pad ?? 0, relu: s.relu, flip: false, tile })),
  ],
  tolerance: 1e-5,
  cases: [
    { N: 1, Ci: 1, H: 3, W: 3, Co: 1, relu: false },
    { N: 3, Ci: 3, H: 7, W: 31, Co: 5, relu: true },
    { N: 2, Ci: 5, H: 37, W: 7, Co: 33, relu: false },
    { N: 1, Ci: 33, H: 9, W: 10, Co: 17, relu: true },
    { N: 3, Ci: 2, H: 31, W: 37, Co: 3, relu: true },
    { N: 2, Ci: 4, H: 12, W: 21, Co: 70, relu: false },
    { N: 3, Ci: 7, H: 9, W: 6, Co: 12, relu: true }, // 4-column tiles, a partial row tile
    { N: 1, Ci: 3, H: 6, W: 66, Co: 9, relu: true }, // 16-column tiles
    { N: 2, Ci: 2, H: 9, W: 52, Co: 5, relu: false }, // 16-column tiles, the last one partial
    { N: 2, Ci: 30, H: 20, W: 23, Co: 65, relu: true }, // Winograd: the shallow GEMM, 8 input-channel groups, channels past a lane block
    { N: 1, Ci: 261, H: 6, W: 7, Co: 3, relu: false }, // Winograd: input channels in two GEMM launches
    { N: 2, Ci: 3, H: 140, W: 139, Co: 4, relu: true }, // Winograd: tiles in chunks (3 for F(2x2))
    // 'same' padding (imported graphs): a 1x1 input, tiles past a map of odd size, chunks.
    { N: 1, Ci: 2, H: 1, W: 1, Co: 3, relu: false, pad: 1 },
    { N: 2, Ci: 5, H: 11, W: 13, Co: 18, relu: true, pad: 1 },
    { N: 2, Ci: 30, H: 7, W: 9, Co: 65, relu: false, pad: 1 },
    { N: 2, Ci: 3, H: 138, W: 137, Co: 4, relu: true, pad: 1 },
  ],
  flops: (s) => 2 * s.N * s.Co * (s.H + 2 * padOf(s) - 2) * (s.W + 2 * padOf(s) - 2) * s.Ci * 9,
};

export interface ConvPoolParams extends ConvShape {
  /** Also return where each maximum lies (the backward needs it; inference does not). */
  keepArgmax: boolean;
}

/**
 * The error of the conv output each recorded argmax points at (code 4: 0, the ReLU's
 * floor), against the window's ReLU'd maximum, relative to the largest pooled value. Two
 * outputs of a window within rounding of each other may trade places when a GPU sums in
 * another order or with fused multiply-adds; either choice is right then, and
 * element-wise comparison of the codes would call it wrong.
 */
function argmaxValueError(got: Float32Array, _want: FloatArray, i: Record<string, HostArray>, s: ConvPoolParams): number {
  const pre = correlate3x3(i.x as FloatArray, i.w as FloatArray, i.b as FloatArray, s, 0, false);
  const H = s.H - 2;
  const W = s.W - 2;
  const Hp = Math.floor(H / 2);
  const Wp = Math.floor(W / 2);
  if (got.length !== s.N * s.Co * Hp * Wp) return Infinity;
  const offsets = [0, 1, W, W + 1]; // the codes' positions in a window
  let diff = 0;
  let scale = 1e-6;
  for (let o = 0; o < got.length; o++) {
    const j = o % Wp;
    const r = Math.floor(o / Wp) % Hp;
    const base = (Math.floor(o / (Wp * Hp)) * H + 2 * r) * W + 2 * j;
    const max = Math.max(0, pre[base], pre[base + 1], pre[base + W], pre[base + W + 1]);
    const code = got[o];
    const chosen = code === 4 ? 0 : code >= 0 && code < 4 && Number.isInteger(code) ? pre[base + offsets[code]] : NaN;
    const d = Math.abs(chosen - max);
    if (!(d <= diff)) diff = Number.isNaN(d) ? Infinity : d;
    scale = Math.max(scale, max);
  }
  return diff / scale;
}

/**
 * conv2d with ReLU and the 2x2 max-pool after it: pooled, and the argmax when asked (see
 * maxPool2ReluArgmax), never the conv output itself. The subgroup kernel pools in its
 * epilogue, from the tile still in registers: no pass over y, no y written at all.
 */
export const conv2dReluMaxPool: KernelDef<ConvPoolParams> = {
  name: 'conv2d_relu_maxpool',
  inputs: ['x', 'w', 'b'],
  inputSizes: (s) => conv2dForward.inputSizes({ ...s, relu: true }),
  outputSizes: (s) => {
    const n = s.N * s.Co * Math.floor((s.H - 2) / 2) * Math.floor((s.W - 2) / 2);
    const sizes: Record<string, number> = { pooled: n };
    if (s.keepArgmax) sizes.argmax = n;
    return sizes;
  },
  u32Outputs: ['argmax'],
  reference: (i, s) => {
    const y = correlate3x3(i.x as FloatArray, i.w as FloatArray, i.b as FloatArray, s, 0, true);
    const p = { NC: s.N * s.Co, H: s.H - 2, W: s.W - 2 };
    const out: Record<string, FloatArray> = { pooled: maxPool2.reference({ x: y }, p).y };
    if (s.keepArgmax) out.argmax = Float64Array.from(reluPoolArgmax(y, p));
    return out;
  },
  variants: [
    {
      name: 'unfused',
      run: (gpu, b, s) => {
        const y = gpu.pool.acquire(s.N * s.Co * (s.H - 2) * (s.W - 2) * 4);
        convVec4(gpu, { x: b.x, w: b.w, b: b.b, y, shape: s, pad: 0, relu: true, bias: true });
        const p = { NC: s.N * s.Co, H: s.H - 2, W: s.W - 2 };
        if (s.keepArgmax) maxPool2ReluArgmax.variants[0].run(gpu, { x: y, y: b.pooled, argmax: b.argmax }, p);
        else maxPool2.variants[0].run(gpu, { x: y, y: b.pooled }, p);
        gpu.pool.release(y);
      },
    },
    {
      name: 'subgroup',
      run: (gpu, b, s) => convSubgroup(gpu, { x: b.x, w: b.w, b: b.b, y: null, shape: s, pad: 0, relu: true, bias: true, pooled: b.pooled, argmax: b.argmax ?? null }),
      supported: hasSubgroups8,
    },
    ...winogradVariants<ConvPoolParams>((tile) => (gpu, b, s) =>
      winogradConv(gpu, { x: b.x, w: b.w, b: b.b, y: null, pooled: b.pooled, argmax: b.argmax ?? null, shape: s, pad: 0, relu: true, flip: false, tile }),
    ),
  ],
  tolerance: 1e-5,
  outputError: { argmax: argmaxValueError },
  cases: [
    { N: 1, Ci: 1, H: 4, W: 4, Co: 1, keepArgmax: true },
    { N: 2, Ci: 3, H: 9, W: 11, Co: 5, keepArgmax: true }, // odd map: last row and column dropped
    { N: 2, Ci: 3, H: 9, W: 11, Co: 5, keepArgmax: false },
    { N: 1, Ci: 4, H: 8, W: 13, Co: 70, keepArgmax: true },
    { N: 2, Ci: 2, H: 13, W: 52, Co: 9, keepArgmax: true }, // 16-column tiles
    { N: 1, Ci: 2, H: 3, W: 7, Co: 3, keepArgmax: true }, // a 1-row map pools to nothing
    { N: 2, Ci: 2, H: 131, W: 133, Co: 3, keepArgmax: true }, // Winograd: tiles in chunks
  ],
  flops: convFlops,
};

export const conv2dGradInput: KernelDef<ConvShape> = {
  name: 'conv2d_grad_input',
  inputs: ['dy', 'w'],
  inputSizes: (s) => ({ dy: s.N * s.Co * (s.H - 2) * (s.W - 2), w: s.Co * s.Ci * 9 }),
  outputSizes: (s) => ({ dx: s.N * s.Ci * s.H * s.W }),
  reference: (i, s) => {
    const { Ho, Wo } = out(s);
    const wf = flipWeights(i.w as FloatArray, s.Co, s.Ci);
    return { dx: correlate3x3(i.dy as FloatArray, wf, null, { N: s.N, Ci: s.Co, H: Ho, W: Wo, Co: s.Ci }, 2, false) };
  },
  variants: [
    { name: 'naive', run: gradInputWith(convNaive) },
    { name: 'tiled', run: gradInputWith(convTiled) },
    {
      name: 'vec4',
      // dy [N,Co,Ho,Wo] correlated at PAD=2 with the packed flipped weights gives dx [N,Ci,H,W].
      run: (gpu, b, s) => convVec4(gpu, gradInputLaunch(b, s)),
    },
    {
      name: 'subgroup',
      run: (gpu, b, s) => convSubgroup(gpu, gradInputLaunch(b, s)),
      supported: hasSubgroups8,
    },
    ...winogradVariants<ConvShape>((tile) => (gpu, b, s) =>
      winogradConv(gpu, { x: b.dy, w: b.w, b: null, y: b.dx, shape: { N: s.N, Ci: s.Co, H: s.H - 2, W: s.W - 2, Co: s.Ci }, pad: 2, relu: false, flip: true, tile }),
    ),
  ],
  tolerance: 1e-5,
  cases: [
    { N: 1, Ci: 1, H: 3, W: 3, Co: 1 },
    { N: 3, Ci: 5, H: 7, W: 31, Co: 3 },
    { N: 2, Ci: 33, H: 37, W: 7, Co: 5 },
    { N: 1, Ci: 3, H: 10, W: 9, Co: 33 },
    { N: 2, Ci: 70, H: 6, W: 13, Co: 4 },
    { N: 2, Ci: 5, H: 8, W: 50, Co: 4 }, // 16-column tiles, the last one partial
    { N: 1, Ci: 3, H: 5, W: 6, Co: 259 }, // Winograd: output channels summed in two GEMM launches
    { N: 2, Ci: 4, H: 138, W: 137, Co: 3 }, // Winograd: tiles in chunks
  ],
  flops: convFlops,
};

/** CPU reference: dw[co,ci,ky,kx] = sum_{n,oy,ox} dy[n,co,oy,ox] * x[n,ci,oy+ky,ox+kx] (db is channel_sum's) */
export function convGradWeightRef(x: FloatArray, dy: FloatArray, s: ConvShape): FloatArray {
  const { Ho, Wo } = out(s);
  const dw = floats(x, s.Co * s.Ci * 9);
  for (let co = 0; co < s.Co; co++)
    for (let ci = 0; ci < s.Ci; ci++)
      for (let ky = 0; ky < 3; ky++)
        for (let kx = 0; kx < 3; kx++) {
          let acc = 0;
          for (let n = 0; n < s.N; n++)
            for (let oy = 0; oy < Ho; oy++) {
              const d = ((n * s.Co + co) * Ho + oy) * Wo;
              const r = ((n * s.Ci + ci) * s.H + oy + ky) * s.W + kx;
              for (let ox = 0; ox < Wo; ox++) acc += dy[d + ox] * x[r + ox];
            }
          dw[((co * s.Ci + ci) * 3 + ky) * 3 + kx] = acc;
        }
  return dw;
}

/**
 * Enough slices to keep the device busy, never more than there are output rows: ~16k
 * invocations on a CPU driver, ~64k on a GPU (H200, N=16, Ci=32, 111x111, Co=64, in
 * TFLOP/s: 16k 3.5, 64k 6.4, 256k 5.8, 1M 4.0).
 */
function gradWeightSlices(gpu: Gpu, s: ConvShape, TM: number): number {
  const cells = Math.ceil(s.Co / TM) * s.Ci;
  const busy = gpu.onCpu ? 16384 : 65536;
  return Math.max(1, Math.min(s.N * (s.H - 2), Math.ceil(busy / cells)));
}

function gradWeightSplit(gpu: Gpu, bufs: Record<string, GPUBuffer>, s: ConvShape) {
  const { Ho, Wo } = out(s);
  // Output channels per invocation; at N=16, Ci=32, 111x111, Co=64 on lavapipe:
  // TM=2 6.1, TM=4 8.3-9.0, TM=8 6.7 GFLOP/s.
  const TM = 4;
  const WG = 64;
  const rows = s.N * Ho;
  let S = gradWeightSlices(gpu, s, TM);
  const rowsPerSlice = Math.ceil(rows / S);
  S = Math.ceil(rows / rowsPerSlice);
  const L = s.Co * s.Ci * 9;
  const cells = Math.ceil(s.Co / TM) * s.Ci;
  const part = S === 1 ? bufs.dw : gpu.pool.acquire(S * L * 4);
  const [gx, gy] = gpu.grid(Math.ceil(cells / WG));
  gpu.dispatch({
    pipeline: gpu.pipeline('conv2d_grad_weight_split', { WG, TM }),
    buffers: [bufs.x, bufs.dy, part],
    params: { N: s.N, Ci: s.Ci, H: s.H, W: s.W, Co: s.Co, Ho, Wo, rowsPerSlice },
    workgroups: [gx, gy, S],
  });
  if (S > 1) {
    launch1d(gpu, 'sum_slices', [part, bufs.dw], { S, L }, L, { wg: 64 });
    gpu.pool.release(part);
  }
}

/**
 * Output channels across the lanes, 4 input channels per lane, the reduction split into
 * slices of 2-row chunks (see conv2d_grad_weight_subgroup.wgsl). Chunk 2x4 and 4 input
 * channels measured best on lavapipe (N=4, Ci=32, 111x111, Co=64): 17.7 GFLOP/s against
 * 2x8: 15.4 (2 ci), 12.4 (4 ci); 1x4: 13.9; 4x4: 10.6; 2x4 with 8 ci: 12.2 (registers spill)
 * (figures from before quiet waits; relative). Each lane takes two output channels where
 * there are more than 8 (N=16, Ci=32, 111x111, Co=64: lavapipe 36 against 30 GFLOP/s, with
 * 2 or 3 input channels 29, 31; H200 11.8 against 10.2 TFLOP/s, the whole step unchanged).
 */
function gradWeightSubgroup(gpu: Gpu, bufs: Record<string, GPUBuffer>, s: ConvShape) {
  const { Ho, Wo } = out(s);
  const CI_BLOCK = 4;
  const CO_PER_LANE = s.Co > 8 ? 2 : 1;
  const { WG, blocks: coBlocks } = channelLanes(s.Co, CO_PER_LANE);
  const groups = Math.ceil(s.Ci / CI_BLOCK) * coBlocks;
  const chunks = s.N * Math.ceil(Ho / 2);
  // Workgroups to aim for, each slice costing a partial sum: ~128 keep a CPU's threads busy;
  // a GPU wants far more (H200, same shape, in TFLOP/s: 128 2.3, 512 7.5, 2048 10.7, 8192 5.4).
  const busy = gpu.onCpu ? 128 : 2048;
  let S = Math.max(1, Math.min(chunks, Math.ceil(busy / groups)));
  const chunksPerSlice = Math.ceil(chunks / S);
  S = Math.ceil(chunks / chunksPerSlice);
  const L = s.Co * s.Ci * 9;
  const part = S === 1 ? bufs.dw : gpu.pool.acquire(S * L * 4);
  const partBias = S === 1 ? bufs.db : gpu.pool.acquire(S * s.Co * 4);
  gpu.dispatch({
    pipeline: gpu.pipeline('conv2d_grad_weight_subgroup', { WG, CO_PER_LANE }),
    buffers: [bufs.x, bufs.dy, part, partBias],
    params: { N: s.N, Ci: s.Ci, H: s.H, W: s.W, Co: s.Co, Ho, Wo, chunksPerSlice },
    workgroups: [Math.ceil(s.Ci / CI_BLOCK), coBlocks, S],
  });
  if (S > 1) {
    launch1d(gpu, 'sum_slices', [part, bufs.dw], { S, L }, L, { wg: 64 });
    launch1d(gpu, 'sum_slices', [partBias, bufs.db], { S, L: s.Co }, s.Co, { wg: 64 });
    gpu.pool.release(part);
    gpu.pool.release(partBias);
  }
}

/** The bias gradient on its own, for the variants that compute only dw. */
function biasGrad(gpu: Gpu, bufs: Record<string, GPUBuffer>, s: ConvShape) {
  const { Ho, Wo } = out(s);
  channelSum.variants[0].run(gpu, { v: bufs.dy, out: bufs.db }, { N: s.N, C: s.Co, HW: Ho * Wo });
}

export const conv2dGradWeight: KernelDef<ConvShape> = {
  name: 'conv2d_grad_weight',
  inputs: ['x', 'dy'],
  inputSizes: (s) => ({ x: s.N * s.Ci * s.H * s.W, dy: s.N * s.Co * (s.H - 2) * (s.W - 2) }),
  outputSizes: (s) => ({ dw: s.Co * s.Ci * 9, db: s.Co }),
  reference: (i, s) => ({
    dw: convGradWeightRef(i.x as FloatArray, i.dy as FloatArray, s),
    db: channelSum.reference({ v: i.dy }, { N: s.N, C: s.Co, HW: (s.H - 2) * (s.W - 2) }).out,
  }),
  variants: [
    {
      name: 'naive',
      run: (gpu, b, s) => {
        launch1d(gpu, 'conv2d_grad_weight_naive', [b.x, b.dy, b.dw], { N: s.N, Ci: s.Ci, H: s.H, W: s.W, Co: s.Co, Ho: s.H - 2, Wo: s.W - 2 }, s.Co * s.Ci * 9, { wg: 64 });
        biasGrad(gpu, b, s);
      },
    },
    {
      name: 'split',
      run: (gpu, b, s) => {
        gradWeightSplit(gpu, b, s);
        biasGrad(gpu, b, s);
      },
    },
    { name: 'subgroup', run: gradWeightSubgroup, supported: hasSubgroups8 },
  ],
  tolerance: 1e-5,
  // The naive variant sums N*Ho*Wo products serially: its float32 rounding grows like the
  // square root of that count (2.7e-5 at N=16, 224x224 on an H200). 4 sqrt(n) ulp of 1.
  toleranceFor: (s) => Math.max(1e-5, 4 * Math.sqrt(s.N * (s.H - 2) * (s.W - 2)) * 2 ** -24),
  cases: [
    { N: 1, Ci: 1, H: 3, W: 3, Co: 1 },
    { N: 3, Ci: 3, H: 7, W: 31, Co: 5 },
    { N: 2, Ci: 5, H: 37, W: 7, Co: 33 },
    { N: 1, Ci: 33, H: 10, W: 9, Co: 3 },
    { N: 2, Ci: 6, H: 12, W: 21, Co: 70 },
    { N: 1, Ci: 2, H: 6, W: 5, Co: 130 }, // two blocks of output channels on a CPU's two per lane
  ],
  flops: convFlops,
};

export interface ChannelSumParams {
  N: number;
  C: number;
  HW: number;
}

export const channelSum: KernelDef<ChannelSumParams> = {
  name: 'channel_sum',
  inputs: ['v'],
  inputSizes: (p) => ({ v: p.N * p.C * p.HW }),
  outputSizes: (p) => ({ out: p.C }),
  reference: (i, p) => {
    const o = floats(i.v, p.C);
    for (let c = 0; c < p.C; c++) {
      let acc = 0;
      for (let n = 0; n < p.N; n++) for (let k = 0; k < p.HW; k++) acc += i.v[(n * p.C + c) * p.HW + k];
      o[c] = acc;
    }
    return { out: o };
  },
  variants: [{ name: 'workgroup-tree', run: (gpu, b, p) => launchPerGroup(gpu, 'channel_sum', [b.v, b.out], { N: p.N, C: p.C, HW: p.HW }, p.C, 256) }],
  tolerance: 1e-5,
  cases: [
    { N: 1, C: 1, HW: 1 },
    { N: 3, C: 5, HW: 49 },
    { N: 2, C: 33, HW: 1369 },
  ],
  bytes: (p) => 4 * p.N * p.C * p.HW,
};
