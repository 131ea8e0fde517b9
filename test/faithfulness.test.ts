// Faithfulness metrics (wgcam cam --metrics): Average Drop, Increase in Confidence, Deletion
// and Insertion curves. Invariants that pin them down whatever the model: deletion starts and
// insertion ends at the image's own probability; deletion's end and insertion's start are the
// same black image; a map of ones changes nothing (no drop, no increase). The GPU and the CPU
// references agree within 1e-5.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { faithfulness, meanByTrapezoids, saliencyRanks } from '../src/cam/faithfulness.ts';
import { imagesToTensor, softmax } from '../src/autograd/ops.ts';
import { noGrad } from '../src/autograd/tape.ts';
import { buildModel, loadModelFile } from '../src/io/model-file.ts';
import { packBytes } from '../src/kernels/images.ts';
import type { Arch } from '../src/nn/model.ts';
import type { Backend } from '../src/tensor/backend.ts';
import { CpuBackend } from '../src/tensor/cpu-backend.ts';
import type { GpuBackend } from '../src/tensor/gpu-backend.ts';
import { Rng } from '../src/util/rng.ts';
import { useGpu } from './gpu-fixture.ts';
import { randomModel } from './random-model.ts';

const root = mkdtempSync(join(tmpdir(), 'wgcam-faithful-'));
let gpuBackend: GpuBackend;
useGpu((_, b) => (gpuBackend = b));
const ARCH: Arch = { blocks: 'c4-p-c6', inputChannels: 3, height: 13, width: 11, classes: 4 };
const N = 3;
const HW = ARCH.height * ARCH.width;

async function score(backend: Backend, path: string, maps: Float32Array[], steps = 8) {
  const model = buildModel(backend, loadModelFile(path));
  const rng = new Rng(2);
  const inputs = Array.from({ length: N }, () => Uint8Array.from({ length: HW * 3 }, () => rng.int(256)));
  const probs = noGrad(() => softmax(model.forward(imagesToTensor(backend, packBytes(Uint8Array.from(inputs.flatMap((a) => [...a]))), new Float32Array(N), { N, C: 3, H: ARCH.height, W: ARCH.width }))));
  const all = await probs.toArray();
  const perImage = inputs.map((_, n) => all.slice(n * ARCH.classes, (n + 1) * ARCH.classes));
  const r = await faithfulness(backend, model, inputs, maps, perImage, steps);
  model.dispose();
  return { r, perImage };
}

const randomMaps = (seed: number) => {
  const rng = new Rng(seed);
  return Array.from({ length: N }, () => Float32Array.from({ length: HW }, () => rng.next()));
};

describe('faithfulness metrics', () => {
  it('ranks pixels by descending saliency, ties in scan order; the AUC is the mean by trapezoids', () => {
    expect(Array.from(saliencyRanks(Float32Array.from([0.2, 0.9, 0.2, 1, 0])))).toEqual([2, 1, 3, 0, 4]);
    expect(meanByTrapezoids([1, 0.5, 0])).toBeCloseTo(0.5, 10);
    expect(meanByTrapezoids([1, 1, 0, 0, 0])).toBeCloseTo(0.375, 10);
  });

  it('holds its invariants, and the GPU equals the CPU', async () => {
    const path = await randomModel(root, ARCH, 8);
    const maps = randomMaps(3);
    const [gpu, cpu] = [await score(gpuBackend, path, maps), await score(new CpuBackend(), path, maps)];
    for (let n = 0; n < N; n++) {
      const g = gpu.r[n];
      const Y = Math.max(...gpu.perImage[n]);
      expect(g.target).toBe(gpu.perImage[n].indexOf(Y));
      expect(g.deletion).toHaveLength(9);
      expect(g.deletion[0]).toBeCloseTo(Y, 6);
      expect(g.insertion[8]).toBeCloseTo(Y, 6);
      expect(g.deletion[8]).toBeCloseTo(g.insertion[0], 6);
      expect(g.deletion.some((p) => Math.abs(p - Y) > 1e-3), 'removing pixels changes something').toBe(true);
      const c = cpu.r[n];
      for (const k of ['drop', 'deletionAuc', 'insertionAuc'] as const) expect(Math.abs(g[k] - c[k]), k).toBeLessThanOrEqual(1e-5);
      expect(g.increase).toBe(c.increase);
      expect(Math.max(...g.deletion.map((v, s) => Math.abs(v - c.deletion[s])))).toBeLessThanOrEqual(1e-5);
    }
  }, 60_000);

  it('a map of ones changes nothing: no drop, no increase', async () => {
    const path = await randomModel(root, ARCH, 9);
    const { r } = await score(gpuBackend, path, Array.from({ length: N }, () => new Float32Array(HW).fill(1)));
    for (const f of r) expect([f.drop, f.increase]).toEqual([0, false]);
  }, 60_000);

  it('wgcam cam --metrics prints the means and writes each image\'s scores into NAME.json', async () => {
    const path = await randomModel(root, ARCH, 10);
    const photo = join(root, 'p.png');
    const rng = new Rng(4);
    await sharp(Uint8Array.from({ length: HW * 3 }, () => rng.int(256)), { raw: { width: ARCH.width, height: ARCH.height, channels: 3 } }).png().toFile(photo);
    const out = join(root, 'out');
    const r = spawnSync(process.execPath, [join(import.meta.dirname, '..', 'bin', 'wgcam.mjs'), 'cam', path, photo, '--method', 'gradcam', '--layer', '1', '--metrics', '--json', '--out', out], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^Average Drop [\d.]+%  Increase in Confidence [\d.]+%  Deletion AUC [\d.]+  Insertion AUC [\d.]+  over 1 images \(16 steps, removed pixels black\)$/m);
    const json = JSON.parse(readFileSync(join(out, 'p.json'), 'utf8'));
    expect(json.faithfulness.target).toBe(json.predictions[0].class);
    expect(json.faithfulness.deletion).toHaveLength(17);
    expect(json.faithfulness.deletion[0]).toBeCloseTo(json.predictions[0].probability, 5);
  }, 60_000);
});
