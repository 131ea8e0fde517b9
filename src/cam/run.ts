/**
 * The CAM job behind `npm run cam`: load a model, explain images in batches, write
 * the outputs, print predictions, optionally score boxes and write a gallery.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { Gpu } from '../gpu/runtime.ts';
import { buildModel, loadModelFile } from '../io/model-file.ts';
import { IMAGE_EXTENSIONS } from '../data/layout.ts';
import { GpuBackend } from '../tensor/gpu-backend.ts';
import type { Box } from './box.ts';
import { cellGeometry, cellToPhoto } from './geometry.ts';
import type { ColormapName } from './colormap.ts';
import { scoreBoxes, type BoxScores } from './evaluate.ts';
import { Explainer, type CamOptions } from './explain.ts';
import { safeStem, writeCamOutputs, type CamRecord, type OutputOptions } from './outputs.ts';
import { loadPhoto } from './photos.ts';
import { writeReport } from './report.ts';

export interface CamJob extends Omit<CamOptions, 'cls'> {
  model: string;
  inputs: string[];
  outDir: string;
  className?: string;
  colormap: ColormapName;
  alpha: number;
  box: boolean;
  /** Share of the map's maximum the box keeps (default 0.2, as in the CAM paper). */
  boxThreshold?: number;
  json: boolean;
  report: boolean;
  overwrite: boolean;
  batch: number;
  evalBoxes?: string;
  print?: (line: string) => void;
  warn?: (line: string) => void;
}

export interface CamJobResult {
  records: CamRecord[];
  failed: number;
  scores?: BoxScores;
  reportPath?: string;
}

/** Files named on the command line, and the images inside named folders (recursively, sorted). */
export function expandInputs(inputs: string[]): { files: string[]; missing: string[] } {
  const files: string[] = [];
  const missing: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      if (e.name.startsWith('.')) continue;
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (IMAGE_EXTENSIONS.has(extname(e.name).toLowerCase())) files.push(p);
    }
  };
  for (const i of inputs) {
    if (!existsSync(i)) missing.push(i);
    else if (statSync(i).isDirectory()) walk(i);
    else files.push(i);
  }
  return { files, missing };
}

export function readBoxes(path: string): Map<string, Box> {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`${path}: cannot read boxes (${(e as Error).message.split('\n')[0]})`);
  }
  const map = new Map<string, Box>();
  for (const [name, box] of Object.entries(raw as Record<string, unknown>)) {
    if (!Array.isArray(box) || box.length !== 4 || !box.every(Number.isFinite)) throw new Error(`${path}: box of '${name}' is not [x0, y0, x1, y1]`);
    map.set(basename(name), box as Box);
  }
  return map;
}

export async function runCam(job: CamJob): Promise<CamJobResult> {
  const print = job.print ?? ((s) => process.stdout.write(s + '\n'));
  const warn = job.warn ?? ((s) => process.stderr.write(`wgcam: ${s}\n`));
  const loaded = loadModelFile(job.model);
  const { classes, input } = loaded.meta;
  let cls = -1;
  if (job.className !== undefined) {
    cls = classes.findIndex((c) => c.toLowerCase() === job.className!.toLowerCase());
    if (cls < 0 && /^\d+$/.test(job.className) && Number(job.className) < classes.length) cls = Number(job.className);
    if (cls < 0) throw new Error(`--class ${job.className}: the model's classes are ${classes.join(', ')}`);
  }
  const truth = job.evalBoxes ? readBoxes(job.evalBoxes) : null;
  const { files, missing } = expandInputs(job.inputs);
  let failed = missing.length;
  for (const m of missing) warn(`${m}: no such file or folder`);
  if (files.length === 0) {
    if (!missing.length) warn('no images found in the given inputs');
    return { records: [], failed: Math.max(1, failed) };
  }
  try {
    mkdirSync(job.outDir, { recursive: true });
  } catch (e) {
    throw new Error(`cannot create ${job.outDir} (${(e as NodeJS.ErrnoException).code})`);
  }
  const output: OutputOptions = { outDir: job.outDir, colormap: job.colormap, alpha: job.alpha, box: job.box, json: job.json, overwrite: job.overwrite, boxThreshold: job.boxThreshold ?? 0.2 };
  const opts: CamOptions = { mode: job.mode, contrast: job.contrast, cls, rawScale: job.rawScale, allClasses: job.allClasses };

  const gpu = await Gpu.create();
  const backend = new GpuBackend(gpu);
  const model = buildModel(backend, loaded);
  const explainer = new Explainer(gpu, backend, model);
  const records: CamRecord[] = [];
  const geometry = cellGeometry(loaded.meta.arch.blocks);
  const stems = new Set<string>();
  const stemFor = (file: string) => {
    const base = safeStem(basename(file));
    let stem = base;
    for (let k = 2; stems.has(stem); k++) stem = `${base}-${k}`;
    stems.add(stem);
    return stem;
  };
  try {
    for (let b = 0; b < files.length; b += job.batch) {
      const chunk = files.slice(b, b + job.batch);
      const loadedPhotos = await Promise.allSettled(chunk.map((f) => loadPhoto(f, input)));
      const ok: { file: string; photo: { data: Uint8Array; width: number; height: number }; input: Uint8Array }[] = [];
      loadedPhotos.forEach((r, i) => {
        if (r.status === 'fulfilled') ok.push({ file: chunk[i], ...r.value });
        else {
          failed++;
          warn((r.reason as Error).message);
        }
      });
      if (!ok.length) continue;
      const results = await explainer.explain(
        ok.map((o) => o.input),
        ok.map((o) => o.photo),
        opts,
      );
      for (let i = 0; i < ok.length; i++) {
        try {
          const ph = ok[i].photo;
          const rec = await writeCamOutputs(ok[i].file, stemFor(ok[i].file), results[i], ph, classes, output, cellToPhoto(geometry, input.width, input.height, ph.width, ph.height));
          records.push(rec);
          const preds = rec.predictions
            .slice(0, 3)
            .map((p) => `${p.class} ${(100 * p.probability).toFixed(1)}%`)
            .join('  ');
          print(`${ok[i].file}  ${preds}${job.box && rec.box ? `  box ${rec.box.join(',')}` : ''}`);
        } catch (e) {
          failed++;
          warn(`${ok[i].file}: ${(e as Error).message}`);
        }
      }
    }
  } finally {
    model.dispose();
    gpu.destroy();
  }
  const result: CamJobResult = { records, failed };
  if (truth) {
    result.scores = scoreBoxes(records, truth);
    const s = result.scores;
    print(`pointing game ${(100 * s.pointing).toFixed(1)}%  box accuracy (IoU >= 0.5) ${(100 * s.boxAccuracy).toFixed(1)}%  over ${s.images} images with known boxes`);
  }
  if (job.report) {
    result.reportPath = writeReport(job.outDir, records, `wgcam: ${basename(job.model)}`);
    print(`gallery: ${result.reportPath}`);
  }
  return result;
}
