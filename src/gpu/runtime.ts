/**
 * The one place that talks to WebGPU: device, pipeline cache, uniform and bind-group caches,
 * buffer pool, and a single open compute pass into which every dispatch is recorded until
 * something must be read back. Free of Node: the same class runs in a browser (src/web/);
 * where the adapter comes from and how kernel sources are found is the caller's (gpu/dawn.ts
 * in Node).
 */
import { BufferPool, GpuLimitError } from './pool.ts';
import { packParams, paramFields, ParamsError, type ParamField, type ParamValues } from './params.ts';

export { GpuLimitError };

/** What differs between Node (Dawn) and a browser. */
export interface GpuHost {
  /** The WGSL text of a kernel file (src/kernels/wgsl/NAME.wgsl). */
  source(kernel: string): string;
  /** Awaits a WebGPU promise (Node on a CPU driver waits without Dawn's busy polling). */
  wait?<T>(wait: () => Promise<T>, onCpu: boolean): Promise<T>;
  /** Leave out the subgroup kernels even where the adapter has them. */
  noSubgroups?: boolean;
}

/** Bindings are: 0 = uniform params, 1.. = storage buffers in the kernel's order. */
export interface Dispatch {
  pipeline: GPUComputePipeline;
  buffers: GPUBuffer[];
  /** The kernel's `struct Params` fields by name (gpu/params.ts checks them against the struct). */
  params: ParamValues;
  workgroups: [number, number?, number?];
}

const MAX_CACHED_UNIFORMS = 4096;
const MAX_CACHED_BIND_GROUPS = 8192;

export class Gpu {
  readonly pool: BufferPool;
  readonly maxWorkgroupsPerDim: number;
  readonly maxBindingBytes: number;
  /** Counters for the bench and tests: dispatches recorded, command buffers submitted. */
  readonly counters = { dispatches: 0, submits: 0 };

  private pipelines = new Map<string, GPUComputePipeline>();
  private uniforms = new Map<string, GPUBuffer>();
  /** Each kernel's Params fields (from its source), and each pipeline's kernel. */
  private paramLayouts = new Map<string, ParamField[]>();
  private pipelineKernels = new WeakMap<GPUComputePipeline, string>();
  private bindGroups = new Map<string, GPUBindGroup>();
  private ids = new WeakMap<object, number>();
  private nextId = 1;
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private pendingError: string | null = null;
  private lost = false;
  private destroyed = false;
  private readbacks: GPUBuffer[] = [];

  private constructor(
    private readonly host: GpuHost,
    readonly device: GPUDevice,
    readonly adapterName: string,
    readonly features: ReadonlySet<string>,
    /** Fewest lanes a subgroup can have on this adapter; 0 where subgroups are not enabled. */
    readonly subgroupMinSize: number,
    /** A CPU driver (lavapipe, SwiftShader): a few threads to keep busy, not thousands. */
    readonly onCpu: boolean,
  ) {
    this.maxBindingBytes = device.limits.maxStorageBufferBindingSize;
    this.maxWorkgroupsPerDim = device.limits.maxComputeWorkgroupsPerDimension;
    this.pool = new BufferPool(device, this.maxBindingBytes);
    device.addEventListener('uncapturederror', (ev) => {
      const e = (ev as GPUUncapturedErrorEvent).error;
      this.pendingError ??= e.message;
    });
    void device.lost.then((info) => {
      // Our own destroy() is no loss; anything else (a driver reset, a device destroyed
      // behind our back) turns every later call into one clear error.
      if (!this.destroyed) {
        this.lost = true;
        this.pendingError = `the GPU device was lost (${info.reason}${info.message ? `: ${info.message.split('\n')[0]}` : ''}); checkpoints already written are intact, continue with --resume`;
      }
    });
  }

  /** Creates the device with the adapter's own limits (the WebGPU defaults are far lower). */
  static async fromAdapter(adapter: GPUAdapter, host: GpuHost): Promise<Gpu> {
    const wanted = ['timestamp-query', 'subgroups', 'shader-f16'] as const;
    const requiredFeatures = wanted.filter((f) => adapter.features.has(f) && !(f === 'subgroups' && host.noSubgroups)) as GPUFeatureName[];
    const requiredLimits: Record<string, number> = {};
    for (const key of [
      'maxStorageBufferBindingSize',
      'maxBufferSize',
      'maxComputeWorkgroupStorageSize',
      'maxComputeInvocationsPerWorkgroup',
      'maxComputeWorkgroupSizeX',
      'maxComputeWorkgroupSizeY',
      'maxComputeWorkgroupsPerDimension',
      'maxStorageBuffersPerShaderStage',
    ] as const) {
      requiredLimits[key] = adapter.limits[key];
    }
    const device = await adapter.requestDevice({ requiredFeatures, requiredLimits });
    const info = adapter.info;
    const name = [info.vendor, info.description || info.device || info.architecture].filter(Boolean).join(' ');
    const subgroupMinSize = requiredFeatures.includes('subgroups') ? (info.subgroupMinSize ?? 0) : 0;
    // Dawn marks its CPU adapters as fallback adapters.
    const onCpu = Boolean(info.isFallbackAdapter) || info.architecture === 'software';
    return new Gpu(host, device, name || 'unnamed adapter', new Set(requiredFeatures), subgroupMinSize, onCpu);
  }

  /** Compiled pipeline for a kernel file and its override constants (cached). */
  pipeline(kernel: string, constants: Record<string, number> = {}): GPUComputePipeline {
    const key = kernel + JSON.stringify(constants);
    let p = this.pipelines.get(key);
    if (!p) {
      const code = this.host.source(kernel);
      if (!this.paramLayouts.has(kernel)) this.paramLayouts.set(kernel, paramFields(kernel, code));
      const module = this.device.createShaderModule({ code, label: kernel });
      p = this.device.createComputePipeline({
        layout: 'auto',
        compute: { module, entryPoint: 'main', constants },
        label: key,
      });
      this.pipelines.set(key, p);
      this.pipelineKernels.set(p, kernel);
    }
    return p;
  }

  /** Records one dispatch into the open compute pass. */
  dispatch(d: Dispatch): void {
    this.throwPendingError();
    const [x, y = 1, z = 1] = d.workgroups;
    if (x === 0 || y === 0 || z === 0) return;
    const max = this.maxWorkgroupsPerDim;
    if (x > max || y > max || z > max) {
      throw new GpuLimitError(`dispatch of ${x}x${y}x${z} workgroups exceeds maxComputeWorkgroupsPerDimension (${max})`);
    }
    const kernel = this.pipelineKernels.get(d.pipeline);
    if (kernel === undefined) throw new ParamsError('dispatch of a pipeline this Gpu did not make');
    const uniform = this.uniform(packParams(kernel, this.paramLayouts.get(kernel)!, d.params));
    const bg = this.bindGroup(d.pipeline, uniform, d.buffers);
    if (!this.pass) {
      // A copy may have ended the last pass: its encoder (and the copy) must stay.
      this.encoder ??= this.device.createCommandEncoder();
      this.pass = this.encoder.beginComputePass();
    }
    this.pass.setPipeline(d.pipeline);
    this.pass.setBindGroup(0, bg);
    this.pass.dispatchWorkgroups(x, y, z);
    this.counters.dispatches++;
  }

  /** Splits a 1-D count of workgroups into a 2-D grid within the per-dimension limit. */
  grid(workgroups: number): [number, number] {
    if (workgroups <= this.maxWorkgroupsPerDim) return [workgroups, 1];
    const y = Math.ceil(workgroups / this.maxWorkgroupsPerDim);
    return [Math.ceil(workgroups / y), y];
  }

  /** Records a buffer-to-buffer copy, ordered with the dispatches around it. */
  copy(src: GPUBuffer, dst: GPUBuffer, bytes: number, srcOffset = 0, dstOffset = 0): void {
    this.endPass();
    this.encoder ??= this.device.createCommandEncoder();
    this.encoder.copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
  }

  /** Submits everything recorded so far as one command buffer. */
  flush(): void {
    if (!this.encoder) return;
    this.endPass();
    this.device.queue.submit([this.encoder.finish()]);
    this.encoder = null;
    this.counters.submits++;
  }

  /** Writes host data into a buffer, after everything recorded before it. */
  write(buffer: GPUBuffer, data: ArrayBufferView, offset = 0): void {
    // queue.writeBuffer runs before any command buffer submitted later, so the
    // commands recorded so far (which may still read this buffer) go first.
    this.flush();
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const padded = bytes.byteLength % 4 === 0 ? bytes : padTo4(bytes);
    // wgcam never makes SharedArrayBuffers, which the browser's WebGPU types rule out.
    this.device.queue.writeBuffer(buffer, offset, padded as Uint8Array<ArrayBuffer>);
  }

  /** Reads back `bytes` bytes of a buffer once all recorded work has run. */
  async read(buffer: GPUBuffer, bytes: number, offset = 0): Promise<ArrayBuffer> {
    const size = Math.ceil(bytes / 4) * 4;
    const staging = this.stagingBuffer(size);
    this.copy(buffer, staging, size, offset, 0);
    this.flush();
    try {
      await this.waitFor(() => staging.mapAsync(GPUMapMode.READ, 0, size));
    } catch (e) {
      await Promise.resolve(); // let a pending device-lost notice land first
      this.throwPendingError();
      throw e;
    }
    const out = staging.getMappedRange(0, size).slice(0, bytes);
    staging.unmap();
    this.readbacks.push(staging);
    this.throwPendingError();
    return out;
  }

  /** Resolves when the GPU has finished everything submitted (flushes first). */
  async sync(): Promise<void> {
    this.flush();
    await this.waitFor(() => this.device.queue.onSubmittedWorkDone());
    this.throwPendingError();
  }

  private waitFor<T>(wait: () => Promise<T>): Promise<T> {
    return this.host.wait ? this.host.wait(wait, this.onCpu) : wait();
  }

  /** Releases the device (idempotent); the process can then exit by itself. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.encoder = null;
    this.pass = null;
    this.device.destroy();
  }

  private stagingBuffer(size: number): GPUBuffer {
    const i = this.readbacks.findIndex((b) => b.size >= size && b.size <= size * 2);
    if (i >= 0) return this.readbacks.splice(i, 1)[0];
    if (this.readbacks.length > 8) this.readbacks.shift()!.destroy();
    return this.device.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  }

  private endPass(): void {
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
  }

  private throwPendingError(): void {
    if (this.pendingError) {
      const msg = this.pendingError;
      if (!this.lost) this.pendingError = null;
      throw new Error(this.lost ? msg : `GPU error: ${msg}`);
    }
  }

  private id(o: object): number {
    let id = this.ids.get(o);
    if (id === undefined) this.ids.set(o, (id = this.nextId++));
    return id;
  }

  /** One uniform buffer per distinct parameter block, written once at creation. */
  private uniform(params: ArrayBuffer): GPUBuffer {
    const words = new Uint32Array(params);
    const key = words.join(',');
    let buf = this.uniforms.get(key);
    if (!buf) {
      if (this.uniforms.size >= MAX_CACHED_UNIFORMS) this.dropCaches();
      const size = Math.max(16, Math.ceil(params.byteLength / 16) * 16);
      buf = this.device.createBuffer({ size, usage: GPUBufferUsage.UNIFORM, mappedAtCreation: true });
      new Uint32Array(buf.getMappedRange()).set(words);
      buf.unmap();
      this.uniforms.set(key, buf);
    }
    return buf;
  }

  private bindGroup(pipeline: GPUComputePipeline, uniform: GPUBuffer, buffers: GPUBuffer[]): GPUBindGroup {
    const key = [pipeline, uniform, ...buffers].map((o) => this.id(o)).join(',');
    let bg = this.bindGroups.get(key);
    if (!bg) {
      if (this.bindGroups.size >= MAX_CACHED_BIND_GROUPS) this.bindGroups.clear();
      bg = this.device.createBindGroup({
        layout: pipeline.getBindGroupLayout(0),
        entries: [uniform, ...buffers].map((buffer, binding) => ({ binding, resource: { buffer } })),
      });
      this.bindGroups.set(key, bg);
    }
    return bg;
  }

  private dropCaches(): void {
    this.flush();
    for (const b of this.uniforms.values()) b.destroy();
    this.uniforms.clear();
    this.bindGroups.clear();
  }
}

function padTo4(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.ceil(bytes.byteLength / 4) * 4);
  out.set(bytes);
  return out;
}


