/**
 * Where tensor data lives and how kernels run on it. Two implementations: the GPU
 * (WGSL kernels through WebGPU) and the CPU (the kernels' plain TypeScript references),
 * so the same model code runs on both and the tests can compare them step by step.
 */
import type { HostArray, KernelDef } from '../kernels/kernel.ts';

export type Storage = GPUBuffer | HostArray;

export interface Backend {
  readonly kind: 'gpu' | 'cpu';
  /** The largest buffer one kernel may bind, in bytes. */
  readonly maxBindingBytes: number;
  /** A new buffer of `len` f32 elements (contents undefined). */
  alloc(len: number): Storage;
  free(s: Storage): void;
  upload(data: HostArray): Storage;
  /** Overwrites a buffer's contents (ordered after everything already recorded). */
  write(s: Storage, data: HostArray): void;
  download(s: Storage, len: number): Promise<Float32Array>;
  /** Copies `len` elements of `src` into `dst` from element `dstOffset` (ordered with the recorded work). */
  copyInto(src: Storage, dst: Storage, len: number, dstOffset: number): void;
  /** A kernel's u32 output (its `u32Outputs`) as integers. */
  downloadU32(s: Storage, len: number): Promise<Uint32Array>;
  /** Runs a kernel: `args` holds its inputs by name; returns freshly allocated outputs. */
  run<P>(k: KernelDef<P>, args: Record<string, Storage>, p: P): Record<string, Storage>;
  /** Waits for all recorded work (a no-op on the CPU). */
  sync(): Promise<void>;
}
