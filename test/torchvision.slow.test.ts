// torchvision's classifiers as torch.onnx.export writes them (not the tests' own builder):
// PyTorch (Debian's python3-torch and python3-torchvision; npm test's setup installs them)
// exports each with random weights and says what it makes of two photos: the class
// probabilities, and Grad-CAM of each photo's top class as pytorch-grad-cam defines it at the
// layer pytorch-grad-cam's users pick (test/torchvision_reference.py). `wgcam predict` and
// `wgcam cam --method gradcam --mode class --layer L` on the exported file must say the same:
// probabilities within 1e-4, the u8 map within one step (1/255) of PyTorch's map x 255.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadOnnxFile } from '../src/graph/imported-files.ts';
import { planGraph } from '../src/graph/plan.ts';
import { Rng } from '../src/util/rng.ts';

const SIZE = 96;
/** The models, and the module whose output Grad-CAM reads (dotted, as named_modules() names it). */
const MODELS = [
  { name: 'resnet18', layer: 'layer4' },
  { name: 'resnet50', layer: 'layer4' },
  { name: 'mobilenet_v2', layer: 'features.18' },
  { name: 'squeezenet1_1', layer: 'classifier.2' },
  { name: 'densenet121', layer: 'features' },
  { name: 'efficientnet_b0', layer: 'features.8' },
];
const PYTHON = process.env.WGCAM_PYTHON ?? '/usr/bin/python3';

const root = mkdtempSync(join(tmpdir(), 'wgcam-torchvision-'));
const photos = [0, 1].map((i) => join(root, `photo-${i}.png`));
const wgcamBin = resolve('bin/wgcam.mjs');
const wgcam = (args: string[]) => spawnSync(process.execPath, [wgcamBin, ...args], { encoding: 'utf8', timeout: 300_000 });

interface Reference {
  probabilities: number[][];
  maps: number[][];
  shape: [number, number];
}

/** The graph tensor made by a torch module: torch.onnx.export names it /a/a.b/.../Op_output_0. */
function tensorOfModule(model: string, modulePath: string): string {
  const parts = modulePath.split('.');
  const prefix = `/${parts.map((_, i) => parts.slice(0, i + 1).join('.')).join('/')}/`;
  const step = planGraph(loadOnnxFile(model), 1).steps.filter((s) => s.outputs[0].startsWith(prefix)).at(-1);
  expect(step, `no tensor of ${model} starts with ${prefix}`).toBeDefined();
  return step!.outputs[0];
}

beforeAll(async () => {
  for (const [i, path] of photos.entries()) {
    const rng = new Rng(60 + i);
    await sharp(Uint8Array.from({ length: SIZE * SIZE * 3 }, () => rng.int(256)), { raw: { width: SIZE, height: SIZE, channels: 3 } }).toFile(path);
  }
  const torch = spawnSync(PYTHON, ['-c', 'import torch, torchvision'], { encoding: 'utf8' });
  expect(torch.status, `${PYTHON} has no torch and torchvision: install Debian's python3-torch and python3-torchvision (npm test's setup does, as root), or set WGCAM_PYTHON`).toBe(0);
  const r = spawnSync(PYTHON, ['test/torchvision_reference.py', root, String(SIZE), ...photos], { input: JSON.stringify(MODELS), encoding: 'utf8', timeout: 600_000 });
  expect(r.status, r.stderr).toBe(0);
}, 600_000);

describe('torchvision classifiers exported by torch.onnx.export', () => {
  for (const m of MODELS) {
    it(`${m.name}: wgcam predict and Grad-CAM at ${m.layer} give PyTorch's answers`, async () => {
      const model = join(root, `${m.name}.onnx`);
      const want = JSON.parse(readFileSync(join(root, `${m.name}.json`), 'utf8')) as Reference;

      const p = wgcam(['predict', model, ...photos, '--preprocess', 'unit', '--json']);
      expect(p.status, p.stderr).toBe(0);
      const rows = JSON.parse(p.stdout) as { predictions: { class: string; probability: number }[] }[];
      rows.forEach((row, i) => {
        expect(row.predictions).toHaveLength(1000);
        const worst = Math.max(...row.predictions.map((q) => Math.abs(q.probability - want.probabilities[i][Number(q.class.slice('class'.length))])));
        expect(worst).toBeLessThanOrEqual(1e-4);
      });

      const layer = tensorOfModule(model, m.layer);
      const out = mkdtempSync(join(root, `cam-${m.name}-`));
      const c = wgcam(['cam', model, ...photos, '--preprocess', 'unit', '--method', 'gradcam', '--mode', 'class', '--layer', layer, '--out', out, '--json']);
      expect(c.status, c.stderr).toBe(0);
      for (const [i, photo] of photos.entries()) {
        const stem = photo.split('/').at(-1)!.replace('.png', '');
        const record = JSON.parse(readFileSync(join(out, `${stem}.json`), 'utf8')) as { map: { layer: string } };
        expect(record.map.layer).toBe(layer);
        const { data, info } = await sharp(join(out, `${stem}.cam.png`)).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
        expect([info.height, info.width]).toEqual(want.shape);
        expect(Math.max(...Array.from(data, (v, k) => Math.abs(v - 255 * want.maps[i][k])))).toBeLessThanOrEqual(1);
      }
    }, 300_000);
  }

  it("without --layer, wgcam's layer is pytorch-grad-cam's usual one for ResNet and MobileNetV2", () => {
    for (const m of MODELS.filter((m) => m.name === 'resnet18' || m.name === 'mobilenet_v2')) {
      const model = join(root, `${m.name}.onnx`);
      const out = mkdtempSync(join(root, `default-${m.name}-`));
      const c = wgcam(['cam', model, photos[0], '--preprocess', 'unit', '--method', 'gradcam', '--out', out, '--json']);
      expect(c.status, c.stderr).toBe(0);
      const record = JSON.parse(readFileSync(join(out, 'photo-0.json'), 'utf8')) as { map: { layer: string } };
      expect(record.map.layer).toBe(tensorOfModule(model, m.layer));
    }
  }, 300_000);
});
