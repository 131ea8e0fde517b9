/**
 * Does a pretrained backbone help? The figures of README's and docs/transfer.md's table, made
 * without any downloaded weights: wgcam pretrains a backbone on three shapes of the built-in
 * sample set, exports it to ONNX, and `wgcam train --backbone` transfers it to three shapes it
 * never saw, from a few photos per class; the same photos train a network from scratch. Both
 * are scored on the same validation photos: accuracy, and MaxBoxAcc of their CAMs against the
 * photos' known boxes (wgcam cam --eval-boxes), with the time each took.
 *
 *   npx tsx scripts/transfer-proof.ts [--dir DIR] [--per-class N] [--epochs N] [--json]
 *
 * test/transfer.slow.test.ts runs it and checks its claim (the frozen backbone beats training
 * from scratch); the README's figures come from a run at the defaults.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { prepareDataset } from '../src/data/dataset.ts';
import { writeSamplePhotos } from '../src/data/sample-photos.ts';
import { stratifiedSplit } from '../src/data/split.ts';

const { values: v } = parseArgs({
  options: { dir: { type: 'string' }, 'per-class': { type: 'string' }, epochs: { type: 'string' }, json: { type: 'boolean' } },
});
const dir = resolve(v.dir ?? mkdtempSync(join(tmpdir(), 'wgcam-transfer-proof-')));
const perClass = Number(v['per-class'] ?? 40);
const epochs = Number(v.epochs ?? 40);
const SIZE = 32;
const wgcam = resolve(import.meta.dirname, '..', 'bin', 'wgcam.mjs');

function run(args: string[]): { out: string; seconds: number } {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [wgcam, ...args], { encoding: 'utf8', maxBuffer: 64 * 2 ** 20 });
  if (r.status !== 0) throw new Error(`wgcam ${args.join(' ')} failed (${r.status}): ${r.stderr.trim().split('\n').at(-1)}`);
  return { out: r.stdout, seconds: (performance.now() - t0) / 1000 };
}

const say = (line: string) => process.stderr.write(`${line}\n`);
mkdirSync(dir, { recursive: true });
const pre = join(dir, 'pretrain');
const fresh = join(dir, 'new');
say(`writing photos into ${dir}`);
await writeSamplePhotos({ dir: pre, shapes: ['disc', 'cross', 'hbar'], perClass: 150, seed: 1, minSize: 40, maxSize: 64 });
await writeSamplePhotos({ dir: fresh, shapes: ['vbar', 'square', 'ring'], perClass, seed: 2, minSize: 40, maxSize: 64 });

const backbone = join(dir, 'backbone.onnx');
if (!existsSync(backbone)) {
  say('pretraining the backbone on disc, cross, hbar (450 photos)');
  run(['train', '--data', pre, '--out', join(dir, 'pretrain-run'), '--size', String(SIZE), '--epochs', '40', '--batch', '32', '--overwrite']);
  run(['export', join(dir, 'pretrain-run', 'best.bin'), backbone]);
}

// Half of each class trains, half validates: the same split for both runs (seed 1).
const common = ['--data', fresh, '--epochs', String(epochs), '--batch', '16', '--val-split', '0.5', '--overwrite'];
say(`from scratch on vbar, square, ring (${perClass / 2} training photos a class)`);
const scratch = run(['train', ...common, '--out', join(dir, 'scratch'), '--size', String(SIZE)]);
say('frozen backbone (features computed once, then the head)');
const frozen = run(['train', ...common, '--out', join(dir, 'frozen'), '--backbone', backbone]);
say('fine-tuned: the frozen run, then the last two convolutions with the head for 10 epochs');
const tuned = run(['train', ...common, '--out', join(dir, 'tuned'), '--backbone', backbone, '--fine-tune', 'last:2', '--fine-tune-epochs', '10']);
say("frozen backbone with the CAM paper's head (a 3x3 convolution of 64 channels first)");
const frozenConv = run(['train', ...common, '--out', join(dir, 'frozen-conv'), '--backbone', backbone, '--head', 'conv:64-gap']);

const set = await prepareDataset(fresh, { size: SIZE });
const { val } = stratifiedSplit(set.labels, 0.5, 1);
const valPhotos = val.map((i) => set.names[i]);
set.close();

interface Row {
  name: string;
  accuracy: number;
  maxBoxAcc: number;
  seconds: number;
  epochSeconds: number;
}

function score(name: string, model: string, runDir: string, seconds: number): Row {
  const r = run(['cam', model, ...valPhotos, '--eval-boxes', join(fresh, 'boxes.json'), '--out', join(dir, `cam-${basename(runDir)}`), '--overwrite']);
  const printed = r.out.trim().split('\n');
  const correct = valPhotos.filter((p) => printed.find((l) => l.startsWith(`${p} `))?.split(/\s+/)[1] === basename(p).split('.')[0]).length;
  const maxBoxAcc = Number(/MaxBoxAcc ([\d.]+)%/.exec(r.out)?.[1]) / 100;
  // One epoch of the run's last phase (fine-tuning, where there is one).
  const lines = readFileSync(join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { seconds: number; phase?: string });
  const metrics = lines.filter((m) => m.phase === lines.at(-1)!.phase);
  const epochSeconds = metrics.reduce((a, m) => a + m.seconds, 0) / metrics.length;
  return { name, accuracy: correct / valPhotos.length, maxBoxAcc, seconds, epochSeconds };
}

const rows = [
  score('from scratch (c32-p-c64-p-c128)', join(dir, 'scratch', 'best.bin'), join(dir, 'scratch'), scratch.seconds),
  score('frozen backbone, GAP + dense head', join(dir, 'frozen', 'best.onnx'), join(dir, 'frozen'), frozen.seconds),
  score('frozen backbone, conv:64-gap head', join(dir, 'frozen-conv', 'best.onnx'), join(dir, 'frozen-conv'), frozenConv.seconds),
  score('frozen, then last 2 convs fine-tuned (10 epochs)', join(dir, 'tuned', 'best.onnx'), join(dir, 'tuned'), tuned.seconds),
];
if (v.json) process.stdout.write(JSON.stringify({ perClass, epochs, validation: valPhotos.length, rows }, null, 1) + '\n');
else {
  process.stdout.write(`${perClass / 2} training and ${perClass / 2} validation photos a class (vbar, square, ring), ${SIZE}x${SIZE}, ${epochs} epochs, best epoch kept\n\n`);
  process.stdout.write('| model | val accuracy | MaxBoxAcc | whole run | one epoch (of its last phase) |\n|---|---|---|---|---|\n');
  for (const r of rows) process.stdout.write(`| ${r.name} | ${(100 * r.accuracy).toFixed(1)}% | ${(100 * r.maxBoxAcc).toFixed(1)}% | ${r.seconds.toFixed(1)} s | ${(1000 * r.epochSeconds).toFixed(0)} ms |\n`);
}
