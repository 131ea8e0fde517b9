// `wgcam cam MODEL.onnx` (src/cam/imported.ts): every method on imported graphs, checked against
// independent computations: Grad-CAM's channel weights as central finite differences of the
// target (the predicted class's score minus the runner-up's) when a whole channel of the layer's
// activations moves, in float64 on the CPU references; CAM equals Grad-CAM times h*w at a GAP +
// dense head; Score-CAM recomputed from its definition; the map drawn only over the centre crop.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { GraphRunner } from '../src/graph/execute.ts';
import { importedInput, loadImportedModel } from '../src/graph/imported-files.ts';
import { inputOnPhoto } from '../src/graph/imported-model.ts';
import { camHead } from '../src/cam/imported-explain.ts';
import { upsampleReference } from '../src/kernels/cam.ts';
import { fuseMaps, resampleMap } from '../src/cam/fuse.ts';
import { CpuBackend } from '../src/tensor/cpu-backend.ts';
import { ARCHITECTURES } from './onnx-graphs.ts';

const root = mkdtempSync(join(tmpdir(), 'wgcam-imported-cam-'));
const LIMIT = { bytes: 2 ** 30, source: 'test' };
let photo = '';
let resnet = '';

function cam(args: string[]) {
  const r = spawnSync('npm', ['run', '-s', 'cam', '--', ...args], { encoding: 'utf8', timeout: 300_000 });
  return { code: r.status, out: r.stdout, err: r.stderr.split('\n').filter((l) => l.startsWith('wgcam:')).join('\n') };
}
const json = (dir: string) => JSON.parse(readFileSync(join(dir, 'photo.json'), 'utf8')) as { raw_map: { width: number; height: number; values: number[] }; map: Record<string, unknown>; peak: [number, number]; predictions: { class: string }[] };

beforeAll(async () => {
  // A wide photo, so that the imagenet preset's centre crop leaves bands on both sides.
  const w = 96;
  const h = 48;
  const px = Buffer.alloc(w * h * 3);
  for (let i = 0; i < w * h; i++) [px[3 * i], px[3 * i + 1], px[3 * i + 2]] = [(i * 7) % 256, ((i % w) * 5) % 256, (Math.floor(i / w) * 9) % 256];
  photo = join(root, 'photo.png');
  await sharp(px, { raw: { width: w, height: h, channels: 3 } }).png().toFile(photo);
  resnet = join(root, 'resnet18.onnx');
  writeFileSync(resnet, ARCHITECTURES[0].build());
}, 60_000);

describe('wgcam cam MODEL.onnx', () => {
  it("Grad-CAM's channel weights are the target's finite differences; CAM is Grad-CAM times h*w at the GAP + dense head", async () => {
    const out = join(root, 'gradcam');
    const r = cam([resnet, photo, '--method', 'gradcam', '--preprocess', 'imagenet', '--json', '--out', out]);
    expect(r.code).toBe(0);
    const got = json(out);
    expect(got.map).toMatchObject({ method: 'gradcam', layer: expect.any(String), mode: 'contrast' });
    // From scratch on the CPU in float64: the target as a function of the layer's activations.
    const model = loadImportedModel(resnet, { preset: 'imagenet', limit: LIMIT });
    const runner = new GraphRunner(new CpuBackend({ float64: true }), model.graph);
    const x = await importedInput(photo, model);
    const layer = got.map.layer as string;
    const [, K, h, w] = runner.plan(1).shapes.get(layer)!;
    const base = await runner.gradient(x, 1, { at: layer, from: model.output, seed: (s) => s.map(() => 0) });
    const order = [...base.from.keys()].sort((a, b) => base.from[b] - base.from[a]);
    const target = (s: ArrayLike<number>) => s[order[0]] - s[order[1]];
    expect(got.predictions[0].class).toBe(`class${order[0]}`);
    const weights: number[] = [];
    for (let k = 0; k < K; k++) {
      const moved = (d: number) => {
        const v = base.values.slice();
        for (let p = 0; p < h * w; p++) v[k * h * w + p] += d;
        return v;
      };
      const score = async (d: number) => target((await runner.gradient(x, 1, { at: layer, from: model.output, seed: (s) => s.map(() => 0), override: { name: layer, values: moved(d) } })).from);
      const eps = 1e-3;
      weights.push(((await score(eps)) - (await score(-eps))) / (2 * eps) / (h * w));
    }
    const want = Array.from({ length: h * w }, (_, p) => weights.reduce((s, wk, k) => s + wk * base.values[k * h * w + p], 0));
    const scale = Math.max(...want.map(Math.abs));
    got.raw_map.values.forEach((v, p) => expect(Math.abs(v - want[p]) / scale).toBeLessThan(1e-3));
    // CAM at the same (last) layer: W[c1] - W[c2] over the features, which Grad-CAM's mean gradient is divided by h*w.
    const camOut = join(root, 'cam');
    expect(cam([resnet, photo, '--method', 'cam', '--preprocess', 'imagenet', '--json', '--out', camOut]).code).toBe(0);
    json(camOut).raw_map.values.forEach((v, p) => expect(Math.abs(v - got.raw_map.values[p] * h * w) / (scale * h * w)).toBeLessThan(1e-4));
  }, 240_000);

  it("--all-classes puts every class's map (the dense weights over the layer) into NAME.json; with another method it is one line", async () => {
    const out = join(root, 'all-classes');
    expect(cam([resnet, photo, '--all-classes', '--preprocess', 'imagenet', '--json', '--out', out]).code).toBe(0);
    const got = JSON.parse(readFileSync(join(out, 'photo.json'), 'utf8')) as { map: { layer: string }; all_class_maps: { classes: string[]; width: number; height: number; values: number[] } };
    const model = loadImportedModel(resnet, { preset: 'imagenet', limit: LIMIT });
    const runner = new GraphRunner(new CpuBackend({ float64: true }), model.graph);
    const plan = runner.plan(1);
    const layer = got.map.layer;
    const [, K, h, w] = plan.shapes.get(layer)!;
    const A = (await runner.run(await importedInput(photo, model), 1, [layer])).get(layer)!;
    const W = plan.constants.get(camHead(plan, layer)!.w)!.data as Float32Array;
    const J = model.classes.length;
    expect(got.all_class_maps).toMatchObject({ classes: model.classes, width: w, height: h });
    expect(got.all_class_maps.values).toHaveLength(J * h * w);
    const want = Array.from({ length: J * h * w }, (_, i) => {
      const [j, p] = [Math.floor(i / (h * w)), i % (h * w)];
      let m = 0;
      for (let k = 0; k < K; k++) m += W[j * K + k] * A[k * h * w + p];
      return m;
    });
    const scale = Math.max(...want.map(Math.abs));
    got.all_class_maps.values.forEach((v, i) => expect(Math.abs(v - want[i]) / scale).toBeLessThan(1e-4));
    expect(cam([resnet, photo, '--all-classes', '--method', 'gradcam', '--out', join(root, 'all-gradcam')]).err).toBe("wgcam: --all-classes: every class's map is the cam method's (the dense weights over the layer); it does not go with --method gradcam");
  }, 120_000);

  it('every method runs at an inner layer, and the map lies over the centre crop only', () => {
    const methods = ['gradcam++', 'xgradcam', 'layercam', 'hirescam', 'scorecam'];
    for (const method of methods) {
      const out = join(root, `m-${method}`);
      const r = cam([resnet, photo, '--method', method, '--layer', '4', '--preprocess', 'imagenet', '--json', '--out', out]);
      expect([r.code, method]).toEqual([0, method]);
      const j = json(out);
      expect(j.raw_map.width * j.raw_map.height).toBe(64); // step 4: [16, 8, 8]
      expect(j.raw_map.values.every(Number.isFinite)).toBe(true);
      // The 48-pixel-high photo is cropped to its central 48x48 square: x in 24..71.
      expect(j.peak[0]).toBeGreaterThanOrEqual(24);
      expect(j.peak[0]).toBeLessThan(72);
    }
  });

  it("Score-CAM's weights are the target's probability on the input masked by each placed, normalized channel map", async () => {
    const out = join(root, 'score');
    expect(cam([resnet, photo, '--method', 'scorecam', '--preprocess', 'unit', '--json', '--out', out]).code).toBe(0);
    const got = json(out);
    const model = loadImportedModel(resnet, { preset: 'unit', limit: LIMIT });
    const runner = new GraphRunner(new CpuBackend({ float64: true }), model.graph);
    const x = await importedInput(photo, model);
    const layer = got.map.layer as string;
    const plan = runner.plan(1);
    const [, K, h, w] = plan.shapes.get(layer)!;
    const f = plan.fields.get(layer)!;
    const base = await runner.gradient(x, 1, { at: layer, from: model.output, seed: (s) => s.map(() => 0) });
    const probs = (s: ArrayLike<number>) => {
      const e = Array.from(s, (v) => Math.exp(v));
      return e.map((v) => v / e.reduce((a, b) => a + b, 0));
    };
    const p0 = probs(base.from);
    const order = [...p0.keys()].sort((a, b) => p0[b] - p0[a]);
    const weights: number[] = [];
    for (let k = 0; k < K; k++) {
      const placed = Array.from(upsampleReference(base.values.subarray(k * h * w, (k + 1) * h * w), { h, w, outH: 32, outW: 32, inH: 32, inW: 32, offset: f.start, stride: f.jump }));
      const [lo, hi] = [Math.min(...placed), Math.max(...placed)];
      const masked = Float64Array.from(x, (v, i) => v * (hi > lo ? (placed[i % 1024] - lo) / (hi - lo) : 0));
      const p = probs((await runner.run(masked as unknown as Float32Array, 1, [model.output])).get(model.output)!);
      weights.push(p[order[0]] - p[order[1]]);
    }
    const want = Array.from({ length: h * w }, (_, p) => weights.reduce((s, wk, k) => s + wk * base.values[k * h * w + p], 0));
    const scale = Math.max(...want.map(Math.abs));
    got.raw_map.values.forEach((v, p) => expect(Math.abs(v - want[p]) / scale).toBeLessThan(1e-3));
    // The crop box of the unit preset is the whole photo.
    expect(inputOnPhoto(model.pre, 96, 48)).toEqual({ left: 0, top: 0, width: 96, height: 48 });
  }, 240_000);

  it('--layer A,B --fuse: the layers\' maps, normalized, resampled on the finest grid by their receptive fields and combined', () => {
    const run = (layer: string, extra: string[] = []) => {
      const out = join(root, `fuse-${layer.replace(',', '_')}-${extra.length}`);
      expect(cam([resnet, photo, '--method', 'gradcam', '--layer', layer, '--preprocess', 'unit', '--json', '--out', out, ...extra]).code).toBe(0);
      return json(out);
    };
    const fused = run('4,10', ['--fuse', 'mean']);
    expect(fused.map).toMatchObject({ layer: expect.stringMatching(/^\S+,\S+$/), fuse: 'mean' });
    const [fine, coarse] = [run('4'), run('10')];
    const plan = new GraphRunner(new CpuBackend(), loadImportedModel(resnet, { preset: 'unit', limit: LIMIT }).graph).plan(1);
    const grid = (j: ReturnType<typeof json>) => {
      const f = plan.fields.get(j.map.layer as string)!;
      return { offset: f.start, stride: f.jump, h: j.raw_map.height, w: j.raw_map.width };
    };
    const normalized = (j: ReturnType<typeof json>) => {
      const top = Math.max(0, ...j.raw_map.values);
      return Float32Array.from(j.raw_map.values, (v) => (top > 0 ? Math.max(0, v) / top : 0));
    };
    const want = fuseMaps([normalized(fine), resampleMap(normalized(coarse), grid(coarse), grid(fine))], 'mean');
    expect(fused.raw_map.width * fused.raw_map.height).toBe(64);
    fused.raw_map.values.forEach((v, i) => expect(Math.abs(v - want[i])).toBeLessThan(1e-5));
  });

  it('--flip: the map of the mirrored photo is the mirror of the photo\'s map (on a grid symmetric about the middle)', async () => {
    // VGG's 3x3 pad-1 convs and 2x2 pools centre a 16-cell row on 0.5..30.5 of 32 pixels: its
    // mirror image is itself. (ResNet's stride-2 stem centres cells on 0..30, which mirroring
    // moves by a pixel: its flipped maps are resampled, and equal only nearly.)
    const vgg = join(root, 'vgg-flip.onnx');
    writeFileSync(vgg, ARCHITECTURES[4].build());
    // A square photo at the model's size: the unit preset feeds it as it is.
    const px = Buffer.alloc(32 * 32 * 3);
    for (let i = 0; i < px.length; i++) px[i] = (i * 37 + Math.floor(i / 96) * 11) % 256;
    const square = join(root, 'square.png');
    const mirror = join(root, 'square-mirror.png');
    await sharp(px, { raw: { width: 32, height: 32, channels: 3 } }).png().toFile(square);
    await sharp(px, { raw: { width: 32, height: 32, channels: 3 } }).flop().png().toFile(mirror);
    const map = (file: string, flip: boolean) => {
      const out = join(root, `flip-${basename(file)}-${flip}`);
      expect(cam([vgg, file, '--method', 'gradcam', '--layer', '3', '--preprocess', 'unit', '--json', '--out', out, ...(flip ? ['--flip'] : [])]).code).toBe(0);
      return JSON.parse(readFileSync(join(out, basename(file).replace('.png', '.json')), 'utf8')) as ReturnType<typeof json>;
    };
    /** The largest difference between one map and the other's mirror image, over the first's largest |value|. */
    const asymmetry = (a: ReturnType<typeof json>, b: ReturnType<typeof json>) => {
      const w = a.raw_map.width;
      const scale = Math.max(...a.raw_map.values.map(Math.abs));
      return Math.max(...a.raw_map.values.map((v, i) => Math.abs(v - b.raw_map.values[i - (i % w) + (w - 1 - (i % w))]))) / scale;
    };
    expect(asymmetry(map(square, true), map(mirror, true))).toBeLessThan(1e-4);
    // Without --flip the two maps are not mirror images (so the check above can fail).
    expect(asymmetry(map(square, false), map(mirror, false))).toBeGreaterThan(1e-2);
  });

  it('--metrics: the curves start and end where they must; the all-black end is the model on a black photo as the preprocessing makes it', async () => {
    const out = join(root, 'metrics');
    const r = cam([resnet, photo, '--method', 'gradcam', '--metrics', '--preprocess', 'imagenet', '--json', '--out', out]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/Average Drop \d+\.\d%  Increase in Confidence \d+\.\d%  Deletion AUC 0\.\d{3}  Insertion AUC 0\.\d{3}  over 1 images/);
    const f = (JSON.parse(readFileSync(join(out, 'photo.json'), 'utf8')) as { faithfulness: { probability: number; deletion: number[]; insertion: number[]; drop: number } }).faithfulness;
    expect(f.deletion).toHaveLength(17);
    expect(Math.abs(f.deletion[0] - f.probability)).toBeLessThan(1e-5);
    expect(Math.abs(f.insertion[16] - f.probability)).toBeLessThan(1e-5);
    expect(Math.abs(f.deletion[16] - f.insertion[0])).toBeLessThan(1e-6);
    const model = loadImportedModel(resnet, { preset: 'imagenet', limit: LIMIT });
    const black = Float32Array.from({ length: 3 * 32 * 32 }, (_, i) => (0 - model.pre.mean[Math.floor(i / 1024)]) / model.pre.std[Math.floor(i / 1024)]);
    const runner = new GraphRunner(new CpuBackend(), model.graph);
    const s = (await runner.run(black, 1)).get(model.output)!;
    const e = Array.from(s, (v) => Math.exp(v));
    const x = await importedInput(photo, model);
    const own = (await runner.run(x, 1)).get(model.output)!;
    const target = own.indexOf(Math.max(...own));
    expect(Math.abs(f.deletion[16] - e[target] / e.reduce((a, b) => a + b, 0))).toBeLessThan(1e-5);
  });

  it('refuses cam without a GAP + dense head, a layer that is not a map, and several layers for cam, in one line', () => {
    const vgg = join(root, 'vgg.onnx');
    writeFileSync(vgg, ARCHITECTURES[4].build());
    expect(cam([vgg, photo, '--out', join(root, 'r1')]).err).toMatch(/^wgcam: --method cam needs global average pooling and one dense layer right after the layer .*; use gradcam, gradcam\+\+, xgradcam, layercam, hirescam or scorecam$/);
    expect(cam([resnet, photo, '--method', 'gradcam', '--layer', 'nowhere', '--out', join(root, 'r2')]).err).toMatch(/^wgcam: --layer nowhere: no step, node or output of .* has that name/);
    expect(cam([resnet, photo, '--method', 'gradcam', '--layer', '13', '--out', join(root, 'r3')]).err).toMatch(/^wgcam: --layer 13: its output is \[10\] per image, not a map/);
    expect(cam([resnet, photo, '--layer', '4,10', '--out', join(root, 'r5')]).err).toMatch(/^wgcam: --layer 4,10: the cam method reads one layer; fuse layers with another method/);
  });
});
