/**
 * A reuse pool for storage buffers. Sizes are rounded up to buckets of 1/8 of a
 * power of two (at most 12.5% waste), so a training step that asks for the same
 * shapes every time gets the same buffers back and allocates nothing after the
 * first step.
 */
export const POOL_USAGE = 0x80 /* STORAGE */ | 0x04 /* COPY_SRC */ | 0x08; /* COPY_DST */

export function bucketBytes(bytes: number): number {
  const min = 256;
  if (bytes <= min) return min;
  const pow = 2 ** Math.floor(Math.log2(bytes));
  const step = pow / 8;
  return Math.ceil(bytes / step) * step;
}

export interface PoolStats {
  bytesInUse: number;
  bytesAllocated: number;
  buffersAllocated: number;
  hits: number;
  misses: number;
}

export class BufferPool {
  private free = new Map<number, GPUBuffer[]>();
  private sizes = new WeakMap<GPUBuffer, number>();
  readonly stats: PoolStats = { bytesInUse: 0, bytesAllocated: 0, buffersAllocated: 0, hits: 0, misses: 0 };

  constructor(
    private device: GPUDevice,
    private maxBindingBytes: number,
  ) {}

  acquire(bytes: number): GPUBuffer {
    if (bytes > this.maxBindingBytes) {
      throw new GpuLimitError(
        `a tensor of ${fmtBytes(bytes)} exceeds this adapter's maxStorageBufferBindingSize of ${fmtBytes(this.maxBindingBytes)}; ` +
          'use a smaller batch or image size',
      );
    }
    const size = bucketBytes(bytes);
    const list = this.free.get(size);
    let buffer = list?.pop();
    if (buffer) {
      this.stats.hits++;
    } else {
      this.stats.misses++;
      buffer = this.device.createBuffer({ size, usage: POOL_USAGE });
      this.sizes.set(buffer, size);
      this.stats.bytesAllocated += size;
      this.stats.buffersAllocated++;
    }
    this.stats.bytesInUse += size;
    return buffer;
  }

  release(buffer: GPUBuffer): void {
    const size = this.sizes.get(buffer);
    if (size === undefined) throw new Error('BufferPool.release: buffer does not belong to this pool');
    this.stats.bytesInUse -= size;
    let list = this.free.get(size);
    if (!list) this.free.set(size, (list = []));
    list.push(buffer);
  }
}

export class GpuLimitError extends Error {}

export function fmtBytes(n: number): string {
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(2)} GiB`;
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(1)} MiB`;
  if (n >= 2 ** 10) return `${(n / 2 ** 10).toFixed(1)} KiB`;
  return `${n} B`;
}
