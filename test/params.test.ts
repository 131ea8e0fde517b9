// Kernel parameters by name (src/gpu/params.ts): every kernel's `struct Params` is read from
// its source, and a dispatch that names a field the struct lacks, or leaves one out, is one
// error naming the kernel and the field. (Every dispatch of the other tests goes through the
// same check, so a TypeScript call site that drifts from its WGSL struct fails there too.)
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { packParams, paramFields, ParamsError } from '../src/gpu/params.ts';
import type { Gpu } from '../src/gpu/runtime.ts';
import { launch1d } from '../src/kernels/kernel.ts';
import { useGpu } from './gpu-fixture.ts';

const WGSL = new URL('../src/kernels/wgsl/', import.meta.url);
const kernels = readdirSync(WGSL).filter((f) => f.endsWith('.wgsl')).map((f) => [f.slice(0, -5), readFileSync(new URL(f, WGSL), 'utf8')] as const);

let gpu: Gpu;
useGpu((g) => (gpu = g));

describe('Params structs', () => {
  it('every kernel declares one the reader understands, with distinct field names', () => {
    expect(kernels.length).toBeGreaterThan(50);
    for (const [name, source] of kernels) {
      const fields = paramFields(name, source);
      expect(fields.length, name).toBeGreaterThan(0);
      expect(new Set(fields.map((f) => f.name)).size, name).toBe(fields.length);
    }
  });

  it('lays fields out as WGSL does: scalars 4 bytes apart, arrays of vec4 on 16 bytes', () => {
    const fields = paramFields('k', 'struct Params { a: u32, b: i32, c: f32, dims: array<vec4u, 2>, lo: f32 }');
    expect(fields.map((f) => [f.name, f.type, f.offset, f.count])).toEqual([
      ['a', 'u32', 0, 1],
      ['b', 'i32', 4, 1],
      ['c', 'f32', 8, 1],
      ['dims', 'u32', 16, 8],
      ['lo', 'f32', 48, 1],
    ]);
    const bytes = packParams('k', fields, { a: 7, b: -1, c: 0.5, dims: [3, 4], lo: -2 });
    expect(bytes.byteLength).toBe(64);
    const view = new DataView(bytes);
    expect([view.getUint32(0, true), view.getInt32(4, true), view.getFloat32(8, true), view.getUint32(16, true), view.getUint32(20, true), view.getUint32(24, true), view.getFloat32(48, true)]).toEqual([7, -1, 0.5, 3, 4, 0, -2]);
  });

  it('reads multi-line structs with comments, and padding fields stay zero and unnamed', () => {
    const fields = paramFields('k', 'struct Params {\n  len: u32, // elements\n  _a: u32, _b: u32, _c: u32,\n  sx: array<vec4u, 1>,\n}');
    expect(fields.map((f) => f.name)).toEqual(['len', '_a', '_b', '_c', 'sx']);
    expect(new Uint32Array(packParams('k', fields, { len: 5, sx: [1, 2, 3, 4] }))).toEqual(Uint32Array.from([5, 0, 0, 0, 1, 2, 3, 4]));
    expect(() => packParams('k', fields, { len: 5, _a: 1, sx: [] })).toThrow("kernel k: '_a' is no field of its Params (len, sx)");
  });

  it('refuses a missing or unknown field, a value out of its type, a list too long', () => {
    const fields = paramFields('conv', 'struct Params { N: u32, off: i32, s: f32, d: array<vec4u, 1> }');
    const ok = { N: 1, off: 0, s: 1, d: [1] };
    const cases: [Record<string, number | number[]>, string][] = [
      [{ off: 0, s: 1, d: [1] }, "kernel conv: its Params field 'N' is not given"],
      [{ ...ok, Ci: 3 }, "kernel conv: 'Ci' is no field of its Params (N, off, s, d)"],
      [{ ...ok, N: -1 }, "kernel conv: Params field 'N' (u32) = -1"],
      [{ ...ok, N: 1.5 }, "kernel conv: Params field 'N' (u32) = 1.5"],
      [{ ...ok, off: 2 ** 31 }, `kernel conv: Params field 'off' (i32) = ${2 ** 31}`],
      [{ ...ok, d: [1, 2, 3, 4, 5] }, "kernel conv: Params field 'd' takes a list of at most 4"],
      [{ ...ok, d: 1 }, "kernel conv: Params field 'd' takes a list of at most 4"],
      [{ ...ok, N: [1] }, "kernel conv: Params field 'N' takes a number"],
    ];
    for (const [params, message] of cases) expect(() => packParams('conv', fields, params)).toThrow(new ParamsError(message));
    expect(() => paramFields('bad', 'struct Params { N: u32, v: vec2f }')).toThrow("kernel bad: Params field 'v: vec2f' is neither u32, i32, f32 nor array<vec4u|vec4i|vec4f, K>");
  });

  it('a dispatch naming a field its kernel lacks fails before anything runs', () => {
    const x = gpu.pool.acquire(16);
    const y = gpu.pool.acquire(16);
    try {
      expect(() => launch1d(gpu, 'relu', [x, y], { len: 4, count: 4 }, 4)).toThrow("kernel relu: 'count' is no field of its Params (len)");
      expect(() => launch1d(gpu, 'relu', [x, y], {}, 4)).toThrow("kernel relu: its Params field 'len' is not given");
    } finally {
      gpu.pool.release(x);
      gpu.pool.release(y);
    }
  });
});
