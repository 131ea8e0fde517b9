// CAM: receptive-field geometry, a hand-built model whose answer is known, the fused
// kernel against its CPU reference on real model features, boxes, and bad input.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import type { Gpu } from '../src/gpu/runtime.ts';
import { useGpu } from './gpu-fixture.ts';
import type { GpuBackend } from '../src/tensor/gpu-backend.ts';
import { tidy } from '../src/tensor/tensor.ts';
import { noGrad } from '../src/autograd/tape.ts';
import { imagesToTensor } from '../src/autograd/ops.ts';
import { Classifier, featureShapes, parseBlocks, type Arch } from '../src/nn/model.ts';
import { cam, camReference, type CamParams } from '../src/kernels/cam.ts';
import { packBytes } from '../src/kernels/images.ts';
import { relError } from '../src/kernels/harness.ts';
import { cellGeometry, cellToPhoto } from '../src/cam/geometry.ts';
import { Explainer } from '../src/cam/explain.ts';
import { camBox, iou, peak } from '../src/cam/box.ts';
import { saveModel } from '../src/io/model-file.ts';
import { runCam } from '../src/cam/run.ts';
import { Rng } from '../src/util/rng.ts';
import { defaultMemoryLimit } from '../src/nn/machine-memory.ts';

let gpu: Gpu;
let backend: GpuBackend;
useGpu((g, b) => {
  gpu = g;
  backend = b;
});

/** Centre of the input interval each final cell depends on, by propagating index ranges. */
function bruteCentre(blocks: string, u: number): number {
  let lo = u;
  let hi = u;
  for (const b of parseBlocks(blocks).reverse()) {
    if (b.kind === 'conv') hi += 2;
    else [lo, hi] = [2 * lo, 2 * hi + 1];
  }
  return (lo + hi) / 2;
}

describe('receptive-field geometry', () => {
  for (const blocks of ['c32-p-c64-p-c128-p-c256', 'c8', 'p-c4', 'c4-c4-p-p-c4', 'c16-p-c32-p-c64']) {
    it(blocks, () => {
      const g = cellGeometry(blocks);
      for (const u of [0, 1, 5, 17]) expect(g.offset + g.stride * u).toBeCloseTo(bruteCentre(blocks, u), 10);
    });
  }
  it('the default network at 224: stride 8, offset 18.5, a 24x24 map', () => {
    expect(cellGeometry('c32-p-c64-p-c128-p-c256')).toEqual({ stride: 8, offset: 18.5 });
    const arch: Arch = { blocks: 'c32-p-c64-p-c128-p-c256', inputChannels: 3, height: 224, width: 224, classes: 2 };
    expect(featureShapes(arch).at(-1)).toEqual([256, 24, 24]);
  });
});

describe('a hand-built model whose answer is known', () => {
  it('puts the CAM peak on the one bright pixel, not where stretching the map would', async () => {
    // Each conv copies its input's centre tap; the dense layer says "class 0 = bright".
    const arch: Arch = { blocks: 'c1-p-c1', inputChannels: 1, height: 40, width: 40, classes: 2 };
    const model = new Classifier(backend, arch, new Rng(0));
    const centreTap = new Float32Array(9);
    centreTap[4] = 1;
    for (const [name, t] of model.parameters()) {
      const v = name.endsWith('weight') && name.startsWith('conv') ? centreTap : name === 'fc.weight' ? new Float32Array([1, -1]) : new Float32Array(t.size);
      backend.write(t.storage, v);
    }
    const [bx, by] = [8, 30];
    const input = new Uint8Array(40 * 40);
    input[by * 40 + bx] = 255;
    // The photo is twice the network's size, as a real photo would be larger.
    const photo = { data: new Uint8Array(80 * 80 * 3), width: 80, height: 80 };
    const [r] = await new Explainer(backend, model, { limit: defaultMemoryLimit() }).explain([input], [photo], { mode: 'contrast', contrast: 'runner-up', cls: -1, rawScale: 1, allClasses: false });
    expect(r.probs[0]).toBeGreaterThan(r.probs[1]);
    const [cx, cy] = peak(r.raw, r.mapWidth);
    const toPhoto = cellToPhoto(cellGeometry(arch.blocks), 40, 40, 80, 80);
    const [px, py] = toPhoto(cx, cy);
    // The bright pixel covers photo pixels 16..17 x 60..61; one map cell spans 2 input = 4 photo pixels.
    expect(Math.abs(px - (2 * bx + 0.5))).toBeLessThanOrEqual(2);
    expect(Math.abs(py - (2 * by + 0.5))).toBeLessThanOrEqual(2);
    const [ux, uy] = peak(r.upsampled, 80);
    expect(Math.abs(ux - (2 * bx + 0.5))).toBeLessThanOrEqual(2);
    expect(Math.abs(uy - (2 * by + 0.5))).toBeLessThanOrEqual(2);
    // Stretching the 17x17 map over the photo would have put the peak here instead:
    const stretched = ((cx + 0.5) * 80) / r.mapWidth - 0.5;
    expect(Math.abs(stretched - (2 * bx + 0.5))).toBeGreaterThan(4);
    model.dispose();
  });
});

describe('the fused CAM kernel on real model features', () => {
  for (const mode of ['contrast', 'class', 'raw'] as const) {
    it(`${mode} mode matches the CPU reference within 1/255`, async () => {
      const arch: Arch = { blocks: 'c8-p-c12', inputChannels: 3, height: 21, width: 19, classes: 3 };
      const model = new Classifier(backend, arch, new Rng(4));
      const N = 3;
      const rng = new Rng(5);
      const pixels = Uint8Array.from({ length: N * 21 * 19 * 3 }, () => rng.int(256));
      const [K, h, w] = featureShapes(arch).at(-1)!;
      const p: CamParams = { N, K, J: 3, HW: h * w, mode, contrast: 'mean', cls: mode === 'class' ? 1 : -1, rawScale: 0.3 };
      const got = await noGrad(() =>
        tidy(() => {
          const x = imagesToTensor(backend, packBytes(pixels), new Float32Array(N), { N, C: 3, H: 21, W: 19 });
          const { logits, features } = model.forwardWithFeatures(x);
          return { logits, features };
        }),
      );
      const F = await got.features.toArray();
      const logits = await got.logits.toArray();
      const W = await model.fc.weight.toArray();
      const want = camReference({ F, W, logits }, p);
      const out = backend.run(cam, { F: got.features.storage, W: model.fc.weight.storage, logits: got.logits.storage }, p) as Record<string, GPUBuffer>;
      const u8 = new Uint32Array(await gpu.read(out.u8, N * h * w * 4));
      const norm = new Float32Array(await gpu.read(out.norm, N * h * w * 4));
      expect(Math.max(...Array.from(u8, (v, i) => Math.abs(v - want.u8[i])))).toBeLessThanOrEqual(1);
      expect(relError(norm, want.norm)).toBeLessThanOrEqual(1 / 255);
      Object.values(out).forEach((b) => backend.free(b));
      got.features.dispose();
      got.logits.dispose();
      model.dispose();
    });
  }
});

describe('large batches', () => {
  it('are explained in chunks (at most the binding limit allows), with the same results', async () => {
    const arch: Arch = { blocks: 'c4-p-c4', inputChannels: 3, height: 16, width: 16, classes: 2 };
    const model = new Classifier(backend, arch, new Rng(2));
    const rng = new Rng(3);
    const inputs = Array.from({ length: 5 }, () => Uint8Array.from({ length: 16 * 16 * 3 }, () => rng.int(256)));
    const photos = inputs.map((data) => ({ data, width: 16, height: 16 }));
    const opts = { mode: 'contrast' as const, contrast: 'runner-up' as const, cls: -1, rawScale: 1, allClasses: false };
    const whole = await new Explainer(backend, model, { limit: defaultMemoryLimit() }).explain(inputs, photos, opts);
    const chunked = await new Explainer(backend, model, { maxBatch: 2, limit: defaultMemoryLimit() }).explain(inputs, photos, opts);
    expect(chunked.length).toBe(5);
    chunked.forEach((r, i) => {
      expect(Array.from(r.cam)).toEqual(Array.from(whole[i].cam));
      expect(Array.from(r.probs)).toEqual(Array.from(whole[i].probs));
    });
    model.dispose();
  });
});

describe('boxes', () => {
  it('takes the largest component above 20% of the max', () => {
    const w = 10;
    const map = new Float32Array(100);
    map[0] = 1; // a small, strongest blob
    for (let y = 4; y < 8; y++) for (let x = 3; x < 9; x++) map[y * w + x] = 0.5; // the largest
    map[9 * w + 9] = 0.1; // below threshold
    expect(camBox(map, w, 10)).toEqual([3, 4, 9, 8]);
    expect(camBox(map, w, 10, 0.6)).toEqual([0, 0, 1, 1]); // a higher threshold keeps only the strongest blob
    expect(iou([0, 0, 10, 10], [5, 0, 15, 10])).toBeCloseTo(1 / 3);
    expect(camBox(new Float32Array(4), 2, 2)).toBeNull();
  });
});

describe('npm run cam, bad input', () => {
  it('reports each bad image in one line, still processes the others, and never writes outside --out', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wgcam-cam-'));
    const arch: Arch = { blocks: 'c4-p-c4', inputChannels: 3, height: 16, width: 16, classes: 2 };
    const model = new Classifier(backend, arch, new Rng(1));
    const modelPath = join(dir, 'model.bin');
    await saveModel(modelPath, model, { arch, classes: ['cat', 'dog'], input: { height: 16, width: 16, channels: 3, resize: 'fill', scale: '1/255' } });
    model.dispose();
    mkdirSync(join(dir, 'in'));
    writeFileSync(join(dir, 'in', 'good.jpg'), await sharp({ create: { width: 30, height: 20, channels: 3, background: '#884422' } }).jpeg().toBuffer());
    writeFileSync(join(dir, 'in', 'text.jpg'), 'not an image');
    writeFileSync(join(dir, 'in', 'zero.jpg'), '');
    const whole = await sharp({ create: { width: 40, height: 30, channels: 3, background: '#123456' } }).jpeg().toBuffer();
    writeFileSync(join(dir, 'in', 'half.jpg'), whole.subarray(0, whole.length >> 1));
    writeFileSync(join(dir, 'in', 'odd ..name!.png'), await sharp({ create: { width: 5, height: 5, channels: 3, background: '#000' } }).png().toBuffer());
    const warnings: string[] = [];
    const lines: string[] = [];
    const job = {
      model: modelPath,
      inputs: [join(dir, 'in'), join(dir, 'missing.jpg')],
      outDir: join(dir, 'out'),
      mode: 'contrast' as const,
      contrast: 'runner-up' as const,
      rawScale: 1,
      allClasses: false,
      colormap: 'jet' as const,
      alpha: 0.5,
      box: true,
      json: true,
      report: true,
      overwrite: false,
      batch: 2,
      print: (s: string) => lines.push(s),
      warn: (s: string) => warnings.push(s),
    };
    const r = await runCam(job);
    expect(r.records.map((x) => x.name).sort()).toEqual(['good', 'odd_..name_']);
    expect(r.failed).toBe(4);
    expect(warnings.some((w) => /missing\.jpg: no such file/.test(w))).toBe(true);
    expect(warnings.some((w) => /text\.jpg: not an image/.test(w))).toBe(true);
    expect(warnings.some((w) => /zero\.jpg: empty file \(0 bytes\)$/.test(w))).toBe(true);
    expect(warnings.some((w) => /half\.jpg: truncated or corrupt \(/.test(w))).toBe(true);
    warnings.forEach((w) => expect(w).not.toContain('\n'));
    expect(lines.some((l) => /good\.jpg {2}(cat|dog) \d+\.\d%/.test(l))).toBe(true);
    expect(readdirSync(join(dir, 'out')).sort()).toEqual(['good.cam.png', 'good.json', 'good.overlay.png', 'good.photo.jpg', 'index.html', 'odd_..name_.cam.png', 'odd_..name_.json', 'odd_..name_.overlay.png', 'odd_..name_.photo.jpg']);
    const json = JSON.parse(readFileSync(join(dir, 'out', 'good.json'), 'utf8'));
    expect(json.map).toEqual({ method: 'cam', layer: 2, mode: 'contrast', class: json.predictions[0].class, contrast: json.predictions[1].class, values: expect.stringMatching(/^\(class map - contrast map\)/) });
    const meta = await sharp(join(dir, 'out', 'good.overlay.png')).metadata();
    expect([meta.width, meta.height]).toEqual([30, 20]); // the photo's own size
    // A second run replaces nothing without --overwrite: it refuses before any work, the gallery included.
    const before = readFileSync(join(dir, 'out', 'index.html'), 'utf8');
    await expect(runCam({ ...job, inputs: [join(dir, 'in', 'good.jpg')] })).rejects.toThrow(
      /out already holds 5 of this run's output files \(good\.cam\.png, good\.overlay\.png, good\.json, \.\.\.\); pass --overwrite to replace them/,
    );
    expect(readFileSync(join(dir, 'out', 'index.html'), 'utf8')).toBe(before);
    expect((await runCam({ ...job, inputs: [join(dir, 'in', 'good.jpg')], report: false, overwrite: true })).failed).toBe(0);
  });
});
