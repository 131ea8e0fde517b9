// Every GPU kernel variant against its CPU reference, on awkward shapes.
import { describe, expect, it } from 'vitest';
import type { Gpu } from '../src/gpu/runtime.ts';
import { openGpu } from '../src/gpu/dawn.ts';
import { useGpu } from './gpu-fixture.ts';
import { kernels } from '../src/kernels/registry.ts';
import { validate } from '../src/kernels/harness.ts';
import { appliesTo, defaultVariant, isSupported, toleranceAt, type AnyKernel } from '../src/kernels/kernel.ts';
import { conv2dForward, conv2dGradInput, conv2dGradWeight, conv2dReluMaxPool, subgroupTileCols } from '../src/kernels/conv2d.ts';
import { Rng } from '../src/util/rng.ts';

let gpu: Gpu;
useGpu((g) => (gpu = g));

for (const k of kernels) {
  describe(k.name, () => {
    for (const v of k.variants) {
      // A specialised variant is checked on the cases it applies to.
      for (const p of k.cases.filter((c) => appliesTo(v, c))) {
        it(`${v.name} ${JSON.stringify(p)}`, async (ctx) => {
          // A variant this device cannot run (e.g. no subgroups) is reported as skipped.
          if (!isSupported(v, gpu)) ctx.skip();
          const errors = await validate(gpu, k, v, p, new Rng(7).fn);
          for (const [name, err] of Object.entries(errors)) {
            expect(err, `${name} relative error`).toBeLessThanOrEqual(toleranceAt(k, p, v));
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
      const g = await openGpu();
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

describe('conv2d_relu_maxpool argmax check', () => {
  // One 2x2 window: x is 4x4 and one output channel, so the conv output is 2x2.
  const s = { N: 1, Ci: 1, H: 4, W: 4, Co: 1, keepArgmax: true };
  const measure = conv2dReluMaxPool.outputError!.argmax!;
  const x = Float32Array.from({ length: 16 }, (_, i) => ((i * 7) % 16) / 16 - 0.4);
  const want = new Float32Array(1);

  it('accepts any position of an exact tie and rejects the ReLU code there', () => {
    const tie = { x, w: new Float32Array(9), b: Float32Array.of(0.5) }; // every output is 0.5
    for (const code of [0, 1, 2, 3]) expect(measure(Float32Array.of(code), want, tie, s)).toBe(0);
    expect(measure(Float32Array.of(4), want, tie, s)).toBeGreaterThan(conv2dReluMaxPool.tolerance);
  });

  it('rejects a position whose value is not the maximum, and codes out of range', () => {
    const w = Float32Array.from({ length: 9 }, (_, i) => (i % 3) - 0.7);
    const inputs = { x, w, b: Float32Array.of(0.3) };
    const errors = [0, 1, 2, 3, 4, 5, 1.5].map((c) => measure(Float32Array.of(c), want, inputs, s));
    const right = errors.filter((e) => e === 0);
    expect(right).toHaveLength(1); // distinct values: exactly one code is right
    expect(errors.slice(5)).toEqual([Infinity, Infinity]);
  });
});

describe('conv2d_grad_weight on a GPU', () => {
  it('splits the reduction into more slices there and still matches the reference', async () => {
    // The same device, seen as a GPU: the slicing aims at thousands of workgroups, not ~128.
    const asGpu = Object.create(gpu, { onCpu: { value: false } }) as Gpu;
    const s = { N: 2, Ci: 32, H: 40, W: 9, Co: 64 }; // a CPU cuts this into fewer slices than rows
    for (const v of conv2dGradWeight.variants.slice(1)) {
      if (!isSupported(v, asGpu)) continue;
      const before = asGpu.counters.dispatches;
      const errors = await validate(asGpu, conv2dGradWeight, v, s, new Rng(3).fn);
      expect(asGpu.counters.dispatches).toBeGreaterThan(before);
      for (const err of Object.values(errors)) expect(err).toBeLessThanOrEqual(toleranceAt(conv2dGradWeight, s));
    }
  });
});

describe('conv2d_subgroup on a GPU', () => {
  it('keeps one output channel per lane there (two on a CPU driver) and still matches the reference', async () => {
    // The same device, seen as a GPU; Co = 70 makes two channel blocks of one channel per lane.
    const asGpu = Object.create(gpu, { onCpu: { value: false } }) as Gpu;
    const s = { N: 2, Ci: 3, H: 9, W: 21, Co: 70 };
    const cases: [AnyKernel, object][] = [
      [conv2dForward, { ...s, relu: true }],
      [conv2dReluMaxPool, { ...s, keepArgmax: true }],
      [conv2dGradInput, s],
    ];
    for (const [k, p] of cases) {
      const v = k.variants.find((x) => x.name === 'subgroup')!;
      if (!isSupported(v, asGpu)) continue;
      for (const device of [gpu, asGpu]) {
        const errors = await validate(device, k, v, p, new Rng(4).fn);
        for (const err of Object.values(errors)) expect(err, `${k.name} onCpu=${device.onCpu}`).toBeLessThanOrEqual(toleranceAt(k, p));
      }
    }
  });
});

describe('tolerance at large shapes', () => {
  it('allows conv2d_grad_weight the rounding of its longest serial sums, and no more on small ones', () => {
    expect(toleranceAt(conv2dGradWeight, { N: 2, Ci: 5, H: 20, W: 13, Co: 9 })).toBe(conv2dGradWeight.tolerance);
    const at224 = toleranceAt(conv2dGradWeight, { N: 16, Ci: 3, H: 224, W: 224, Co: 32 });
    expect(at224).toBeGreaterThan(2.7e-5); // the naive variant's error there on an H200
    expect(at224).toBeLessThan(1e-3);
  });
});
