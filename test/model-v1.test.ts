// A model file written before the graph redesign (test/fixtures/model-v1: format version 1,
// c8-p-c16 trained by `wgcam train` on 32x32 sample photos on 2026-12-06) explains exactly as it
// did then: `cam` and `gradcam++ --layer 1` write the committed maps, overlays and NAME.json,
// byte for byte on lavapipe (CI's adapter, where the expected files were made). On another
// adapter the kernels may round differently: every pixel within one step, every number of
// NAME.json within 1e-5.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import type { Gpu } from '../src/gpu/runtime.ts';
import { useGpu } from './gpu-fixture.ts';

const FIXTURE = 'test/fixtures/model-v1';
const RUNS: [string, string[]][] = [
  ['cam', []],
  ['gradcam++-layer1', ['--method', 'gradcam++', '--layer', '1']],
];

let gpu: Gpu;
useGpu((g) => (gpu = g));

async function pixels(file: string): Promise<Uint8Array> {
  return new Uint8Array(await sharp(file).raw().toBuffer());
}

/** Every number in two JSON values within `tol` (relative to 1 or the number's size); all else equal. */
function closeJson(a: unknown, b: unknown, tol: number, at = ''): void {
  if (typeof a === 'number' && typeof b === 'number') {
    expect(Math.abs(a - b), at).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(b)));
  } else if (a && b && typeof a === 'object' && typeof b === 'object') {
    expect(Object.keys(a), at).toEqual(Object.keys(b));
    for (const k of Object.keys(b)) closeJson((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], tol, `${at}.${k}`);
  } else expect(a, at).toEqual(b);
}

describe('a model file of format version 1', () => {
  it('explains as it did when it was written (cam, gradcam++ at layer 1)', async () => {
    const root = mkdtempSync(join(tmpdir(), 'wgcam-model-v1-'));
    const exact = gpu.onCpu && /llvmpipe/.test(gpu.adapterName);
    for (const [name, args] of RUNS) {
      const out = join(root, name);
      const r = spawnSync('npm', ['run', '-s', 'cam', '--', `${FIXTURE}/model.bin`, `${FIXTURE}/photos`, '--json', '--out', out, ...args], { encoding: 'utf8', timeout: 120_000 });
      expect(r.status, r.stderr).toBe(0);
      const expected = join(FIXTURE, 'expected', name);
      const files = readdirSync(expected).sort();
      expect(readdirSync(out).sort(), name).toEqual(files);
      for (const f of files) {
        const [got, want] = [join(out, f), join(expected, f)];
        if (f.endsWith('.json')) {
          const text = readFileSync(got, 'utf8').replaceAll(`"${out}/`, '"OUT/');
          if (exact) expect(text, `${name}/${f}`).toBe(readFileSync(want, 'utf8'));
          else closeJson(JSON.parse(text), JSON.parse(readFileSync(want, 'utf8')), 1e-5, `${name}/${f}`);
        } else if (exact) {
          expect(Buffer.compare(readFileSync(got), readFileSync(want)), `${name}/${f}`).toBe(0);
        } else {
          const [a, b] = [await pixels(got), await pixels(want)];
          expect(a.length, `${name}/${f}`).toBe(b.length);
          expect(Math.max(...a.map((v, i) => Math.abs(v - b[i]))), `${name}/${f}`).toBeLessThanOrEqual(1);
        }
      }
    }
  }, 300_000);
});
