// The GPU runtime and tensors: limits, pool reuse, tidy(), clear errors.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type Gpu, GpuLimitError } from '../src/gpu/runtime.ts';
import { openGpu } from '../src/gpu/dawn.ts';
import { useGpu } from './gpu-fixture.ts';
import { bucketBytes } from '../src/gpu/pool.ts';
import type { GpuBackend } from '../src/tensor/gpu-backend.ts';
import { Tensor, tidy } from '../src/tensor/tensor.ts';
import { relu } from '../src/autograd/ops.ts';
import { conv2dForward } from '../src/kernels/conv2d.ts';
import { randomInputs, releaseAll, stageOnGpu } from '../src/kernels/harness.ts';
import { Rng } from '../src/util/rng.ts';

let gpu: Gpu;
let backend: GpuBackend;
useGpu((g, b) => {
  gpu = g;
  backend = b;
});

describe('runtime', () => {
  it('requests the adapter’s own limits, not the WebGPU defaults', () => {
    expect(gpu.adapterName.length).toBeGreaterThan(0);
    // The WebGPU default is 128 MiB for bindings and 256 MiB for buffers; lavapipe offers 4 GiB buffers.
    expect(gpu.device.limits.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(128 * 2 ** 20);
    expect(gpu.device.limits.maxBufferSize).toBeGreaterThan(256 * 2 ** 20);
  });

  it('tells a CPU driver from a GPU (it sizes the work split by it)', () => {
    // Dawn reports lavapipe and SwiftShader as fallback adapters; anything else is a GPU.
    expect(gpu.onCpu).toBe(/llvmpipe|lavapipe|swiftshader/i.test(gpu.adapterName));
  });

  it('buckets sizes with at most 12.5% waste', () => {
    for (const n of [1, 255, 257, 1000, 4097, 123_456_789]) {
      const b = bucketBytes(n);
      expect(b).toBeGreaterThanOrEqual(n);
      expect(b).toBeLessThanOrEqual(Math.max(256, n * 1.125));
    }
  });

  it('reuses pooled buffers and counts bytes in use', () => {
    const start = { ...gpu.pool.stats };
    const a = gpu.pool.acquire(10_000);
    expect(gpu.pool.stats.bytesInUse).toBe(start.bytesInUse + bucketBytes(10_000));
    gpu.pool.release(a);
    const b = gpu.pool.acquire(9_990);
    expect(b).toBe(a);
    gpu.pool.release(b);
    expect(gpu.pool.stats.bytesInUse).toBe(start.bytesInUse);
  });

  it('refuses a tensor over the binding limit with a message naming the limit', () => {
    expect(() => gpu.pool.acquire(gpu.maxBindingBytes + 4)).toThrow(GpuLimitError);
    expect(() => gpu.pool.acquire(gpu.maxBindingBytes + 4)).toThrow(/maxStorageBufferBindingSize.*smaller batch/);
  });

  it('tidy() frees intermediates but keeps what it returns', async () => {
    const before = gpu.pool.stats.bytesInUse;
    const x = Tensor.fromArray(backend, new Float32Array([-1, 2, -3, 4]), [4]);
    const y = tidy(() => relu(relu(relu(x))));
    expect(gpu.pool.stats.bytesInUse).toBe(before + 2 * bucketBytes(16));
    expect(Array.from(await y.toArray())).toEqual([0, 2, 0, 4]);
    x.dispose();
    y.dispose();
    y.dispose(); // twice is harmless
    expect(gpu.pool.stats.bytesInUse).toBe(before);
    expect(() => y.storage).toThrow(/disposed/);
  });

  it('records a training-sized batch of dispatches into one command buffer until a readback', async () => {
    await gpu.sync();
    const submits = gpu.counters.submits;
    const x = Tensor.fromArray(backend, new Float32Array(1000).fill(1), [1000]);
    const y = tidy(() => {
      let h = x;
      for (let i = 0; i < 50; i++) h = relu(h);
      return h;
    });
    expect(gpu.counters.submits).toBe(submits); // 50 dispatches recorded, nothing submitted yet
    await y.toArray();
    expect(gpu.counters.submits).toBe(submits + 1); // one command buffer, copy to staging included
    x.dispose();
    y.dispose();
  });

  it('keeps a copy recorded between dispatches, and the work before it, in the same command buffer', async () => {
    const x = Tensor.fromArray(backend, new Float32Array([-1, 2, -3, 4]), [4]);
    const joined = backend.alloc(8);
    await gpu.sync();
    const submits = gpu.counters.submits;
    const first = relu(x); // a dispatch
    backend.copyInto(first.storage, joined, 4, 0); // ends the compute pass
    const second = relu(first); // the next dispatch: a new pass in the same encoder
    backend.copyInto(second.storage, joined, 4, 4);
    expect(gpu.counters.submits).toBe(submits); // nothing submitted yet
    expect(Array.from(await backend.download(joined, 8))).toEqual([0, 2, 0, 4, 0, 2, 0, 4]);
    for (const t of [x, first, second]) t.dispose();
    backend.free(joined);
  });
});

describe('waiting for the GPU', () => {
  /**
   * Waits for ~50 ms of naive convolutions (on lavapipe) and reports whether setImmediate was
   * swapped during the wait, and how many of Dawn's native polling callbacks still went through it.
   */
  async function watchSync(): Promise<{ swapped: boolean; polls: number }> {
    const p = { N: 2, Ci: 16, H: 48, W: 48, Co: 16, relu: false };
    const naive = conv2dForward.variants[0];
    const bufs = stageOnGpu(gpu, conv2dForward, randomInputs(conv2dForward, p, new Rng(1).fn), p);
    naive.run(gpu, bufs, p);
    await gpu.sync(); // pipelines compiled
    const original = globalThis.setImmediate;
    let polls = 0;
    const counting = ((fn: (...a: unknown[]) => void, ...args: unknown[]) => {
      if (/\[native code\]/.test(Function.prototype.toString.call(fn))) polls++;
      return original(fn, ...args);
    }) as typeof setImmediate;
    globalThis.setImmediate = counting;
    try {
      for (let i = 0; i < 4; i++) naive.run(gpu, bufs, p);
      const done = gpu.sync();
      const swapped = globalThis.setImmediate !== counting;
      await done;
      return { swapped, polls };
    } finally {
      globalThis.setImmediate = original;
      releaseAll(gpu, bufs);
    }
  }

  it('lets a CPU driver have the cores while it works (no busy polling); a GPU is polled as Dawn does', async () => {
    const quiet = await watchSync();
    process.env.WGCAM_BUSY_WAIT = '1';
    const busy = await watchSync().finally(() => delete process.env.WGCAM_BUSY_WAIT);
    expect(busy.swapped).toBe(false);
    expect(quiet.swapped).toBe(gpu.onCpu);
    // On lavapipe the busy wait polls thousands of times; the quiet one only in its first millisecond.
    if (gpu.onCpu) expect(quiet.polls).toBeLessThan(busy.polls / 4);
  });
});

describe('device loss', () => {
  it('turns a lost device into one clear error on the next call', async () => {
    const g = await openGpu();
    const b = g.pool.acquire(64);
    g.device.destroy(); // lost behind the runtime's back, as a driver reset would
    await new Promise((r) => setTimeout(r, 50));
    await expect(g.read(b, 16)).rejects.toThrow(/^the GPU device was lost \(destroyed.*continue with --resume$/);
    g.destroy();
  });
});

describe('device lifetime', () => {
  it('survives devices created, destroyed and garbage-collected while Dawn still has events queued', () => {
    // Dawn's binding used to run a queued callback on the freed instance here (SIGSEGV). A child
    // process with gc() exposed makes the collection happen at once instead of at random.
    const dir = mkdtempSync(join(tmpdir(), 'wgcam-lifetime-'));
    const script = join(dir, 'churn.mts');
    writeFileSync(
      script,
      `import type { Gpu } from ${JSON.stringify(new URL('../src/gpu/runtime.ts', import.meta.url).href)};
      import { openGpu } from ${JSON.stringify(new URL('../src/gpu/dawn.ts', import.meta.url).href)};
      for (let round = 0; round < 8; round++) {
        let gpu: Gpu | null = await openGpu();
        const staging = gpu.device.createBuffer({ size: 1024, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
        const mapping = round % 2 ? staging.mapAsync(GPUMapMode.READ).catch(() => 'rejected') : null;
        gpu.destroy();
        gpu = null;
        globalThis.gc!();
        await new Promise((r) => setTimeout(r, 5));
        globalThis.gc!();
        await mapping;
      }
      console.log('8 rounds');`,
    );
    try {
      const run = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', script], { encoding: 'utf8', timeout: 60_000 });
      expect({ status: run.status, signal: run.signal }).toEqual({ status: 0, signal: null });
      expect(run.stdout).toContain('8 rounds');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
