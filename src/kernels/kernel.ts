/**
 * What a kernel is, for the tests, the bench and both backends: a pure function over
 * named flat arrays, with a plain TypeScript reference and one or more GPU variants.
 * The first variant is the straightforward baseline; the last one the device supports is
 * the default.
 */
import type { ParamValues } from '../gpu/params.ts';
import type { Gpu } from '../gpu/runtime.ts';

export type FloatArray = Float32Array | Float64Array;
export type HostArray = FloatArray | Uint32Array;

/**
 * A fresh output of the precision of `like`: the references keep float64 inputs in
 * float64, so the finite-difference tests run the whole network in double precision.
 */
export function floats(like: HostArray, n: number): FloatArray {
  return like instanceof Float64Array ? new Float64Array(n) : new Float32Array(n);
}
export type Rng = () => number;

export interface GpuVariant<P> {
  name: string;
  /** Records the dispatches; `bufs` holds every input, update and output by name. */
  run(gpu: Gpu, bufs: Record<string, GPUBuffer>, p: P): void;
  /** Whether this device can run it (absent: every device can). */
  supported?(gpu: Gpu): boolean;
  /**
   * Whether it computes the kernel at these parameters (absent: at all of them): a specialised
   * variant (a 1x1 or depthwise convolution, a 3x3 one on the fast valid kernels) says where it applies.
   */
  appliesTo?(p: P): boolean;
  /** Never the default: runs only where a measured per-layer choice picks it (see nn/conv-choice.ts). */
  byMeasuredChoice?: boolean;
  /** Its own tolerance where its arithmetic rounds differently (Winograd's transforms). */
  tolerance?: number;
}

export interface KernelDef<P> {
  name: string;
  /** Arrays read by the kernel (and, if also in `updates`, modified in place). */
  inputs: readonly string[];
  updates?: readonly string[];
  /** Element counts of the inputs and of the freshly written outputs. */
  inputSizes(p: P): Record<string, number>;
  outputSizes(p: P): Record<string, number>;
  /** Outputs the GPU writes as u32 (read back as integers, compared as numbers). */
  u32Outputs?: readonly string[];
  /** Inputs that are not uniform random floats in [-1, 1) (labels, packed bytes, ...). */
  makeInput?: Partial<Record<string, (p: P, rng: Rng) => HostArray>>;
  /** The CPU reference: returns the outputs; mutates `updates` in place. */
  reference(inp: Record<string, HostArray>, p: P): Record<string, FloatArray>;
  variants: readonly GpuVariant<P>[];
  /** Max error allowed, relative to the largest magnitude of the reference output. */
  tolerance: number;
  /** Where float32 rounding grows with the shape (long serial sums), the tolerance at `p`. */
  toleranceFor?(p: P): number;
  /**
   * Error measures, by output name, for outputs that a plain element-wise comparison would
   * misjudge (absent: relError). Same scale as `tolerance`.
   */
  outputError?: Partial<Record<string, (got: Float32Array, want: FloatArray, inputs: Record<string, HostArray>, p: P) => number>>;
  /** Awkward shapes the tests run every variant on. */
  cases: readonly P[];
  /** Floating-point work of one launch (for GFLOP/s), or bytes moved for memory-bound kernels. */
  flops?(p: P): number;
  bytes?(p: P): number;
}

// A registry holds kernels of different parameter types.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyKernel = KernelDef<any>;

/** The error allowed at shape `p` (of variant `v`, where it states its own). */
export function toleranceAt<P>(k: KernelDef<P>, p: P, v?: GpuVariant<P>): number {
  return Math.max(v?.tolerance ?? 0, k.toleranceFor?.(p) ?? k.tolerance);
}

export function isSupported<P>(v: GpuVariant<P>, gpu: Gpu): boolean {
  return v.supported?.(gpu) ?? true;
}

export const appliesTo = <P>(v: GpuVariant<P>, p: P): boolean => v.appliesTo?.(p) ?? true;

/** The last variant this device runs (at `p`, where given), measured-choice ones apart; else the first. */
export function defaultVariant<P>(k: KernelDef<P>, gpu: Gpu, p?: P): GpuVariant<P> {
  for (let i = k.variants.length - 1; i > 0; i--) {
    const v = k.variants[i];
    if (isSupported(v, gpu) && !v.byMeasuredChoice && (p === undefined || appliesTo(v, p))) return v;
  }
  return k.variants[0];
}

/** Launches `count` invocations of a 1-D kernel (bindings: params, then `buffers`). */
export function launch1d(
  gpu: Gpu,
  kernel: string,
  buffers: GPUBuffer[],
  params: ParamValues,
  count: number,
  opts: { wg?: number; constants?: Record<string, number> } = {},
): void {
  const wg = opts.wg ?? 256;
  gpu.dispatch({
    pipeline: gpu.pipeline(kernel, { WG: wg, ...opts.constants }),
    buffers,
    params,
    workgroups: gpu.grid(Math.ceil(count / wg)),
  });
}

/**
 * Output channels across the lanes of the subgroup kernels, `perLane` each (co, co + WG, ...):
 * the workgroup size (whole subgroups of 8, at most 64) and the blocks of WG * perLane channels.
 */
export function channelLanes(Co: number, perLane: number): { WG: number; blocks: number } {
  const WG = Math.min(64, Math.ceil(Co / (8 * perLane)) * 8);
  return { WG, blocks: Math.ceil(Co / (WG * perLane)) };
}

/** Launches one workgroup per item (the reduction kernels), `items` split over x and y. */
export function launchPerGroup(
  gpu: Gpu,
  kernel: string,
  buffers: GPUBuffer[],
  params: ParamValues,
  items: number,
  wg: number,
): void {
  gpu.dispatch({
    pipeline: gpu.pipeline(kernel, { WG: wg }),
    buffers,
    params,
    workgroups: gpu.grid(items),
  });
}
