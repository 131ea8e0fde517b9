// Transfer learning through the command users run: `npm run train -- --data DIR --backbone
// vgg.onnx ...` caches the backbone's features, trains the head, and writes an ONNX model whose
// answers (ONNX Runtime's) are those the run measured; --resume repeats a run bit for bit; every
// misuse is one line. (The proof that a pretrained backbone helps is test/transfer.slow.test.ts.)
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { prepareDataset } from '../src/data/dataset.ts';
import { writeSamplePhotos } from '../src/data/sample-photos.ts';
import { stratifiedSplit } from '../src/data/split.ts';
import { loadImportedModel } from '../src/graph/imported-files.ts';
import { backboneInput } from '../src/train/feature-cache.ts';
import { ARCHITECTURES } from './onnx-graphs.ts';

const root = mkdtempSync(join(tmpdir(), 'wgcam-transfer-'));
const data = join(root, 'photos');
const LIMIT = { bytes: 2 ** 30, source: 'test' };
const vgg = join(root, 'vgg.onnx');

function npm(script: string, args: string[]) {
  const r = spawnSync('npm', ['run', '-s', script, '--', ...args], { encoding: 'utf8', timeout: 300_000 });
  return { code: r.status, out: r.stdout, err: r.stderr, lines: r.stderr.split('\n').filter((l) => l.startsWith('wgcam:')) };
}

const train = (out: string, extra: string[] = []) =>
  npm('train', ['--data', data, '--out', out, '--backbone', vgg, '--preprocess', 'imagenet', '--head', 'conv:8-gap', '--batch', '8', '--epochs', '3', ...extra]);

beforeAll(async () => {
  writeFileSync(vgg, ARCHITECTURES.find((a) => a.name === 'VGG')!.build());
  await writeSamplePhotos({ dir: data, shapes: ['disc', 'cross', 'hbar'], perClass: 8, seed: 4, minSize: 30, maxSize: 60 });
}, 60_000);

/** ONNX Runtime's loss and accuracy on the validation photos as a run splits them (val split 0.2, seed 1), inputs made as the run makes them. */
async function ortValidation(file: string): Promise<{ loss: number; accuracy: number }> {
  const model = loadImportedModel(file, { limit: LIMIT });
  const set = await prepareDataset(data, { size: 32 });
  const { val } = stratifiedSplit(set.labels, 0.2, 1);
  const per = 32 * 32 * 3;
  const pixels = set.read(val);
  const x = new Float32Array(val.length * per);
  val.forEach((_, k) => x.set(backboneInput(set, pixels.subarray(k * per, (k + 1) * per), model, false), k * per));
  set.close();
  const session = await ort.InferenceSession.create(file);
  const logits = (await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', x, [val.length, 3, 32, 32]) }))[session.outputNames[0]].data as Float32Array;
  let loss = 0;
  let correct = 0;
  val.forEach((i, k) => {
    const z = Array.from(logits.subarray(k * 3, k * 3 + 3));
    const top = Math.max(...z);
    loss += -(z[set.labels[i]] - top - Math.log(z.reduce((a, v) => a + Math.exp(v - top), 0)));
    if (z.indexOf(top) === set.labels[i]) correct++;
  });
  return { loss: loss / val.length, accuracy: correct / val.length };
}

describe('wgcam train --backbone', () => {
  it("caches the backbone's features once and writes a model whose ONNX Runtime answers are the run's own validation figures", async () => {
    const out = join(root, 'run');
    const r = train(out);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/note: photos are resized to 32x32 as the image cache holds them/);
    expect(r.out).toMatch(/backbone: .*vgg\.onnx cut at '\S+' \(\d+x4x4 per image\)/);
    expect(r.out).toMatch(/features: .*features-[0-9a-f]{16}\.f32 \(built, .*each photo and its mirror image\)/);
    expect(r.out).toMatch(/head: conv 3x3 8 \+ ReLU -> GAP -> dense 3/);
    for (const f of ['model.onnx', 'best.onnx', 'metrics.jsonl', 'head-epoch-003.safetensors', 'curves.svg', 'report.html']) expect(existsSync(join(out, f)), f).toBe(true);
    const metrics = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { epoch: number; val_acc: number; val_loss: number });
    expect(metrics.map((m) => m.epoch)).toEqual([1, 2, 3]);

    const model = loadImportedModel(join(out, 'model.onnx'), { limit: LIMIT });
    expect(model.classes).toEqual(['cross', 'disc', 'hbar']);
    expect(model.pre.resize).toBeNull(); // the preprocessing the run used, read back from the file
    expect(model.pre.mean).toEqual([0.485, 0.456, 0.406]);
    // The head trained on padded features with wgcam's 3x3 valid kernel; the file says Conv pads 1.
    const ort = await ortValidation(join(out, 'model.onnx'));
    expect(Math.abs(ort.loss - metrics[2].val_loss)).toBeLessThan(1e-4);
    expect(ort.accuracy).toBe(metrics[2].val_acc);

    // Every command reads the result: cam at the head's map by default, gradient methods too.
    const cam = npm('cam', [join(out, 'best.onnx'), join(data, 'train', 'disc.0.jpg'), '--out', join(root, 'cam'), '--method', 'gradcam']);
    expect(cam.code, cam.err).toBe(0);
    expect(cam.lines.join('\n')).toMatch(/cam at 'wgcam_head_features' \[8,2,2\]|'wgcam_head_features'/);
    expect(readdirSync(join(root, 'cam'))).toContain('disc.0.overlay.png');
  });

  it('reuses the cached features and, with --resume, repeats a straight run bit for bit', () => {
    const straight = join(root, 'straight');
    const split = join(root, 'split');
    const a = train(straight);
    expect(a.code, a.err).toBe(0);
    expect(a.out).toMatch(/features: .*\(reused,/);
    expect(train(split, ['--epochs', '2']).code).toBe(0);
    const b = train(split, ['--resume']);
    expect(b.code, b.err).toBe(0);
    expect(b.out).toMatch(/resuming from .*head-epoch-002\.safetensors: epoch 3, step 1/);
    expect(readFileSync(join(split, 'model.onnx')).equals(readFileSync(join(straight, 'model.onnx')))).toBe(true);
    const metrics = (dir: string) => readFileSync(join(dir, 'metrics.jsonl'), 'utf8').split('\n').map((l) => l.replace(/"seconds":[^,]*,"images_per_s":[^,]*,/, ''));
    expect(metrics(split)).toEqual(metrics(straight));
    // A flag that contradicts the run being resumed is refused.
    const c = train(split, ['--resume', '--epochs', '4', '--lr', '0.5']);
    expect(c.code).toBe(1);
    expect(c.lines).toEqual([expect.stringMatching(/^wgcam: --lr 0\.5 contradicts the run being resumed \(.*has --lr 0\.01\)/)]);
  });

  it("fine-tunes the backbone's last convolutions (batch-norm folded, written back) and resumes into that phase bit for bit", async () => {
    const resnet = join(root, 'resnet.onnx');
    writeFileSync(resnet, ARCHITECTURES.find((a) => a.name === 'ResNet-18 (basic blocks)')!.build());
    const run = (out: string, extra: string[]) => npm('train', ['--data', data, '--out', out, '--backbone', resnet, '--preprocess', 'imagenet', '--batch', '8', '--epochs', '1', ...extra]);
    const straight = join(root, 'tuned');
    const a = run(straight, ['--fine-tune', 'last:2', '--fine-tune-epochs', '2', '--fine-tune-lr', '0.001']);
    expect(a.code, a.err).toBe(0);
    expect(a.out).toMatch(/fine-tuning after epoch 1: 2 convolutions of the backbone \(\d+ parameters, batch-norm folded and frozen\) with the head, 2 epochs at lr 0\.001/);
    expect(a.out).toMatch(/epoch 3\/3 \(fine-tuning\)/);
    const metrics = readFileSync(join(straight, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { phase: string; val_loss: number; val_acc: number });
    expect(metrics.map((m) => m.phase)).toEqual(['frozen', 'fine-tune', 'fine-tune']);
    // The rewritten convolutions (their batch-norms taken out) give ONNX Runtime the run's own validation loss.
    const onnx = await ortValidation(join(straight, 'model.onnx'));
    expect(Math.abs(onnx.loss - metrics[2].val_loss)).toBeLessThan(1e-4);
    expect(onnx.accuracy).toBe(metrics[2].val_acc);
    // A frozen run resumed with --fine-tune goes on into the phase, as the straight run did.
    const split = join(root, 'tuned-split');
    expect(run(split, []).code).toBe(0);
    const b = run(split, ['--resume', '--fine-tune', 'last:2', '--fine-tune-epochs', '2', '--fine-tune-lr', '0.001']);
    expect(b.code, b.err).toBe(0);
    expect(readFileSync(join(split, 'model.onnx')).equals(readFileSync(join(straight, 'model.onnx')))).toBe(true);
    // Layers that are not convolutions before the cut are refused in one line.
    const c = run(join(root, 'tuned-bad'), ['--fine-tune', 'last:999']);
    expect(c.code).toBe(1);
    expect(c.lines).toEqual([expect.stringMatching(/^wgcam: --fine-tune last:999: the backbone up to the cut has \d+ convolutions \(use last:1 to last:\d+\)$/)]);
  });

  it('refuses misuse in one line before any work', () => {
    const out = join(root, 'misuse');
    const cases: [string[], number, RegExp][] = [
      [['--data', data, '--out', out, '--backbone', vgg, '--cut', 'nosuch'], 1, /^wgcam: --cut nosuch: no step, node or output of .*vgg\.onnx has that name/],
      [['--data', data, '--out', out, '--backbone', vgg, '--head', 'conv:x'], 1, /^wgcam: --head conv:x: use gap, or conv:N-gap/],
      [['--data', data, '--out', out, '--backbone', vgg, '--size', '64'], 2, /^wgcam: --size is for networks trained from scratch/],
      [['--data', data, '--out', out, '--cut', 'x'], 2, /^wgcam: --cut is for transfer learning: give the network to start from with --backbone FILE\.onnx/],
      [['--data', data, '--out', out, '--backbone', join(root, 'missing.onnx')], 1, /^wgcam: .*missing\.onnx: (does not exist|no such file)/],
      [['--data', data, '--out', out, '--backbone', data], 1, /^wgcam: .*photos: (is a folder|a folder)/],
    ];
    for (const [args, code, line] of cases) {
      const r = npm('train', args);
      expect(r.code, args.join(' ')).toBe(code);
      expect(r.lines, args.join(' ')).toEqual([expect.stringMatching(line)]);
      expect(r.err).not.toMatch(/\n\s+at /);
    }
  });
});
