// Careless use and hostile inputs through the commands users run (`npm run train`, `npm run
// cam`): one run per output folder, settings a resume must keep, folders that feed on their
// own outputs, models that need more memory than they justify, non-finite outputs, untrusted
// text on the terminal, and photo folders holding links and pipes.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeSamplePhotos } from '../src/data/sample-photos.ts';
import { loadModelFile, saveModel, type ModelMeta } from '../src/io/model-file.ts';
import { encodeSafetensors, readSafetensors } from '../src/io/safetensors.ts';
import { LOCK_NAME } from '../src/io/run-lock.ts';
import { Classifier, type Arch } from '../src/nn/model.ts';
import { CpuBackend } from '../src/tensor/cpu-backend.ts';
import { Rng } from '../src/util/rng.ts';

const root = mkdtempSync(join(tmpdir(), 'wgcam-careless-'));
const data = join(root, 'data');
const photo = join(data, 'train', 'disc.0.jpg');
const tiny = ['--data', data, '--size', '16', '--arch', 'c4-p-c8', '--batch', '8', '--seed', '3'];
let n = 0;

/** `npm run SCRIPT -- ARGS`, as a user runs it. */
function npm(script: string, args: string[], env: Record<string, string> = {}) {
  const r = spawnSync('npm', ['run', '-s', script, '--', ...args], { encoding: 'utf8', timeout: 300_000, env: { ...process.env, ...env } });
  const errors = r.stderr.split('\n').filter((l) => l.startsWith('wgcam:'));
  return { code: r.status, out: r.stdout, stderr: r.stderr, err: errors.join('\n') };
}

const RAW_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/; // anything but \t and \n

async function modelWith(archOverride: Partial<Arch>, classes?: string[], scaleWeights = 1): Promise<string> {
  const arch: Arch = { blocks: 'c4-p-c4', inputChannels: 3, height: 16, width: 16, classes: 2, ...archOverride };
  const model = new Classifier(new CpuBackend(), arch, new Rng(1));
  const meta: ModelMeta = { arch, classes: classes ?? Array.from({ length: arch.classes }, (_, i) => `class${i}`), input: { height: arch.height, width: arch.width, channels: arch.inputChannels, resize: 'fill', scale: '1/255' } };
  const path = join(root, `model-${n++}.bin`);
  await saveModel(path, model, meta);
  if (scaleWeights === 1) return path;
  const st = readSafetensors(path);
  const tensors = [...st.tensors].map(([name, t]) => ({ name, shape: t.shape, data: t.data.map(() => scaleWeights) }));
  writeFileSync(path, encodeSafetensors(tensors, st.metadata));
  return path;
}

beforeAll(async () => {
  await writeSamplePhotos({ dir: data, shapes: ['disc', 'cross'], perClass: 24, seed: 5, minSize: 20, maxSize: 30 });
}, 120_000);

describe('a run folder belongs to one run', () => {
  it('a second train on a busy --out refuses with the owner; a stale lock is taken over with a message', async () => {
    const out = join(root, 'locked');
    const first = spawn('npm', ['run', '-s', 'train', '--', ...tiny, '--batch', '2', '--epochs', '500', '--out', out], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    first.stdout!.on('data', (d) => (stdout += d));
    const t0 = Date.now();
    while (!stdout.includes('model: ') && Date.now() - t0 < 120_000) await new Promise((r) => setTimeout(r, 50));
    const owner = JSON.parse(readFileSync(join(out, LOCK_NAME), 'utf8'));
    const second = npm('train', [...tiny, '--epochs', '1', '--out', out, '--resume']);
    expect(second.code).toBe(1);
    expect(second.err).toBe(`wgcam: ${out} is in use by wgcam train (PID ${owner.pid}, started ${owner.started}); wait for it to finish, stop it, or pick another --out`);
    const cam = npm('cam', [join(root, 'nope.bin'), photo, '--out', out]);
    expect(cam.code).toBe(1); // the model is checked first: a missing one is its own error
    first.kill('SIGTERM');
    await new Promise((r) => first.on('exit', r));
    // A lock left by a process that no longer runs (kill -9, a crash): taken over.
    const dead = Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout);
    writeFileSync(join(out, LOCK_NAME), JSON.stringify({ pid: dead, startTicks: '1', started: '2026-01-01T00:00:00.000Z', command: 'train', host: hostname() }));
    const resumed = npm('train', [...tiny, '--batch', '2', '--epochs', '1', '--out', out, '--resume']);
    expect(resumed.out).toMatch(new RegExp(`taking over the stale lock of wgcam train \\(PID ${dead}, started 2026-01-01T00:00:00.000Z\\), which no longer runs`));
    expect(existsSync(join(out, LOCK_NAME))).toBe(false);
    // A live PID with another start time is a reused PID, not the owner.
    writeFileSync(join(out, LOCK_NAME), JSON.stringify({ pid: process.pid, startTicks: 'not-this-one', started: 'then', command: 'cam', host: hostname() }));
    const reused = npm('cam', [join(out, 'best.bin'), photo, '--out', out]);
    expect(reused.code).toBe(0);
    expect(reused.err).toMatch(/taking over the stale lock of wgcam cam \(PID \d+, started then\), which no longer runs/);
  });

  it('--out inside --data (or a cam --out inside an input folder) is refused', () => {
    const inside = npm('train', [...tiny, '--epochs', '1', '--out', join(data, 'train', 'run')]);
    expect(inside.code).toBe(1);
    expect(inside.err).toBe(`wgcam: --out ${join(data, 'train', 'run')} is inside --data ${data}: the next run would train on its own outputs; pick an --out outside the data folder`);
    const same = npm('train', [...tiny, '--epochs', '1', '--out', data]);
    expect(same.err).toMatch(/is inside --data/);
    // Through a symbolic link too.
    const link = join(root, 'data-link');
    symlinkSync(data, link);
    expect(npm('train', [...tiny, '--epochs', '1', '--out', join(link, 'x')]).err).toMatch(/is inside --data/);
    const cam = npm('cam', [join(root, 'locked', 'best.bin'), join(data, 'train'), '--out', join(data, 'train', 'cams')]);
    expect(cam.code).toBe(1);
    expect(cam.err).toBe(`wgcam: --out ${join(data, 'train', 'cams')} is inside the input folder ${join(data, 'train')}; pick an --out outside it`);
  });
});

describe('resume does what it says', () => {
  it('takes the settings from the checkpoint, refuses a contradicting flag naming both, and says when there is nothing to do', () => {
    const out = join(root, 'resume');
    const fresh = npm('train', [...tiny, '--epochs', '2', '--out', out, '--lr', '0.003', '--val-split', '0.25', '--no-flip', '--optimizer', 'sgd']);
    expect(fresh.code).toBe(0);
    const ckpt = join(out, 'epoch-002.bin');
    for (const [flag, value, recorded] of [
      ['--batch', '64', '8'],
      ['--size', '24', '16'],
      ['--arch', 'c4-p-c4', 'c4-p-c8'],
      ['--optimizer', 'adam', 'sgd'],
      ['--lr', '0.01', '0.003'],
      ['--seed', '4', '3'],
      ['--val-split', '0.2', '0.25'],
    ]) {
      const r = npm('train', ['--data', data, '--out', out, '--resume', '--epochs', '3', flag, value]);
      expect(r.code, flag).toBe(1);
      expect(r.err).toBe(`wgcam: ${flag} ${value} contradicts the run being resumed (${ckpt} has ${flag} ${recorded}); leave ${flag} out to continue it${flag === '--size' ? '' : ', or start a new run in another --out'}`);
    }
    // Nothing to do: no file changes.
    const snapshot = () => readdirSync(out).sort().map((f) => [f, statSync(join(out, f)).mtimeMs, readFileSync(join(out, f)).length]);
    const before = snapshot();
    const none = npm('train', ['--data', data, '--out', out, '--resume', '--epochs', '1']);
    expect(none.code).toBe(0);
    expect(none.out).toMatch(new RegExp(`nothing to do: ${out} already holds 2 trained epochs \\(--epochs 1\\); pass a larger --epochs to train further`));
    expect(snapshot()).toEqual(before);
    expect(npm('train', ['--data', data, '--out', out, '--resume', '--epochs', '2']).out).toMatch(/nothing to do/);
    // Without any flag but --epochs, the run goes on with its own settings (no 224 cache is built).
    const on = npm('train', ['--data', data, '--out', out, '--resume', '--epochs', '3']);
    expect(on.code).toBe(0);
    expect(on.out).toMatch(/16x16x3 .*cache reused/);
    expect(on.out).toMatch(/resuming from .*epoch-002\.bin: epoch 3, step 1 \(batch 8, sgd lr 0\.003, seed 3, no flips\)/);
    const t = loadModelFile(join(out, 'model.bin')).meta.training!;
    expect([t.epoch, t.batch, t.lr, t.flip, t.valSplit, t.optimizer]).toEqual([3, 8, 0.003, false, 0.25, 'sgd']);
    expect(readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).epoch)).toEqual([1, 2, 3]);
    // The same arch spelt another way is no contradiction.
    expect(npm('train', ['--data', data, '--out', out, '--resume', '--epochs', '3', '--arch', 'C4-P-C8']).out).toMatch(/nothing to do/);
  });
});

describe('resources are bounded', () => {
  it('a model needing more memory than the limit is refused, naming the file, the estimate and the limit', async () => {
    const big = await modelWith({ blocks: 'c64-c64', height: 512, width: 512 });
    const r = npm('cam', [big, photo, '--out', join(root, 'big-cam'), '--max-memory', '64M']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(new RegExp(`^wgcam: ${big}: needs an estimated [\\d.]+ MiB for one image \\([\\d.]+ KiB weights and state \\+ [\\d.]+ MiB per image\\), over the memory limit of 64\\.0 MiB \\(--max-memory\\)$`));
    expect(existsSync(join(root, 'big-cam'))).toBe(false);
    // The environment variable sets the cap too; a bad size is a usage error.
    expect(npm('cam', [big, photo, '--out', join(root, 'big-cam')], { WGCAM_MAX_MEMORY: '64M' }).err).toMatch(/over the memory limit of 64\.0 MiB \(WGCAM_MAX_MEMORY\)/);
    expect(npm('cam', [big, photo, '--max-memory', 'lots']).err).toBe('wgcam: --max-memory lots: not a size (e.g. 8G, 512M)');
    // One buffer beyond the adapter's binding limit (lavapipe: 128 MiB) is refused the same way.
    const wide = await modelWith({ blocks: 'c64', height: 2048, width: 2048 });
    expect(npm('cam', [wide, photo, '--out', join(root, 'wide-cam')]).err).toMatch(/: one image needs a 1022\.0 MiB buffer, over this adapter's maxStorageBufferBindingSize of 128\.0 MiB; use smaller images or a smaller network$/);
    const train = npm('train', [...tiny, '--epochs', '1', '--out', join(root, 'train-mem'), '--max-memory', '20K']);
    expect(train.code).toBe(1);
    expect(train.err).toMatch(/^wgcam: model c4-p-c8 at 16x16: needs an estimated [\d.]+ KiB for one image .* over the memory limit of 20\.0 KiB \(--max-memory\)$/);
    // A cap that holds a few images splits the batch into micro-batches instead.
    const split = npm('train', [...tiny, '--epochs', '1', '--out', join(root, 'train-mem'), '--max-memory', '100K']);
    expect(split.code).toBe(0);
    expect(split.out).toMatch(/batch 8 \(micro-batches of [1-7]\)/);
  });

  it('a deep model runs with two activations alive, and a 1,000-class model splits its batch by its class maps', async () => {
    const deep = await modelWith({ blocks: Array(60).fill('c2').join('-'), height: 140, width: 140 });
    const r = npm('cam', [deep, photo, '--out', join(root, 'deep-cam'), '--max-memory', '4M']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    // 62 x 62 map x 1,000 classes x 4 bytes = 15 MB of class maps per image: 16 at once would
    // exceed the binding limit, so the batch is split instead of refusing every image.
    const many = await modelWith({ blocks: 'c4', height: 64, width: 64, classes: 1000 });
    const photos = readdirSync(join(data, 'train')).filter((f) => f.endsWith('.jpg')).slice(0, 16).map((f) => join(data, 'train', f));
    const m = npm('cam', [many, ...photos, '--out', join(root, 'many-cam'), '--batch', '16']);
    expect(m.err).toBe('');
    expect(m.code).toBe(0);
    expect(m.out.trim().split('\n')).toHaveLength(16);
  });

  it('--devices beyond what one adapter holds is one line', () => {
    const r = npm('train', [...tiny, '--epochs', '1', '--devices', '200', '--out', join(root, 'dev')]);
    expect(r.code).toBe(1);
    expect(r.err).toBe('wgcam: --devices 200: must be a whole number from 1 to 16 (logical devices share one adapter\'s driver resources)');
    const more = npm('train', [...tiny, '--epochs', '1', '--devices', '9', '--out', join(root, 'dev')]);
    expect(more.err).toBe('wgcam: --devices 9: more devices than images in a batch (--batch 8)');
  });
});

describe('every result is checked', () => {
  it('finite weights whose outputs overflow: an error naming the model, nothing written', async () => {
    const huge = await modelWith({}, undefined, 3e38);
    const out = join(root, 'huge-cam');
    const r = npm('cam', [huge, photo, '--out', out, '--json']);
    expect(r.code).toBe(1);
    expect(r.err).toBe(`wgcam: ${huge}: the model's outputs are not finite numbers (its weights overflow float32); its predictions and maps would mean nothing`);
    expect(readdirSync(out)).toEqual([]);
    const predict = npm('predict', [huge, photo]);
    expect(predict.code).toBe(1);
    expect(predict.err).toBe(r.err);
    expect(predict.out).toBe('');
  });
});

describe('untrusted text never reaches the terminal raw', () => {
  it('class names with ESC sequences and newlines are printed escaped, one line per image', async () => {
    const evil = await modelWith({}, ['\u001b]0;pwned\u0007\u001b[2Jcat', 'dog\nfake.jpg  dog 100.0%']);
    const r = npm('cam', [evil, photo, join(root, 'missing-\u001b[31m.jpg'), '--out', join(root, 'evil-cam')]);
    expect(RAW_CONTROL.test(r.out + r.stderr)).toBe(false);
    expect(r.out.trim().split('\n')).toHaveLength(1);
    expect(r.out).toMatch(/\\e\]0;pwned\\u\{7\}\\e\[2Jcat|dog\\nfake\.jpg/);
    expect(r.err).toContain('missing-\\e[31m.jpg: no such file');
    // The gallery escapes them as HTML.
    const html = npm('cam', [evil, photo, '--out', join(root, 'evil-html'), '--report']);
    expect(html.code).toBe(0);
    expect(readFileSync(join(root, 'evil-html', 'index.html'), 'utf8')).not.toMatch(/<script>[^<]*pwned/);
  });

  it('folder and file names in training output, warnings and the bad-file list are escaped', async () => {
    const d = join(root, 'evil-data');
    for (const cls of ['ok', 'x\u001b[2Jy']) {
      mkdirSync(join(d, cls), { recursive: true });
      for (let i = 0; i < 6; i++) writeFileSync(join(d, cls, `${i}.png`), await sharp({ create: { width: 12, height: 12, channels: 3, background: { r: i * 40, g: 0, b: 0 } } }).png().toBuffer());
    }
    writeFileSync(join(d, 'ok', 'bad\nname\u001b[31m.jpg'), 'not an image');
    const r = npm('train', ['--data', d, '--size', '8', '--arch', 'c4', '--epochs', '1', '--batch', '4', '--out', join(root, 'evil-run')]);
    expect(r.code).toBe(0);
    expect(RAW_CONTROL.test(r.out + r.stderr)).toBe(false);
    expect(r.out).toContain('x\\e[2Jy 6');
    const report = readFileSync(join(d, '.wgcam-cache', 'bad-files-8.txt'), 'utf8');
    expect(report.trim().split('\n')).toHaveLength(1);
    expect(report).toContain('bad\\nname\\e[31m.jpg\tnot an image');
  });
});

describe('photo folders with links, pipes and one-class labels', () => {
  it('dangling and looping links and a FIFO among the photos are skipped and listed; training goes on', () => {
    const d = join(root, 'linky');
    mkdirSync(join(d, 'train'), { recursive: true });
    for (const f of readdirSync(join(data, 'train')).filter((f) => f.endsWith('.jpg'))) writeFileSync(join(d, 'train', f), readFileSync(join(data, 'train', f)));
    symlinkSync(join(d, 'gone.jpg'), join(d, 'train', 'cat.dangling.jpg'));
    symlinkSync(join(d, 'train', 'disc.loop.jpg'), join(d, 'train', 'disc.loop.jpg'));
    execFileSync('mkfifo', [join(d, 'train', 'cross.pipe.jpg')]);
    symlinkSync(join(d, 'train', 'disc.1.jpg'), join(d, 'train', 'disc.link.jpg')); // a good link is a photo
    const r = npm('train', ['--data', d, '--size', '16', '--arch', 'c4-p-c8', '--epochs', '1', '--out', join(root, 'linky-run')]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/skipped 3 unreadable files \(listed in .*bad-files-16\.txt\)/);
    const report = readFileSync(join(d, 'train', '.wgcam-cache', 'bad-files-16.txt'), 'utf8');
    expect(report).toMatch(/cat\.dangling\.jpg\ta symbolic link to a missing file/);
    expect(report).toMatch(/disc\.loop\.jpg\ta symbolic link loop/);
    expect(report).toMatch(/cross\.pipe\.jpg\ta named pipe \(FIFO\), not a file/);
    // cam and its inputs: a FIFO named as a photo or as the box file is refused at once.
    const model = join(root, 'linky-run', 'model.bin');
    const cam = npm('cam', [model, join(d, 'train', 'cross.pipe.jpg'), photo, '--out', join(root, 'linky-cam')]);
    expect(cam.code).toBe(1);
    expect(cam.err).toBe(`wgcam: ${join(d, 'train', 'cross.pipe.jpg')}: a named pipe (FIFO), not a file`);
    const boxes = npm('cam', [model, photo, '--out', join(root, 'linky-cam2'), '--eval-boxes', join(d, 'train', 'cross.pipe.jpg')]);
    expect(boxes.err).toBe(`wgcam: ${join(d, 'train', 'cross.pipe.jpg')}: a named pipe (FIFO), not a file`);
    writeFileSync(join(root, 'deep.json'), '['.repeat(100_000) + ']'.repeat(100_000));
    expect(npm('cam', [model, photo, '--out', join(root, 'linky-cam3'), '--eval-boxes', join(root, 'deep.json')]).err).toBe(
      `wgcam: ${join(root, 'deep.json')}: boxes must be a JSON object {"image.jpg": [x0, y0, x1, y1], ...}`,
    );
    expect(npm('cam', [join(d, 'train'), photo]).err).toBe(`wgcam: ${join(d, 'train')}: a folder, not a file`);
  });

  it('IDX labels of a single class are refused like photo folders of one class', () => {
    const d = join(root, 'idx-one');
    mkdirSync(d);
    const count = 20;
    const head = (dims: number[]) => {
      const h = Buffer.alloc(4 + 4 * dims.length);
      h[2] = 8;
      h[3] = dims.length;
      dims.forEach((v, i) => h.writeUInt32BE(v, 4 + 4 * i));
      return h;
    };
    writeFileSync(join(d, 'train-images-idx3-ubyte.gz'), gzipSync(Buffer.concat([head([count, 8, 8]), Buffer.alloc(count * 64, 7)])));
    writeFileSync(join(d, 'train-labels-idx1-ubyte.gz'), gzipSync(Buffer.concat([head([count]), Buffer.alloc(count, 3)])));
    const r = npm('train', ['--data', d, '--epochs', '1', '--arch', 'c4', '--out', join(root, 'idx-run')]);
    expect(r.code).toBe(1);
    expect(r.err).toBe(`wgcam: ${join(d, 'train-labels-idx1-ubyte.gz')}: labels of only 1 class (3); need at least 2`);
    // A gzip bomb's header cannot make it allocate past the cap, and a rank-0 header is one line.
    writeFileSync(join(d, 'train-images-idx3-ubyte.gz'), gzipSync(Buffer.from([0, 0, 8, 0])));
    expect(npm('train', ['--data', d, '--epochs', '1', '--out', join(root, 'idx-run')]).err).toBe(`wgcam: ${join(d, 'train-images-idx3-ubyte.gz')}: truncated IDX header (rank 0)`);
  });
});
