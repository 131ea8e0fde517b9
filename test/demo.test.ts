// The built-in demo end to end (the README's first command): sample photos -> train -> CAM,
// with the quality bars of the issues: >= 95% validation accuracy, pointing game >= 90%.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';

it('npm run demo trains to >= 95% validation accuracy and points at the objects (>= 90%)', () => {
  const out = mkdtempSync(join(tmpdir(), 'wgcam-demo-'));
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/demo.ts', '--out', out], { encoding: 'utf8', timeout: 540_000 });
  expect(r.status, r.stderr.slice(-2000)).toBe(0);
  const m = /validation accuracy ([\d.]+)%, pointing game ([\d.]+)% \((\d+) photos\)/.exec(r.stdout);
  expect(m, r.stdout.slice(-2000)).not.toBeNull();
  const [, acc, pointing, photos] = m!.map(Number);
  expect(photos).toBe(160);
  expect(acc).toBeGreaterThanOrEqual(95);
  expect(pointing).toBeGreaterThanOrEqual(90);
  for (const f of ['train/model.bin', 'train/best.bin', 'cam/index.html']) expect(existsSync(join(out, f)), f).toBe(true);
  expect(readdirSync(join(out, 'cam')).filter((f) => f.endsWith('.overlay.png')).length).toBe(160);
}, 600_000);
