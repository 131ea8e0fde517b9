/** The CPU backend: every kernel is its plain TypeScript reference. Slow, exact, the yardstick. */
import type { HostArray, KernelDef } from '../kernels/kernel.ts';
import type { Backend, Storage } from './backend.ts';

export class CpuBackend implements Backend {
  readonly kind = 'cpu';
  readonly maxBindingBytes = Number.MAX_SAFE_INTEGER;

  /** With float64, uploaded floats are widened so whole networks run in double precision (gradient checks). */
  constructor(private readonly opts: { float64?: boolean } = {}) {}

  alloc(len: number): HostArray {
    return this.opts.float64 ? new Float64Array(len) : new Float32Array(len);
  }

  free(): void {}

  upload(data: HostArray): HostArray {
    if (this.opts.float64 && data instanceof Float32Array) return Float64Array.from(data);
    return data.slice();
  }

  write(s: Storage, data: HostArray): void {
    (s as HostArray).set(data);
  }

  async download(s: Storage, len: number): Promise<Float32Array> {
    const a = s as HostArray;
    // u32 storage holds raw bits (packed pixels); float storage converts (float64 in the gradient checks).
    if (a instanceof Uint32Array) return new Float32Array(a.buffer.slice(a.byteOffset, a.byteOffset + len * 4));
    return Float32Array.from(a.subarray(0, len));
  }

  copyInto(src: Storage, dst: Storage, len: number, dstOffset: number): void {
    (dst as HostArray).set((src as HostArray).subarray(0, len), dstOffset);
  }

  /** The references return u32 outputs as float values; packed inputs are Uint32Arrays. */
  async downloadU32(s: Storage, len: number): Promise<Uint32Array> {
    return Uint32Array.from((s as HostArray).subarray(0, len));
  }

  run<P>(k: KernelDef<P>, args: Record<string, Storage>, p: P): Record<string, Storage> {
    return k.reference(args as Record<string, HostArray>, p);
  }

  async sync(): Promise<void> {}
}
