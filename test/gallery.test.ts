// The gallery in a real browser: Debian's headless Chromium driven by playwright-core (no
// browser download). The page must work offline (every request it makes is a local file), and
// sorting, filtering and the photo/overlay toggle must change the DOM as a user expects.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeSamplePhotos } from '../src/data/sample-photos.ts';

const CHROMIUM = process.env.WGCAM_CHROMIUM ?? '/usr/bin/chromium';
const root = mkdtempSync(join(tmpdir(), 'wgcam-gallery-'));
const data = join(root, 'data');
const out = join(root, 'gallery');
let browser: Browser;
// The page's elements as the callbacks below see them (this project compiles without the DOM library).
type Card = { dataset: Record<string, string> };
type Loaded = { complete: boolean; naturalWidth: number };

const wgcam = (args: string[]) => spawnSync(process.execPath, [resolve('bin/wgcam.mjs'), ...args], { encoding: 'utf8', timeout: 300_000 });

beforeAll(async () => {
  expect(existsSync(CHROMIUM), `${CHROMIUM} is missing: install Debian's chromium (npm test's setup does, as root), or set WGCAM_CHROMIUM`).toBe(true);
  await writeSamplePhotos({ dir: data, shapes: ['disc', 'cross'], perClass: 12, seed: 9, minSize: 40, maxSize: 60 });
  const run = join(root, 'run');
  expect(wgcam(['train', '--data', data, '--size', '24', '--arch', 'c4-p-c8', '--batch', '8', '--epochs', '3', '--out', run]).status).toBe(0);
  // Names that sort differently by text and by number: 2 before 10.
  const input = join(root, 'in');
  mkdirSync(input);
  for (const f of readdirSync(join(data, 'train')).filter((f) => f.endsWith('.jpg'))) copyFileSync(join(data, 'train', f), join(input, f));
  const r = wgcam(['cam', join(run, 'model.bin'), input, '--out', out, '--report', '--box']);
  expect(r.status, r.stderr).toBe(0);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
}, 300_000);

afterAll(async () => {
  await browser?.close();
});

describe('the cam --report gallery in Chromium', () => {
  it('sorts, filters and toggles photo/overlay, offline', async () => {
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    await page.goto(pathToFileURL(join(out, 'index.html')).href);
    const names = () => page.$$eval('figure:not([hidden])', (fs) => fs.map((f) => (f as unknown as Card).dataset.name!));
    const all = await names();
    expect(all).toHaveLength(24);
    // Default: most confident first.
    const confs = await page.$$eval('figure', (fs) => fs.map((f) => Number((f as unknown as Card).dataset.conf)));
    expect(confs).toEqual([...confs].sort((a, b) => b - a));
    await page.selectOption('#sort', 'name');
    const byName = await names();
    expect(byName.slice(0, 4)).toEqual(['cross.0', 'cross.1', 'cross.2', 'cross.3']);
    expect(byName.indexOf('cross.2')).toBeLessThan(byName.indexOf('cross.10'));
    await page.selectOption('#sort', 'conf-asc');
    const asc = await page.$$eval('figure', (fs) => fs.map((f) => Number((f as unknown as Card).dataset.conf)));
    expect(asc).toEqual([...asc].sort((a, b) => a - b));
    // Filters: by predicted class, then by outcome (the names say the true class).
    const predicted = await page.$$eval('figure', (fs) => fs.map((f) => (f as unknown as Card).dataset.class!));
    await page.selectOption('#class', predicted[0]);
    expect(await names()).toHaveLength(predicted.filter((c) => c === predicted[0]).length);
    await page.selectOption('#class', '');
    await page.selectOption('#outcome', 'wrong');
    const wrong = await page.$$eval('figure:not([hidden])', (fs) => fs.map((f) => [(f as unknown as Card).dataset.name!, (f as unknown as Card).dataset.class!]));
    for (const [name, cls] of wrong) expect(name.split('.')[0]).not.toBe(cls);
    await page.selectOption('#outcome', 'right');
    const rightCount = (await names()).length;
    expect(rightCount + wrong.length).toBe(24);
    expect(await page.textContent('#summary')).toContain(`${rightCount} of 24 with a known class predicted right`);
    await page.selectOption('#outcome', '');
    // The toggle shows the photos, and back.
    const src = () => page.$eval('figure img', (i) => i.getAttribute('src')!);
    expect(await src()).toMatch(/\.overlay\.png$/);
    await page.click('#toggle');
    expect(await src()).toMatch(/\.photo\.jpg$/);
    await page.click('figure img');
    expect(await src()).toMatch(/\.overlay\.png$/);
    // Every image loaded, and nothing was fetched from anywhere but the gallery's folder.
    await page.waitForLoadState('networkidle');
    const broken = await page.$$eval('img', (is) => is.filter((i) => !(i as unknown as Loaded).complete || (i as unknown as Loaded).naturalWidth === 0).length);
    expect(broken).toBe(0);
    for (const url of requests) expect(url.startsWith(pathToFileURL(out).href), url).toBe(true);
    await page.screenshot({ path: join(out, 'screenshot.png') });
    await page.close();
  });
});
