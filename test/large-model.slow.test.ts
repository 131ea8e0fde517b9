// A VGG-16-sized ONNX file (torchvision's layers, random weights: 138 million parameters, 553 MB)
// through `wgcam predict` as a user runs it: under a --max-memory too small to read it, one line
// with the figures and nothing read; under one that fits, the answer ONNX Runtime gives for
// the same prepared photo, with the process's peak memory (maximum resident set, which on
// lavapipe holds the GPU's buffers too) under the limit.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { vgg16 } from '../bench/imported-models.ts';
import { importedInput, loadImportedModel } from '../src/graph/imported-files.ts';
import { Rng } from '../src/util/rng.ts';

const root = mkdtempSync(join(tmpdir(), 'wgcam-large-model-'));
const model = join(root, 'vgg16.onnx');
const photo = join(root, 'photo.png');
const wgcamBin = resolve('bin/wgcam.mjs');
const GIB = 2 ** 30;

/**
 * `wgcam ARGS` under /usr/bin/time: exit status, output, wgcam's own lines on stderr (Dawn's
 * notices reach a socket-like pipe: src/gpu/dawn-notices.ts), and the peak resident memory in bytes.
 */
function measured(args: string[]) {
  const r = spawnSync('/usr/bin/time', ['-f', 'peak-kb %M', process.execPath, wgcamBin, ...args], { encoding: 'utf8', timeout: 600_000 });
  const peak = /peak-kb (\d+)/.exec(r.stderr);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.split('\n').filter((l) => l.startsWith('wgcam:')).join('\n'), peak: peak ? 1024 * Number(peak[1]) : NaN };
}

beforeAll(async () => {
  writeFileSync(model, vgg16());
  const rng = new Rng(4);
  await sharp(Uint8Array.from({ length: 300 * 260 * 3 }, () => rng.int(256)), { raw: { width: 300, height: 260, channels: 3 } }).toFile(photo);
}, 300_000);

afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('a VGG-16-sized ONNX file', () => {
  it('is refused with the figures under a --max-memory it does not fit, and read by nothing', () => {
    expect(statSync(model).size).toBeGreaterThan(550e6);
    const r = measured(['predict', model, photo, '--max-memory', '1G']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^wgcam: .*vgg16\.onnx: reading a 52\d(\.\d)? MiB model needs about 1\.\d+ GiB, over the memory limit of 1\.00 GiB \(--max-memory\); raise it with --max-memory$/);
    // Refused before the bytes are read: the process stays far below the file's size.
    expect(r.peak).toBeLessThan(400e6);
  }, 120_000);

  it("runs within --max-memory 3G and gives ONNX Runtime's probabilities", async () => {
    const r = measured(['predict', model, photo, '--preprocess', 'imagenet', '--max-memory', '3G', '--json']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.peak).toBeLessThan(3 * GIB);
    const [row] = JSON.parse(r.stdout) as { predictions: { class: string; probability: number }[] }[];
    const ours = new Map(row.predictions.map((p) => [p.class, p.probability]));

    const input = await importedInput(photo, loadImportedModel(model, { preset: 'imagenet', limit: { bytes: 4 * GIB, source: 'test' } }));
    const session = await ort.InferenceSession.create(model);
    const logits = (await session.run({ input: new ort.Tensor('float32', input, [1, 3, 224, 224]) }))[session.outputNames[0]].data as Float32Array;
    await session.release();
    const top = Math.max(...logits);
    const sum = logits.reduce((s, v) => s + Math.exp(v - top), 0);
    const worst = Math.max(...Array.from(logits, (v, j) => Math.abs(Math.exp(v - top) / sum - ours.get(`class${j}`)!)));
    expect(worst).toBeLessThanOrEqual(1e-4);
  }, 300_000);
});
