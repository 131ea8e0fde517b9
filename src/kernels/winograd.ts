/**
 * 3x3 valid convolution by Winograd's minimal filtering F(m x m, 3x3) (Lavin & Gray 2015):
 * m = 2 needs 16 multiplies per 2x2 outputs and input channel instead of 36 (2.25x fewer),
 * m = 4 36 per 4x4 instead of 144 (4x fewer), m = 6 64 per 6x6 instead of 324 (5.06x fewer;
 * on a CPU driver its real gain is the memory traffic per output, 0.8x that of m = 4).
 * Four steps: the filter transform (winograd_weights), the data transform of each (m+2)x(m+2)
 * window (winograd_input), one GEMM per transform position summing over input channels
 * (winograd_gemm, or winograd_gemm_shallow for few input into many output channels), and the
 * inverse transform with the layer's epilogue: bias, ReLU, the 2x2 max-pool and its argmax
 * (winograd_output). grad-input runs the same kernels at PAD=2 on flipped weights.
 *
 * The transformed data V and products M take (m+2)^2/m^2 times the input and output (4x,
 * 2.25x and 1.78x): the tiles go through in chunks, so both stay within a binding. M keeps the
 * (m+2)^2 products of a channel and 4 tiles together (see winograd_gemm.wgsl).
 */
import type { Gpu } from '../gpu/runtime.ts';
import { channelLanes, launch1d } from './kernel.ts';
import type { ConvShape } from './conv2d.ts';

export type WinogradTile = 2 | 4 | 6;

/** The convolution to run: `flip` takes w as the forward weights of the transposed layer. */
export interface WinogradConv {
  x: GPUBuffer;
  w: GPUBuffer;
  b: GPUBuffer | null;
  /** Outputs; a null one is not written. */
  y: GPUBuffer | null;
  pooled?: GPUBuffer | null;
  argmax?: GPUBuffer | null;
  shape: ConvShape;
  /** 0: valid (forward), 1: 'same' (imported graphs' forward), 2: full (grad-input). */
  pad: 0 | 1 | 2;
  relu: boolean;
  flip: boolean;
  tile: WinogradTile;
}

/**
 * Tiles per chunk: at most 4096, and fewer where the channels are many, so that the chunk's V
 * and M stay within SCRATCH_BYTES each (1024, 2048, 4096 and 8192 tiles timed alike at the
 * reference layer, within the host's noise; with M in its present layout, 0.5-16 MB were no
 * faster and 64 MB slower).
 */
const CHUNK_TILES = 4096;
const SCRATCH_BYTES = 32 << 20;

/**
 * Output channels per GEMM lane: each broadcast tile value feeds that many multiply-adds
 * (reference layer, F(4x4), GEMM alone, weights then loaded per block: 1 120, 2 104, 4 91 ms;
 * 8 spills: 549 ms; with the weights kept, 2 and 4 timed alike within the host's noise).
 */
const CO_PER_LANE = 4;
/**
 * Blocks of 16 tiles per GEMM workgroup, each reusing the lane's weights from registers
 * (reference layer forward, F(4x4), whole convolution: 1 206, 8 129, 32 138 ms).
 */
const GEMM_BLOCKS = 8;
/** Input channels / 4 per GEMM launch: the lane's weights for them stay in a private array. */
const MAX_K4 = 64;
/**
 * Where winograd_gemm_shallow takes over: at most 32 input channels (its weights in 8 values
 * of their own) into at least 64 output channels (8 per lane, one subgroup spanning 64).
 */
const SHALLOW_MAX_CI = 32;
const SHALLOW_MIN_CO = 64;
const SHALLOW_CO_PER_LANE = 8;
/** Blocks of 8 tiles per shallow-GEMM workgroup (reference layer, GEMM alone: 4 62, 8 50, 16 42, 32 43-51 ms). */
const SHALLOW_BLOCKS = 16;

export function winogradConv(gpu: Gpu, c: WinogradConv): void {
  const { N, Ci, H, W, Co } = c.shape;
  const m = c.tile;
  const alpha = m + 2;
  const Ho = H + 2 * c.pad - 2;
  const Wo = W + 2 * c.pad - 2;
  const tH = Math.ceil(Ho / m);
  const tW = Math.ceil(Wo / m);
  const T = N * tH * tW;
  const Ci4 = Math.ceil(Ci / 4);
  const CoP = Math.ceil(Co / 4) * 4;
  // M's vec4s per channel and 4 tiles: one past the (m+2)^2 products (see winograd_gemm.wgsl).
  const mStride = alpha * alpha + 1;
  const perTile = mStride * Math.max(Ci4 * 16, CoP * 4);
  const TPc = Math.ceil(Math.min(T, CHUNK_TILES, Math.max(16, Math.floor(SCRATCH_BYTES / perTile))) / 16) * 16;
  const constants = { TILE: m };

  const u = gpu.pool.acquire(alpha * alpha * Ci4 * CoP * 16);
  const [storedCo, storedCi] = c.flip ? [Ci, Co] : [Co, Ci];
  launch1d(gpu, 'winograd_weights', [c.w, u], { Co: storedCo, Ci: storedCi, outC: Co, inC: Ci, CoP, Ci4 }, CoP * Ci4 * 4, { wg: 64, constants: { ...constants, FLIP: +c.flip } });
  const v = gpu.pool.acquire(alpha * alpha * Ci4 * TPc * 16);
  const prod = gpu.pool.acquire(mStride * CoP * TPc * 4);
  const outputs = [c.y, c.pooled ?? null, c.argmax ?? null];
  const bound = outputs.map((o) => o ?? gpu.pool.acquire(4));
  const epilogue = { ...constants, M_STRIDE: mStride, RELU: +c.relu, BIAS: +!!c.b, POOL: +!!c.pooled, ARGMAX: +!!c.argmax, STORE_Y: +!!c.y };
  for (let tileBase = 0; tileBase < T; tileBase += TPc) {
    const Tc = Math.min(TPc, T - tileBase);
    launch1d(gpu, 'winograd_input', [c.x, v], { N, Ci, H, W, Ci4, tH, tW, T, TPc, tileBase }, Ci4 * TPc, { wg: 64, constants: { ...constants, PAD: c.pad } });
    multiplyTransformed(gpu, u, v, prod, { Ci, Ci4, Co, CoP, TPc, alpha, mStride });
    launch1d(gpu, 'winograd_output', [prod, c.b ?? u, ...bound], { Co, Ho, Wo, tH, tW, CoP, TPc, tileBase, Tc }, Co * Math.ceil(Tc / 4), { wg: 64, constants: epilogue });
  }
  [u, v, prod].forEach((buf) => gpu.pool.release(buf));
  bound.forEach((buf, i) => {
    if (!outputs[i]) gpu.pool.release(buf);
  });
}

/** M = U V for every transform position: the GEMM kernel that suits the layer's channels. */
function multiplyTransformed(
  gpu: Gpu,
  u: GPUBuffer,
  v: GPUBuffer,
  prod: GPUBuffer,
  s: { Ci: number; Ci4: number; Co: number; CoP: number; TPc: number; alpha: number; mStride: number },
): void {
  const { Ci4, CoP } = s;
  const layout = { TILE: s.alpha - 2, M_STRIDE: s.mStride };
  if (s.Ci <= SHALLOW_MAX_CI && s.Co >= SHALLOW_MIN_CO) {
    const { WG, blocks } = channelLanes(s.Co, SHALLOW_CO_PER_LANE);
    gpu.dispatch({
      pipeline: gpu.pipeline('winograd_gemm_shallow', { WG, BLOCKS: SHALLOW_BLOCKS, K4: Ci4, ...layout }),
      buffers: [u, v, prod],
      params: { Ci4, CoP, TPc: s.TPc },
      workgroups: [s.alpha * s.alpha, blocks, Math.ceil(s.TPc / 8 / SHALLOW_BLOCKS)],
    });
    return;
  }
  const { WG, blocks } = channelLanes(s.Co, CO_PER_LANE);
  for (let k0 = 0; k0 < Ci4; k0 += MAX_K4) {
    const K4 = Math.min(MAX_K4, Ci4 - k0);
    gpu.dispatch({
      pipeline: gpu.pipeline('winograd_gemm', { WG, CO_PER_LANE, BLOCKS: GEMM_BLOCKS, K4, ACCUMULATE: +(k0 > 0), ...layout }),
      buffers: [u, v, prod],
      params: { Ci4, CoP, TPc: s.TPc, k0 },
      workgroups: [s.alpha * s.alpha, blocks, Math.ceil(s.TPc / 16 / GEMM_BLOCKS)],
    });
  }
}
