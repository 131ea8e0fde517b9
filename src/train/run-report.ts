/**
 * What a training run looks like to a person, rewritten after every epoch: OUT/curves.svg
 * (loss and accuracy per epoch, training vs validation, a Vega-Lite chart rendered headless)
 * and OUT/report.html, a self-contained page with the curves, the confusion matrix of
 * best.bin once training ends, and the --watch overlays of every epoch.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vega from 'vega';
import * as vl from 'vega-lite';
import { writeFileAtomic } from '../io/atomic.ts';
import { escapeHtml as esc } from '../util/html.ts';

export const RUN_REPORT_FILES = ['curves.svg', 'report.html'];

interface EpochFigures {
  epoch: number;
  train_loss: number;
  train_acc: number;
  val_loss: number | null;
  val_acc: number | null;
}

function readMetrics(out: string): EpochFigures[] {
  const path = join(out, 'metrics.jsonl');
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as EpochFigures];
      } catch {
        return [];
      }
    });
}

export async function curvesSvg(rows: EpochFigures[]): Promise<string> {
  const values = rows.flatMap((r) => [
    { epoch: r.epoch, split: 'training', loss: r.train_loss, accuracy: r.train_acc },
    ...(r.val_loss === null || !Number.isFinite(r.val_loss) ? [] : [{ epoch: r.epoch, split: 'validation', loss: r.val_loss, accuracy: r.val_acc }]),
  ]);
  const panel = (field: 'loss' | 'accuracy') => ({
    width: 320,
    height: 200,
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'epoch', type: 'quantitative', axis: { tickMinStep: 1 }, scale: { domainMin: 1 } },
      y: { field, type: 'quantitative', ...(field === 'accuracy' ? { scale: { domain: [0, 1] }, axis: { format: '%' } } : {}) },
      color: { field: 'split', type: 'nominal', title: null },
    },
  });
  const spec = { background: 'white', data: { values }, hconcat: [panel('loss'), panel('accuracy')] } as vl.TopLevelSpec;
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Rewrites OUT/curves.svg and OUT/report.html from what the folder holds now. */
export async function writeRunReport(out: string, title: string): Promise<void> {
  const rows = readMetrics(out);
  if (!rows.length) return;
  const curves = await curvesSvg(rows);
  writeFileAtomic(join(out, 'curves.svg'), curves);
  const confusion = existsSync(join(out, 'confusion.svg')) ? readFileSync(join(out, 'confusion.svg'), 'utf8') : null;
  const watched = readdirSync(out)
    .filter((d) => /^cam-epoch-\d{3,}$/.test(d))
    .sort()
    .map((d) => {
      const overlays = readdirSync(join(out, d)).filter((f) => f.endsWith('.overlay.png')).sort();
      return `<h3>after epoch ${Number(d.slice(10))}</h3><div class="row">${overlays.map((f) => `<img src="${esc(`${d}/${f}`)}" alt="${esc(f)}" title="${esc(f)}">`).join('')}</div>`;
    });
  const table = rows
    .map((r) => `<tr><td>${r.epoch}</td><td>${r.train_loss.toFixed(4)}</td><td>${(100 * r.train_acc).toFixed(1)}%</td><td>${r.val_loss === null ? '' : r.val_loss.toFixed(4)}</td><td>${r.val_acc === null ? '' : `${(100 * r.val_acc).toFixed(1)}%`}</td></tr>`)
    .join('');
  const html = `<!doctype html><meta charset="utf-8"><title>${esc(title)}</title>
<style>body{font:14px system-ui,sans-serif;margin:1em}table{border-collapse:collapse}td,th{padding:2px 8px;text-align:right}
.row{display:flex;flex-wrap:wrap;gap:6px}.row img{width:128px;image-rendering:pixelated;border-radius:3px}</style>
<h1>${esc(title)}</h1>
<h2>Curves</h2>${curves}
<table><tr><th>epoch</th><th>train loss</th><th>train acc</th><th>val loss</th><th>val acc</th></tr>${table}</table>
${confusion ? `<h2>best.bin on the validation images</h2>${confusion}` : ''}
${watched.length ? `<h2>Where the network looked (--watch)</h2>${watched.join('\n')}` : ''}
`;
  writeFileAtomic(join(out, 'report.html'), html);
}
