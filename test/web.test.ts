// `wgcam web`: the page in Debian's headless Chromium (playwright-core, no browser download),
// on both of its engines: WebGPU (Chromium's software adapter, SwiftShader, with
// --enable-unsafe-webgpu) and the CPU references (no adapter without that flag). For photos
// the page resizes as the CLI does (reductions below 4x: PNG and JPEG, larger than the model)
// and photos at the model's size, the page must give the CLI's results: probabilities within
// 1e-4 of `wgcam predict`, the u8 map within one step (1/255) of `wgcam cam`'s cam.png. It must
// take other models dropped on it, word bad files, and send nothing anywhere.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Arch } from '../src/nn/model.ts';
import { Rng } from '../src/util/rng.ts';
import { grayOf } from '../src/web/gray.ts';
import { resizeFill } from '../src/web/resize.ts';
import { drop, launch, open, type PageResult } from './page-helpers.ts';
import { randomModel } from './random-model.ts';

const root = mkdtempSync(join(tmpdir(), 'wgcam-web-'));
const wgcamBin = resolve('bin/wgcam.mjs');
const wgcam = (args: string[]) => spawnSync(process.execPath, [wgcamBin, ...args], { encoding: 'utf8', timeout: 120_000 });

interface Shot {
  path: string;
  /** What the CLI says for the photo. */
  probabilities: number[];
  cam: Uint8Array;
}
interface Case {
  arch: Arch;
  model: string;
  photos: Shot[];
}

const ARCHS: Arch[] = [
  { blocks: 'c4-p-c8', inputChannels: 3, height: 16, width: 16, classes: 2 },
  { blocks: 'c5-c7-p-c6', inputChannels: 1, height: 21, width: 19, classes: 10 },
  { blocks: 'c8-p-c8-p-c16', inputChannels: 3, height: 37, width: 45, classes: 3 },
];
const cases: Case[] = [];

/**
 * A photo of random pixels, `scale` times the model's size, PNG or JPEG (by the name); gray
 * for a gray model (the page's luminance of colours can be a level off libvips': tested below).
 */
async function photoFor(arch: Arch, path: string, seed: number, scale: number): Promise<void> {
  const rng = new Rng(seed);
  const [width, height] = [Math.round(arch.width * scale), Math.round(arch.height * scale)];
  const rgb = new Uint8Array(width * height * 3);
  for (let p = 0; p < width * height; p++) {
    const v = Math.floor(rng.next() * 256);
    rgb.set(arch.inputChannels === 1 ? [v, v, v] : [v, Math.floor(rng.next() * 256), Math.floor(rng.next() * 256)], p * 3);
  }
  await sharp(rgb, { raw: { width, height, channels: 3 } }).toFile(path);
}

async function cliResults(model: string, photo: string, arch: Arch): Promise<Shot> {
  const p = wgcam(['predict', model, photo, '--json']);
  expect(p.status, p.stderr).toBe(0);
  const [row] = JSON.parse(p.stdout) as { predictions: { class: string; probability: number }[] }[];
  const probabilities = Array.from({ length: arch.classes }, (_, j) => row.predictions.find((q) => q.class === `class ${j}`)!.probability);
  const out = join(root, `cam-${basename(photo)}`);
  const c = wgcam(['cam', model, photo, '--out', out]);
  expect(c.status, c.stderr).toBe(0);
  const cam = await sharp(join(out, `${basename(photo).replace(/\.[a-z]+$/, '')}.cam.png`)).extractChannel(0).raw().toBuffer();
  return { path: photo, probabilities, cam: new Uint8Array(cam) };
}

/** `wgcam web MODEL --port 0` and the URL it prints. */
async function serve(model: string): Promise<{ server: ChildProcess; url: string; exited: Promise<number | null> }> {
  const server = spawn(process.execPath, [wgcamBin, 'web', model, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((r) => server.on('exit', (code) => r(code)));
  let said = '';
  const url = await new Promise<string>((ok, fail) => {
    server.stdout!.on('data', (d) => {
      said += d;
      const m = /http:\/\/127\.0\.0\.1:\d+\//.exec(said);
      if (m) ok(m[0]);
    });
    server.stderr!.on('data', (d) => (said += d));
    void exited.then((code) => fail(new Error(`wgcam web exited (${code}): ${said}`)));
  });
  return { server, url, exited };
}

let site: Awaited<ReturnType<typeof serve>>;

beforeAll(async () => {
  // Per model: a PNG at its size, a larger PNG and a larger JPEG (reduced by 1.3x to 3.1x).
  const shots: [string, number][][] = [
    [['png', 1], ['png', 3.1], ['jpg', 2.4]],
    [['png', 1], ['png', 1.3], ['jpg', 2]],
    [['png', 1], ['jpg', 2.7], ['png', 1.8]],
  ];
  for (const [i, arch] of ARCHS.entries()) {
    const model = await randomModel(root, arch, 70 + i);
    const photos: Shot[] = [];
    for (const [j, [ext, scale]] of shots[i].entries()) {
      const path = join(root, `photo-${i}-${j}.${ext}`);
      await photoFor(arch, path, 80 + 10 * i + j, scale);
      photos.push(await cliResults(model, path, arch));
    }
    cases.push({ arch, model, photos });
  }
  site = await serve(cases[0].model);
}, 300_000);

afterAll(async () => {
  site?.server.kill('SIGTERM');
});

function expectSameAsCli(got: PageResult, want: Shot): void {
  expect(got.error).toBeUndefined();
  const worstProbability = Math.max(...want.probabilities.map((p, j) => Math.abs(p - got.probabilities![j])));
  expect(worstProbability).toBeLessThanOrEqual(1e-4);
  expect(got.cam).toHaveLength(want.cam.length);
  expect(Math.max(...got.cam!.map((v, i) => Math.abs(v - want.cam[i])))).toBeLessThanOrEqual(1);
}

for (const engine of ['webgpu', 'cpu'] as const) {
  describe(`the page on ${engine === 'webgpu' ? 'WebGPU (SwiftShader)' : 'the CPU fallback'}`, () => {
    let browser: Browser;
    beforeAll(async () => {
      browser = await launch(engine);
    }, 60_000);
    afterAll(() => browser?.close());

    it("gives the CLI's probabilities and map for each model (the others dropped on it), and connects nowhere", async () => {
      const { page, elsewhere } = await open(browser, site.url);
      const engineShown = await page.evaluate('window.wgcam.engine');
      expect(engineShown).toMatch(engine === 'webgpu' ? /^WebGPU/ : /^the CPU/);
      let shown = 0;
      for (const [i, c] of cases.entries()) {
        const paths = c.photos.map((p) => p.path);
        const results = await drop(page, i === 0 ? paths : [c.model, ...paths]);
        expect(await page.evaluate('window.wgcam.modelName')).toBe(basename(c.model));
        expect(results).toHaveLength(shown + c.photos.length);
        c.photos.forEach((p, j) => expectSameAsCli(results[shown + j], p));
        shown += c.photos.length;
      }
      expect(await page.locator('figure canvas').count()).toBe(shown);
      expect(elsewhere).toEqual([]);
      await page.close();
    }, 120_000);
  });
}

describe('the page with bad files, its policy, and its server', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await launch('cpu');
  }, 60_000);
  afterAll(() => browser?.close());

  it('a broken model and broken photos are worded on the page, which keeps working', async () => {
    const { page } = await open(browser, site.url);
    const brokenModel = join(root, 'broken.bin');
    writeFileSync(brokenModel, '{"a": "not a model"}');
    await drop(page, [brokenModel]);
    expect(await page.locator('#error').textContent()).toMatch(/^broken\.bin: .*\(still using .*\.bin\)$/);
    const notPhoto = join(root, 'notes.jpg');
    writeFileSync(notPhoto, 'just text');
    const empty = join(root, 'empty.png');
    writeFileSync(empty, '');
    const results = await drop(page, [notPhoto, empty, cases[0].photos[0].path]);
    expect(results.map((r) => r.error)).toEqual(['notes.jpg: not an image this browser can decode', 'empty.png: empty file (0 bytes)', undefined]);
    expectSameAsCli(results[2], cases[0].photos[0]);
    expect(await page.locator('figure.failed').count()).toBe(2);
    await page.close();
  }, 60_000);

  it('its Content Security Policy refuses every connection, its own origin included', async () => {
    const { page } = await open(browser, site.url);
    const outcome = await page.evaluate(`fetch(${JSON.stringify(site.url + 'upload')}, { method: 'POST', body: 'photo' }).then(() => 'sent', (e) => 'refused: ' + e.message)`);
    expect(outcome).toMatch(/^refused/);
    await page.close();
  }, 60_000);

  it('--out writes one file that works from disk; a model named like markup is shown as text', async () => {
    const dir = join(root, 'page');
    const oddName = join(root, `"<i>odd & 'name'.bin`);
    copyFileSync(cases[1].model, oddName);
    const r = wgcam(['web', oddName, '--out', dir]);
    expect(r.status, r.stderr).toBe(0);
    expect(wgcam(['web', cases[1].model, '--out', dir]).stderr).toMatch(/index\.html already exists; pass --overwrite/);
    const { page, elsewhere } = await open(browser, pathToFileURL(join(dir, 'index.html')).href);
    expect(await page.evaluate('window.wgcam.modelName')).toBe(basename(oddName));
    expect(await page.locator('i').count()).toBe(0);
    const [result] = await drop(page, [cases[1].photos[2].path]);
    expectSameAsCli(result, cases[1].photos[2]);
    expect(elsewhere).toEqual([]);
    await page.close();
  }, 60_000);

  it('serves one page; a taken port, a bad model and bad options are one line; Ctrl-C stops it', async () => {
    const other = await fetch(site.url + 'model.bin');
    expect(other.status).toBe(404);
    expect((await fetch(site.url, { method: 'POST' })).status).toBe(405);
    const page = await fetch(site.url);
    expect(page.headers.get('content-security-policy')).toContain("connect-src 'none'");

    const port = new URL(site.url).port;
    const taken = wgcam(['web', cases[0].model, '--port', port]);
    expect(taken.status).toBe(1);
    expect(taken.stderr.trim()).toBe(`wgcam: port ${port} on 127.0.0.1 is in use; pick another with --port (0 picks a free one)`);
    const broken = join(root, 'broken-too.bin');
    writeFileSync(broken, Buffer.alloc(3));
    const bad = wgcam(['web', broken]);
    expect(bad.status).toBe(1);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toContain(broken);
    expect(wgcam(['web', cases[0].model, '--out', root, '--port', '9']).status).toBe(2);

    const own = await serve(cases[0].model);
    own.server.kill('SIGINT');
    expect(await own.exited).toBe(130);

    // As users start it: npm run web; SIGTERM to npm reaches the server, which stops.
    const viaNpm = spawn('npm', ['run', '-s', 'web', '--', cases[0].model, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const npmExit = new Promise<number | null>((r) => viaNpm.on('exit', (code) => r(code)));
    let said = '';
    viaNpm.stdout!.on('data', (d) => (said += d));
    const t0 = Date.now();
    while (!/http:\/\/127\.0\.0\.1:\d+\//.test(said) && Date.now() - t0 < 60_000) await new Promise((r) => setTimeout(r, 50));
    const npmUrl = /http:\/\/127\.0\.0\.1:\d+\//.exec(said)![0];
    expect((await fetch(npmUrl)).status).toBe(200);
    viaNpm.kill('SIGTERM');
    expect(await npmExit).toBe(143);
    expect(said).toContain('stopped (interrupted (SIGTERM))');
    await expect(fetch(npmUrl)).rejects.toThrow();
  }, 120_000);
});

describe("the page's gray conversion", () => {
  it("is libvips' b-w (the CLI's) within one level, exact on gray pixels", async () => {
    const rng = new Rng(5);
    const rgb = Uint8Array.from({ length: 64 * 64 * 3 }, () => Math.floor(rng.next() * 256));
    for (let v = 0; v < 256; v++) rgb.set([v, v, v], v * 3); // the first 256 pixels: every gray level
    const want = await sharp(rgb, { raw: { width: 64, height: 64, channels: 3 } }).toColourspace('b-w').raw().toBuffer();
    const got = grayOf(rgb);
    const diffs = Array.from(got, (g, p) => Math.abs(g - want[p]));
    expect(Math.max(...diffs)).toBeLessThanOrEqual(1);
    expect(diffs.slice(0, 256).every((d) => d === 0)).toBe(true);
    // Most colours land on the same level (83% measured; libvips interpolates its own tables):
    // a wrong weight or gamma falls far below (Rec. 601 weights: 4%, no linearization: 55%).
    expect(diffs.filter((d) => d === 0).length / diffs.length).toBeGreaterThan(0.75);
  });
});

describe("the page's resize", () => {
  // [from, to]: identical to sharp where both axes shrink by less than 4 (no box stage);
  // within 2 levels with a box stage, 1 when enlarging (see src/web/resize.ts).
  const CASES: [[number, number], [number, number], number][] = [
    [[111, 111], [64, 64], 0],
    [[500, 375], [224, 224], 0],
    [[97, 53], [45, 37], 0],
    [[23, 17], [16, 16], 0],
    [[1000, 800], [224, 224], 2],
    [[300, 200], [45, 37], 2],
    [[1920, 1080], [224, 224], 2],
    [[16, 16], [64, 64], 1],
    [[100, 40], [64, 64], 1],
    [[64, 40], [64, 64], 1],
  ];
  for (const [[w, h], [W, H], tolerance] of CASES) {
    it(`${w}x${h} -> ${W}x${H} within ${tolerance} of sharp (the CLI)`, async () => {
      const rng = new Rng(w * 31 + h);
      const data = Uint8Array.from({ length: w * h * 3 }, () => Math.floor(rng.next() * 256));
      const want = await sharp(data, { raw: { width: w, height: h, channels: 3 } }).resize(W, H, { fit: 'fill' }).raw().toBuffer();
      const got = resizeFill({ data, width: w, height: h, channels: 3 }, W, H);
      expect([got.width, got.height]).toEqual([W, H]);
      const diffs = Array.from(want, (v, i) => Math.abs(v - got.data[i]));
      expect(diffs.reduce((a, b) => Math.max(a, b))).toBeLessThanOrEqual(tolerance);
      // Off by a level here and there, not everywhere (46-88% identical where not exact).
      expect(diffs.filter((d) => d === 0).length / diffs.length).toBeGreaterThan(tolerance ? 0.4 : 1 - 1e-9);
    });
  }
});
