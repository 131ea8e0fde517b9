// The "done means" for transfer learning, at full size: torchvision's VGG-16 as
// torch.onnx.export writes it (random weights: nothing can be downloaded here), cut after
// conv5_3's ReLU, the CAM paper's conv:1024-gap head, conv5_3 fine-tuned after two frozen
// epochs (batch 16 in micro-batches), one command on a Kaggle-layout folder;
// the model it writes is explained by `wgcam cam` at 14x14 and answers as ONNX Runtime does.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeSamplePhotos } from '../src/data/sample-photos.ts';
import { importedInput, loadImportedModel, loadOnnxFile } from '../src/graph/imported-files.ts';
import { planGraph } from '../src/graph/plan.ts';

const PYTHON = process.env.WGCAM_PYTHON ?? '/usr/bin/python3';
const root = mkdtempSync(join(tmpdir(), 'wgcam-vgg16-transfer-'));
const vgg = join(root, 'vgg16.onnx');
const data = join(root, 'kaggle');
const wgcam = (args: string[]) => spawnSync(process.execPath, [resolve('bin/wgcam.mjs'), ...args], { encoding: 'utf8', timeout: 600_000 });

beforeAll(async () => {
  const script = [
    'import sys, torch, torchvision',
    'torch.manual_seed(0)',
    'm = torchvision.models.vgg16().eval()',
    "torch.onnx.export(m, torch.randn(1, 3, 224, 224), sys.argv[1], input_names=['input'], output_names=['logits'], dynamic_axes={'input': {0: 'N'}, 'logits': {0: 'N'}}, opset_version=13)",
  ].join('\n');
  const r = spawnSync(PYTHON, ['-c', script, vgg], { encoding: 'utf8', timeout: 600_000 });
  expect(r.status, `${PYTHON} could not export torchvision's VGG-16: ${r.stderr.slice(-500)}`).toBe(0);
  await writeSamplePhotos({ dir: data, shapes: ['disc', 'cross'], perClass: 10, seed: 3, minSize: 180, maxSize: 260 });
}, 600_000);

describe('wgcam train --backbone torchvision VGG-16', () => {
  it("cut after conv5_3's ReLU with a conv:1024-gap head: a model cam explains at 14x14, equal to ONNX Runtime", async () => {
    // conv5_3's ReLU: the last ReLU of the feature extractor, 512 x 14 x 14 at 224.
    const plan = planGraph(loadOnnxFile(vgg), 1);
    const cut = plan.steps.filter((s) => s.outputs[0].startsWith('/features/') && s.shapes[0].join() === '1,512,14,14').at(-1)!.outputs[0];
    const out = join(root, 'run');
    const r = wgcam(['train', '--data', data, '--out', out, '--backbone', vgg, '--cut', cut, '--head', 'conv:1024-gap', '--preprocess', 'imagenet', '--epochs', '2', '--batch', '16', '--fine-tune', 'last:1', '--fine-tune-epochs', '1', '--max-memory', '8G']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(`cut at '${cut}' (512x14x14 per image)`);
    // Batch 16 of VGG-16's activations is more than one buffer binds: micro-batches, gradients added up.
    expect(r.stdout).toMatch(/fine-tuning after epoch 2: 1 convolution of the backbone \(2359808 parameters, batch-norm folded and frozen\) with the head, 1 epoch at lr 0\.0001, micro-batches of \d+/);
    expect(existsSync(join(out, 'best.onnx'))).toBe(true);
    const photo = join(data, 'train', 'disc.0.jpg');
    const cam = wgcam(['cam', join(out, 'model.onnx'), photo, '--out', join(root, 'cam'), '--json', '--max-memory', '8G']);
    expect(cam.status, cam.stderr).toBe(0);
    expect(cam.stderr).toContain("cam at 'wgcam_head_features' [1024,14,14]");
    const json = JSON.parse(readFileSync(join(root, 'cam', 'disc.0.json'), 'utf8')) as { predictions: { class: string; probability: number }[]; raw_map: { width: number; height: number } };
    expect([json.raw_map.width, json.raw_map.height]).toEqual([14, 14]);
    // The same photo through ONNX Runtime: the class probabilities wgcam printed.
    const model = loadImportedModel(join(out, 'model.onnx'), { limit: { bytes: 8 * 2 ** 30, source: 'test' } });
    const session = await ort.InferenceSession.create(join(out, 'model.onnx'));
    const z = (await session.run({ input: new ort.Tensor('float32', await importedInput(photo, model), [1, 3, 224, 224]) })).wgcam_logits.data as Float32Array;
    const top = Math.max(...z);
    const e = Array.from(z, (v) => Math.exp(v - top));
    const p = e.map((v) => v / e.reduce((a, b) => a + b, 0));
    for (const pred of json.predictions) expect(Math.abs(pred.probability - p[model.classes.indexOf(pred.class)])).toBeLessThan(1e-4);
  }, 900_000);
});
