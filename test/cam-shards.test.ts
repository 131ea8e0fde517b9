// A folder explained in parts, as array jobs do: `wgcam cam --shard K/N` (a stable split by name,
// every shard into the same --out), `--resume` (skips inputs whose outputs are complete, never
// rewriting them), and `wgcam gallery DIR` built afterwards from the NAME.json files.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeSamplePhotos } from '../src/data/sample-photos.ts';
import { ARCHITECTURES } from './onnx-graphs.ts';
import { randomModel } from './random-model.ts';

const root = mkdtempSync(join(tmpdir(), 'wgcam-shards-'));
const data = join(root, 'data');
let model = '';

function wgcam(command: string, args: string[]) {
  const r = spawnSync('npm', ['run', '-s', command, '--', ...args], { encoding: 'utf8', timeout: 300_000 });
  return { code: r.status, out: r.stdout, err: r.stderr.split('\n').filter((l) => l.startsWith('wgcam:')).join('\n') };
}
const overlays = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.overlay.png')).sort();

beforeAll(async () => {
  await writeSamplePhotos({ dir: data, shapes: ['disc', 'cross'], perClass: 7, seed: 2, minSize: 20, maxSize: 30 });
  model = await randomModel(root, { blocks: 'c4-p-c6', inputChannels: 3, height: 16, width: 16, classes: 2 }, 3);
}, 60_000);

describe('a folder in parts', () => {
  it('three shards into one --out cover every photo once, whatever order they run in; the gallery lists them all', () => {
    const out = join(root, 'sharded');
    const counts = [3, 1, 2].map((k) => {
      const r = wgcam('cam', [model, join(data, 'train'), '--out', out, '--json', '--shard', `${k}/3`]);
      expect(r.code).toBe(0);
      expect(r.err).toMatch(new RegExp(`^wgcam: --shard ${k}/3: \\d+ of the 14 inputs$`));
      return Number(/: (\d+) of the 14/.exec(r.err)![1]);
    });
    expect(counts.reduce((a, b) => a + b, 0)).toBe(14);
    expect(Math.min(...counts)).toBeGreaterThan(0);
    expect(overlays(out)).toHaveLength(14);
    // The same split on another machine: shard 2 alone writes what it wrote before.
    const again = join(root, 'again');
    wgcam('cam', [model, join(data, 'train'), '--out', again, '--json', '--shard', '2/3']);
    expect(overlays(again)).toEqual(overlays(out).filter((f) => readdirSync(again).includes(f)));
    expect(overlays(again)).toHaveLength(counts[2]);
    const g = wgcam('gallery', [out]);
    expect(g.code).toBe(0);
    expect(g.out).toMatch(/index\.html: 14 explained photos/);
    const html = readFileSync(join(out, 'index.html'), 'utf8');
    expect(html.match(/<figure /g)).toHaveLength(14);
    expect(html.match(/data-outcome="unknown"/g)).toHaveLength(14); // the model's classes ('class 0', 'class 1') are not in the file names
    expect(wgcam('gallery', [out]).err).toMatch(/index\.html already exists; pass --overwrite/);
    expect(wgcam('cam', [model, data, '--out', out, '--shard', '4/3']).err).toBe('wgcam: --shard 4/3: K/N with 1 <= K <= N, e.g. --shard 3/8');
    expect(wgcam('cam', [model, data, '--out', out, '--shard', '1/2', '--report']).err).toMatch(/^wgcam: --report with --shard: this run explains only part of the inputs; write --json and build the gallery .* with wgcam gallery/);
  });

  it('--resume explains only the photos whose outputs are incomplete and rewrites none of the others', () => {
    const out = join(root, 'resumed');
    expect(wgcam('cam', [model, join(data, 'train'), '--out', out, '--json']).code).toBe(0);
    const before = new Map(readdirSync(out).map((f) => [f, statSync(join(out, f)).mtimeMs]));
    rmSync(join(out, 'cross.3.overlay.png'));
    writeFileSync(join(out, 'disc.5.json'), 'cut short'); // still counts as there: resume does not read it
    rmSync(join(out, 'disc.6.cam.png'));
    const r = wgcam('cam', [model, join(data, 'train'), '--out', out, '--json', '--resume']);
    expect(r.code).toBe(0);
    expect(r.err).toBe(`wgcam: --resume: 12 of 14 inputs already have every output in ${out}; explaining the other 2`);
    expect(r.out.trim().split('\n').map((l) => l.split('/').at(-1)!.split(' ')[0])).toEqual(['cross.3.jpg', 'disc.6.jpg']);
    for (const [f, t] of before) if (!/^(cross\.3|disc\.6)\./.test(f) && f !== 'disc.5.json' && f !== '.wgcam.lock') expect(statSync(join(out, f)).mtimeMs, f).toBe(t);
    expect(overlays(out)).toHaveLength(14);
    expect(wgcam('cam', [model, join(data, 'train'), '--out', out, '--resume']).err).toMatch(/14 of 14 inputs already have every output/);
    expect(wgcam('cam', [model, data, '--out', out, '--resume', '--overwrite']).err).toBe('wgcam: --resume keeps the outputs already there, --overwrite replaces them: pick one');
  });

  it('an imported model shards the same way', () => {
    const onnx = join(root, 'resnet.onnx');
    writeFileSync(onnx, ARCHITECTURES[0].build());
    const out = join(root, 'onnx-shards');
    for (const k of [1, 2]) expect(wgcam('cam', [onnx, join(data, 'train'), '--out', out, '--json', '--method', 'gradcam', '--shard', `${k}/2`]).code).toBe(0);
    expect(overlays(out)).toHaveLength(14);
  });
});
