// The commands as a user runs them: train (checkpoints, resume, NaN, Ctrl-C, bad input) and cam.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeSamplePhotos } from '../src/data/sample-photos.ts';
import { loadModelFile } from '../src/io/model-file.ts';

const root = mkdtempSync(join(tmpdir(), 'wgcam-cli-'));
const data = join(root, 'data');
// Fixed kernels: two fresh runs must train alike (a measured choice may differ between them).
const tiny = ['--data', data, '--size', '16', '--arch', 'c4-p-c8', '--batch', '8', '--seed', '3', '--conv-kernels', 'winograd4'];

function cli(script: string, args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', `src/cli/${script}.ts`, ...args], { encoding: 'utf8', timeout: 180_000, env: { ...process.env, ...env } });
  // stderr also carries progress lines; the errors are the lines wgcam prefixes.
  return { code: r.status, out: r.stdout, err: r.stderr.split('\n').filter((l) => l.startsWith('wgcam:')).join('\n') };
}

beforeAll(async () => {
  await writeSamplePhotos({ dir: data, shapes: ['disc', 'cross'], perClass: 24, seed: 5, minSize: 20, maxSize: 30 });
});

describe('npm run train', () => {
  it('writes a checkpoint per epoch, metrics, best.bin and model.bin', () => {
    const out = join(root, 'run1');
    const r = cli('train', [...tiny, '--epochs', '2', '--out', out]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/data: .*kaggle layout\), 48 images 16x16x3 \[cross 24, disc 24\], cache (built|reused)/);
    expect(r.out).toMatch(/epoch 2\/2 {2}train loss \d\.\d{4} acc [\d.]+% {2}val loss/);
    for (const f of ['epoch-001.bin', 'epoch-002.bin', 'best.bin', 'model.bin']) expect(existsSync(join(out, f)), f).toBe(true);
    const metrics = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(metrics.map((m) => m.epoch)).toEqual([1, 2]);
    const ck = loadModelFile(join(out, 'epoch-002.bin'));
    expect(ck.meta.valAccuracy).toBe(metrics[1].val_acc);
    expect(ck.meta.training?.epoch).toBe(2);
    expect(ck.optimizerState.size).toBe(12); // Adam: 2 moments x 6 parameters
    expect(loadModelFile(join(out, 'model.bin')).optimizerState.size).toBe(0);
    // The folder now holds a run: a fresh one must not mix with it.
    const again = cli('train', [...tiny, '--epochs', '1', '--out', out]);
    expect(again.code).toBe(1);
    expect(again.err).toMatch(/already holds a training run \(best\.bin, epoch-001\.bin, epoch-002\.bin, \.\.\.\); continue it with --resume, start over with --overwrite/);
    expect(cli('train', [...tiny, '--epochs', '1', '--out', out, '--overwrite']).code).toBe(0);
    expect(existsSync(join(out, 'epoch-002.bin'))).toBe(false);
  });

  it('--resume reaches the same weights as an uninterrupted run', () => {
    const whole = join(root, 'whole');
    const split = join(root, 'split');
    expect(cli('train', [...tiny, '--epochs', '3', '--out', whole]).code).toBe(0);
    expect(cli('train', [...tiny, '--epochs', '1', '--out', split]).code).toBe(0);
    const r = cli('train', [...tiny, '--epochs', '3', '--out', split, '--resume']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/resuming from .*epoch-001\.bin: epoch 2, step 1/);
    const a = loadModelFile(join(whole, 'model.bin')).weights;
    const b = loadModelFile(join(split, 'model.bin')).weights;
    for (const [name, w] of a) expect(Array.from(b.get(name)!), name).toEqual(Array.from(w));
  });

  it('keeps the per-layer kernel choice in every checkpoint; --resume repeats it, bit for bit', () => {
    const whole = join(root, 'wino-whole');
    const split = join(root, 'wino-split');
    expect(cli('train', [...tiny, '--epochs', '2', '--out', whole]).code).toBe(0);
    const recorded = loadModelFile(join(whole, 'epoch-001.bin')).meta.training!.convKernels!;
    // c4-p-c8: conv1 pooled forward, conv2 forward and grad-input.
    expect(recorded.map((c) => `${c.kernel} ${c.shape} ${c.variant}`)).toEqual([
      'conv2d_relu_maxpool 3->4 16x16 winograd4',
      'conv2d_forward 4->8 7x7 winograd4',
      'conv2d_grad_input 4->8 7x7 winograd4',
    ]);
    expect(cli('train', [...tiny, '--epochs', '1', '--out', split]).code).toBe(0);
    // Without the flag: the checkpoint's choice, not a new measurement nor the defaults.
    const args = tiny.slice(0, -2);
    const r = cli('train', [...args, '--epochs', '2', '--out', split, '--resume']);
    expect(r.code).toBe(0);
    expect(r.out).not.toMatch(/conv kernels \(measured/);
    const a = loadModelFile(join(whole, 'model.bin'));
    const b = loadModelFile(join(split, 'model.bin'));
    expect(b.meta.training!.convKernels).toEqual(recorded);
    for (const [name, w] of a.weights) expect(Array.from(b.weights.get(name)!), name).toEqual(Array.from(w));
    // A fixed mode that contradicts the record is refused, naming it.
    const direct = cli('train', [...args, '--epochs', '3', '--out', split, '--resume', '--conv-kernels', 'direct']);
    expect(direct.code).toBe(1);
    expect(direct.err).toMatch(/--conv-kernels direct contradicts the run being resumed, which chose winograd4 by layer/);
  });

  it('measures the kernels per layer on a fresh run and says what it chose', () => {
    const out = join(root, 'measured');
    const r = cli('train', [...tiny.slice(0, -2), '--epochs', '1', '--out', out], { WGCAM_CACHE_DIR: mkdtempSync(join(root, 'choices-')) });
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/conv kernels \(measured at batch 8, kept in [^)]*conv-choices\.json\): conv1 forward \w+.*; conv2 forward \w+.*, grad-input \w+/);
    const choices = loadModelFile(join(out, 'model.bin')).meta.training!.convKernels!;
    expect(choices.map((c) => c.kernel)).toEqual(['conv2d_relu_maxpool', 'conv2d_forward', 'conv2d_grad_input']);
    for (const c of choices) expect(['subgroup', 'vec4', 'winograd2', 'winograd4', 'winograd6']).toContain(c.variant);
    expect(cli('train', [...tiny.slice(0, -2), '--epochs', '1', '--out', out, '--overwrite', '--conv-kernels', 'fast']).err).toMatch(/--conv-kernels fast: use measured, remeasure, direct, winograd2, winograd4, winograd6/);
  });

  it('Ctrl-C finishes the step, saves a loadable checkpoint and exits; --resume then matches an uninterrupted run', async () => {
    const out = join(root, 'sigint');
    // Batch 2: 20 steps an epoch, so the interrupt lands inside an epoch (interrupted.bin).
    const args = [...tiny, '--batch', '2', '--out', out];
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/train.ts', ...args, '--epochs', '200']);
    let stdout = '';
    const code = await new Promise<number | null>((resolve) => {
      child.stdout.on('data', (d) => {
        stdout += d;
        // Right as training starts: the first step finishes, then interrupted.bin is saved mid-epoch.
        if (stdout.includes('model: ') && !child.killed) child.kill('SIGINT');
      });
      child.on('exit', (c) => resolve(c));
    });
    expect(code).toBe(130);
    expect(stdout).toMatch(/continue with --resume/);
    const at = loadModelFile(join(out, 'interrupted.bin')).meta.training!;
    expect(at.epoch).toBe(0); // inside the first epoch (19 steps of 2 images)
    expect(at.step).toBeGreaterThanOrEqual(1);
    expect(at.step).toBeLessThan(19);
    expect(existsSync(join(out, 'model.bin'))).toBe(false);
    const otherBatch = cli('train', [...args, '--epochs', '6', '--resume', '--batch', '4']);
    expect(otherBatch.code).toBe(1);
    expect(otherBatch.err).toMatch(/^wgcam: --batch 4 contradicts the run being resumed \(.*interrupted\.bin has --batch 2\); leave --batch out to continue it/);
    const resumed = cli('train', [...args, '--epochs', '6', '--resume']);
    expect(resumed.code).toBe(0);
    expect(resumed.out).toContain(`interrupted.bin: epoch 1, step ${at.step + 1}`);
    const whole = join(root, 'sigint-whole');
    expect(cli('train', [...tiny, '--batch', '2', '--out', whole, '--epochs', '6']).code).toBe(0);
    const a = loadModelFile(join(whole, 'model.bin')).weights;
    const b = loadModelFile(join(out, 'model.bin')).weights;
    for (const [name, w] of a) expect(Array.from(b.get(name)!), name).toEqual(Array.from(w));
  });

  it('stops on a NaN/Inf loss with a clear message and leaves no model.bin', () => {
    const out = join(root, 'nan');
    const r = cli('train', [...tiny, '--epochs', '3', '--out', out, '--optimizer', 'sgd', '--lr', '1e30']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^wgcam: the loss became (NaN|Infinity) at epoch \d+ step \d+; lower --lr/);
    expect(existsSync(join(out, 'model.bin'))).toBe(false);
  });

  it('bad input: one line and a non-zero exit code', () => {
    const usage = cli('train', ['--data', data, '--epochs', 'many']);
    expect(usage.code).toBe(2);
    expect(usage.err).toBe('wgcam: --epochs many: not a number');
    const decay = cli('train', [...tiny, '--weight-decay=-1', '--out', join(root, 'decay')]);
    expect(decay.code).toBe(1);
    expect(decay.err).toBe('wgcam: --weight-decay -1: must be >= 0');
    const missing = cli('train', ['--data', join(root, 'nowhere')]);
    expect(missing.code).toBe(1);
    expect(missing.err).toBe(`wgcam: ${join(root, 'nowhere')}: no such folder`);
    const tooSmall = cli('train', [...tiny, '--size', '8', '--arch', 'c4-p-c4-p-c4', '--out', join(root, 'small')]);
    expect(tooSmall.code).toBe(1);
    expect(tooSmall.err).toMatch(/^wgcam: arch 'c4-p-c4-p-c4': a 8x8 input is only 1x1 at block 4, too small for a 2x2 pool$/);
    // A malformed --arch is reported before any data is looked at (a big dump decodes for minutes).
    const typo = cli('train', ['--data', join(root, 'nowhere'), '--arch', 'c8-p']);
    expect(typo.code).toBe(1);
    expect(typo.err).toBe("wgcam: arch 'c8-p': must end with a conv block (CAM reads the last conv features)");
  });
});

describe('npm run cam', () => {
  it('prints the prediction and writes the outputs; a missing model is one line', () => {
    const out = join(root, 'cam');
    const model = join(root, 'run1', 'model.bin');
    const r = cli('cam', [model, join(data, 'train', 'disc.0.jpg'), '--out', out, '--box']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/disc\.0\.jpg {2}(disc|cross) \d+\.\d% {2}(disc|cross) \d+\.\d%/);
    expect(existsSync(join(out, 'disc.0.overlay.png'))).toBe(true);
    const bad = cli('cam', [join(root, 'none.bin'), join(data, 'train', 'disc.0.jpg')]);
    expect(bad.code).toBe(1);
    expect(bad.err).toBe(`wgcam: ${join(root, 'none.bin')}: no such file`);
  });
});

describe('kill -9 during training', () => {
  it('leaves only loadable files, and resuming reaches the uninterrupted weights', async () => {
    const whole = join(root, 'k9-whole');
    const out = join(root, 'k9');
    const args = [...tiny, '--epochs', '10', '--out', out];
    expect(cli('train', [...tiny, '--epochs', '10', '--out', whole]).code).toBe(0);
    const rng = { s: 7, next() { this.s = (this.s * 1103515245 + 12345) % 2 ** 31; return this.s / 2 ** 31; } };
    for (let attempt = 0; attempt < 4; attempt++) {
      // Start (or resume), then SIGKILL at a random moment after the first progress output.
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/train.ts', ...args, ...(attempt ? ['--resume'] : [])]);
      await new Promise<void>((resolve) => {
        let fired = false;
        const fire = () => {
          if (fired) return;
          fired = true;
          setTimeout(() => child.kill('SIGKILL'), rng.next() * 400);
        };
        child.stdout.on('data', fire);
        child.on('exit', () => resolve());
      });
      for (const f of readdirSync(out)) {
        if (f.endsWith('.bin')) expect(() => loadModelFile(join(out, f)), f).not.toThrow();
      }
    }
    const r = cli('train', [...args, '--resume']);
    expect(r.code).toBe(0);
    const a = loadModelFile(join(whole, 'model.bin')).weights;
    const b = loadModelFile(join(out, 'model.bin')).weights;
    for (const [name, w] of a) expect(Array.from(b.get(name)!), name).toEqual(Array.from(w));
  });

  it('an output path that cannot be a folder is one clear line', () => {
    const file = join(root, 'a-file');
    writeFileSync(file, 'not a folder');
    const r = cli('train', [...tiny, '--out', join(file, 'run')]);
    expect(r.code).toBe(1);
    expect(r.err).toBe(`wgcam: cannot create the output folder ${join(file, 'run')} (ENOTDIR)`);
    const same = cli('train', [...tiny, '--out', file]);
    expect(same.err).toBe(`wgcam: cannot use the output folder ${file} (a file, not a folder)`);
  });
});

describe('npm run train --devices', () => {
  it('trains on 2 devices and saves one plain model', () => {
    const out = join(root, 'devices');
    const r = cli('train', [...tiny, '--epochs', '2', '--out', out, '--devices', '2']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/x 2 devices/);
    const m = loadModelFile(join(out, 'model.bin'));
    expect([...m.weights.keys()]).toEqual(['conv1.weight', 'conv1.bias', 'conv2.weight', 'conv2.bias', 'fc.weight', 'fc.bias']);
    expect(cli('train', ['--list-devices']).out).toMatch(/max storage binding \d+ bytes/);
  });
});

describe('a full disk', () => {
  it('stops with a clear error and keeps the checkpoints already written intact (needs root for a small tmpfs)', () => {
    const out = join(root, 'full');
    mkdirSync(out);
    // 15 pages: room for the run lock, epoch-001.bin (2 pages with the optimizer state),
    // best.bin, metrics.jsonl, curves.svg (4) and report.html (5) and one more, not for
    // epoch-002.bin.
    const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=60k', 'tmpfs', out], { encoding: 'utf8' });
    expect(mount.status, `mount a small tmpfs: ${mount.stderr}`).toBe(0);
    try {
      const r = cli('train', [...tiny, '--epochs', '3', '--out', out]);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/^wgcam: cannot write .*epoch-002\.bin: no space left on the device$/);
      for (const f of ['epoch-001.bin', 'best.bin']) expect(loadModelFile(join(out, f)).meta.training?.epoch, f).toBe(1);
      expect(readdirSync(out).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    } finally {
      spawnSync('umount', [out]);
    }
  });
});

describe('npm run train --watch', () => {
  it('writes CAM overlays of the same validation images after every epoch', () => {
    const out = join(root, 'watch');
    const r = cli('train', [...tiny, '--epochs', '2', '--out', out, '--watch', '3']);
    expect(r.code).toBe(0);
    const e1 = readdirSync(join(out, 'cam-epoch-001')).sort();
    const e2 = readdirSync(join(out, 'cam-epoch-002')).sort();
    expect(e1.filter((f) => f.endsWith('.overlay.png')).length).toBe(3);
    expect(e2).toEqual(e1);
  });
});
