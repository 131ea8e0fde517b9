/**
 * Runs one kernel on host arrays, on the GPU or through its CPU reference: the shared
 * harness of the kernel tests and the bench (validate a variant, then time it).
 */
import type { Gpu } from '../gpu/runtime.ts';
import type { FloatArray, GpuVariant, HostArray, KernelDef, Rng } from './kernel.ts';

export function randomInputs<P>(k: KernelDef<P>, p: P, rng: Rng): Record<string, HostArray> {
  const sizes = k.inputSizes(p);
  const out: Record<string, HostArray> = {};
  for (const name of k.inputs) {
    const make = k.makeInput?.[name];
    out[name] = make ? make(p, rng) : Float32Array.from({ length: sizes[name] }, () => rng() * 2 - 1);
  }
  return out;
}

function clone(inp: Record<string, HostArray>): Record<string, HostArray> {
  return Object.fromEntries(Object.entries(inp).map(([k, v]) => [k, v.slice()]));
}

/** Reference outputs, with the in-place updates included under their input names. */
export function runReference<P>(k: KernelDef<P>, inputs: Record<string, HostArray>, p: P): Record<string, HostArray> {
  const copy = clone(inputs);
  const outs: Record<string, HostArray> = k.reference(copy, p);
  for (const u of k.updates ?? []) outs[u] = copy[u];
  return outs;
}

/** Uploads inputs, allocates outputs, records the variant; returns every buffer by name. */
export function stageOnGpu<P>(gpu: Gpu, k: KernelDef<P>, inputs: Record<string, HostArray>, p: P): Record<string, GPUBuffer> {
  const bufs: Record<string, GPUBuffer> = {};
  for (const name of k.inputs) {
    const data = inputs[name];
    bufs[name] = gpu.pool.acquire(Math.max(4, data.byteLength));
    gpu.write(bufs[name], data);
  }
  for (const [name, len] of Object.entries(k.outputSizes(p))) bufs[name] = gpu.pool.acquire(Math.max(4, len * 4));
  return bufs;
}

export function releaseAll(gpu: Gpu, bufs: Record<string, GPUBuffer>): void {
  for (const b of Object.values(bufs)) gpu.pool.release(b);
}

export async function runOnGpu<P>(
  gpu: Gpu,
  k: KernelDef<P>,
  variant: GpuVariant<P>,
  inputs: Record<string, HostArray>,
  p: P,
): Promise<Record<string, Float32Array>> {
  const bufs = stageOnGpu(gpu, k, inputs, p);
  variant.run(gpu, bufs, p);
  const out: Record<string, Float32Array> = {};
  const names = [...Object.keys(k.outputSizes(p)), ...(k.updates ?? [])];
  const sizes = { ...k.inputSizes(p), ...k.outputSizes(p) };
  for (const name of names) {
    const bytes = await gpu.read(bufs[name], sizes[name] * 4);
    out[name] = k.u32Outputs?.includes(name) ? Float32Array.from(new Uint32Array(bytes)) : new Float32Array(bytes);
  }
  releaseAll(gpu, bufs);
  return out;
}

/** max |a - b| / max(max |b|, 1e-6): the error measure every kernel's tolerance is stated in. */
export function relError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let diff = 0;
  let scale = 1e-6;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= diff)) diff = Number.isNaN(d) ? Infinity : d;
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / scale;
}

/** The error of each output, by the kernel's own measure where it states one, else relError. */
export function outputErrors<P>(k: KernelDef<P>, got: Record<string, Float32Array>, want: Record<string, HostArray>, inputs: Record<string, HostArray>, p: P): Record<string, number> {
  return Object.fromEntries(
    Object.keys(want).map((name) => {
      const measure = k.outputError?.[name];
      return [name, measure ? measure(got[name], want[name] as FloatArray, inputs, p) : relError(got[name], want[name])];
    }),
  );
}

/** Checks a variant against the reference; returns the worst error per output (throws nothing). */
export async function validate<P>(gpu: Gpu, k: KernelDef<P>, variant: GpuVariant<P>, p: P, rng: Rng): Promise<Record<string, number>> {
  const inputs = randomInputs(k, p, rng);
  const want = runReference(k, inputs, p);
  const got = await runOnGpu(gpu, k, variant, inputs, p);
  return outputErrors(k, got, want, inputs, p);
}
