// Every GPU kernel variant against its CPU reference, on awkward shapes.
import { describe, expect, it } from 'vitest';
import type { Gpu } from '../src/gpu/runtime.ts';
import { useGpu } from './gpu-fixture.ts';
import { kernels } from '../src/kernels/registry.ts';
import { validate } from '../src/kernels/harness.ts';
import { Rng } from '../src/util/rng.ts';

let gpu: Gpu;
useGpu((g) => (gpu = g));

for (const k of kernels) {
  describe(k.name, () => {
    for (const v of k.variants) {
      for (const p of k.cases) {
        it(`${v.name} ${JSON.stringify(p)}`, async () => {
          const errors = await validate(gpu, k, v, p, new Rng(7).fn);
          for (const [name, err] of Object.entries(errors)) {
            expect(err, `${name} relative error`).toBeLessThanOrEqual(k.tolerance);
          }
        });
      }
    }
  });
}
