/** wgcam gallery DIR: the gallery (index.html) of a cam output folder, built from its NAME.json files (a sharded or resumed run's). */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { classFromPath } from '../cam/run.ts';
import { COLORMAPS, type ColormapName } from '../cam/colormap.ts';
import type { CamRecord } from '../cam/outputs.ts';
import { REPORT_NAME, writeReport } from '../cam/report.ts';
import { refuseToReplace, whyNotAFolder } from '../io/input-path.ts';
import { printable } from '../util/terminal.ts';
import { parse, run, UsageError } from './main.ts';

const HELP = `
Usage: wgcam gallery DIR [options]      (or: npm run gallery -- DIR)

Writes DIR/index.html, the gallery 'wgcam cam --report' writes, from the NAME.json files in DIR
and its subfolders: for the runs that explain a folder in parts (--shard K/N, or --resume after a
stop), each run with --json. Files that are not wgcam's NAME.json are skipped, and counted.

Options:
  --colormap NAME      the colormap the overlays were drawn with, for the legend (default jet)
  --title TEXT         the page's title (default: wgcam: DIR)
  --overwrite          replace an existing DIR/index.html
  -h, --help           this help
`;

/** A NAME.json larger than this is not one wgcam wrote for a photo. */
const MAX_JSON = 64 * 2 ** 20;
const naturally = (a: string, b: string) => a.localeCompare(b, 'en', { numeric: true });

/** The record a NAME.json holds, its files found beside it; null when it is not one. */
function recordOf(path: string): CamRecord | null {
  let doc: Record<string, unknown>;
  try {
    if (statSync(path).size > MAX_JSON) return null;
    doc = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch {
    return null;
  }
  const preds = doc?.predictions;
  const ok =
    doc && typeof doc.image === 'string' && typeof doc.name === 'string' && Array.isArray(preds) && preds.length > 0 &&
    preds.every((p) => p && typeof p.class === 'string' && typeof p.probability === 'number') && doc.map && typeof doc.map === 'object';
  if (!ok) return null;
  const stem = path.slice(0, -'.json'.length);
  const files = { cam: `${stem}.cam.png`, overlay: `${stem}.overlay.png`, json: path, ...(existsSync(`${stem}.photo.jpg`) ? { photo: `${stem}.photo.jpg` } : {}) };
  if (!existsSync(files.overlay)) return null;
  const box = Array.isArray(doc.box) && doc.box.length === 4 && doc.box.every(Number.isFinite) ? (doc.box as CamRecord['box']) : null;
  return { ...(doc as unknown as CamRecord), box, files };
}

function jsonFiles(dir: string, out: string[] = [], depth = 0): string[] {
  if (depth > 32) return out;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name.startsWith('.')) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) jsonFiles(p, out, depth + 1);
    else if (e.isFile() && e.name.endsWith('.json')) out.push(p);
  }
  return out;
}

run(async () => {
  const { values: v, positionals } = parse(process.argv.slice(2), { colormap: { type: 'string' }, title: { type: 'string' }, overwrite: { type: 'boolean' } }, HELP);
  const [dir, ...extra] = positionals;
  if (!dir || extra.length) throw new UsageError('usage: wgcam gallery DIR (see --help)');
  const colormap = (v.colormap ?? 'jet') as ColormapName;
  if (!COLORMAPS.includes(colormap)) throw new UsageError(`--colormap ${colormap}: use ${COLORMAPS.join(', ')}`);
  const why = whyNotAFolder(dir);
  if (why) throw new Error(`${dir}: ${why}`);
  const page = join(dir, REPORT_NAME);
  refuseToReplace([page]);
  if (existsSync(page) && !v.overwrite) throw new Error(`${page} already exists; pass --overwrite to replace it`);
  const candidates = jsonFiles(dir);
  const records = candidates.map(recordOf).filter((r): r is CamRecord => r !== null);
  if (!records.length) throw new Error(`${dir}: holds no NAME.json of wgcam cam (${candidates.length} JSON files looked at); run cam with --json`);
  const classes = [...new Set(records.flatMap((r) => r.predictions.map((p) => p.class)))];
  for (const r of records) r.truth = classFromPath(r.image, classes);
  records.sort((a, b) => naturally(a.name, b.name));
  const m = records[0].map;
  // The contrast class is each photo's own runner-up: the legend names the rule, not one photo's class.
  const contrast = m.mode !== 'contrast' || !m.contrast ? '' : m.contrast === 'the mean of the other classes' ? ': the predicted class minus the mean of the others' : ': the predicted class minus the runner-up';
  const mode = `${m.method ?? 'cam'}${m.layer !== undefined ? ` at ${m.layer}` : ''}, ${m.mode}${contrast}`;
  writeReport(dir, records, v.title ?? `wgcam: ${dir}`, { colormap, mode });
  const skipped = candidates.length - records.length;
  process.stdout.write(printable(`${page}: ${records.length} explained photos${skipped ? ` (${skipped} JSON files skipped: not a NAME.json with its overlay)` : ''}`) + '\n');
});
