/**
 * What makes CAM maps sharper, measured (docs/cam-methods.md, "Sharper maps"):
 *   npx tsx scripts/sharper-maps.ts [--out DIR]        (about 10 minutes on 2 CPU cores)
 *
 * Two photo sets of discs and crosses (the demo's, and a harder one: objects from 12% to 60% of
 * the photo among distractors), two architectures (the demo's, with a 4x4 final map at 64x64,
 * and one pool fewer, 10x10), each trained as the demo trains; then, on each model's validation
 * photos, each explanation (cam, cam with test-time flips, Grad-CAM++ at conv2 and at conv1+2
 * fused, Score-CAM at conv2) scored for localization and faithfulness. Prints a Markdown table.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runCam } from '../src/cam/run.ts';
import { writeSamplePhotos } from '../src/data/sample-photos.ts';
import type { SampleStyle } from '../src/data/synthetic.ts';
import { train } from '../src/train/trainer.ts';

const { values } = parseArgs({ options: { out: { type: 'string', default: 'runs/sharper-maps' } } });
const out = values.out!;

const SETS: { name: string; seed: number; style?: SampleStyle }[] = [
  { name: 'demo set', seed: 2016 },
  { name: 'harder set (sizes 12-60%, 4 distractors)', seed: 2017, style: { objectScale: [0.12, 0.6], clutter: 4 } },
];
const ARCHS = [
  { name: 'demo (4x4 map)', blocks: 'c16-p-c32-p-c64-p-c64' },
  { name: 'one pool fewer (10x10 map)', blocks: 'c16-p-c32-p-c64-c64' },
];
const EXPLANATIONS: { name: string; method: 'cam' | 'gradcam++' | 'scorecam'; layer?: number; layers?: number[]; flip?: boolean }[] = [
  { name: 'cam', method: 'cam' },
  { name: 'cam, flips', method: 'cam', flip: true },
  { name: 'gradcam++ conv2', method: 'gradcam++', layer: 2 },
  { name: 'gradcam++ conv1+2 (mean)', method: 'gradcam++', layers: [1, 2] },
  { name: 'scorecam conv2', method: 'scorecam', layer: 2 },
];

const pct = (v: number) => (100 * v).toFixed(1);
console.log('| set | architecture | val acc | explanation | pointing | box acc (0.2) | MaxBoxAcc | MaxBoxAccV2 | Average Drop | Insertion AUC | ms/image |');
console.log('|---|---|---|---|---|---|---|---|---|---|---|');
for (const set of SETS) {
  const data = join(out, `data-${set.seed}`);
  await writeSamplePhotos({ dir: data, shapes: ['disc', 'cross'], perClass: 400, seed: set.seed, minSize: 72, maxSize: 144, ...(set.style ? { style: set.style } : {}) });
  for (const arch of ARCHS) {
    const trained = await train({
      data,
      out: join(out, `train-${set.seed}-${arch.blocks}`),
      epochs: 16,
      batch: 32,
      optimizer: 'adam',
      lr: 2e-3,
      size: 64,
      arch: arch.blocks,
      seed: 1,
      valSplit: 0.2,
      resume: false,
      overwrite: true,
      flip: true,
    });
    for (const e of EXPLANATIONS) {
      const t0 = performance.now();
      const r = await runCam({
        model: trained.modelPath,
        inputs: trained.valFiles,
        outDir: join(out, 'cam'),
        method: e.method,
        layer: e.layer,
        layers: e.layers,
        fuse: 'mean',
        flip: e.flip,
        mode: 'contrast',
        contrast: 'runner-up',
        rawScale: 1,
        allClasses: false,
        colormap: 'jet',
        alpha: 0.5,
        box: true,
        json: false,
        report: false,
        overwrite: true,
        batch: 32,
        evalBoxes: join(data, 'boxes.json'),
        metrics: true,
        print: () => {},
      });
      const s = r.scores!;
      const f = r.faithfulness!;
      const ms = (performance.now() - t0) / trained.valFiles.length;
      console.log(
        `| ${set.name} | ${arch.name} | ${pct(trained.valAccuracy)} | ${e.name} | ${pct(s.pointing)} | ${pct(s.boxAccuracy)} | ${pct(s.maxBoxAcc)} | ${pct(s.maxBoxAccV2)} | ${pct(f.averageDrop)}% | ${f.insertionAuc.toFixed(3)} | ${ms.toFixed(1)} |`,
      );
    }
  }
}
