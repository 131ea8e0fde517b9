/**
 * WebGPU in Node: Dawn's instance (npm `webgpu`), the adapter it offers, kernel sources read
 * from src/kernels/wgsl/, and waits without Dawn's busy polling on a CPU driver.
 */
import { readFileSync } from 'node:fs';
import { create, globals } from 'webgpu';
import { withoutDawnNotices } from './dawn-notices.ts';
import { quietly } from './quiet-wait.ts';
import { Gpu, type GpuHost } from './runtime.ts';

export class NoAdapterError extends Error {
  constructor() {
    super(
      "no WebGPU adapter found. Dawn needs a Vulkan driver: run 'npm run setup' as root on Debian/Ubuntu " +
        "(it installs Mesa's lavapipe: apt-get install -t bookworm-backports mesa-vulkan-drivers libvulkan1), " +
        "or install your GPU vendor's Vulkan driver",
    );
  }
}

const WGSL_DIR = new URL('../kernels/wgsl/', import.meta.url);

const nodeHost: GpuHost = {
  source: (kernel) => readFileSync(new URL(`${kernel}.wgsl`, WGSL_DIR), 'utf8'),
  // On lavapipe the host cores are the GPU: Dawn's polling would take one of them (quiet-wait.ts).
  wait: (wait, onCpu) => (onCpu && !process.env.WGCAM_BUSY_WAIT ? quietly(wait) : wait()),
  // WGCAM_NO_SUBGROUPS=1 runs the kernels that do without (for a driver that gets them wrong).
  get noSubgroups() {
    return Boolean(process.env.WGCAM_NO_SUBGROUPS);
  },
};

/**
 * Every Dawn instance this process made, kept until it exits. Dawn's Node binding can still
 * run a queued "process events" callback after the object `create()` returned has been
 * collected, and that callback then uses the freed instance: a segfault in
 * CallbackTaskManager::Flush, seen as a test worker dying at random. A kept instance costs a
 * little host memory and does not keep the process from exiting.
 */
const instances: GPU[] = [];

/** A Dawn instance (navigator.gpu) with the WebGPU globals installed; never freed. */
export function createInstance(): GPU {
  Object.assign(globalThis, globals);
  const instance = create([]);
  instances.push(instance);
  return instance;
}

/** The GPU (Dawn's high-performance adapter) as wgcam uses it; a NoAdapterError where there is none. */
export async function openGpu(): Promise<Gpu> {
  const instance = createInstance();
  let adapter: GPUAdapter | null = null;
  try {
    adapter = await withoutDawnNotices(() => instance.requestAdapter({ powerPreference: 'high-performance' }));
  } catch {
    adapter = null;
  }
  if (!adapter) throw new NoAdapterError();
  return Gpu.fromAdapter(adapter, nodeHost);
}

/** The adapters Dawn offers (by power preference, deduplicated), described in one line each. */
export async function listAdapters(): Promise<string[]> {
  const instance = createInstance();
  const seen = new Set<string>();
  for (const powerPreference of ['high-performance', 'low-power'] as const) {
    const a = await withoutDawnNotices(() => instance.requestAdapter({ powerPreference })).catch(() => null);
    if (!a) continue;
    const i = a.info;
    seen.add(`${[i.vendor, i.description || i.device || i.architecture].filter(Boolean).join(' ')} (max storage binding ${a.limits.maxStorageBufferBindingSize} bytes)`);
  }
  if (!seen.size) throw new NoAdapterError();
  return [...seen];
}
