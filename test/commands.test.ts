// The `wgcam` command as a new user meets it: help at once, suggestions for slips, paths from
// the caller's folder, and the eval / predict subcommands.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeSamplePhotos } from '../src/data/sample-photos.ts';
import { evaluate, reportLines } from '../src/eval/metrics.ts';

const repo = resolve('.');
const wgcamBin = join(repo, 'bin', 'wgcam.mjs');
const root = mkdtempSync(join(tmpdir(), 'wgcam-commands-'));
const data = join(root, 'data');
const model = join(root, 'run', 'model.bin');

function wgcam(args: string[], cwd = root) {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [wgcamBin, ...args], { cwd, encoding: 'utf8', timeout: 300_000 });
  return { code: r.status, out: r.stdout, err: r.stderr.split('\n').filter((l) => l.startsWith('wgcam:')).join('\n'), ms: Date.now() - t0 };
}

beforeAll(async () => {
  await writeSamplePhotos({ dir: data, shapes: ['disc', 'cross'], perClass: 24, seed: 5, minSize: 20, maxSize: 30 });
  const r = wgcam(['train', '--data', data, '--size', '16', '--arch', 'c4-p-c8', '--batch', '8', '--epochs', '2', '--out', join(root, 'run')]);
  expect(r.code, r.err).toBe(0);
}, 300_000);

describe('wgcam', () => {
  it('lists its commands, and every command answers --help at once (from any folder)', () => {
    const top = wgcam(['--help']);
    expect(top.code).toBe(0);
    for (const c of ['train', 'cam', 'eval', 'predict', 'export', 'web', 'bench', 'demo']) expect(top.out).toMatch(new RegExp(`^  ${c} `, 'm'));
    for (const c of ['train', 'cam', 'eval', 'predict', 'export', 'web', 'bench', 'demo']) {
      const r = wgcam([c, '--help']);
      expect(r.code, c).toBe(0);
      expect(r.out).toMatch(new RegExp(`^Usage: wgcam ${c}`));
      expect(r.ms, `${c} --help took ${r.ms} ms`).toBeLessThan(15_000); // not a benchmark: a 13-minute bench run would fail it
    }
  });

  it('a misspelt command or option is one line with a suggestion; a bad value is one line', () => {
    expect(wgcam(['trian'])).toMatchObject({ code: 2, err: "wgcam: unknown command 'trian'; did you mean 'train'? (see wgcam --help)" });
    expect(wgcam(['train', '--data', data, '--epoch', '3'])).toMatchObject({ code: 2, err: 'wgcam: unknown option --epoch; did you mean --epochs? (see --help)' });
    expect(wgcam(['bench', '--quik'])).toMatchObject({ code: 2, err: 'wgcam: unknown option --quik; did you mean --quick? (see --help)' });
    expect(wgcam(['bench', '--size', '8'])).toMatchObject({ code: 2, err: 'wgcam: --size 8: must be an integer >= 38' });
    expect(wgcam(['bench', '--size', '37'])).toMatchObject({ code: 2, err: 'wgcam: --size 37: must be an integer >= 38' });
    expect(wgcam(['cam', model, '--out'])).toMatchObject({ code: 2, err: 'wgcam: --out needs a value (see --help)' });
    expect(wgcam(['train', '--data', data, '--resume=yes'])).toMatchObject({ code: 2, err: 'wgcam: --resume takes no value (see --help)' });
    expect(wgcam(['bench', '--vs', 'pytorch'])).toMatchObject({ code: 2, err: 'wgcam: --vs pytorch: the peers to compare with are tfjs, onnxruntime and torch' });
  });

  it('bench times the whole model on the direct kernels and on the per-layer choice it measured', () => {
    const r = spawnSync(process.execPath, [wgcamBin, 'bench', '--quick', '--filter', 'model', '--size', '38'], { encoding: 'utf8', timeout: 300_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/38x38 kernels chosen by measurement: conv1 forward \w+.*; conv2 forward \w+.*, grad-input \w+.*; conv4 forward \w+.*, grad-input \w+/);
    expect(r.stdout).toMatch(/'train step 38x38, batch 16'/);
    expect(r.stdout).toMatch(/'train step 38x38, batch 16, per-layer kernel choice' *│ [\d.]+ .*'[\d.]+x'/);
    expect(r.stdout).toMatch(/'inference 38x38, batch 16, per-layer kernel choice'/);
  });

  it('bench --vs torch without PyTorch says how to install it', () => {
    const r = spawnSync(process.execPath, [wgcamBin, 'bench', '--vs', 'torch', '--quick'], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, WGCAM_PYTHON: join(root, 'no-such-python') } });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/--vs torch needs PyTorch: on Debian or Ubuntu `apt-get install python3-torch`/);
  });

  it('npm run from a subfolder resolves relative paths against that folder', () => {
    const sub = join(repo, 'test', '.scratch-sub');
    mkdirSync(sub, { recursive: true });
    const r = spawnSync('npm', ['run', '-s', 'predict', '--', join('..', '..', 'no-such-model.bin'), 'x.jpg'], { cwd: sub, encoding: 'utf8' });
    // Resolved from test/.scratch-sub, "../../no-such-model.bin" is the repository root's.
    expect(r.stderr).toContain(`wgcam: ${join('..', '..', 'no-such-model.bin')}: no such file`);
    const rel = spawnSync('npm', ['run', '-s', 'predict', '--', model, 'x.jpg'], { cwd: sub, encoding: 'utf8' });
    expect(rel.stderr).toContain('wgcam: x.jpg: no such file');
  });
});

describe('wgcam output', () => {
  it("keeps Dawn's adapter notices out of normal output, shows them with --verbose, and loses no error line", () => {
    // As a shell gives them: stderr to a log file (appended: earlier lines stay), and through a pipe.
    const log = join(root, 'stderr.log');
    writeFileSync(log, 'an earlier line\n');
    const args = [wgcamBin, 'predict', model, join(data, 'train', 'disc.0.jpg'), join(root, 'nope.jpg')].map((a) => `'${a}'`).join(' ');
    const quiet = spawnSync('bash', ['-c', `'${process.execPath}' ${args} 2>>'${log}'`], { encoding: 'utf8' });
    const logged = readFileSync(log, 'utf8');
    expect(logged).not.toMatch(/artificially reduced/);
    expect(logged).toBe(`an earlier line\nwgcam: ${join(root, 'nope.jpg')}: no such file\n`);
    expect(quiet.stdout).toMatch(/disc\.0\.jpg {2}(disc|cross) /);
    const piped = spawnSync('bash', ['-c', `'${process.execPath}' ${args} 2>&1 | cat`], { encoding: 'utf8' });
    expect(piped.stdout).not.toMatch(/artificially reduced/);
    expect(piped.stdout).toContain('no such file');
    const verbose = spawnSync(process.execPath, [wgcamBin, '--verbose', 'predict', model, join(data, 'train', 'disc.0.jpg')], { encoding: 'utf8' });
    expect(verbose.status).toBe(0);
    expect(verbose.stderr).toMatch(/Warning: maxDynamic\w+ artificially reduced/);
  });

  it('piped output has no terminal control sequences (a log reads as plain lines)', () => {
    const r = spawnSync(process.execPath, [wgcamBin, 'train', '--data', data, '--size', '16', '--arch', 'c4-p-c8', '--epochs', '1', '--out', join(root, 'piped')], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout + r.stderr).not.toMatch(/[\r\u001b]/);
  });
});

describe('wgcam predict', () => {
  it('prints classes and probabilities as text, JSON or CSV, and writes no files', () => {
    const photos = ['disc.0.jpg', 'cross.1.jpg'].map((f) => join(data, 'train', f));
    const before = [readdirSync(root).sort(), readdirSync(join(data, 'train')).length];
    const text = wgcam(['predict', model, ...photos, '--top', '1']);
    expect(text.code).toBe(0);
    expect(text.out.trim().split('\n').map((l) => l.replace(/ \d+\.\d%$/, ''))).toEqual(photos.map((p) => expect.stringMatching(new RegExp(`^${p}  (disc|cross)$`))));
    const json = JSON.parse(wgcam(['predict', model, ...photos, '--json']).out);
    expect(json.map((r: { image: string }) => r.image)).toEqual(photos);
    for (const r of json) expect(r.predictions.reduce((s: number, p: { probability: number }) => s + p.probability, 0)).toBeCloseTo(1, 5);
    const csv = wgcam(['predict', model, join(data, 'train'), '--csv']).out.trim().split('\n');
    expect(csv[0]).toBe('image,predicted,probability,cross,disc');
    expect(csv).toHaveLength(49);
    expect([readdirSync(root).sort(), readdirSync(join(data, 'train')).length]).toEqual(before);
  });
});

describe('wgcam eval', () => {
  it('prints and saves accuracy, per-class figures and the confusion matrix', () => {
    const out = join(root, 'eval');
    const r = wgcam(['eval', model, data, '--out', out]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^accuracy \d+\.\d% over 48 images, macro F1 \d\.\d{3}$/m);
    expect(r.out).toMatch(/^cross +\d+\.\d% +\d+\.\d% +\d\.\d{3} +24$/m);
    const saved = JSON.parse(readFileSync(join(out, 'eval.json'), 'utf8'));
    expect(saved.confusion.flat().reduce((a: number, b: number) => a + b, 0)).toBe(48);
    expect(saved.perClass.map((c: { support: number }) => c.support)).toEqual([24, 24]);
    expect(readFileSync(join(out, 'confusion.svg'), 'utf8')).toMatch(/^<svg[^>]*>.*predicted class/s);
    expect(wgcam(['eval', model, data, '--out', out]).err).toMatch(/eval\.json exists; pass --overwrite/);
  });

  it('the metrics match a hand count (precision, recall, F1 as scikit-learn defines them)', () => {
    // true:      a a a b b c ; predicted: a b a b c c
    const r = evaluate(['a', 'b', 'c'], [0, 0, 0, 1, 1, 2], [0, 1, 0, 1, 2, 2]);
    expect(r.confusion).toEqual([[2, 1, 0], [0, 1, 1], [0, 0, 1]]);
    expect(r.accuracy).toBeCloseTo(4 / 6);
    expect(r.perClass.map((c) => [c.precision, c.recall])).toEqual([[1, 2 / 3], [0.5, 0.5], [0.5, 1]]);
    expect(r.perClass[0].f1).toBeCloseTo(0.8);
    expect(r.macroF1).toBeCloseTo((0.8 + 0.5 + 2 / 3) / 3);
    expect(reportLines(r).at(-1)).toBe('2 c    0    0    1');
  });
});

describe('wgcam train and cam, what a new user trips over', () => {
  it('keeps the newest 3 epoch checkpoints (--keep N|all) and says what model.bin and best.bin hold', () => {
    const out = join(root, 'keep');
    const r = wgcam(['train', '--data', data, '--size', '16', '--arch', 'c4-p-c8', '--batch', '8', '--epochs', '5', '--out', out]);
    expect(r.code, r.err).toBe(0);
    expect(readdirSync(out).filter((f) => f.startsWith('epoch-')).sort()).toEqual(['epoch-003.bin', 'epoch-004.bin', 'epoch-005.bin']);
    expect(r.out).toMatch(/wrote .*model\.bin: the weights after the last epoch, 5 \(validation accuracy \d+\.\d%\)/);
    expect(r.out).toMatch(/best\.bin: the best epoch, \d, on the 10 validation images:/);
    const all = wgcam(['train', '--data', data, '--size', '16', '--arch', 'c4-p-c8', '--batch', '8', '--epochs', '4', '--keep', 'all', '--out', join(root, 'keep-all')]);
    expect(all.code).toBe(0);
    expect(readdirSync(join(root, 'keep-all')).filter((f) => f.startsWith('epoch-'))).toHaveLength(4);
  });

  it('a Kaggle-layout photo without a class prefix is reported, not silently dropped', async () => {
    const d = join(root, 'kaggle-stray');
    mkdirSync(join(d, 'train'), { recursive: true });
    for (const f of readdirSync(join(data, 'train')).filter((f) => f.endsWith('.jpg'))) copyFileSync(join(data, 'train', f), join(d, 'train', f));
    copyFileSync(join(data, 'train', 'disc.0.jpg'), join(d, 'train', 'IMG_0001.jpg'));
    const r = wgcam(['train', '--data', d, '--size', '16', '--arch', 'c4', '--epochs', '1', '--out', join(root, 'stray-run')]);
    expect(r.code).toBe(0);
    expect(r.out).toContain('warning: left out 1 image without a class prefix (IMG_0001.jpg): the Kaggle layout takes the class from names like cat.0.jpg');
  });

  it('--class in the default contrast mode is refused rather than ignored', () => {
    const r = wgcam(['cam', model, join(data, 'train', 'disc.0.jpg'), '--class', 'disc', '--out', join(root, 'class-cam')]);
    expect(r.code).toBe(1);
    expect(r.err).toBe('wgcam: --class disc: the contrast mode always shows the predicted class minus the runner-up; use --mode class or --mode raw for one chosen class');
  });

  it('outputs mirror the input subfolders (bar/0.*, ring/0.*) and results come in natural order', () => {
    const input = join(root, 'mirrored');
    for (const f of ['bar/0.jpg', 'bar/10.jpg', 'bar/2.jpg', 'ring/0.jpg']) {
      mkdirSync(join(input, f, '..'), { recursive: true });
      copyFileSync(join(data, 'train', 'disc.0.jpg'), join(input, f));
    }
    const out = join(root, 'mirrored-out');
    const r = wgcam(['cam', model, input, '--out', out, '--report']);
    expect(r.code, r.err).toBe(0);
    expect(r.out.trim().split('\n').slice(0, 4).map((l) => l.split('  ')[0])).toEqual(['bar/0.jpg', 'bar/2.jpg', 'bar/10.jpg', 'ring/0.jpg'].map((f) => join(input, f)));
    expect(readdirSync(join(out, 'bar')).filter((f) => f.endsWith('.overlay.png'))).toEqual(['0.overlay.png', '10.overlay.png', '2.overlay.png']);
    expect(readdirSync(join(out, 'ring'))).toEqual(['0.cam.png', '0.overlay.png', '0.photo.jpg']);
    const html = readFileSync(join(out, 'index.html'), 'utf8');
    for (const f of ['bar/0.overlay.png', 'bar/10.overlay.png', 'ring/0.overlay.png']) expect(html).toContain(`src="${f}"`);
  });

  it('train writes the curves and an HTML run report (curves, confusion matrix, --watch overlays) after every epoch', () => {
    const out = join(root, 'report-run');
    const r = wgcam(['train', '--data', data, '--size', '16', '--arch', 'c4-p-c8', '--batch', '8', '--epochs', '2', '--watch', '2', '--out', out]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain(`run report: ${join(out, 'report.html')}`);
    const curves = readFileSync(join(out, 'curves.svg'), 'utf8');
    expect(curves.startsWith('<svg')).toBe(true);
    for (const label of ['>loss<', '>accuracy<', '>training<', '>validation<']) expect(curves).toContain(label);
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    expect(html.match(/<tr><td>\d+<\/td>/g)).toHaveLength(2);
    expect(html).toMatch(/<h2>best\.bin on the validation images<\/h2><svg/);
    for (const e of ['001', '002']) expect(html).toMatch(new RegExp(`src="cam-epoch-${e}/00-[^"]+\\.overlay\\.png"`));
  });
});
