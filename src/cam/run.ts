/**
 * The CAM job behind `npm run cam`: load a model, explain images in batches, write
 * the outputs, print predictions, optionally score boxes and write a gallery.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, extname, join, sep } from 'node:path';
import { openGpu } from '../gpu/dawn.ts';
import { removeStaleTemporaries } from '../io/atomic.ts';
import { isInside, refuseToReplace, whyNotAFile, whyNotAFolder } from '../io/input-path.ts';
import { buildModel, loadModelFile, type LoadedModel } from '../io/model-file.ts';
import { LOCK_NAME, lockRunFolder } from '../io/run-lock.ts';
import { quoteName } from '../io/safetensors-format.ts';
import type { MemoryLimit } from '../nn/memory.ts';
import { defaultMemoryLimit } from '../nn/machine-memory.ts';
import { StopRequest, stopWords } from '../util/stop.ts';
import { printable } from '../util/terminal.ts';
import { IMAGE_EXTENSIONS } from '../data/layout.ts';
import { GpuBackend } from '../tensor/gpu-backend.ts';
import type { Box } from './box.ts';
import { cellGeometry, cellToPhoto } from './geometry.ts';
import { blocksThroughConv } from '../nn/model.ts';
import type { ColormapName } from './colormap.ts';
import { boxCurve, scoreBoxes, type BoxCurve, type BoxScores } from './evaluate.ts';
import { DEFAULT_STEPS, faithfulness, type Faithfulness } from './faithfulness.ts';
import { Explainer, type CamOptions } from './explain.ts';
import { safeStem, writeCamOutputs, type CamRecord, type OutputOptions } from './outputs.ts';
import { loadPhoto } from './photos.ts';
import { REPORT_NAME, writeReport } from './report.ts';

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
  /** Explain only shard K of N (1-based): a stable split of the inputs by their names, for array jobs. */
  shard?: { k: number; n: number };
  /** Skip inputs whose outputs are all there already (never rewriting them); redo the rest. */
  resume?: boolean;
  batch: number;
  evalBoxes?: string;
  /** Score each map's faithfulness (Average Drop, Increase in Confidence, Deletion/Insertion AUC). */
  metrics?: boolean;
  /** The memory the explanations may take (default: half of this machine's memory). */
  memoryLimit?: MemoryLimit;
  /** Set by signals: the job stops after the current batch. */
  stop?: StopRequest;
  print?: (line: string) => void;
  warn?: (line: string) => void;
}

export interface CamJobResult {
  records: CamRecord[];
  failed: number;
  scores?: BoxScores;
  reportPath?: string;
  /** A signal stopped the job before every image was explained. */
  stopped?: boolean;
  /** With metrics: the means over the explained images. */
  faithfulness?: FaithfulnessSummary;
}

export interface FaithfulnessSummary {
  images: number;
  averageDrop: number;
  increaseInConfidence: number;
  deletionAuc: number;
  insertionAuc: number;
}

export interface ExpandedInputs {
  files: string[];
  /** Where each file came from, for its output name: the path inside the folder named on the command line (`bar/0.jpg`), or its own name. */
  names: string[];
  /** Inputs that are not there or cannot be read as images (a FIFO, a dangling link), with why. */
  unreadable: { path: string; reason: string }[];
  /** The folders named on the command line (their images were listed). */
  folders: string[];
}

/** Names in natural order: img2 before img10. */
const naturally = (a: string, b: string) => a.localeCompare(b, 'en', { numeric: true }) || (a < b ? -1 : a > b ? 1 : 0);

/** Files named on the command line, and the images inside named folders (recursively, in natural order; links followed once). */
export function expandInputs(inputs: string[]): ExpandedInputs {
  const files: string[] = [];
  const names: string[] = [];
  const unreadable: { path: string; reason: string }[] = [];
  const folders: string[] = [];
  const seen = new Set<string>();
  const walk = (dir: string, inside: string) => {
    let real: string;
    try {
      real = realpathSync(dir);
    } catch {
      return;
    }
    if (seen.has(real)) return; // a link loop, or the same folder named twice
    seen.add(real);
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true }).sort((a, b) => naturally(a.name, b.name));
    } catch (e) {
      unreadable.push({ path: dir, reason: `cannot list the folder (${(e as NodeJS.ErrnoException).code})` });
      return;
    }
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const p = join(dir, e.name);
      const whyNotListed = whyNotAFolder(p);
      if (whyNotListed === null) walk(p, join(inside, e.name));
      else if (e.isDirectory()) unreadable.push({ path: p, reason: `a folder that cannot be read: ${whyNotListed}` });
      else if (IMAGE_EXTENSIONS.has(extname(e.name).toLowerCase())) {
        const why = whyNotAFile(p);
        if (why) unreadable.push({ path: p, reason: why });
        else {
          files.push(p);
          names.push(join(inside, e.name));
        }
      }
    }
  };
  for (const i of inputs) {
    if (whyNotAFolder(i) === null) {
      folders.push(i);
      walk(i, '');
      continue;
    }
    const why = whyNotAFile(i);
    if (why) unreadable.push({ path: i, reason: why });
    else {
      files.push(i);
      names.push(basename(i));
    }
  }
  return { files, names, unreadable, folders };
}

/**
 * The class an input's name says it belongs to, if it is one of the model's: Kaggle's
 * `cat.0.jpg` (the name up to its first dot) or a class folder (`Cat/0001.jpg`); else null.
 */
export function classFromPath(path: string, classes: string[]): string | null {
  const find = (name: string) => classes.find((c) => c.toLowerCase() === name.toLowerCase()) ?? null;
  const file = basename(path);
  const dots = file.split('.').length - 1;
  return (dots >= 2 ? find(file.slice(0, file.indexOf('.'))) : null) ?? find(basename(dirname(path)));
}

/** What the maps show, in words, for the gallery's legend. */
function describeMode(job: CamJob): string {
  const method = job.method ?? 'cam';
  if (method !== 'cam') {
    const target = job.mode === 'contrast' ? `the predicted class's score minus ${job.contrast === 'mean' ? 'the mean of the others' : "the runner-up's"}` : job.className ? `class ${job.className}'s score` : "the predicted class's score";
    const weighting = method === 'scorecam' ? `each channel weighted by ${target} on the photo masked by it` : `activations weighted by the gradient of ${target}`;
    const where = job.layers ? `conv layers ${job.layers.join(', ')} fused by ${job.fuse ?? 'max'}` : `conv layer ${job.layer ?? 'last'}`;
    return `${method} at ${where}: ${weighting}, below 0 shown as 0, divided by the largest value`;
  }
  if (job.mode === 'contrast') return `contrast: the predicted class's map minus ${job.contrast === 'mean' ? 'the mean of the other classes' : "the runner-up's"}, divided by the largest |value|, below 0 shown as 0`;
  if (job.mode === 'class') return `class: ${job.className ? `the map of class ${job.className}` : "the predicted class's map"}, min-max normalized per image`;
  return `raw: ${job.className ? `class ${job.className}'s` : "the predicted class's"} unnormalized map, full colour at ${job.rawScale}`;
}

/** A box file larger than this is refused (a box is ~40 bytes: this is ~1.5 million images). */
const MAX_BOX_FILE = 64 * 2 ** 20;

export function readBoxes(path: string): Map<string, Box> {
  const why = whyNotAFile(path);
  if (why) throw new Error(`${path}: ${why}`);
  if (statSync(path).size > MAX_BOX_FILE) throw new Error(`${path}: larger than ${MAX_BOX_FILE / 2 ** 20} MiB; not a box file`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`${path}: cannot read boxes (${(e as Error).message.split('\n')[0]})`);
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new Error(`${path}: boxes must be a JSON object {"image.jpg": [x0, y0, x1, y1], ...}`);
  const map = new Map<string, Box>();
  for (const [name, box] of Object.entries(raw as Record<string, unknown>)) {
    const shown = quoteName(name);
    if (!Array.isArray(box) || box.length !== 4 || !box.every(Number.isFinite)) throw new Error(`${path}: box of ${shown} is not [x0, y0, x1, y1]`);
    if (!(box[0] < box[2] && box[1] < box[3])) throw new Error(`${path}: box of ${shown} is empty (needs x0 < x1 and y0 < y1)`);
    map.set(basename(name), box as Box);
  }
  return map;
}

/**
 * What a cam job reads and writes, checked before any work: the box file, the inputs (the
 * unreadable ones warned about and counted), --out (not inside an input folder, a folder or
 * absent) and every output name in it. `nothing`: no image to explain.
 */
export function planJob(job: CamJob, warn: (line: string) => void): { truth: Map<string, Box> | null; files: string[]; stems: string[]; failed: number } | { nothing: CamJobResult } {
  const truth = job.evalBoxes ? readBoxes(job.evalBoxes) : null;
  if (job.allClasses && (job.method ?? 'cam') !== 'cam') throw new Error(`--all-classes: every class's map is the cam method's (the dense weights over the layer); it does not go with --method ${job.method}`);
  if (job.report && (job.shard || job.resume)) throw new Error(`--report with ${job.shard ? '--shard' : '--resume'}: this run explains only part of the inputs; write --json and build the gallery of the whole folder afterwards with wgcam gallery ${job.outDir}`);
  const expanded = expandInputs(job.inputs);
  const { unreadable, folders } = expanded;
  let { files } = expanded;
  // Overlays written into a folder being explained would be explained (and trained on) next time.
  const inside = folders.find((f) => isInside(job.outDir, f));
  if (inside !== undefined) throw new Error(`--out ${job.outDir} is inside the input folder ${inside}; pick an --out outside it`);
  for (const u of unreadable) warn(`${u.path}: ${u.reason}`);
  if (files.length === 0) {
    if (!unreadable.length) warn('no images found in the given inputs');
    return { nothing: { records: [], failed: Math.max(1, unreadable.length) } };
  }
  // Stems come from the whole input list, so the shards of one run never pick the same name.
  let stems = outputStems(expanded.names);
  if (job.shard) {
    const mine = expanded.names.map((name) => inShard(name, job.shard!));
    [files, stems] = [files.filter((_, i) => mine[i]), stems.filter((_, i) => mine[i])];
    warn(`--shard ${job.shard.k}/${job.shard.n}: ${files.length} of the ${expanded.files.length} inputs`);
    if (files.length === 0) return { nothing: { records: [], failed: unreadable.length } };
  }
  if (truth && job.evalBoxes) checkBoxesCover(job.evalBoxes, truth, files, warn);
  const whyNot = existsSync(job.outDir) ? whyNotAFolder(job.outDir) : null;
  if (whyNot) throw new Error(`cannot use the output folder ${job.outDir} (${whyNot})`);
  if (job.resume) {
    const done = stems.map((stem) => plannedNames(job, stem).every((f) => existsSync(join(job.outDir, f))));
    const skipped = done.filter(Boolean).length;
    if (skipped) warn(`--resume: ${skipped} of ${stems.length} inputs already have every output in ${job.outDir}; explaining the other ${stems.length - skipped}`);
    [files, stems] = [files.filter((_, i) => !done[i]), stems.filter((_, i) => !done[i])];
    if (files.length === 0) return { nothing: { records: [], failed: unreadable.length } };
  }
  checkOutputNames(job, stems);
  return { truth, files, stems, failed: unreadable.length };
}

/**
 * Creates and locks --out for a cam run; returns the release. The shards of one run each take a
 * lock of their own (they write disjoint files) and leave the cleanup of temporaries alone: on a
 * shared file system another machine's shard is writing its own.
 */
export function takeOutFolder(job: CamJob, warn: (line: string) => void): () => void {
  try {
    mkdirSync(job.outDir, { recursive: true });
  } catch (e) {
    throw new Error(`cannot create ${job.outDir} (${(e as NodeJS.ErrnoException).code})`);
  }
  const unlock = lockRunFolder(job.outDir, 'cam', warn, job.shard ? `.wgcam-shard-${job.shard.k}-of-${job.shard.n}.lock` : LOCK_NAME);
  if (!job.shard) removeStaleTemporaries(job.outDir);
  return unlock;
}

/** Whether input `name` (its path inside the named folder) falls in shard k of n: by a hash of the name, so every machine of an array job agrees. */
export function inShard(name: string, shard: { k: number; n: number }): boolean {
  return createHash('sha256').update(name).digest().readUInt32BE(0) % shard.n === shard.k - 1;
}

/** The faithfulness scores' means, kept in `result` and printed in one line. */
export function reportFaithfulness(result: CamJobResult, faithful: Faithfulness[], print: (line: string) => void): void {
  const mean = (f: (x: Faithfulness) => number) => faithful.reduce((s, x) => s + f(x), 0) / faithful.length;
  const s = (result.faithfulness = {
    images: faithful.length,
    averageDrop: mean((x) => x.drop),
    increaseInConfidence: mean((x) => (x.increase ? 1 : 0)),
    deletionAuc: mean((x) => x.deletionAuc),
    insertionAuc: mean((x) => x.insertionAuc),
  });
  print(
    `Average Drop ${(100 * s.averageDrop).toFixed(1)}%  Increase in Confidence ${(100 * s.increaseInConfidence).toFixed(1)}%  ` +
      `Deletion AUC ${s.deletionAuc.toFixed(3)}  Insertion AUC ${s.insertionAuc.toFixed(3)}  over ${s.images} images (${DEFAULT_STEPS} steps, removed pixels black)`,
  );
}

/** Scores the maps against the known boxes and prints the line (a run that scored nothing has failed). */
export function reportBoxScores(result: CamJobResult, truth: Map<string, Box>, curves: BoxCurve[], boxThreshold: number, print: (line: string) => void, warn: (line: string) => void): void {
  const s = (result.scores = scoreBoxes(result.records, truth, curves));
  const pct = (v: number) => `${(100 * v).toFixed(1)}%`;
  if (s.images === 0) {
    warn('--eval-boxes: no photo with a box was explained, so nothing was scored');
    result.failed = Math.max(1, result.failed);
    return;
  }
  print(
    `pointing game ${pct(s.pointing)}  box accuracy (IoU >= 0.5 at ${boxThreshold}) ${pct(s.boxAccuracy)}  ` +
      `MaxBoxAcc ${pct(s.maxBoxAcc)} (at ${s.maxBoxAccThreshold.toFixed(2)})  MaxBoxAccV2 ${pct(s.maxBoxAccV2)} (IoU 0.3/0.5/0.7: ${s.maxBoxAccV2ByIou.map(pct).join('/')})  over ${s.images} images with known boxes`,
  );
}

/**
 * Boxes are matched to photos by file name: a box file that names none of the run's photos
 * (another data set, a typo in the names) is an error before any work, not a score of NaN;
 * one that names some says how many will be scored.
 */
function checkBoxesCover(path: string, truth: Map<string, Box>, files: string[], warn: (line: string) => void): void {
  const scored = files.filter((f) => truth.has(basename(f))).length;
  if (scored === 0) {
    const example = (names: Iterable<string>) => quoteName(names[Symbol.iterator]().next().value ?? '');
    throw new Error(`${path}: none of the ${files.length} photos of this run has a box there (it names ${truth.size} photos, such as ${example(truth.keys())}; this run's are such as ${example(files.map((f) => basename(f)))}); boxes are matched by file name`);
  }
  if (scored < files.length) warn(`${path}: ${scored} of the ${files.length} photos have a box; only those are scored`);
}

/**
 * Output stems for the inputs, unique within the output folder, in input order. Subfolders
 * of a named folder are mirrored (`bar/0.jpg` -> `bar/0`), each part made safe (no dot-dot,
 * no separators), so outputs never leave --out.
 */
function outputStems(names: string[]): string[] {
  const stems = new Set<string>();
  return names.map((name) => {
    const parts = name.split(sep);
    const base = [...parts.slice(0, -1).map((d) => safeStem(`${d}.x`)), safeStem(parts.at(-1)!)].join('/');
    let stem = base;
    for (let k = 2; stems.has(stem); k++) stem = `${base}-${k}`;
    stems.add(stem);
    return stem;
  });
}

/** The files the run writes for one input, in --out. */
function plannedNames(job: CamJob, stem: string): string[] {
  return [`${stem}.cam.png`, `${stem}.overlay.png`, ...(job.json ? [`${stem}.json`] : []), ...(job.report ? [`${stem}.photo.jpg`] : [])];
}

/**
 * Every name the run will write in --out, checked before any work: nothing but a regular file
 * is ever replaced, and nothing at all without --overwrite.
 */
export function checkOutputNames(job: CamJob, stems: string[]): void {
  const planned = stems.flatMap((stem) => plannedNames(job, stem));
  if (job.report) planned.push(REPORT_NAME);
  const paths = planned.map((f) => join(job.outDir, f));
  refuseToReplace(paths);
  // --resume redoes an input whose outputs are incomplete (a run stopped between its files).
  if (job.overwrite || job.resume) return;
  const clashes = planned.filter((_, i) => existsSync(paths[i]));
  if (clashes.length) {
    throw new Error(`${job.outDir} already holds ${clashes.length} of this run's output files (${clashes.slice(0, 3).join(', ')}${clashes.length > 3 ? ', ...' : ''}); pass --overwrite to replace them, or pick another --out`);
  }
}

export async function runCam(job: CamJob): Promise<CamJobResult> {
  const print = job.print ?? ((s) => process.stdout.write(printable(s) + '\n'));
  const warn = job.warn ?? ((s) => process.stderr.write(`wgcam: ${printable(s)}\n`));
  const stop = job.stop ?? new StopRequest();
  const loaded = loadModelFile(job.model);
  const { classes } = loaded.meta;
  let cls = -1;
  if (job.className !== undefined && job.mode === 'contrast') {
    throw new Error(`--class ${job.className}: the contrast mode always shows the predicted class minus ${job.contrast === 'mean' ? 'the mean of the others' : 'the runner-up'}; use --mode class or --mode raw for one chosen class`);
  }
  if (job.className !== undefined) {
    cls = classes.findIndex((c) => c.toLowerCase() === job.className!.toLowerCase());
    if (cls < 0 && /^\d+$/.test(job.className) && Number(job.className) < classes.length) cls = Number(job.className);
    if (cls < 0) throw new Error(`--class ${job.className}: the model's classes are ${classes.slice(0, 20).join(', ')}${classes.length > 20 ? `, ... (${classes.length})` : ''}`);
  }
  const convs = loaded.meta.arch.blocks.split('-').filter((b) => b !== 'p').length;
  for (const layer of job.layers ?? (job.layer !== undefined ? [job.layer] : [])) {
    if (layer < 1 || layer > convs) throw new Error(`--layer ${layer}: ${job.model} has conv layers 1..${convs}`);
  }
  if ((job.method ?? 'cam') === 'cam' && job.layers) throw new Error(`--layer ${job.layers.join(',')}: the cam method reads the last conv layer only; fuse layers with another method (gradcam, gradcam++, xgradcam, layercam, hirescam, scorecam)`);
  if ((job.method ?? 'cam') === 'cam' && job.layer !== undefined && job.layer !== convs) {
    throw new Error(`--layer ${job.layer}: the cam method reads the last conv layer (${convs}); the other methods (gradcam, gradcam++, xgradcam, layercam, hirescam, scorecam) read any`);
  }
  const planned = planJob(job, warn);
  if ('nothing' in planned) return planned.nothing;
  const { truth, files, stems, failed } = planned;
  // The model's memory estimate is checked (by the Explainer) before --out is touched.
  const gpu = await openGpu();
  const backend = new GpuBackend(gpu);
  const model = buildModel(backend, loaded);
  let unlock = () => {};
  try {
    const explainer = new Explainer(backend, model, { limit: job.memoryLimit ?? defaultMemoryLimit(), source: job.model });
    unlock = takeOutFolder(job, warn);
    checkOutputNames(job, stems); // again under the lock: another run may have written meanwhile
    return await explainAll(job, explainer, loaded, cls, files, stems, failed, truth, stop, print, warn);
  } finally {
    model.dispose();
    gpu.destroy();
    unlock();
  }
}

async function explainAll(
  job: CamJob,
  explainer: Explainer,
  loaded: LoadedModel,
  cls: number,
  files: string[],
  stems: string[],
  failedBefore: number,
  truth: Map<string, Box> | null,
  stop: StopRequest,
  print: (line: string) => void,
  warn: (line: string) => void,
): Promise<CamJobResult> {
  const { classes, input } = loaded.meta;
  let failed = failedBefore;
  const method = job.method ?? 'cam';
  const layer = job.layer ?? loaded.meta.arch.blocks.split('-').filter((b) => b !== 'p').length;
  // Fused layers are drawn on the finest (the earliest) layer's grid.
  const gridLayer = job.layers ? Math.min(...job.layers) : layer;
  const shows = { method, layer: job.layers ?? layer, fuse: job.layers ? (job.fuse ?? 'max') : undefined, flip: job.flip || undefined, mode: job.mode, contrast: job.contrast, cls };
  const output: OutputOptions = { outDir: job.outDir, colormap: job.colormap, alpha: job.alpha, box: job.box, json: job.json, overwrite: true, boxThreshold: job.boxThreshold ?? 0.2, photo: job.report, shows };
  const opts: CamOptions = { method, layer, layers: job.layers, fuse: job.fuse, flip: job.flip, mode: job.mode, contrast: job.contrast, cls, rawScale: job.rawScale, allClasses: job.allClasses, inputMaps: job.metrics };
  const faithful: Faithfulness[] = [];

  const records: CamRecord[] = [];
  const curves: BoxCurve[] = [];
  const geometry = cellGeometry(blocksThroughConv(loaded.meta.arch.blocks, gridLayer));
  let stopped = false;
  for (let b = 0; b < files.length; b += job.batch) {
    if (stop.requested) {
      stopped = true;
      warn(`${stopWords(stop.reason!)}: stopped after ${records.length} of ${files.length} images; the files written so far are complete`);
      break;
    }
    const chunk = files.slice(b, b + job.batch);
    const loadedPhotos = await Promise.allSettled(chunk.map((f) => loadPhoto(f, input)));
    const ok: { file: string; stem: string; photo: { data: Uint8Array; width: number; height: number }; input: Uint8Array }[] = [];
    loadedPhotos.forEach((r, i) => {
      if (r.status === 'fulfilled') ok.push({ file: chunk[i], stem: stems[b + i], ...r.value });
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
    const scored = job.metrics
      ? await faithfulness(
          explainer.backend,
          explainer.model,
          ok.map((o) => o.input),
          results.map((r) => r.inputMap!),
          results.map((r) => r.probs),
        )
      : null;
    for (let i = 0; i < ok.length; i++) {
      try {
        if (results[i].error) throw new Error(results[i].error);
        const ph = ok[i].photo;
        if (scored) {
          results[i].faithfulness = scored[i];
          faithful.push(scored[i]);
        }
        const rec = await writeCamOutputs(ok[i].file, ok[i].stem, results[i], ph, classes, output, cellToPhoto(geometry, input.width, input.height, ph.width, ph.height));
        rec.truth = classFromPath(ok[i].file, classes);
        const known = truth?.get(basename(ok[i].file));
        if (known) curves.push(boxCurve(ok[i].file, results[i].upsampled, ph.width, ph.height, known));
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
  const result: CamJobResult = { records, failed, stopped };
  if (faithful.length) reportFaithfulness(result, faithful, print);
  if (truth) reportBoxScores(result, truth, curves, job.boxThreshold ?? 0.2, print, warn);
  if (job.report) {
    if (records.length) {
      result.reportPath = writeReport(job.outDir, records, `wgcam: ${basename(job.model)}`, { colormap: job.colormap, mode: describeMode(job) });
      print(`gallery: ${result.reportPath}`);
    } else {
      warn('no gallery written: no image was explained');
    }
  }
  return result;
}
