/**
 * Any 2-D convolution of an imported graph (ONNX Conv): kernel size, stride, asymmetric zero
 * padding, dilation, groups (depthwise included), bias, and the activation after it fused in.
 * The math and layout are in wgsl/conv2d_general.wgsl; this is its plain reference and its
 * registry entry. The 3x3 valid kernels and the Winograd variants (conv2d.ts) stay the ones
 * wgcam's own networks run.
 */
import type { Gpu } from '../gpu/runtime.ts';
import { conv2dForward, hasSubgroups8, type ConvForwardParams } from './conv2d.ts';
import { defaultVariant, floats, isSupported, launch1d, type FloatArray, type GpuVariant, type KernelDef } from './kernel.ts';

/** Activation fused after the convolution (and after a folded batch-norm). */
export const CONV_ACTIVATIONS = { none: 0, relu: 1, clip: 2 } as const;
export type ConvActivation = keyof typeof CONV_ACTIVATIONS;

export interface GeneralConvParams {
  N: number;
  Ci: number;
  H: number;
  W: number;
  Co: number;
  KH: number;
  KW: number;
  SH: number;
  SW: number;
  /** Zero padding: top, left, bottom, right. */
  PT: number;
  PL: number;
  PB: number;
  PR: number;
  DH: number;
  DW: number;
  G: number;
  act: ConvActivation;
  /** clip's bounds (ReLU6: 0, 6). */
  lo?: number;
  hi?: number;
  /**
   * The conv2d_forward variant `padded-3x3` runs on the padded input (a measured choice: Winograd
   * where it wins, graph/conv-choices.ts); default that kernel's default.
   */
  inner?: string;
  /** The scratch bytes im2col-subgroup may use for one chunk of images' columns (default: one binding; the tests shrink it to run chunks). */
  columnBytes?: number;
}

/** Output rows and columns (ONNX Conv's formula, floor). */
export function convOutputSize(p: Pick<GeneralConvParams, 'H' | 'W' | 'KH' | 'KW' | 'SH' | 'SW' | 'PT' | 'PL' | 'PB' | 'PR' | 'DH' | 'DW'>): [number, number] {
  const out = (size: number, k: number, s: number, pa: number, pb: number, d: number) => Math.floor((size + pa + pb - (d * (k - 1) + 1)) / s) + 1;
  return [out(p.H, p.KH, p.SH, p.PT, p.PB, p.DH), out(p.W, p.KW, p.SW, p.PL, p.PR, p.DW)];
}

export function generalConvReference(i: { x: ArrayLike<number>; w: ArrayLike<number>; b: ArrayLike<number> }, p: GeneralConvParams, like: FloatArray) {
  const [Ho, Wo] = convOutputSize(p);
  const y = floats(like, p.N * p.Co * Ho * Wo);
  const Cig = p.Ci / p.G;
  const Cog = p.Co / p.G;
  for (let n = 0; n < p.N; n++)
    for (let co = 0; co < p.Co; co++) {
      const ci0 = Math.floor(co / Cog) * Cig;
      for (let oy = 0; oy < Ho; oy++)
        for (let ox = 0; ox < Wo; ox++) {
          let s = i.b[co];
          for (let c = 0; c < Cig; c++)
            for (let ky = 0; ky < p.KH; ky++) {
              const iy = oy * p.SH - p.PT + ky * p.DH;
              if (iy < 0 || iy >= p.H) continue;
              for (let kx = 0; kx < p.KW; kx++) {
                const ix = ox * p.SW - p.PL + kx * p.DW;
                if (ix < 0 || ix >= p.W) continue;
                s += i.w[((co * Cig + c) * p.KH + ky) * p.KW + kx] * i.x[((n * p.Ci + ci0 + c) * p.H + iy) * p.W + ix];
              }
            }
          if (p.act === 'relu') s = Math.max(s, 0);
          else if (p.act === 'clip') s = Math.min(Math.max(s, p.lo ?? -Infinity), p.hi ?? Infinity);
          y[((n * p.Co + co) * Ho + oy) * Wo + ox] = s;
        }
    }
  return y;
}

const base = { N: 1, SH: 1, SW: 1, PT: 0, PL: 0, PB: 0, PR: 0, DH: 1, DW: 1, G: 1, act: 'none' as ConvActivation };

/** The largest workgroup count of one dispatch dimension WebGPU guarantees. */
const MAX_GROUPS = 65535;
const actParams = (p: GeneralConvParams): [number, number, number] => [CONV_ACTIVATIONS[p.act], p.lo ?? 0, p.hi ?? 0];
/** The shape fields of the direct kernels' Params (conv2d_general and its backward kernels). */
function shapeParams(p: Omit<GeneralConvParams, 'act'>) {
  const [Ho, Wo] = convOutputSize(p);
  const { N, Ci, H, W, Co, KH, KW, SH, SW, PT, PL, DH, DW, G } = p;
  return { N, Ci, H, W, Co, Ho, Wo, KH, KW, SH, SW, PT, PL, DH, DW, G };
}

/** Any convolution, 4 output channels of a group per invocation (wgsl/conv2d_general_tiled.wgsl). */
const tiled: GpuVariant<GeneralConvParams> = {
  name: 'tiled',
  appliesTo: (p) => {
    const [Ho, Wo] = convOutputSize(p);
    return p.N <= MAX_GROUPS && Math.ceil((Ho * Wo) / 64) <= MAX_GROUPS && p.G * Math.ceil(p.Co / p.G / 4) <= MAX_GROUPS;
  },
  run: (gpu, b, p) => {
    const [Ho, Wo] = convOutputSize(p);
    const [act, lo, hi] = actParams(p);
    gpu.dispatch({
      pipeline: gpu.pipeline('conv2d_general_tiled', { WG: 64 }),
      buffers: [b.x, b.w, b.b, b.y],
      params: { Ci: p.Ci, H: p.H, W: p.W, Co: p.Co, Ho, Wo, KH: p.KH, KW: p.KW, SH: p.SH, SW: p.SW, PT: p.PT, PL: p.PL, DH: p.DH, DW: p.DW, G: p.G, act, lo, hi },
      workgroups: [Math.ceil((Ho * Wo) / 64), p.G * Math.ceil(p.Co / p.G / 4), p.N],
    });
  },
};

/** Padding of 1 on every side: the 3x3 kernels read the zeros themselves (no padded copy). */
const samePadded = (p: GeneralConvParams) => p.PT === 1 && p.PL === 1 && p.PB === 1 && p.PR === 1;

/**
 * A 3x3 undilated, ungrouped convolution is a valid one on the input padded with zeros: the
 * fastest 3x3 kernel this device runs (conv2d.ts), which fuses the bias and a ReLU, reading
 * zeros past the edge where the padding is 1 all round (ResNet's, VGG's), else on a copy
 * padded by pad2d. At stride S > 1 the stride-1 result is kept every S rows and columns
 * (subsample2d): S^2 times the work, for devices without the subgroup product (im2col-subgroup).
 */
const padded3x3: GpuVariant<GeneralConvParams> = {
  name: 'padded-3x3',
  appliesTo: (p) =>
    p.KH === 3 && p.KW === 3 && p.SH === p.SW && p.SH <= 2 && p.DH === 1 && p.DW === 1 && p.G === 1 && p.act !== 'clip' &&
    // Its scratch buffers (padded input, stride-1 output) within WebGPU's guaranteed binding size.
    4 * p.N * Math.max(p.Ci, p.Co) * (p.H + p.PT + p.PB) * (p.W + p.PL + p.PR) <= 2 ** 27,
  run: (gpu, b, p) => {
    const shape = innerShape(p);
    let input = b.x;
    if (!shape.pad && p.PT + p.PL + p.PB + p.PR > 0) {
      input = gpu.pool.acquire(4 * p.N * p.Ci * shape.H * shape.W);
      launch1d(gpu, 'pad2d', [b.x, input], { NC: p.N * p.Ci, H: p.H, W: p.W, Hp: shape.H, Wp: shape.W, PT: p.PT, PL: p.PL }, p.N * p.Ci * shape.H * shape.W);
    }
    const chosen = p.inner === undefined ? undefined : conv2dForward.variants.find((v) => v.name === p.inner && isSupported(v, gpu));
    const conv = chosen ?? defaultVariant(conv2dForward, gpu, shape);
    if (p.SH === 1) conv.run(gpu, { x: input, w: b.w, b: b.b, y: b.y }, shape);
    else {
      const [Hs, Ws] = [p.H + p.PT + p.PB - 2, p.W + p.PL + p.PR - 2];
      const full = gpu.pool.acquire(4 * p.N * p.Co * Hs * Ws);
      conv.run(gpu, { x: input, w: b.w, b: b.b, y: full }, shape);
      const [Ho, Wo] = convOutputSize(p);
      launch1d(gpu, 'subsample2d', [full, b.y], { NC: p.N * p.Co, H: Hs, W: Ws, Ho, Wo, S: p.SH }, p.N * p.Co * Ho * Wo);
      gpu.pool.release(full);
    }
    if (input !== b.x) gpu.pool.release(input);
  },
};

/** The 3x3 convolution padded-3x3 runs: on x with padding 1, or valid on x's padded copy. */
function innerShape(p: GeneralConvParams): ConvForwardParams {
  const relu = p.act === 'relu';
  if (samePadded(p)) return { N: p.N, Ci: p.Ci, H: p.H, W: p.W, Co: p.Co, relu, pad: 1 };
  return { N: p.N, Ci: p.Ci, H: p.H + p.PT + p.PB, W: p.W + p.PL + p.PR, Co: p.Co, relu };
}

/** Depthwise 3x3 (any stride and padding): 4 output rows of a column per invocation (wgsl/conv2d_depthwise.wgsl). */
const depthwise3x3: GpuVariant<GeneralConvParams> = {
  name: 'depthwise-3x3',
  appliesTo: (p) => p.G === p.Ci && p.Co === p.Ci && p.KH === 3 && p.KW === 3 && p.SH === p.SW && p.DH === 1 && p.DW === 1 && p.N * p.Ci <= MAX_GROUPS,
  run: (gpu: Gpu, b, p) => {
    const [Ho, Wo] = convOutputSize(p);
    const [act, lo, hi] = actParams(p);
    gpu.dispatch({
      pipeline: gpu.pipeline('conv2d_depthwise'),
      buffers: [b.x, b.w, b.b, b.y],
      params: { C: p.Ci, H: p.H, W: p.W, Ho, Wo, S: p.SH, PT: p.PT, PL: p.PL, act, lo, hi },
      workgroups: [Math.ceil(Wo / 64), Math.ceil(Ho / 4), p.N * p.Ci],
    });
  },
};

/** The matrix product of the pointwise kernel: y [N,Co,P] = act(w [Co,K] x col [N,K,P] + b). */
function matrixProduct(gpu: Gpu, x: GPUBuffer, w: GPUBuffer, bias: GPUBuffer, y: GPUBuffer, p: { N: number; K: number; Co: number; P: number }, act: [number, number, number]): void {
  gpu.dispatch({
    pipeline: gpu.pipeline('conv2d_pointwise', { WG: 64 }),
    buffers: [x, w, bias, y],
    params: { Ci: p.K, Co: p.Co, P: p.P, act: act[0], lo: act[1], hi: act[2] },
    workgroups: [Math.ceil(p.P / 256), Math.ceil(p.Co / 8), p.N],
  });
}

/**
 * The 3x3 convolution `padded-3x3` runs for `p` on this device (stride 1, the bias and a ReLU
 * fused), or null where the device runs `p` with another variant.
 */
export function paddedInnerShape(gpu: Gpu, p: GeneralConvParams): ConvForwardParams | null {
  return defaultVariant(conv2dGeneral, gpu, p).name === padded3x3.name ? innerShape(p) : null;
}

/** Whether im2col's grid (64 pixels x channels x images) fits WebGPU's dispatch limits. */
function columnsFitGrid(p: GeneralConvParams, images: number): boolean {
  const [Ho, Wo] = convOutputSize(p);
  return Math.ceil((Ho * Wo) / 64) <= MAX_GROUPS && p.Ci <= MAX_GROUPS && images <= MAX_GROUPS;
}

/** Lays out `images` images' windows from image `n0` on as the columns of `col` (rows of `rowStride` floats). */
function windowsToColumns(gpu: Gpu, x: GPUBuffer, col: GPUBuffer, p: GeneralConvParams, n0: number, images: number, rowStride: number): void {
  const [Ho, Wo] = convOutputSize(p);
  const { Ci, H, W, KH, KW, SH, SW, PT, PL, DH, DW } = p;
  const params = { N: images, Ci, H, W, Ho, Wo, KH, KW, SH, SW, PT, PL, DH, DW, PS: rowStride, n0 };
  gpu.dispatch({ pipeline: gpu.pipeline('im2col', { WG: 64 }), buffers: [x, col], params, workgroups: [Math.ceil(rowStride / 64), p.Ci, images] });
}

/**
 * Any ungrouped convolution as one matrix product per image: im2col lays the windows out as
 * columns, then the pointwise kernel multiplies (the 7x7 stem, strided 1x1 and dilated ones).
 * Its scratch (Ci*KH*KW x Ho*Wo per image) must fit WebGPU's guaranteed binding size.
 */
const im2col: GpuVariant<GeneralConvParams> = {
  name: 'im2col',
  appliesTo: (p) => {
    const [Ho, Wo] = convOutputSize(p);
    return p.G === 1 && 4 * p.N * p.Ci * p.KH * p.KW * Ho * Wo <= 2 ** 27 && columnsFitGrid(p, p.N) && Math.ceil(p.Co / 8) <= MAX_GROUPS && Math.ceil((Ho * Wo) / 256) <= MAX_GROUPS;
  },
  run: (gpu, b, p) => {
    const [Ho, Wo] = convOutputSize(p);
    const K = p.Ci * p.KH * p.KW;
    const col = gpu.pool.acquire(4 * p.N * K * Ho * Wo);
    windowsToColumns(gpu, b.x, col, p, 0, p.N, Ho * Wo);
    matrixProduct(gpu, col, b.w, b.b, b.y, { N: p.N, K, Co: p.Co, P: Ho * Wo }, actParams(p));
    gpu.pool.release(col);
  },
};

/** 1x1, stride 1, no padding, one group: 8 output channels x 4 pixels per invocation (wgsl/conv2d_pointwise.wgsl). */
const pointwise: GpuVariant<GeneralConvParams> = {
  name: 'pointwise',
  appliesTo: (p) => isPointwise(p) && p.N <= MAX_GROUPS && Math.ceil(p.Co / 8) <= MAX_GROUPS && Math.ceil((p.H * p.W) / 256) <= MAX_GROUPS,
  run: (gpu, b, p) => matrixProduct(gpu, b.x, b.w, b.b, b.y, { N: p.N, K: p.Ci, Co: p.Co, P: p.H * p.W }, actParams(p)),
};

const isPointwise = (p: GeneralConvParams) => p.KH === 1 && p.KW === 1 && p.SH === 1 && p.SW === 1 && p.PT + p.PL + p.PB + p.PR === 0 && p.G === 1;

/** conv2d_gemm_subgroup's pixels and channels per lane and its workgroup size (at most). */
const GEMM = { PIX: 4, CH: 16, WG: 32 };

/** The weights [Co, K] re-laid for conv2d_gemm_subgroup (conv2d_pack_rows); release the buffer after use. */
function packRows(gpu: Gpu, w: GPUBuffer, K: number, Co: number): { wq: GPUBuffer; CoP: number } {
  const CoP = Math.ceil(Co / GEMM.CH) * GEMM.CH;
  const wq = gpu.pool.acquire(Math.ceil(K / 4) * CoP * 16);
  launch1d(gpu, 'conv2d_pack_rows', [w, wq], { Co, K, CoP }, Math.ceil(K / 4) * CoP * 4, { wg: 64 });
  return { wq, CoP };
}

/** y [n0.., Co, P] = act(w x + b) for `images` images of x [images, K, PS] (wgsl/conv2d_gemm_subgroup.wgsl). */
function subgroupProduct(gpu: Gpu, x: GPUBuffer, packed: { wq: GPUBuffer; CoP: number }, bias: GPUBuffer, y: GPUBuffer, m: { images: number; n0: number; K: number; Co: number; P: number; PS: number }, act: [number, number, number]): void {
  // Small maps (7x7: 7 lanes' worth) take whole subgroups of 8 rather than idle most of 32 lanes.
  const WG = Math.min(GEMM.WG, Math.ceil(m.P / GEMM.PIX / 8) * 8);
  gpu.dispatch({
    pipeline: gpu.pipeline('conv2d_gemm_subgroup', { WG }),
    buffers: [x, packed.wq, bias, y],
    params: { K: m.K, Co: m.Co, P: m.P, PS: m.PS, CoP: packed.CoP, n0: m.n0, act: act[0], lo: act[1], hi: act[2] },
    workgroups: [Math.ceil(m.P / (WG * GEMM.PIX)), packed.CoP / GEMM.CH, m.images],
  });
}

const fitsGrid = (p: GeneralConvParams, P: number, images: number) => images <= MAX_GROUPS && Math.ceil(p.Co / GEMM.CH) <= MAX_GROUPS && Math.ceil(P / (8 * GEMM.PIX)) <= MAX_GROUPS;

/** A 1x1 convolution on maps of a multiple of 4 pixels as the subgroup matrix product, straight from x. */
const pointwiseSubgroup: GpuVariant<GeneralConvParams> = {
  name: 'pointwise-subgroup',
  supported: hasSubgroups8,
  appliesTo: (p) => isPointwise(p) && (p.H * p.W) % 4 === 0 && fitsGrid(p, p.H * p.W, p.N),
  run: (gpu, b, p) => {
    const packed = packRows(gpu, b.w, p.Ci, p.Co);
    const P = p.H * p.W;
    subgroupProduct(gpu, b.x, packed, b.b, b.y, { images: p.N, n0: 0, K: p.Ci, Co: p.Co, P, PS: P }, actParams(p));
    gpu.pool.release(packed.wq);
  },
};

/** Images whose im2col columns (rows padded to 4 floats) fit one binding; 0 where one image's do not. */
function imagesPerChunk(p: GeneralConvParams): number {
  const [Ho, Wo] = convOutputSize(p);
  const perImage = 4 * p.Ci * p.KH * p.KW * Math.ceil((Ho * Wo) / 4) * 4;
  return Math.min(p.N, Math.floor((p.columnBytes ?? 2 ** 27) / perImage));
}

/**
 * Any ungrouped convolution as im2col + the subgroup matrix product, the batch in chunks of
 * images whose columns fit one binding: the 7x7 stem, strided 3x3 and 1x1 convolutions
 * (computed at their stride, where padded-3x3 computes every position), dilated ones. The
 * stride-1 3x3 ones stay on padded-3x3 (their direct and Winograd kernels reuse each loaded
 * input 9 times).
 */
const im2colSubgroup: GpuVariant<GeneralConvParams> = {
  name: 'im2col-subgroup',
  supported: hasSubgroups8,
  appliesTo: (p) => {
    const [Ho, Wo] = convOutputSize(p);
    const images = imagesPerChunk(p);
    return p.G === 1 && images > 0 && columnsFitGrid(p, images) && fitsGrid(p, Ho * Wo, images) && !(p.KH === 3 && p.KW === 3 && p.SH === 1 && padded3x3.appliesTo!(p));
  },
  run: (gpu, b, p) => {
    const [Ho, Wo] = convOutputSize(p);
    const K = p.Ci * p.KH * p.KW;
    const [P, PS] = [Ho * Wo, Math.ceil((Ho * Wo) / 4) * 4];
    const images = imagesPerChunk(p);
    const packed = packRows(gpu, b.w, K, p.Co);
    const col = gpu.pool.acquire(4 * images * K * PS);
    for (let n0 = 0; n0 < p.N; n0 += images) {
      const chunk = Math.min(images, p.N - n0);
      windowsToColumns(gpu, b.x, col, p, n0, chunk, PS);
      subgroupProduct(gpu, col, packed, b.b, b.y, { images: chunk, n0, K, Co: p.Co, P, PS }, actParams(p));
    }
    gpu.pool.release(col);
    gpu.pool.release(packed.wq);
  },
};

export const conv2dGeneral: KernelDef<GeneralConvParams> = {
  name: 'conv2d_general',
  inputs: ['x', 'w', 'b'],
  inputSizes: (p) => ({ x: p.N * p.Ci * p.H * p.W, w: p.Co * (p.Ci / p.G) * p.KH * p.KW, b: p.Co }),
  outputSizes: (p) => {
    const [Ho, Wo] = convOutputSize(p);
    return { y: p.N * p.Co * Ho * Wo };
  },
  reference: (i, p) => ({ y: generalConvReference(i as { x: FloatArray; w: FloatArray; b: FloatArray }, p, i.x as FloatArray) }),
  variants: [
    {
      name: 'direct',
      run: (gpu, b, p) => {
        const [Ho, Wo] = convOutputSize(p);
        const [act, lo, hi] = actParams(p);
        launch1d(gpu, 'conv2d_general', [b.x, b.w, b.b, b.y], { ...shapeParams(p), act, lo, hi }, p.N * p.Co * Ho * Wo, { wg: 64 });
      },
    },
    tiled,
    im2col,
    pointwise,
    padded3x3,
    // On lavapipe the subgroup product beats pointwise by 1.7-1.8x, also through im2col where a
    // 7x7 map's 49 pixels do not make whole vec4 rows.
    im2colSubgroup,
    depthwise3x3,
    pointwiseSubgroup,
  ],
  // Sums of up to Ci/G * KH * KW products in float32.
  tolerance: 1e-5,
  toleranceFor: (p) => 1e-5 * Math.max(1, Math.sqrt(((p.Ci / p.G) * p.KH * p.KW) / 64)),
  cases: [
    { ...base, Ci: 1, H: 1, W: 1, Co: 1, KH: 1, KW: 1 },
    // 7x7 stride 2 pad 3 (a ResNet stem), odd sizes.
    { ...base, N: 2, Ci: 3, H: 13, W: 11, Co: 5, KH: 7, KW: 7, SH: 2, SW: 2, PT: 3, PL: 3, PB: 3, PR: 3, act: 'relu' },
    // Asymmetric padding (SAME_UPPER at stride 2), a 1x3 kernel, dilation 2.
    { ...base, Ci: 4, H: 9, W: 10, Co: 6, KH: 1, KW: 3, SH: 2, SW: 1, PT: 0, PL: 2, PB: 1, PR: 2, DW: 2 },
    // Depthwise 3x3 stride 2 with ReLU6 (MobileNetV2).
    { ...base, N: 2, Ci: 8, H: 9, W: 7, Co: 8, KH: 3, KW: 3, SH: 2, SW: 2, PT: 1, PL: 1, PB: 1, PR: 1, G: 8, act: 'clip', lo: 0, hi: 6 },
    // Grouped (2 groups of 3 -> 2), a channel multiplier, 1x1.
    { ...base, Ci: 6, H: 5, W: 4, Co: 4, KH: 1, KW: 1, G: 2 },
    // Padding larger than the window reaches: rows of only zeros.
    { ...base, Ci: 2, H: 3, W: 3, Co: 3, KH: 2, KW: 2, PT: 2, PL: 1, PB: 2, PR: 0, SH: 3 },
    // The specialised variants: 3x3 stride 1 pad 1 (ResNet, VGG), depthwise stride 1 and 2 with
    // rows not a multiple of 4, pointwise with channels and pixels not multiples of 4.
    { ...base, N: 2, Ci: 5, H: 11, W: 13, Co: 7, KH: 3, KW: 3, PT: 1, PL: 1, PB: 1, PR: 1, act: 'relu' },
    { ...base, N: 2, Ci: 6, H: 12, W: 9, Co: 10, KH: 3, KW: 3, SH: 2, SW: 2, PT: 1, PL: 1, PB: 1, PR: 1, act: 'relu' },
    { ...base, N: 1, Ci: 3, H: 6, W: 9, Co: 70, KH: 3, KW: 3, PT: 0, PL: 2, PB: 1, PR: 0 },
    { ...base, N: 2, Ci: 6, H: 10, W: 11, Co: 6, KH: 3, KW: 3, PT: 1, PL: 1, PB: 1, PR: 1, G: 6, act: 'clip', lo: 0, hi: 6 },
    { ...base, N: 3, Ci: 5, H: 7, W: 6, Co: 5, KH: 3, KW: 3, SH: 2, SW: 2, PT: 0, PL: 0, PB: 1, PR: 1, G: 5 },
    { ...base, N: 2, Ci: 7, H: 5, W: 7, Co: 9, KH: 1, KW: 1, act: 'relu' },
    { ...base, N: 1, Ci: 33, H: 3, W: 4, Co: 4, KH: 1, KW: 1, act: 'clip', lo: -0.5, hi: 0.25 },
    // padded-3x3 with each Winograd inner kernel (a measured choice), sizes not multiples of the tiles, stride 1 and 2.
    { ...base, N: 2, Ci: 5, H: 11, W: 13, Co: 7, KH: 3, KW: 3, PT: 1, PL: 1, PB: 1, PR: 1, act: 'relu', inner: 'winograd2' },
    { ...base, N: 1, Ci: 6, H: 13, W: 10, Co: 9, KH: 3, KW: 3, SH: 2, SW: 2, PT: 1, PL: 1, PB: 1, PR: 1, inner: 'winograd4' },
    { ...base, N: 2, Ci: 4, H: 9, W: 15, Co: 5, KH: 3, KW: 3, PT: 1, PL: 1, PB: 1, PR: 1, act: 'relu', inner: 'winograd6' },
    // The subgroup matrix product: channels not a multiple of 16, k not of 4, a map of 12 pixels
    // (most lanes past the row) and one of 600 (five workgroups of 128 pixels).
    { ...base, N: 2, Ci: 7, H: 3, W: 4, Co: 13, KH: 1, KW: 1, act: 'relu' },
    { ...base, N: 1, Ci: 5, H: 20, W: 30, Co: 9, KH: 1, KW: 1, act: 'clip', lo: -0.25, hi: 0.5 },
    // im2col-subgroup in chunks of 2 images (a 7x7 stem's columns: 147 rows of 56 pixels each).
    { ...base, N: 3, Ci: 3, H: 15, W: 13, Co: 10, KH: 7, KW: 7, SH: 2, SW: 2, PT: 3, PL: 3, PB: 3, PR: 3, act: 'relu', columnBytes: 70000 },
  ],
  flops: (p) => {
    const [Ho, Wo] = convOutputSize(p);
    return 2 * p.N * p.Co * Ho * Wo * (p.Ci / p.G) * p.KH * p.KW;
  },
};

/** The shape part of the parameters (the backward kernels take no activation). */
export type GeneralConvShape = Omit<GeneralConvParams, 'act' | 'lo' | 'hi'>;

const backwardCases: GeneralConvShape[] = conv2dGeneral.cases.map(({ act: _a, lo: _l, hi: _h, ...s }) => s);

export const conv2dGeneralGradInput: KernelDef<GeneralConvShape> = {
  name: 'conv2d_general_grad_input',
  inputs: ['dz', 'w'],
  inputSizes: (p) => {
    const [Ho, Wo] = convOutputSize(p);
    return { dz: p.N * p.Co * Ho * Wo, w: p.Co * (p.Ci / p.G) * p.KH * p.KW };
  },
  outputSizes: (p) => ({ dx: p.N * p.Ci * p.H * p.W }),
  reference: (i, p) => {
    const [Ho, Wo] = convOutputSize(p);
    const dx = floats(i.dz, p.N * p.Ci * p.H * p.W);
    const [Cig, Cog] = [p.Ci / p.G, p.Co / p.G];
    // The adjoint of the forward's sum, term by term.
    for (let n = 0; n < p.N; n++)
      for (let co = 0; co < p.Co; co++) {
        const ci0 = Math.floor(co / Cog) * Cig;
        for (let oy = 0; oy < Ho; oy++)
          for (let ox = 0; ox < Wo; ox++) {
            const g = i.dz[((n * p.Co + co) * Ho + oy) * Wo + ox];
            for (let c = 0; c < Cig; c++)
              for (let ky = 0; ky < p.KH; ky++) {
                const iy = oy * p.SH - p.PT + ky * p.DH;
                if (iy < 0 || iy >= p.H) continue;
                for (let kx = 0; kx < p.KW; kx++) {
                  const ix = ox * p.SW - p.PL + kx * p.DW;
                  if (ix >= 0 && ix < p.W) dx[((n * p.Ci + ci0 + c) * p.H + iy) * p.W + ix] += g * i.w[((co * Cig + c) * p.KH + ky) * p.KW + kx];
                }
              }
          }
      }
    return { dx };
  },
  variants: [{ name: 'direct', run: (gpu, b, p) => launch1d(gpu, 'conv2d_general_grad_input', [b.dz, b.w, b.dx], shapeParams(p), p.N * p.Ci * p.H * p.W, { wg: 64 }) }],
  tolerance: 1e-5,
  toleranceFor: (p) => 1e-5 * Math.max(1, Math.sqrt(((p.Co / p.G) * p.KH * p.KW) / 64)),
  cases: backwardCases,
  flops: (p) => conv2dGeneral.flops!({ ...p, act: 'none' }),
};

export const conv2dGeneralGradWeight: KernelDef<GeneralConvShape> = {
  name: 'conv2d_general_grad_weight',
  inputs: ['x', 'dz'],
  inputSizes: (p) => {
    const [Ho, Wo] = convOutputSize(p);
    return { x: p.N * p.Ci * p.H * p.W, dz: p.N * p.Co * Ho * Wo };
  },
  outputSizes: (p) => ({ dw: p.Co * (p.Ci / p.G) * p.KH * p.KW }),
  reference: (i, p) => {
    const [Ho, Wo] = convOutputSize(p);
    const Cig = p.Ci / p.G;
    const dw = floats(i.x, p.Co * Cig * p.KH * p.KW);
    for (let co = 0; co < p.Co; co++) {
      const ci0 = Math.floor(co / (p.Co / p.G)) * Cig;
      for (let c = 0; c < Cig; c++)
        for (let ky = 0; ky < p.KH; ky++)
          for (let kx = 0; kx < p.KW; kx++) {
            let s = 0;
            for (let n = 0; n < p.N; n++)
              for (let oy = 0; oy < Ho; oy++) {
                const iy = oy * p.SH - p.PT + ky * p.DH;
                if (iy < 0 || iy >= p.H) continue;
                for (let ox = 0; ox < Wo; ox++) {
                  const ix = ox * p.SW - p.PL + kx * p.DW;
                  if (ix >= 0 && ix < p.W) s += i.dz[((n * p.Co + co) * Ho + oy) * Wo + ox] * i.x[((n * p.Ci + ci0 + c) * p.H + iy) * p.W + ix];
                }
              }
            dw[((co * Cig + c) * p.KH + ky) * p.KW + kx] = s;
          }
    }
    return { dw };
  },
  variants: [{ name: 'direct', run: (gpu, b, p) => launch1d(gpu, 'conv2d_general_grad_weight', [b.x, b.dz, b.dw], shapeParams(p), p.Co * (p.Ci / p.G) * p.KH * p.KW, { wg: 64 }) }],
  tolerance: 1e-5,
  toleranceFor: (p) => {
    const [Ho, Wo] = convOutputSize(p);
    return 1e-5 * Math.max(1, Math.sqrt((p.N * Ho * Wo) / 64));
  },
  cases: backwardCases,
  flops: (p) => conv2dGeneral.flops!({ ...p, act: 'none' }),
};
