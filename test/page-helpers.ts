// What the page tests share: Debian's headless Chromium (playwright-core, no browser download)
// on either of the page's engines, and the page driven as a user drives it.
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { expect } from 'vitest';

export const CHROMIUM = process.env.WGCAM_CHROMIUM ?? '/usr/bin/chromium';
// As root in a closed network: no sandbox, and no background connections Chromium would try.
export const CHROMIUM_FLAGS = ['--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export type Engine = 'webgpu' | 'cpu';

/** Chromium whose page gets WebGPU (SwiftShader, with --enable-unsafe-webgpu) or no adapter (the CPU references). */
export function launch(engine: Engine): Promise<Browser> {
  expect(existsSync(CHROMIUM), `${CHROMIUM} is missing: install Debian's chromium (npm test's setup does, as root), or set WGCAM_CHROMIUM`).toBe(true);
  return chromium.launch({ executablePath: CHROMIUM, args: [...CHROMIUM_FLAGS, ...(engine === 'webgpu' ? ['--enable-unsafe-webgpu'] : [])] });
}

/** What the page records per photo (window.wgcam.results). */
export interface PageResult {
  name: string;
  error?: string;
  predicted?: string;
  probabilities?: number[];
  cam?: number[];
  method?: string;
  layer?: string;
}

/** The page at `url`, loaded, and every request it makes to another origin. */
export async function open(browser: Browser, url: string): Promise<{ page: Page; elsewhere: string[] }> {
  const page = await browser.newPage();
  const elsewhere: string[] = [];
  const origin = new URL(url).origin;
  page.on('request', (r) => {
    if (new URL(r.url()).origin !== origin) elsewhere.push(r.url());
  });
  await page.goto(url);
  await page.evaluate('window.wgcam.ready');
  return { page, elsewhere };
}

/** Hands files to the page's file input, as a user choosing them does, and waits for the page. */
export async function drop(page: Page, files: string[]): Promise<PageResult[]> {
  await page.setInputFiles('#files', files);
  await page.evaluate('window.wgcam.idle()');
  return page.evaluate('window.wgcam.results') as Promise<PageResult[]>;
}
