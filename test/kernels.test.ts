// Every GPU kernel variant against its CPU reference, on awkward shapes.
import { describe, expect, it } from 'vitest';
import { Gpu } from '../src/gpu/runtime.ts';
import { useGpu } from './gpu-fixture.ts';
import { kernels } from '../src/kernels/registry.ts';
import { validate } from '../src/kernels/harness.ts';
import { defaultVariant, isSupported, type AnyKernel } from '../src/kernels/kernel.ts';
import { conv2dForward, conv2dGradInput, conv2dGradWeight, conv2dReluMaxPool, subgroupTileCols } from '../src/kernels/conv2d.ts';
import { Rng } from '../src/util/rng.ts';

let gpu: Gpu;
useGpu((g) => (gpu = g));

for (const k of kernels) {
  describe(k.name, () => {
    for (const v of k.variants) {
      for (const p of k.cases) {
        it(`${v.name} ${JSON.stringify(p)}`, async (ctx) => {
          // A variant this device cannot run (e.g. no subgroups) is reported as skipped.
          if (!isSupported(v, gpu)) ctx.skip();
          const errors = await validate(gpu, k, v, p, new Rng(7).fn);
          for (const [name, err] of Object.entries(errors)) {
            expect(err, `${name} relative error`).toBeLessThanOrEqual(k.tolerance);
          }
        });
      }
    }
  });
}

describe('variant choice', () => {
  const withSubgroups = (n: number) => ({ subgroupMinSize: n }) as Gpu;
  it('uses the subgroup convolutions only where subgroups have at least 8 lanes', () => {
    for (const k of [conv2dForward, conv2dReluMaxPool, conv2dGradInput, conv2dGradWeight] as AnyKernel[]) {
      expect(defaultVariant(k, withSubgroups(8)).name).toBe('subgroup');
      expect(defaultVariant(k, withSubgroups(32)).name).toBe('subgroup');
      expect(defaultVariant(k, withSubgroups(4)).name).not.toBe('subgroup');
      expect(defaultVariant(k, withSubgroups(0)).name).not.toBe('subgroup');
    }
    expect(defaultVariant(conv2dForward, withSubgroups(0)).name).toBe('vec4');
    expect(defaultVariant(conv2dGradWeight, withSubgroups(0)).name).toBe('split');
  });

  it('WGCAM_NO_SUBGROUPS=1 leaves the subgroups feature off', async () => {
    process.env.WGCAM_NO_SUBGROUPS = '1';
    try {
      const g = await Gpu.create();
      expect(g.features.has('subgroups')).toBe(false);
      expect(g.subgroupMinSize).toBe(0);
      expect(defaultVariant(conv2dForward, g).name).toBe('vec4');
      g.destroy();
    } finally {
      delete process.env.WGCAM_NO_SUBGROUPS;
    }
  });
});

describe('conv2d_subgroup tile width', () => {
  it('takes the widest tile the map fills well enough', () => {
    expect([1, 4].map(subgroupTileCols)).toEqual([4, 4]);
    expect([6, 8, 24, 40].map(subgroupTileCols)).toEqual([8, 8, 8, 8]);
    expect([12, 29, 50, 64, 109, 222].map(subgroupTileCols)).toEqual([16, 16, 16, 16, 16, 16]);
  });
});
