/**
 * The gallery (`cam --report`): one self-contained index.html beside the outputs, to scan
 * hundreds of explanations at once. Per image: the overlay or the photo (toggle), the
 * predicted class and confidence, the true class when the input's name says it and whether
 * the prediction is right, the box. A legend for the colormap and the mode; filters by
 * predicted class and by right/wrong; sorting by confidence, class or name (natural order).
 * No network requests: everything is inline or a relative link to the outputs.
 */
import { join, relative, sep } from 'node:path';
import { writeFileAtomic } from '../io/atomic.ts';
import { escapeHtml as esc } from '../util/html.ts';
import { colormapTable, type ColormapName } from './colormap.ts';
import type { CamRecord } from './outputs.ts';

export const REPORT_NAME = 'index.html';

/** The colormap as a CSS gradient (11 stops of the same table the overlays use). */
function gradient(name: ColormapName): string {
  const lut = colormapTable(name);
  const stops = Array.from({ length: 11 }, (_, k) => {
    const i = Math.round((k / 10) * 255) * 3;
    return `rgb(${lut[i]},${lut[i + 1]},${lut[i + 2]}) ${k * 10}%`;
  });
  return `linear-gradient(to right, ${stops.join(', ')})`;
}

export interface ReportLegend {
  colormap: ColormapName;
  /** What the map shows, in words. */
  mode: string;
}

export function writeReport(outDir: string, records: CamRecord[], title: string, legend: ReportLegend): string {
  // Outputs may sit in mirrored subfolders (bar/0.overlay.png): link them relative to the page.
  const link = (file: string) => relative(outDir, file).split(sep).map(encodeURIComponent).join('/');
  const classes = [...new Set(records.map((r) => r.predictions[0].class))].sort();
  const labelled = records.some((r) => r.truth);
  const cards = records
    .map((r) => {
      const top = r.predictions[0];
      const outcome = r.truth ? (r.truth === top.class ? 'right' : 'wrong') : 'unknown';
      const preds = r.predictions
        .slice(0, 3)
        .map((p) => `${esc(p.class)} ${(100 * p.probability).toFixed(1)}%`)
        .join(' · ');
      const truth = r.truth ? `<br><span class="${outcome}">${outcome === 'right' ? '✓' : '✗'} true class ${esc(r.truth)}</span>` : '';
      const box = r.box ? `box ${r.box.join(',')}` : 'no box';
      const photo = r.files.photo ? ` data-photo="${esc(link(r.files.photo))}"` : '';
      return `<figure data-conf="${top.probability}" data-name="${esc(r.name)}" data-class="${esc(top.class)}" data-outcome="${outcome}">
<img loading="lazy" src="${esc(link(r.files.overlay))}" data-overlay="${esc(link(r.files.overlay))}"${photo} alt="${esc(r.name)}">
<figcaption><b>${esc(r.name)}</b><br>${preds}${truth}<br><small>${box} · <a href="${esc(link(r.files.cam))}">map</a> · <a href="${esc(link(r.files.overlay))}">overlay</a></small></figcaption></figure>`;
    })
    .join('\n');
  const right = records.filter((r) => r.truth && r.truth === r.predictions[0].class).length;
  const scored = records.filter((r) => r.truth).length;
  const html = `<!doctype html><meta charset="utf-8"><title>${esc(title)}</title>
<style>body{font:14px system-ui,sans-serif;margin:1em}main{display:flex;flex-wrap:wrap;gap:12px}figure{margin:0;width:240px}
figure img{width:240px;height:auto;border-radius:4px;cursor:pointer}figcaption{line-height:1.35}.right{color:#1a7f37}.wrong{color:#cf222e;font-weight:bold}
.controls{display:flex;flex-wrap:wrap;gap:14px;align-items:center;margin:.6em 0}.legend{display:flex;align-items:center;gap:8px;margin:.4em 0}
.bar{width:220px;height:12px;border-radius:3px;background:${gradient(legend.colormap)}}[hidden]{display:none}</style>
<h1>${esc(title)}</h1>
<p id="summary">${records.length} images${scored ? `; ${right} of ${scored} with a known class predicted right (${((100 * right) / scored).toFixed(1)}%)` : ''}. Click an image to switch between the overlay and the photo.</p>
<div class="legend"><span>0</span><span class="bar" title="${esc(legend.colormap)}"></span><span>1</span><span>colormap ${esc(legend.colormap)}; ${esc(legend.mode)}</span></div>
<div class="controls">
<label>sort <select id="sort"><option value="conf-desc">most confident first</option><option value="conf-asc">least confident first</option><option value="class">by predicted class</option><option value="name">by name</option></select></label>
<label>predicted class <select id="class"><option value="">all</option>${classes.map((c) => `<option value="${esc(c)}">${esc(c)}</option>`).join('')}</select></label>
${labelled ? '<label>outcome <select id="outcome"><option value="">all</option><option value="right">right</option><option value="wrong">wrong</option></select></label>' : ''}
<button id="toggle">show photos</button> <span id="shown"></span>
</div>
<main id="g">${cards}</main>
<script>
const g = document.getElementById('g'), $ = (id) => document.getElementById(id);
const natural = (a, b) => a.localeCompare(b, undefined, { numeric: true });
function sort() {
  const [key, dir] = $('sort').value.split('-');
  const cmp = key === 'conf' ? (a, b) => (a.dataset.conf - b.dataset.conf) * (dir === 'asc' ? 1 : -1)
    : key === 'class' ? (a, b) => natural(a.dataset.class, b.dataset.class) || natural(a.dataset.name, b.dataset.name)
    : (a, b) => natural(a.dataset.name, b.dataset.name);
  [...g.children].sort(cmp).forEach((e) => g.appendChild(e));
}
function filter() {
  const cls = $('class').value, outcome = $('outcome') ? $('outcome').value : '';
  let n = 0;
  for (const f of g.children) { f.hidden = (cls && f.dataset.class !== cls) || (outcome && f.dataset.outcome !== outcome); if (!f.hidden) n++; }
  $('shown').textContent = n + ' shown';
}
function show(img, photo) { if (img.dataset.photo) img.src = photo ? img.dataset.photo : img.dataset.overlay; }
let photos = false;
$('toggle').onclick = () => { photos = !photos; for (const img of g.querySelectorAll('img')) show(img, photos); $('toggle').textContent = photos ? 'show overlays' : 'show photos'; };
g.onclick = (e) => { if (e.target.tagName === 'IMG') show(e.target, e.target.getAttribute('src') === e.target.dataset.overlay); };
$('sort').onchange = sort;
$('class').onchange = filter;
if ($('outcome')) $('outcome').onchange = filter;
sort(); filter();
</script>\n`;
  const path = join(outDir, REPORT_NAME);
  writeFileAtomic(path, html);
  return path;
}
