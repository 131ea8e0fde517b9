// One WebGPU device per test file: created before its tests, destroyed after them.
import { afterAll, beforeAll } from 'vitest';
import type { Gpu } from '../src/gpu/runtime.ts';
import { openGpu } from '../src/gpu/dawn.ts';
import { GpuBackend } from '../src/tensor/gpu-backend.ts';

export function useGpu(ready: (gpu: Gpu, backend: GpuBackend) => void): void {
  let gpu: Gpu | undefined;
  beforeAll(async () => {
    gpu = await openGpu();
    ready(gpu, new GpuBackend(gpu));
  });
  afterAll(() => gpu?.destroy());
}
