/**
 * Imported models explained, measured (docs/cam-methods.md, "Imported models"), and the
 * README's picture of them:
 *   npx tsx scripts/imported-maps.ts [--out DIR] [--picture FILE.png] [--no-table]   (about 30 minutes, 2 cores)
 *
 * No pretrained weights can be downloaded here, so PyTorch (Debian's python3-torch and
 * python3-torchvision) trains torchvision's ResNet-18 and MobileNetV2 from scratch on 1,600
 * sample photos of four shapes among a distractor (96x96, 15 epochs;
 * scripts/pictures/train_torchvision.py) and exports them with torch.onnx.export. wgcam then
 * explains 80 other photos with each method at the default layer (the last map larger than
 * 1x1: layer4 and the last conv block), scored for localization against the shapes' boxes and
 * for faithfulness. Prints a Markdown table; with --picture, also draws two photos with each
 * model's Grad-CAM side by side.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { runImportedCam } from '../src/cam/imported.ts';
import { writeSamplePhotos } from '../src/data/sample-photos.ts';
import type { CamMethod } from '../src/cam/explain.ts';

const { values } = parseArgs({ options: { out: { type: 'string', default: 'runs/imported-maps' }, picture: { type: 'string' }, 'no-table': { type: 'boolean' } } });
const out = values.out!;
const SHAPES = ['disc', 'cross', 'ring', 'square'] as const;
const STYLE = { objectScale: [0.25, 0.45] as [number, number], clutter: 1 };
const MODELS = [
  { name: 'resnet18', shown: 'ResNet-18' },
  { name: 'mobilenet_v2', shown: 'MobileNetV2' },
];
// Score-CAM is left out (one forward pass per channel, 512 and 1,280 here, for each batch), and
// XGrad-CAM and HiResCAM to keep the run short (the faithfulness metrics take most of it).
const METHODS: CamMethod[] = ['cam', 'gradcam', 'gradcam++', 'layercam'];

const train = join(out, 'train');
const val = join(out, 'val');
const models = join(out, 'models');
await writeSamplePhotos({ dir: train, shapes: [...SHAPES], perClass: 400, seed: 21, minSize: 96, maxSize: 160, style: STYLE });
await writeSamplePhotos({ dir: val, shapes: [...SHAPES], perClass: 20, seed: 22, minSize: 96, maxSize: 160, style: STYLE });
mkdirSync(models, { recursive: true });
if (!MODELS.every((m) => existsSync(join(models, `${m.name}.onnx`)))) {
  const python = process.env.WGCAM_PYTHON ?? '/usr/bin/python3';
  const r = spawnSync(python, ['scripts/pictures/train_torchvision.py', join(train, 'train'), models, '96', '15', ...MODELS.map((m) => m.name)], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`training with ${python} failed (it needs torch and torchvision)`);
}
const labels = join(models, 'labels.txt');
const photos = SHAPES.flatMap((s) => Array.from({ length: 20 }, (_, i) => join(val, 'train', `${s}.${i}.jpg`)));

/** `wgcam cam MODEL.onnx PHOTOS --method M` on the validation photos, as the command runs it. */
const explain = (m: (typeof MODELS)[number], method: CamMethod, inputs: string[], outDir: string, scored: boolean, warn: (line: string) => void = () => {}) =>
  runImportedCam({
    model: join(models, `${m.name}.onnx`),
    inputs,
    outDir,
    preprocess: { preset: 'unit', labels },
    method,
    mode: 'contrast',
    contrast: 'runner-up',
    rawScale: 1,
    allClasses: false,
    colormap: 'jet',
    alpha: 0.5,
    box: scored,
    json: false,
    report: false,
    overwrite: true,
    batch: 32,
    ...(scored ? { evalBoxes: join(val, 'boxes.json'), metrics: true } : {}),
    print: () => {},
    warn,
  });

const pct = (v: number) => (100 * v).toFixed(1);
if (!values['no-table']) {
  console.log('| model | method | layer | accuracy | pointing | box acc (0.2) | MaxBoxAcc (threshold) | MaxBoxAccV2 | Average Drop | Insertion AUC | ms/image |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|');
  for (const m of MODELS) {
    for (const method of METHODS) {
      const t0 = performance.now();
      let layer = '';
      // The layer the method ran at is named in the run's first line.
      const r = await explain(m, method, photos, join(out, `cam-${m.name}-${method}`), true, (line) => (layer ||= / at '([^']+)' \[/.exec(line)?.[1] ?? ''));
      const ms = (performance.now() - t0) / photos.length;
      const right = r.records.filter((rec) => rec.predictions[0].class === rec.truth).length / r.records.length;
      const s = r.scores!;
      const f = r.faithfulness!;
      console.log(`| ${m.shown} | ${method} | \`${layer}\` | ${pct(right)} | ${pct(s.pointing)} | ${pct(s.boxAccuracy)} | ${pct(s.maxBoxAcc)} (${s.maxBoxAccThreshold.toFixed(2)}) | ${pct(s.maxBoxAccV2)} | ${pct(f.averageDrop)}% | ${f.insertionAuc.toFixed(3)} | ${ms.toFixed(1)} |`);
    }
  }
}

if (values.picture) {
  // Two photos, each as it is and with each model's Grad-CAM; a caption above each column.
  const picked = ['disc.3', 'cross.5'];
  const side = 220;
  const columns = ['photo', ...MODELS.map((m) => `${m.shown}, Grad-CAM`)];
  const tiles: sharp.OverlayOptions[] = [];
  const inputs = picked.map((stem) => join(val, 'train', `${stem}.jpg`));
  for (const m of MODELS) await explain(m, 'gradcam', inputs, join(out, `picture-${m.name}`), false);
  for (const [row, stem] of picked.entries()) {
    const sources = [inputs[row], ...MODELS.map((m) => join(out, `picture-${m.name}`, `${stem}.overlay.png`))];
    for (const [col, file] of sources.entries()) {
      tiles.push({ input: await sharp(file).resize(side, side, { fit: 'fill' }).png().toBuffer(), left: col * (side + 10), top: 28 + row * (side + 10) });
    }
  }
  const captions = columns.map((c, col) => `<text x="${col * (side + 10) + side / 2}" y="19" font-family="DejaVu Sans, sans-serif" font-size="15" text-anchor="middle" fill="#1d232b">${c}</text>`).join('');
  const [width, height] = [columns.length * (side + 10) - 10, 28 + picked.length * (side + 10) - 10];
  tiles.unshift({ input: Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="28">${captions}</svg>`), left: 0, top: 0 });
  await sharp({ create: { width, height, channels: 3, background: '#ffffff' } }).composite(tiles).png().toFile(values.picture);
  console.log(`\n${values.picture}: the picture`);
}
