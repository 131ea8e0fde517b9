/** The GPU backend: kernels record into the runtime's open compute pass; buffers come from its pool. */
import type { Gpu } from '../gpu/runtime.ts';
import { defaultVariant, isSupported, type GpuVariant, type HostArray, type KernelDef } from '../kernels/kernel.ts';
import type { Backend, Storage } from './backend.ts';
import { convShapeKey, type ConvChoice } from '../kernels/conv-choice-key.ts';
import type { ConvShape } from '../kernels/conv2d.ts';

export class GpuBackend implements Backend {
  readonly kind = 'gpu';
  /** Kernel name -> variant name, to run something other than each kernel's default. */
  private choice = new Map<string, string>();
  /** `${kernel} ${convShapeKey}` -> variant: the measured per-layer choices of a training run. */
  private perLayer = new Map<string, string>();

  constructor(readonly gpu: Gpu) {}

  get maxBindingBytes(): number {
    return this.gpu.maxBindingBytes;
  }

  useVariant(kernel: string, variant: string): void {
    this.choice.set(kernel, variant);
  }

  /** Runs each convolution of these layer shapes with the variant chosen for it. */
  useConvChoices(choices: readonly ConvChoice[]): void {
    this.perLayer = new Map(choices.map((c) => [`${c.kernel} ${c.shape}`, c.variant]));
  }

  alloc(len: number): GPUBuffer {
    return this.gpu.pool.acquire(Math.max(4, len * 4));
  }

  free(s: Storage): void {
    this.gpu.pool.release(s as GPUBuffer);
  }

  upload(data: HostArray): GPUBuffer {
    const b = this.gpu.pool.acquire(Math.max(4, data.byteLength));
    this.gpu.write(b, data);
    return b;
  }

  write(s: Storage, data: HostArray): void {
    this.gpu.write(s as GPUBuffer, data);
  }

  async download(s: Storage, len: number): Promise<Float32Array> {
    return new Float32Array(await this.gpu.read(s as GPUBuffer, len * 4));
  }

  copyInto(src: Storage, dst: Storage, len: number, dstOffset: number): void {
    this.gpu.copy(src as GPUBuffer, dst as GPUBuffer, len * 4, 0, dstOffset * 4);
  }

  async downloadU32(s: Storage, len: number): Promise<Uint32Array> {
    return new Uint32Array(await this.gpu.read(s as GPUBuffer, len * 4));
  }

  run<P>(k: KernelDef<P>, args: Record<string, Storage>, p: P): Record<string, Storage> {
    const outputs: Record<string, GPUBuffer> = {};
    for (const [name, len] of Object.entries(k.outputSizes(p))) outputs[name] = this.alloc(len);
    this.variant(k, p).run(this.gpu, { ...(args as Record<string, GPUBuffer>), ...outputs }, p);
    return outputs;
  }

  sync(): Promise<void> {
    return this.gpu.sync();
  }

  private variant<P>(k: KernelDef<P>, p: P): GpuVariant<P> {
    const name = this.choice.get(k.name) ?? (this.perLayer.size ? this.perLayer.get(`${k.name} ${convShapeKey(p as ConvShape)}`) : undefined);
    const v = name ? k.variants.find((v) => v.name === name) : defaultVariant(k, this.gpu, p);
    if (!v) throw new Error(`kernel ${k.name} has no variant '${name}'`);
    if (!isSupported(v, this.gpu)) throw new Error(`kernel ${k.name}: variant '${name}' needs a feature this device lacks`);
    return v;
  }
}
