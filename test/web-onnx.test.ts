// `wgcam web MODEL.onnx` and an .onnx file dropped on the page: every method the page offers,
// at the last and an inner layer and for a chosen class, in Chromium on WebGPU (SwiftShader)
// and on the CPU fallback, gives what `wgcam cam MODEL.onnx` gives for the same photo:
// probabilities within 1e-4, the u8 map within one step (1/255). The photos are larger than the
// preprocessing's resize (shrunk by less than 4x, where the page's resize is libvips' exactly)
// and not square, so the centre crop matters.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../src/util/rng.ts';
import { ARCHITECTURES, OnnxBuilder } from './onnx-graphs.ts';
import { drop, launch, open, type Engine, type PageResult } from './page-helpers.ts';

const root = mkdtempSync(join(tmpdir(), 'wgcam-web-onnx-'));
const wgcamBin = resolve('bin/wgcam.mjs');
const wgcam = (args: string[]) => spawnSync(process.execPath, [wgcamBin, ...args], { encoding: 'utf8', timeout: 300_000 });
const byName = (name: string) => ARCHITECTURES.find((a) => a.name === name)!;

const models: Record<'resnet' | 'mobilenet' | 'vgg', string> = { resnet: '', mobilenet: '', vgg: '' };
const photos: string[] = [];
let pageFile = '';

/** A photo of random pixels, PNG or JPEG by its name. */
async function randomPhoto(path: string, width: number, height: number, seed: number): Promise<void> {
  const rng = new Rng(seed);
  const rgb = Uint8Array.from({ length: width * height * 3 }, () => Math.floor(rng.next() * 256));
  await sharp(rgb, { raw: { width, height, channels: 3 } }).toFile(path);
}

interface CliMap {
  probabilities: Map<string, number>;
  cam: Uint8Array;
}

/** `wgcam cam MODEL.onnx PHOTOS --preprocess imagenet ...`: per photo, its probabilities by class and its u8 map. */
async function cliMaps(model: string, extra: string[]): Promise<CliMap[]> {
  const out = mkdtempSync(join(root, 'cam-'));
  const r = wgcam(['cam', model, ...photos, '--preprocess', 'imagenet', '--out', out, '--json', ...extra]);
  expect(r.status, r.stderr).toBe(0);
  return Promise.all(
    photos.map(async (p) => {
      const stem = p.split('/').at(-1)!.replace(/\.[a-z]+$/, '');
      const record = JSON.parse(readFileSync(join(out, `${stem}.json`), 'utf8')) as { predictions: { class: string; probability: number }[] };
      const cam = await sharp(join(out, `${stem}.cam.png`)).extractChannel(0).raw().toBuffer();
      return { probabilities: new Map(record.predictions.map((q) => [q.class, q.probability])), cam: new Uint8Array(cam) };
    }),
  );
}

function expectSameAsCli(got: PageResult[], want: CliMap[], classes: string[]): void {
  expect(got).toHaveLength(want.length);
  got.forEach((g, i) => {
    expect(g.error).toBeUndefined();
    const worst = Math.max(...classes.map((c, j) => Math.abs(want[i].probabilities.get(c)! - g.probabilities![j])));
    expect(worst).toBeLessThanOrEqual(1e-4);
    expect(g.cam).toHaveLength(want[i].cam.length);
    expect(Math.max(...g.cam!.map((v, k) => Math.abs(v - want[i].cam[k])))).toBeLessThanOrEqual(1);
  });
}

/** A graph whose one initializer declares 10^9 values and holds one. */
function lyingModel(): Uint8Array {
  const b = new OnnxBuilder(13);
  const x = b.input('input', ['batch', 3, 8, 8]);
  b.initializers.push({ name: 'w', dims: [1e9], data_type: 1, float_data: [1] });
  b.output(b.node('Mul', [x, 'w']));
  return b.encode();
}

const results = (page: Page) => page.evaluate('window.wgcam.results') as Promise<PageResult[]>;
const choose = (page: Page, c: { method?: string; layer?: string; cls?: number }) => page.evaluate(`window.wgcam.choose(${JSON.stringify(c)})`);
const layerOptions = (page: Page) => page.locator('#layer option').evaluateAll((os) => os.map((o) => (o as unknown as { value: string }).value));

beforeAll(async () => {
  for (const [key, name] of [['resnet', 'ResNet-18 (basic blocks)'], ['mobilenet', 'MobileNetV2'], ['vgg', 'VGG']] as const) {
    models[key] = join(root, `${key}.onnx`);
    writeFileSync(models[key], byName(name).build());
  }
  // ImageNet preprocessing of a 32x32 model: shorter side to 37, centre crop 32x32.
  for (const [i, [w, h, ext]] of ([[60, 44, 'png'], [41, 90, 'jpg']] as const).entries()) {
    photos.push(join(root, `photo-${i}.${ext}`));
    await randomPhoto(photos[i], w, h, 40 + i);
  }
  const page = join(root, 'page');
  const r = wgcam(['web', models.resnet, '--preprocess', 'imagenet', '--out', page]);
  expect(r.status, r.stderr).toBe(0);
  expect(r.stdout).toContain('preprocessing imagenet: resize the shorter side to 37, centre crop 32x32');
  pageFile = pathToFileURL(join(page, 'index.html')).href;
}, 120_000);

const CLASSES = Array.from({ length: 10 }, (_, j) => `class${j}`);

for (const engine of ['webgpu', 'cpu'] as Engine[]) {
  describe(`wgcam web MODEL.onnx on ${engine === 'webgpu' ? 'WebGPU (SwiftShader)' : 'the CPU fallback'}`, () => {
    let browser: Browser;
    beforeAll(async () => {
      browser = await launch(engine);
    }, 60_000);
    afterAll(() => browser?.close());

    it("every method at the last and an inner layer, and a chosen class, as wgcam cam gives them; connects nowhere", async () => {
      const { page, elsewhere } = await open(browser, pageFile);
      expect(await page.evaluate('window.wgcam.modelError')).toBe('');
      expect(await page.locator('#preprocessing').textContent()).toMatch(/^imagenet: resize the shorter side to 37, centre crop 32x32/);
      const first = await drop(page, photos);
      const layers = await layerOptions(page);
      const last = layers.at(-1)!;
      const inner = layers[Math.floor(layers.length / 2)];
      expect(first.map((r) => [r.method, r.layer])).toEqual(photos.map(() => ['cam', last]));
      expectSameAsCli(first, await cliMaps(models.resnet, ['--method', 'cam']), CLASSES);
      for (const [method, layer] of [['gradcam', last], ['gradcam++', inner], ['xgradcam', last], ['layercam', inner], ['hirescam', inner], ['scorecam', last]]) {
        await choose(page, { method, layer });
        expectSameAsCli(await results(page), await cliMaps(models.resnet, ['--method', method, '--layer', layer]), CLASSES);
      }
      await choose(page, { method: 'gradcam', layer: last, cls: 3 });
      expectSameAsCli(await results(page), await cliMaps(models.resnet, ['--method', 'gradcam', '--mode', 'class', '--class', 'class3']), CLASSES);
      expect(elsewhere).toEqual([]);
      await page.close();
    }, 600_000);

    it('takes another .onnx dropped on it (the photos explained again by it); a broken or lying file and cam where the head has no GAP are one line', async () => {
      const { page } = await open(browser, pageFile);
      await drop(page, photos);
      await choose(page, { method: 'gradcam' });
      const again = await drop(page, [models.mobilenet]);
      expect(await page.evaluate('window.wgcam.modelName')).toBe('mobilenet.onnx');
      expectSameAsCli(again, await cliMaps(models.mobilenet, ['--method', 'gradcam']), CLASSES);
      // A file that is no ONNX model, and one declaring a billion values in a few bytes: one line each; the page keeps its model.
      const garbage = join(root, 'garbage.onnx');
      writeFileSync(garbage, 'not a model at all');
      await drop(page, [garbage]);
      expect(await page.locator('#error').textContent()).toMatch(/^garbage\.onnx: not an ONNX model \(.*\) \(still using mobilenet\.onnx\)$/);
      const liar = join(root, 'liar.onnx');
      writeFileSync(liar, lyingModel());
      await drop(page, [liar]);
      expect(await page.locator('#error').textContent()).toBe("liar.onnx: initializer 'w' declares 1000000000 values ([1000000000]) but holds 1 (still using mobilenet.onnx)");
      expect(await page.evaluate('window.wgcam.modelName')).toBe('mobilenet.onnx');
      await drop(page, [models.vgg]);
      await choose(page, { method: 'cam' });
      expect((await results(page)).map((r) => r.error)).toEqual(photos.map(() => 'the cam method needs global average pooling and one dense layer right after the layer; pick another layer or method'));
      await page.close();
    }, 300_000);
  });
}
