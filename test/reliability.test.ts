// What careful attackers and careless users found (docs/reliability.md), class by class, through
// the commands users run: outputs replace only regular files; a name that does not fit never
// stops a run; data-sized arrays never overflow the stack and option values are never looked up
// in an object's prototype; results people read are what they seem (CSV cells, box scores); the
// same training command gives the same model; the explanation methods match their reference.
import { execFileSync, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { mapError } from '../src/cam/explain.ts';
import { safeStem, MAX_STEM } from '../src/cam/outputs.ts';
import { prepareDataset } from '../src/data/dataset.ts';
import { writeSamplePhotos } from '../src/data/sample-photos.ts';
import { stratifiedSplit } from '../src/data/split.ts';
import { evaluate } from '../src/eval/metrics.ts';
import { saveModel, type ModelMeta } from '../src/io/model-file.ts';
import { EPS_PLUSPLUS, gradCam, gradCamReference } from '../src/kernels/gradcam.ts';
import { Classifier, type Arch } from '../src/nn/model.ts';
import { CpuBackend } from '../src/tensor/cpu-backend.ts';
import type { GpuBackend } from '../src/tensor/gpu-backend.ts';
import { indexOfMax, maxOf } from '../src/util/arrays.ts';
import { Rng } from '../src/util/rng.ts';
import { useGpu } from './gpu-fixture.ts';

const root = mkdtempSync(join(tmpdir(), 'wgcam-reliability-'));
const data = join(root, 'data');
const photo = join(data, 'train', 'disc.0.jpg');
const tiny = ['--data', data, '--size', '16', '--arch', 'c4-p-c8', '--batch', '8', '--seed', '3'];
let gpuBackend: GpuBackend;
useGpu((_, b) => (gpuBackend = b));

/** `npm run SCRIPT -- ARGS`, as a user runs it; `err` holds wgcam's own lines of stderr. */
function npm(script: string, args: string[], env: Record<string, string> = {}) {
  const r = spawnSync('npm', ['run', '-s', script, '--', ...args], { encoding: 'utf8', timeout: 300_000, env: { ...process.env, ...env } });
  return { code: r.status, out: r.stdout, err: r.stderr.split('\n').filter((l) => l.startsWith('wgcam:')).join('\n') };
}

let modelPath = '';
async function modelWith(classes: string[], path = join(root, `model-${classes.length}.bin`)): Promise<string> {
  const arch: Arch = { blocks: 'c4-p-c4', inputChannels: 3, height: 16, width: 16, classes: classes.length };
  const meta: ModelMeta = { arch, classes, input: { height: 16, width: 16, channels: 3, resize: 'fill', scale: '1/255' } };
  await saveModel(path, new Classifier(new CpuBackend(), arch, new Rng(1)), meta);
  return path;
}

const fifo = (path: string) => {
  execFileSync('mkfifo', [path]);
  return path;
};
const isFifo = (path: string) => lstatSync(path).isFIFO();

beforeAll(async () => {
  await writeSamplePhotos({ dir: data, shapes: ['disc', 'cross'], perClass: 24, seed: 5, minSize: 20, maxSize: 30 });
  modelPath = await modelWith(['disc', 'cross']);
}, 120_000);

describe('1. outputs replace only regular files', () => {
  const refusal = /exists and is (a named pipe \(FIFO\)|a folder|a socket|a device), not a regular file: wgcam replaces only regular files/;

  it('export: a FIFO, a folder or a socket as the target is refused before any work; a link to a file is written through as before', async () => {
    const dir = mkdtempSync(join(root, 'export-'));
    const pipe = fifo(join(dir, 'pipe.onnx'));
    const r = npm('export', [modelPath, pipe, '--overwrite']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(refusal);
    expect(r.err.split('\n')).toHaveLength(1);
    expect(isFifo(pipe)).toBe(true);
    mkdirSync(join(dir, 'folder.onnx'));
    expect(npm('export', [modelPath, join(dir, 'folder.onnx'), '--overwrite']).err).toMatch(/folder\.onnx exists and is a folder, not a regular file/);
    const socketPath = join(dir, 'socket.onnx');
    const server = createServer().listen(socketPath);
    await new Promise((resolve) => server.once('listening', resolve));
    try {
      expect(npm('export', [modelPath, socketPath, '--overwrite']).err).toMatch(/socket\.onnx exists and is a socket, not a regular file/);
      expect(lstatSync(socketPath).isSocket()).toBe(true);
    } finally {
      server.close();
    }
    // A device node (as root, which CI is): never replaced either.
    if (process.getuid?.() === 0) {
      const device = join(dir, 'full.onnx');
      execFileSync('mknod', [device, 'c', '1', '7']);
      expect(npm('export', [modelPath, device, '--overwrite']).err).toMatch(/full\.onnx exists and is a device, not a regular file/);
      expect(lstatSync(device).isCharacterDevice()).toBe(true);
    }
    writeFileSync(join(dir, 'real.onnx'), 'old');
    symlinkSync('real.onnx', join(dir, 'link.onnx'));
    expect(npm('export', [modelPath, join(dir, 'link.onnx'), '--overwrite']).code).toBe(0);
  });

  it('web --out, eval --out, cam --out and train --out: a pipe among the outputs is refused in one line, and stays a pipe', () => {
    const web = mkdtempSync(join(root, 'web-'));
    const page = fifo(join(web, 'index.html'));
    const w = npm('web', [modelPath, '--out', web, '--overwrite']);
    expect([w.code, w.err]).toEqual([1, `wgcam: ${page} exists and is a named pipe (FIFO), not a regular file: wgcam replaces only regular files; remove it or write elsewhere`]);
    expect(isFifo(page)).toBe(true);

    const evalOut = mkdtempSync(join(root, 'eval-'));
    fifo(join(evalOut, 'confusion.svg'));
    const e = npm('eval', [modelPath, data, '--out', evalOut, '--overwrite']);
    expect(e.code).toBe(1);
    expect(e.err).toMatch(refusal);
    expect(isFifo(join(evalOut, 'confusion.svg'))).toBe(true);

    const camOut = mkdtempSync(join(root, 'cam-'));
    fifo(join(camOut, 'disc.0.overlay.png'));
    const c = npm('cam', [modelPath, photo, '--out', camOut, '--overwrite']);
    expect(c.code).toBe(1);
    expect(c.err).toMatch(refusal);
    expect(existsSync(join(camOut, 'disc.0.cam.png'))).toBe(false); // refused before any work

    const trainOut = mkdtempSync(join(root, 'train-'));
    fifo(join(trainOut, 'metrics.jsonl'));
    const t = npm('train', [...tiny, '--epochs', '1', '--out', trainOut, '--overwrite', '--conv-kernels', 'direct']);
    expect(t.code).toBe(1);
    expect(t.err).toMatch(refusal);
    expect(isFifo(join(trainOut, 'metrics.jsonl'))).toBe(true);
    expect(existsSync(join(trainOut, 'epoch-001.bin'))).toBe(false);
  });
});

describe('2. a name that does not fit never stops a run', () => {
  it('safeStem keeps every output name under 255 bytes, and two long names that share a beginning apart', () => {
    const long = 'a'.repeat(250);
    const [x, y] = [safeStem(`${long}x.jpg`), safeStem(`${long}y.jpg`)];
    expect(x.length).toBeLessThanOrEqual(MAX_STEM);
    expect(x).not.toBe(y);
    expect(Buffer.byteLength(`${x}-999.overlay.png`)).toBeLessThan(255);
    expect(safeStem('cat.0.jpg')).toBe('cat.0');
  });

  it('cam explains a photo whose name is near the 255-byte limit; NAME.json keeps the whole name', () => {
    const dir = mkdtempSync(join(root, 'long-'));
    const name = `disc.${'x'.repeat(245)}.jpg`;
    expect(Buffer.byteLength(name)).toBe(254);
    copyFileSync(photo, join(dir, name));
    const out = join(root, 'long-out');
    const r = npm('cam', [modelPath, join(dir, name), '--out', out, '--json']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const json = readdirSync(out).find((f) => f.endsWith('.json'))!;
    expect(json.length).toBeLessThan(255);
    expect(JSON.parse(readFileSync(join(out, json), 'utf8')).image).toBe(join(dir, name));
  });

  it('train --watch: a side output that cannot be written is one warning and training goes on to model.bin', () => {
    const out = mkdtempSync(join(root, 'watch-'));
    writeFileSync(join(out, 'cam-epoch-001'), 'in the way of the watch folder');
    const r = npm('train', [...tiny, '--epochs', '2', '--out', out, '--watch', '2', '--conv-kernels', 'direct']);
    expect(r.code).toBe(0);
    expect(existsSync(join(out, 'model.bin'))).toBe(true);
    expect(r.out.match(/warning: could not write the --watch overlays/g)).toHaveLength(1);
  });

  it('names that are not valid UTF-8 are listed as bad files with that reason, in training and in cam', async () => {
    const set = mkdtempSync(join(root, 'utf8-'));
    mkdirSync(join(set, 'train'));
    for (const f of readdirSync(join(data, 'train')).filter((f) => f.endsWith('.jpg'))) copyFileSync(join(data, 'train', f), join(set, 'train', f));
    const bad = Buffer.concat([Buffer.from(join(set, 'train', 'disc.caf')), Buffer.from([0xe9, 0xff]), Buffer.from('.jpg')]);
    writeFileSync(bad, readFileSync(photo));
    const badFolder = Buffer.concat([Buffer.from(join(set, 'photos-')), Buffer.from([0xff])]);
    mkdirSync(badFolder);
    const prepared = await prepareDataset(set, { size: 16 });
    prepared.close();
    const listed = prepared.bad.find((b) => b.path.startsWith(join(set, 'train', 'disc.caf')));
    expect(listed?.reason).toBe('the name is not valid UTF-8 (rename it)');
    const c = npm('cam', [modelPath, join(set, 'train'), '--out', join(root, 'utf8-out')]);
    expect(c.code).toBe(1); // one photo could not be explained; the others were
    expect(c.err).toMatch(/disc\.caf.*\.jpg: the name is not valid UTF-8 \(rename it\)/);
    expect(readdirSync(join(root, 'utf8-out')).filter((f) => f.endsWith('.overlay.png'))).toHaveLength(48);
    const folders = npm('cam', [modelPath, set, '--out', join(root, 'utf8-out-2')]);
    expect(folders.err).toMatch(/photos-.*: a folder that cannot be read: the name is not valid UTF-8 \(rename it\)/);
  });
});

describe('3. large inputs and lookups', () => {
  it('a million items: the split, the reductions and an IDX set of a million images', async () => {
    const labels = Int32Array.from({ length: 1_000_000 }, (_, i) => i % 2);
    const { train, val } = stratifiedSplit(labels, 0.2, 1);
    expect([train.length, val.length]).toEqual([800_000, 200_000]);
    const values = Float32Array.from({ length: 1_000_000 }, (_, i) => (i === 765_432 ? 2 : Math.sin(i)));
    expect([maxOf(values), indexOfMax(values)]).toEqual([2, 765_432]);
    expect(evaluate(['a', 'b'], Array.from(labels), Array.from(labels)).accuracy).toBe(1);
    // IDX: 1,000,000 images of 2x2, two classes.
    const dir = mkdtempSync(join(root, 'idx-'));
    const n = 1_000_000;
    const images = Buffer.alloc(16 + 4 * n);
    images.writeUInt32BE(0x803, 0);
    images.writeUInt32BE(n, 4);
    images.writeUInt32BE(2, 8);
    images.writeUInt32BE(2, 12);
    const labelFile = Buffer.alloc(8 + n);
    labelFile.writeUInt32BE(0x801, 0);
    labelFile.writeUInt32BE(n, 4);
    for (let i = 0; i < n; i++) labelFile[8 + i] = i % 2;
    writeFileSync(join(dir, 'train-images-idx3-ubyte.gz'), gzipSync(images));
    writeFileSync(join(dir, 'train-labels-idx1-ubyte'), labelFile);
    const set = await prepareDataset(dir, {});
    expect(set.count).toBe(n);
    expect(stratifiedSplit(set.labels, 0.2, 7).val.length).toBe(200_000);
  }, 60_000);

  it('option values and command names that are names of every object (constructor, toString, __proto__) are refused', async () => {
    for (const mode of ['constructor', 'toString', '__proto__']) {
      const r = npm('cam', [modelPath, photo, '--mode', mode, '--out', join(root, 'proto')]);
      expect([r.code, r.err]).toEqual([2, `wgcam: --mode ${mode}: use contrast, class or raw`]);
    }
    expect(npm('cam', [modelPath, photo, '--method', 'constructor']).err).toMatch(/^wgcam: --method constructor: use cam, gradcam/);
    const cmd = spawnSync(process.execPath, ['bin/wgcam.mjs', 'constructor'], { encoding: 'utf8' });
    expect(cmd.status).toBe(2);
    expect(cmd.stderr).toMatch(/^wgcam: unknown command 'constructor'/);
    const { explain } = await import('../src/index.ts');
    await expect(explain(modelPath, [photo], { method: 'constructor' as never })).rejects.toThrow(/method constructor: use cam/);
  });
});

describe('4. results people read are what they seem', () => {
  it('predict --csv: text cells a spreadsheet would run as a formula start with a quote', async () => {
    const path = await modelWith(['=HYPERLINK("http://x")', '+cross', '-a', '@b', '\tc', 'plain'], join(root, 'formula.bin'));
    const r = npm('predict', [path, photo, '--csv']);
    expect(r.code).toBe(0);
    const [header, row] = r.out.trim().split('\n');
    expect(header).toBe(`image,predicted,probability,"'=HYPERLINK(""http://x"")",'+cross,'-a,'@b,'\tc,plain`);
    const cells = row.split(',');
    expect(cells[0]).toBe(photo);
    expect(cells[1]).toMatch(/^("'=HYPERLINK|'[+\-@\t]|plain)/);
    expect(Number(cells[2])).toBeGreaterThan(0);
  });

  it('cam --eval-boxes: a file naming none of the photos is one line and exit 1; a partial match says how many are scored', () => {
    const boxes = join(root, 'boxes-other.json');
    writeFileSync(boxes, JSON.stringify({ 'other.jpg': [0, 0, 5, 5] }));
    const none = npm('cam', [modelPath, photo, '--eval-boxes', boxes, '--out', join(root, 'boxes-none')]);
    expect(none.code).toBe(1);
    expect(none.err).toBe(`wgcam: ${boxes}: none of the 1 photos of this run has a box there (it names 1 photos, such as 'other.jpg'; this run's are such as 'disc.0.jpg'); boxes are matched by file name`);
    expect(existsSync(join(root, 'boxes-none'))).toBe(false);
    const some = join(root, 'boxes-some.json');
    writeFileSync(some, JSON.stringify({ 'disc.0.jpg': [2, 2, 20, 20] }));
    const partial = npm('cam', [modelPath, photo, join(data, 'train', 'disc.1.jpg'), '--eval-boxes', some, '--out', join(root, 'boxes-some')]);
    expect(partial.code).toBe(0);
    expect(partial.err).toBe(`wgcam: ${some}: 1 of the 2 photos have a box; only those are scored`);
    expect(partial.out).toMatch(/pointing game \d+\.\d% .* over 1 images with known boxes/);
  });
});

describe('5. the same command gives the same model', () => {
  it('two fresh runs of one train command (measured conv kernels) write identical model.bin files; remeasure times again', () => {
    const cache = mkdtempSync(join(root, 'choice-cache-'));
    const env = { WGCAM_CACHE_DIR: cache };
    const run = (out: string, extra: string[] = []) => npm('train', [...tiny, '--epochs', '2', '--out', out, ...extra], env);
    const [a, b] = [run(join(root, 'same-a')), run(join(root, 'same-b'))];
    expect([a.code, b.code]).toEqual([0, 0]);
    expect(a.out).toMatch(/conv kernels \(measured at batch 8, kept in .*conv-choices\.json\)/);
    expect(b.out).toMatch(/conv kernels \(as measured before on this adapter, kept in .*conv-choices\.json; --conv-kernels remeasure times them again\)/);
    expect(readFileSync(join(root, 'same-b', 'model.bin')).equals(readFileSync(join(root, 'same-a', 'model.bin')))).toBe(true);
    // A damaged file is not trusted: the kernels are timed again.
    writeFileSync(join(cache, 'conv-choices.json'), '{"entries": [{"adapter": 1}, "rm -rf"]');
    expect(run(join(root, 'same-c')).out).toMatch(/conv kernels \(measured at batch 8/);
    expect(run(join(root, 'same-d'), ['--conv-kernels', 'remeasure']).out).toMatch(/conv kernels \(measured at batch 8/);
    rmSync(cache, { recursive: true });
  });
});

describe('6. the explanation methods as the reference library defines them', () => {
  const run = async (A: number[], G: number[], p: { N: number; K: number; HW: number; method: 'gradcam++' | 'xgradcam' }) => {
    const r = gpuBackend.run(gradCam, { A: gpuBackend.upload(Float32Array.from(A)), G: gpuBackend.upload(Float32Array.from(G)) }, p);
    return gpuBackend.download(r.weights, p.N * p.K);
  };

  it("Grad-CAM++'s epsilon is pytorch-grad-cam's 1e-6, on the GPU and in the reference", async () => {
    expect(EPS_PLUSPLUS).toBe(1e-6);
    // One pixel, S = 0, g = 1e-3: alpha = g^2 / (2 g^2 + eps), the weight g * alpha.
    const g = 1e-3;
    const want = (g * g * g) / (2 * g * g + 1e-6);
    const p = { N: 1, K: 1, HW: 1, method: 'gradcam++' as const };
    expect(Math.abs(gradCamReference({ A: Float64Array.of(0), G: Float64Array.of(g) }, p).weights[0] - want) / want).toBeLessThan(1e-6);
    expect(Math.abs((await run([0], [g], p))[0] - want) / want).toBeLessThan(1e-5);
  });

  it('Grad-CAM++ forms its term only where g > 0: a gradient whose powers overflow gives a finite weight, not NaN', async () => {
    const p = { N: 1, K: 2, HW: 2, method: 'gradcam++' as const };
    const weights = await run([1, 1, 1, 2], [-1e20, 0.5, 0.25, -3e19], p);
    expect(Array.from(weights).every(Number.isFinite)).toBe(true);
    const ref = gradCamReference({ A: Float64Array.of(1, 1, 1, 2), G: Float64Array.of(-1e20, 0.5, 0.25, -3e19) }, p).weights;
    for (let k = 0; k < 2; k++) expect(Math.abs(weights[k] - ref[k])).toBeLessThan(1e-6);
  });

  it('a map that is not finite is an error for that photo, naming the method', () => {
    expect(mapError(Float32Array.of(0, 1, NaN), 'gradcam++')).toBe('the gradcam++ map of this photo is not finite (NaN or infinity); no map was drawn for it');
    expect(mapError(Float32Array.of(0, Infinity), 'hirescam')).toMatch(/hirescam map/);
    expect(mapError(Float32Array.of(0, 1), 'gradcam')).toBeUndefined();
  });
});
