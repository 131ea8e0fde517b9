/** A static index.html gallery of CAM results, sortable by confidence, to scan hundreds at once. */
import { join, relative, sep } from 'node:path';
import { writeFileAtomic } from '../io/atomic.ts';
import type { CamRecord } from './outputs.ts';

export const REPORT_NAME = 'index.html';

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function writeReport(outDir: string, records: CamRecord[], title: string): string {
  // Outputs may sit in mirrored subfolders (bar/0.overlay.png): link them relative to the page.
  const link = (file: string) => relative(outDir, file).split(sep).map(encodeURIComponent).join('/');
  const cards = records
    .map((r) => {
      const top = r.predictions[0];
      const preds = r.predictions
        .slice(0, 3)
        .map((p) => `${esc(p.class)} ${(100 * p.probability).toFixed(1)}%`)
        .join(' · ');
      const box = r.box ? `box ${r.box.join(',')}` : 'no box';
      return `<figure data-conf="${top.probability}" data-name="${esc(r.name)}" data-class="${esc(top.class)}">
<a href="${esc(link(r.files.overlay))}"><img loading="lazy" src="${esc(link(r.files.overlay))}" alt="${esc(r.name)}"></a>
<figcaption><b>${esc(r.name)}</b><br>${preds}<br><small>${box} · <a href="${esc(link(r.files.cam))}">map</a></small></figcaption></figure>`;
    })
    .join('\n');
  const html = `<!doctype html><meta charset="utf-8"><title>${esc(title)}</title>
<style>body{font:14px system-ui,sans-serif;margin:1em}main{display:flex;flex-wrap:wrap;gap:12px}figure{margin:0;width:240px}
img{width:240px;height:auto;border-radius:4px}figcaption{line-height:1.35}button{margin-right:6px}</style>
<h1>${esc(title)}</h1><p>${records.length} images.
<button onclick="sortBy('conf',1)">least confident first</button><button onclick="sortBy('conf',-1)">most confident first</button>
<button onclick="sortBy('class',1)">by class</button><button onclick="sortBy('name',1)">by name</button></p>
<main id="g">${cards}</main>
<script>function sortBy(k,d){const g=document.getElementById('g');[...g.children].sort((a,b)=>{const x=a.dataset[k],y=b.dataset[k];
return (k==='conf'?(x-y):x.localeCompare(y))*d}).forEach(e=>g.appendChild(e))}</script>\n`;
  const path = join(outDir, REPORT_NAME);
  writeFileAtomic(path, html);
  return path;
}
