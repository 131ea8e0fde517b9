// `wgcam export`: the ONNX file, run by ONNX Runtime (onnxruntime-node, CPU), gives wgcam's
// probabilities, CAM features and class maps for the same input tensors, and the CAM drawn from
// its class maps as docs/onnx.md says equals the cam.png that `wgcam cam` writes. Tolerances:
// probabilities, features and maps within 1e-4 of the largest magnitude (float32 sums in another
// order); the u8 map within one step (1/255).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { imagesToTensor, softmax } from '../src/autograd/ops.ts';
import { noGrad } from '../src/autograd/tape.ts';
import { loadPhoto } from '../src/cam/photos.ts';
import { buildModel, loadModelFile } from '../src/io/model-file.ts';
import { readSafetensors } from '../src/io/safetensors.ts';
import { camReference } from '../src/kernels/cam.ts';
import { packBytes } from '../src/kernels/images.ts';
import { featureShapes, type Arch } from '../src/nn/model.ts';
import type { GpuBackend } from '../src/tensor/gpu-backend.ts';
import { Rng } from '../src/util/rng.ts';
import { useGpu } from './gpu-fixture.ts';
import { randomModel } from './random-model.ts';

const root = mkdtempSync(join(tmpdir(), 'wgcam-onnx-'));
const wgcamBin = join(import.meta.dirname, '..', 'bin', 'wgcam.mjs');
let backend: GpuBackend;
useGpu((_, b) => (backend = b));

function wgcam(args: string[]) {
  const r = spawnSync(process.execPath, [wgcamBin, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, out: r.stdout, err: r.stderr.trim() };
}

/** wgcam's own forward on the GPU: probabilities and the last conv features. */
async function wgcamForward(modelPath: string, pixels: Uint8Array, N: number) {
  const loaded = loadModelFile(modelPath);
  const { arch } = loaded.meta;
  const model = buildModel(backend, loaded);
  const out = noGrad(() => {
    const x = imagesToTensor(backend, packBytes(pixels), new Float32Array(N), { N, C: arch.inputChannels, H: arch.height, W: arch.width });
    const { logits, features } = model.forwardWithFeatures(x);
    return { probs: softmax(logits), features };
  });
  const r = { probs: await out.probs.toArray(), features: await out.features.toArray() };
  out.probs.dispose();
  out.features.dispose();
  model.dispose();
  return r;
}

async function onnxForward(onnxPath: string, pixels: Uint8Array, arch: Arch, N: number) {
  const session = await ort.InferenceSession.create(onnxPath);
  // wgcam's input: HWC bytes; ONNX's: NCHW floats / 255.
  const { inputChannels: C, height: H, width: W } = arch;
  const x = new Float32Array(N * C * H * W);
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) for (let p = 0; p < H * W; p++) x[(n * C + c) * H * W + p] = pixels[(n * H * W + p) * C + c] / 255;
  const r = await session.run({ image: new ort.Tensor('float32', x, [N, C, H, W]) });
  await session.release();
  const data = (name: string) => r[name].data as Float32Array;
  return { probs: data('probabilities'), logits: data('logits'), features: data('features'), classMaps: data('class_maps'), featureDims: r.features.dims, mapDims: r.class_maps.dims };
}

/** docs/onnx.md's recipe: the top class's map minus the runner-up's, over its largest |value|, clipped, x255. */
function camFromClassMaps(classMaps: Float32Array, logits: Float32Array, HW: number): Uint8Array {
  const order = [...logits.keys()].sort((a, b) => logits[b] - logits[a] || a - b);
  const diff = Array.from({ length: HW }, (_, p) => classMaps[order[0] * HW + p] - classMaps[order[1] * HW + p]);
  const top = Math.max(...diff.map(Math.abs));
  return Uint8Array.from(diff, (v) => Math.floor(255 * (top > 0 ? Math.min(1, Math.max(0, v / top)) : 0) + 0.5));
}

const relError = (got: Float32Array, want: Float32Array) => {
  let err = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    err = Math.max(err, Math.abs(got[i] - want[i]));
    scale = Math.max(scale, Math.abs(want[i]));
  }
  return err / (scale || 1);
};

const ARCHS: Arch[] = [
  { blocks: 'c4-p-c8', inputChannels: 3, height: 16, width: 16, classes: 2 },
  { blocks: 'c5-c7-p-c6', inputChannels: 1, height: 21, width: 19, classes: 10 },
  { blocks: 'c3', inputChannels: 3, height: 7, width: 9, classes: 10 },
  { blocks: 'c8-p-c8-p-c16', inputChannels: 3, height: 37, width: 45, classes: 3 },
];

describe('wgcam export: ONNX Runtime runs the exported model as wgcam does', () => {
  for (const [i, arch] of ARCHS.entries()) {
    it(`${arch.blocks}, ${arch.inputChannels} channel(s), ${arch.width}x${arch.height}, ${arch.classes} classes`, async () => {
      const modelPath = await randomModel(root, arch, 10 + i);
      const onnxPath = modelPath.replace(/\.bin$/, '.onnx');
      const r = wgcam(['export', modelPath, onnxPath]);
      expect(r.err).toBe('');
      expect(r.code).toBe(0);
      expect(r.out).toContain('ONNX opset 13');

      const N = 3;
      const rng = new Rng(99 + i);
      const pixels = Uint8Array.from({ length: N * arch.inputChannels * arch.height * arch.width }, () => Math.floor(rng.next() * 256));
      const [want, got] = [await wgcamForward(modelPath, pixels, N), await onnxForward(onnxPath, pixels, arch, N)];
      const [K, h, w] = featureShapes(arch).at(-1)!;
      expect(got.featureDims).toEqual([N, K, h, w]);
      expect(relError(got.probs, want.probs)).toBeLessThanOrEqual(1e-4);
      expect(relError(got.features, want.features)).toBeLessThanOrEqual(1e-4);
      // Every class's map: wgcam's CAM kernel reference on wgcam's own features.
      expect(got.mapDims).toEqual([N, arch.classes, h, w]);
      const W = readSafetensors(modelPath).tensors.get('fc.weight')!.data;
      const maps = camReference({ F: want.features, W, logits: new Float32Array(N * arch.classes) }, { N, K, J: arch.classes, HW: h * w, mode: 'contrast', contrast: 'runner-up', cls: -1, rawScale: 1 }).maps;
      expect(relError(got.classMaps, maps as Float32Array)).toBeLessThanOrEqual(1e-4);
      // Not a constant: the images differ, and so must their predictions.
      expect(relError(got.probs.subarray(0, arch.classes), got.probs.subarray(arch.classes, 2 * arch.classes))).toBeGreaterThan(1e-3);
    });
  }

  it("a CAM from ONNX Runtime's outputs equals wgcam cam's cam.png within one step", async () => {
    for (const [i, arch] of ARCHS.entries()) {
      const modelPath = await randomModel(root, arch, 30 + i);
      const onnxPath = modelPath.replace(/\.bin$/, '.cam.onnx');
      expect(wgcam(['export', modelPath, onnxPath]).code).toBe(0);
      const rng = new Rng(7 + i);
      const photoPath = join(root, `photo-${i}.png`);
      const rgb = Uint8Array.from({ length: arch.width * arch.height * 3 }, () => Math.floor(rng.next() * 256));
      await sharp(rgb, { raw: { width: arch.width, height: arch.height, channels: 3 } }).png().toFile(photoPath);
      const out = join(root, `cam-${i}`);
      const cam = wgcam(['cam', modelPath, photoPath, '--out', out]);
      expect(cam.code, cam.err).toBe(0);
      const png = await sharp(join(out, `photo-${i}.cam.png`)).raw().toBuffer({ resolveWithObject: true });

      // The input exactly as the CAM command prepared it from the photo.
      const { input } = await loadPhoto(photoPath, loadModelFile(modelPath).meta.input);
      const o = await onnxForward(onnxPath, input, arch, 1);
      const [, h, w] = featureShapes(arch).at(-1)!;
      const drawn = camFromClassMaps(o.classMaps, o.logits, h * w);
      expect([png.info.width, png.info.height]).toEqual([w, h]);
      let worst = 0;
      for (let p = 0; p < h * w; p++) worst = Math.max(worst, Math.abs(png.data[p * png.info.channels] - drawn[p]));
      expect(worst).toBeLessThanOrEqual(1);
      expect(Math.max(...drawn)).toBe(255); // the contrast map is normalized: not an all-zero map
    }
  });

  it('the ONNX file states the preprocessing and class names in metadata_props', async () => {
    const modelPath = await randomModel(root, ARCHS[1], 50);
    const onnxPath = join(root, 'meta.onnx');
    expect(wgcam(['export', modelPath, onnxPath]).code).toBe(0);
    const session = await ort.InferenceSession.create(onnxPath);
    expect(session.inputNames).toEqual(['image']);
    expect(session.outputNames).toEqual(['probabilities', 'logits', 'features', 'class_maps']);
    await session.release();
    const text = readFileSync(onnxPath).toString('latin1');
    expect(text).toContain('wgcam.classes');
    expect(text).toContain(JSON.stringify(Array.from({ length: 10 }, (_, i) => `class ${i}`)));
    expect(text).toContain('divide the bytes by 255');
    expect(text).toContain('to gray (luminance)');
    expect(text).toContain('wgcam.cell_geometry');
  });

  it('a broken model, an existing output and a missing folder are one line each; nothing is written', async () => {
    const broken = join(root, 'broken.bin');
    writeFileSync(broken, Buffer.from('{"not": "a model"}'));
    const out = join(root, 'never.onnx');
    const bad = wgcam(['export', broken, out]);
    expect(bad.code).toBe(1);
    expect(bad.err.split('\n')).toHaveLength(1);
    expect(bad.err).toContain(broken);
    expect(existsSync(out)).toBe(false);

    const modelPath = await randomModel(root, ARCHS[0], 60);
    const taken = join(root, 'taken.onnx');
    writeFileSync(taken, 'keep me');
    const clash = wgcam(['export', modelPath, taken]);
    expect(clash.code).toBe(1);
    expect(clash.err).toMatch(/already exists; pass --overwrite/);
    expect(readFileSync(taken, 'utf8')).toBe('keep me');
    expect(wgcam(['export', modelPath, taken, '--overwrite']).code).toBe(0);
    expect(statSync(taken).size).toBeGreaterThan(1000);

    const nowhere = wgcam(['export', modelPath, join(root, 'no-such-folder', 'm.onnx')]);
    expect(nowhere.code).toBe(1);
    expect(nowhere.err).toMatch(/cannot write into .*no such folder/);
    expect(wgcam(['export', modelPath, modelPath]).code).toBe(2);
    expect(readSafetensors(modelPath).tensors.size).toBe(6); // the model itself untouched
  });
});
