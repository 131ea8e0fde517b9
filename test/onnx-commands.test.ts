// ONNX classifiers through the commands users run: `npm run predict -- model.onnx photo
// --preprocess imagenet --labels labels.txt` gives ONNX Runtime's answer on the same prepared
// input; `npm run info` lists the graph; what cannot run is one line naming the file.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeSamplePhotos } from '../src/data/sample-photos.ts';
import { importedInput, loadImportedModel } from '../src/graph/imported-files.ts';
import { ARCHITECTURES, OnnxBuilder } from './onnx-graphs.ts';

const root = mkdtempSync(join(tmpdir(), 'wgcam-onnx-cmd-'));
const data = join(root, 'photos');
const photos = [0, 1, 2].map((i) => join(data, 'train', `disc.${i}.jpg`));
const LIMIT = { bytes: 2 ** 30, source: 'test' };

function npm(script: string, args: string[]) {
  const r = spawnSync('npm', ['run', '-s', script, '--', ...args], { encoding: 'utf8', timeout: 300_000 });
  return { code: r.status, out: r.stdout, err: r.stderr.split('\n').filter((l) => l.startsWith('wgcam:')).join('\n') };
}

const file = (name: string, bytes: Uint8Array | string) => {
  const path = join(root, name);
  writeFileSync(path, bytes);
  return path;
};

beforeAll(async () => {
  await writeSamplePhotos({ dir: data, shapes: ['disc', 'cross'], perClass: 3, seed: 9, minSize: 40, maxSize: 70 });
}, 60_000);

describe('wgcam predict MODEL.onnx', () => {
  it("gives ONNX Runtime's probabilities on the same prepared photos, with the labels and the preprocessing named", async () => {
    const resnet = file('resnet18.onnx', ARCHITECTURES[0].build());
    const labels = file('labels.txt', Array.from({ length: 10 }, (_, j) => `label ${j}`).join('\n') + '\n');
    const r = npm('predict', [resnet, ...photos, '--preprocess', 'imagenet', '--labels', labels, '--json']);
    expect(r.code).toBe(0);
    const preprocessing = `wgcam: ${resnet}: preprocessing imagenet: resize the shorter side to 37, centre crop 32x32, (x/255 - [0.485,0.456,0.406]) / [0.229,0.224,0.225]`;
    // The first run on this adapter times the 3x3 convolutions' kernels and says so; the next one remembers them.
    expect(r.err.split('\n')).toEqual([expect.stringMatching(/^wgcam: timing the 3x3 kernels of \d+ convolution shapes at batch 3 once for this adapter \(kept in .*conv-choices\.json\)$/), preprocessing]);
    const again = npm('predict', [resnet, ...photos, '--preprocess', 'imagenet', '--labels', labels, '--json']);
    expect(again.err).toBe(preprocessing);
    expect(again.out).toBe(r.out);
    const got = JSON.parse(r.out) as { image: string; predictions: { class: string; probability: number }[] }[];
    const model = loadImportedModel(resnet, { preset: 'imagenet', labels, limit: LIMIT });
    const session = await ort.InferenceSession.create(resnet);
    for (const [n, photo] of photos.entries()) {
      const x = await importedInput(photo, model);
      const logits = (await session.run({ input: new ort.Tensor('float32', x, [1, 3, 32, 32]) }))[model.output].data as Float32Array;
      const top = Math.max(...logits);
      const e = Array.from(logits, (v) => Math.exp(v - top));
      const want = e.map((v) => v / e.reduce((a, b) => a + b, 0));
      expect(got[n].image).toBe(photo);
      for (const p of got[n].predictions) expect(Math.abs(p.probability - want[Number(p.class.slice(6))])).toBeLessThan(1e-5);
      expect(got[n].predictions[0].class).toBe(`label ${want.indexOf(Math.max(...want))}`);
    }
  });

  it('a model with a fixed batch of 1 and NHWC input takes three photos; the file\'s own Softmax is not applied twice', async () => {
    const lite = file('lite.onnx', ARCHITECTURES.at(-1)!.build());
    const r = npm('predict', [lite, ...photos, '--preprocess', 'bytes', '--csv']);
    expect(r.code).toBe(0);
    const rows = r.out.trim().split('\n');
    expect(rows).toHaveLength(4);
    const model = loadImportedModel(lite, { preset: 'bytes', limit: LIMIT });
    const session = await ort.InferenceSession.create(lite);
    const x = await importedInput(photos[2], model);
    const want = (await session.run({ 'images:0': new ort.Tensor('float32', x, [1, 32, 32, 3]) }))[model.output].data as Float32Array;
    const cells = rows[3].split(',').slice(3).map(Number);
    cells.forEach((v, j) => expect(Math.abs(v - want[j])).toBeLessThan(1e-5));
  });

  it('what cannot run, careless options and a model over the memory limit are one line naming the file', () => {
    const b = new OnnxBuilder();
    b.output(b.node('LRN', [b.input('x', ['N', 3, 16, 16])], { size: 3 }));
    const lrn = file('lrn.onnx', b.encode());
    expect(npm('predict', [lrn, photos[0]]).err).toMatch(new RegExp(`^wgcam: ${lrn}: node LRN_\\d+: op LRN is not supported \\(wgcam runs Conv, [^\n]+\\)$`));
    const resnet = file('resnet18-limits.onnx', ARCHITECTURES[0].build());
    const r = npm('predict', [resnet, photos[0], '--max-memory', '1K']);
    expect([r.code, r.err]).toEqual([1, expect.stringMatching(new RegExp(`^wgcam: ${resnet}: reading a [\\d.]+ KiB model needs about [\\d.]+ KiB, over the memory limit of 1(\\.0)? KiB \\(--max-memory\\); raise it with --max-memory$`))]);
    expect(npm('predict', [resnet, photos[0], '--preprocess', 'vgg']).err).toBe('wgcam: --preprocess vgg: use imagenet, inception, tf, unit, bytes');
    expect(npm('predict', [resnet, photos[0], '--mean', '1,2']).err).toBe('wgcam: --mean 1,2: three numbers, R,G,B');
    expect(npm('predict', [resnet, photos[0], '--crop', '64']).err).toBe('wgcam: --crop 64: the model takes 32x32 inputs');
    const garbage = file('garbage.onnx', new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]));
    expect(npm('predict', [garbage, photos[0]]).err).toMatch(new RegExp(`^wgcam: ${garbage}: (not an ONNX model|holds no graph)`));
  });
});

describe('wgcam eval MODEL.onnx', () => {
  it("scores photo folders by the file's classes (--labels), agrees with predict, and records the preprocessing", () => {
    const resnet = file('resnet18-eval.onnx', ARCHITECTURES[0].build());
    const labels = file('eval-labels.txt', ['cross', 'disc', ...Array.from({ length: 8 }, (_, j) => `other${j}`)].join('\n'));
    const out = join(root, 'eval-out');
    const e = npm('eval', [resnet, data, '--labels', labels, '--preprocess', 'imagenet', '--out', out]);
    expect(e.code).toBe(0);
    const report = JSON.parse(readFileSync(join(out, 'eval.json'), 'utf8'));
    expect(report.preprocessing).toMatch(/^imagenet: resize the shorter side to 37, centre crop 32x32/);
    const p = npm('predict', [resnet, join(data, 'train'), '--labels', labels, '--preprocess', 'imagenet', '--json']);
    const rows = JSON.parse(p.out) as { image: string; predictions: { class: string }[] }[];
    const right = rows.filter((r) => r.predictions[0].class === r.image.split('/').at(-1)!.split('.')[0]).length;
    expect(rows).toHaveLength(6);
    expect(report.accuracy).toBeCloseTo(right / 6, 10);
    expect(npm('eval', [resnet, data, '--cache', root, '--out', join(root, 'eval-2')]).err).toBe('wgcam: --cache is for wgcam models: an ONNX model reads each photo as its preprocessing says');
  });
});

describe('wgcam export MODEL.onnx', () => {
  it('adds the CAM outputs and the labels and preprocessing, which wgcam reads back; the rest of the file runs as before', async () => {
    const resnet = file('export-resnet.onnx', ARCHITECTURES[0].build());
    const labels = file('export-labels.txt', Array.from({ length: 10 }, (_, j) => `kind ${j}`).join('\n'));
    const out = join(root, 'exported.onnx');
    const r = npm('export', [resnet, out, '--labels', labels, '--preprocess', 'imagenet']);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^.*exported\.onnx: .* with 'wgcam_features' and 'wgcam_class_maps' from '[^']+', 10 classes, preprocessing imagenet: /);
    // Read back with no options: the file's own class names and preprocessing.
    const model = loadImportedModel(out, { limit: LIMIT });
    expect(model.classes[3]).toBe('kind 3');
    expect(model.pre.name).toBe('imagenet');
    expect(npm('predict', [out, ...photos, '--json']).out).toBe(npm('predict', [resnet, ...photos, '--labels', labels, '--preprocess', 'imagenet', '--json']).out);
    // ONNX Runtime: the original output unchanged, and the class maps wgcam cam --all-classes draws.
    const x = await importedInput(photos[0], model);
    const feed = { input: new ort.Tensor('float32', x, [1, 3, 32, 32]) };
    const [before, after] = await Promise.all([ort.InferenceSession.create(resnet), ort.InferenceSession.create(out)]);
    expect(after.outputNames).toEqual([...before.outputNames, 'wgcam_features', 'wgcam_class_maps']);
    const [a, b] = [await before.run(feed), await after.run(feed)];
    expect(Array.from(b[before.outputNames[0]].data as Float32Array)).toEqual(Array.from(a[before.outputNames[0]].data as Float32Array));
    const maps = b.wgcam_class_maps.data as Float32Array;
    const camOut = join(root, 'export-cam');
    expect(npm('cam', [out, photos[0], '--all-classes', '--json', '--out', camOut]).code).toBe(0);
    const drawn = (JSON.parse(readFileSync(join(camOut, 'disc.0.json'), 'utf8')) as { all_class_maps: { values: number[] } }).all_class_maps.values;
    expect(drawn).toHaveLength(maps.length);
    const scale = Math.max(...Array.from(maps, Math.abs));
    drawn.forEach((v, i) => expect(Math.abs(v - maps[i]) / scale).toBeLessThan(1e-4));
    await Promise.all([before.release(), after.release()]);
    // The added outputs are no layer to explain: info names the same last CAM-able output for both files.
    const lastCamAble = (f: string) => /the last CAM-able output: (.*)$/m.exec(npm('info', [f]).out)?.[1];
    expect(lastCamAble(out)).toBe(lastCamAble(resnet));
    expect(lastCamAble(out)).not.toMatch(/wgcam_/);
  }, 120_000);

  it('a head without GAP + dense gets the features only; an existing output and the model itself are one line', () => {
    const vgg = file('export-vgg.onnx', ARCHITECTURES[4].build());
    const out = join(root, 'exported-vgg.onnx');
    const r = npm('export', [vgg, out]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain("with 'wgcam_features' (no 'wgcam_class_maps': no global average pooling and one dense layer follow it)");
    expect(npm('export', [vgg, out]).err).toBe(`wgcam: ${out} already exists; pass --overwrite to replace it`);
    expect(npm('export', [vgg, vgg, '--overwrite']).err).toBe(`wgcam: ${vgg} is the model file itself; name another file`);
    expect(npm('export', [vgg, join(root, 'x.onnx'), '--preprocess', 'vgg']).err).toBe('wgcam: --preprocess vgg: use imagenet, inception, tf, unit, bytes');
  }, 120_000);
});

describe('wgcam info MODEL.onnx', () => {
  it('lists every step with its output, shape and receptive field, the CAM-able outputs, parameters and FLOPs', () => {
    const r = npm('info', [file('resnet18-info.onnx', ARCHITECTURES[0].build())]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/ONNX opset 13, input 'input' \[batch, 3, 32, 32\] \(NCHW\), 25 nodes, 13 steps after folding and fusing/);
    expect(r.out).toMatch(/\n1 +Conv 7x7\/2 \+ BatchNormalization \(folded\) \+ Relu +\S+ +\[8, 16, 16\] +7\/2 +CAM\n/);
    expect(r.out).toMatch(/\n2 +MaxPool 3x3\/2 +\S+ +\[8, 8, 8\] +11\/4 +CAM\n/);
    expect(r.out).toMatch(/\n6 +Add \+ Relu +\S+ +\[16, 8, 8\] +27\/4 +CAM\n/);
    expect(r.out).toMatch(/\n13 +Gemm 32 -> 10 +\S+ +\[10\]\n/);
    expect(r.out).toMatch(/parameters 20\.\d k, 1\.\d\d MFLOPs per image; the last CAM-able output: '\S+' \[32, 4, 4\]/);
  });
});
