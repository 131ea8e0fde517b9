/**
 * The training job: prepare the data, build (or resume) the model, train on the GPU
 * with progress, validate and checkpoint every epoch, keep the best, write model.bin.
 */
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { removeStaleTemporaries, writeFileAtomic } from '../io/atomic.ts';
import { isInside, refuseToReplace, whyNotAFolder } from '../io/input-path.ts';
import { lockRunFolder } from '../io/run-lock.ts';
import { imagesThatFit, trainingNeed, type MemoryLimit } from '../nn/memory.ts';
import { defaultMemoryLimit } from '../nn/machine-memory.ts';
import { StopRequest, stopWords } from '../util/stop.ts';
import { reportLines } from '../eval/metrics.ts';
import { Predictor } from '../eval/predictor.ts';
import { EVAL_FILES, evaluateImages, saveEvaluation } from '../eval/run.ts';
import { RUN_REPORT_FILES, writeRunReport } from './run-report.ts';
import type { Gpu } from '../gpu/runtime.ts';
import { openGpu } from '../gpu/dawn.ts';
import { prepareDataset, thinClassWarnings, type ImageSet } from '../data/dataset.ts';
import { stratifiedSplit } from '../data/split.ts';
import { buildModel, loadModelFile, ModelFileError, OPTIMIZER_SLOTS, saveModel, type LoadedModel, type ModelMeta, type TrainingState } from '../io/model-file.ts';
import { Classifier, DEFAULT_ARCH, defaultArchFor, featureShapes, normalizeBlocks, parseBlocks, type Arch } from '../nn/model.ts';
import { makeOptimizer } from '../nn/optim.ts';
import { departures, describeChoices, fixedChoices, measureConvChoices, recorded, usableChoices, type RememberedChoice } from '../nn/conv-choice.ts';
import { ConvChoiceCache } from '../nn/conv-choice-cache.ts';
import type { ConvChoice } from '../kernels/conv-choice-key.ts';
import { evalStep, takeStats, trainStep, type Batch } from '../nn/train-step.ts';
import { GpuBackend } from '../tensor/gpu-backend.ts';
import { Tensor } from '../tensor/tensor.ts';
import { destroyReplicas, gatherStats, parallelStep, type Replica } from './data-parallel.ts';
import { Rng } from '../util/rng.ts';
import { bar, formatDuration, Progress } from '../util/progress.ts';

/**
 * A training run's settings. The optional ones are what the user may leave out: a fresh run
 * takes the defaults, a resumed run the checkpoint's (and refuses a flag that contradicts it).
 */
export interface TrainOptions {
  data: string;
  out: string;
  epochs: number;
  batch?: number;
  lr?: number;
  optimizer?: 'sgd' | 'adam';
  /** L2 weight decay (SGD) or decoupled weight decay (Adam); default 0. */
  weightDecay?: number;
  size?: number;
  arch?: string;
  seed?: number;
  valSplit?: number;
  flip?: boolean;
  /** IDX class subset. */
  classes?: string;
  /**
   * 'measured' (default): time each convolution's variants (direct, Winograd) at the run's
   * layer shapes and keep the fastest, or reuse what an earlier run measured on this adapter
   * (nn/conv-choice-cache.ts); 'remeasure': time them again; 'direct': every kernel's default; 'winograd2' /
   * 'winograd4' / 'winograd6': that variant wherever the device runs it. A resumed run keeps its
   * checkpoint's choices (and refuses a fixed mode that contradicts them).
   */
  convKernels?: ConvKernelsMode;
  resume: boolean;
  /** Start a fresh run in an --out that holds another run's files (they are removed). */
  overwrite?: boolean;
  cache?: string;
  /** WebGPU devices to train on in data parallel (default 1). */
  devices?: number;
  /** The memory a training step may take (default: half of this machine's memory). */
  memoryLimit?: MemoryLimit;
  /** Set by signals (see util/stop.ts): the run saves after the current step and returns. */
  stop?: StopRequest;
  /** Epoch checkpoints kept: the newest this many (default 3; Infinity keeps all). best.bin is kept apart. */
  keep?: number;
  /** Called after each epoch's checkpoint (the CAM --watch hook). */
  afterEpoch?: (ctx: { epoch: number; model: Classifier; data: ImageSet; val: number[]; meta: ModelMeta }) => Promise<void>;
  progress?: Progress;
}

/** The settings in force once defaults (fresh run) or the checkpoint (resume) filled the gaps. */
interface Settings {
  batch: number;
  lr: number;
  optimizer: 'sgd' | 'adam';
  weightDecay: number;
  size?: number;
  arch: string;
  seed: number;
  valSplit: number;
  flip: boolean;
  classes?: string;
}

export interface TrainResult {
  epochs: number;
  valAccuracy: number;
  bestValAccuracy: number;
  modelPath: string;
  stoppedEarly: boolean;
  /** The run was already complete: nothing was trained and no file changed. */
  nothingToDo?: boolean;
  /** Source paths of the validation images. */
  valFiles: string[];
}

export class TrainingError extends Error {}

/** Logical devices on one adapter beyond this are refused (Dawn runs out of driver resources near 200). */
export const MAX_DEVICES = 16;

const pad3 = (n: number) => String(n).padStart(3, '0');

/** The images of one epoch, in a shuffled order and with flips, derived from (seed, epoch) alone so a resumed run repeats it exactly. */
export function epochPlan(seed: number, epoch: number, train: number[], flip: boolean) {
  const rng = new Rng((seed * 7919 + epoch * 104729) >>> 0);
  const order = rng.shuffle([...train]);
  const flips = Float32Array.from(order, () => (flip && rng.next() < 0.5 ? 1 : 0));
  return { order, flips };
}

function makeBatch(data: ImageSet, indices: number[], flips?: Float32Array): Batch {
  return { pixels: data.read(indices), labels: Float32Array.from(indices, (i) => data.labels[i]), flips, n: indices.length };
}

function latestCheckpoint(out: string): string | null {
  if (!existsSync(out)) return null;
  const names = readdirSync(out).filter((f) => /^epoch-\d{3,}\.bin$/.test(f) || f === 'interrupted.bin');
  let best: { path: string; epoch: number; step: number } | null = null;
  for (const name of names) {
    const path = join(out, name);
    try {
      const t = loadModelFile(path).meta.training;
      if (t && (!best || t.epoch > best.epoch || (t.epoch === best.epoch && t.step > best.step))) best = { path, epoch: t.epoch, step: t.step };
    } catch {
      // an unreadable checkpoint is skipped; the others still count
    }
  }
  return best?.path ?? null;
}

/**
 * The convolution variants of the run: a resumed run's from its checkpoint (those this device
 * cannot run fall back to the default, with a warning), a fresh run's measured here.
 */
async function convKernelsFor(o: TrainOptions, gpu: Gpu, arch: Arch, batch: number, done: TrainingState | undefined, progress: Progress): Promise<ConvChoice[]> {
  if (done) {
    const fixed = o.convKernels && !isMeasured(o.convKernels) ? choicesOf(o.convKernels, gpu, arch) : null;
    const kept = departures(done.convKernels ?? [], gpu);
    if (fixed && departures(fixed, gpu).join('\n') !== kept.join('\n')) {
      const variants = [...new Set(kept.map((d) => d.split(' ').at(-1)))];
      const chose = variants.length ? `${variants.join(' and ')} by layer` : 'the direct kernels';
      throw new TrainingError(`--conv-kernels ${o.convKernels} contradicts the run being resumed, which chose ${chose}; leave --conv-kernels out to continue it`);
    }
    const { usable, dropped } = usableChoices(done.convKernels ?? [], gpu);
    if (dropped.length) {
      progress.log(`warning: this adapter cannot run ${dropped.map((c) => `${c.variant} (${c.kernel} ${c.shape})`).join(', ')}, which the run chose; those layers use the default kernel now, so the run no longer repeats bit for bit`);
    }
    return usable;
  }
  if (o.convKernels && !isMeasured(o.convKernels)) return choicesOf(o.convKernels, gpu, arch);
  // Measured once per adapter, shape and batch, then reused: the same command gives the same model.
  const cache = new ConvChoiceCache();
  const remembered: RememberedChoice | undefined = o.convKernels === 'remeasure' ? undefined : (kernel, shape, b) => cache.lookup(gpu, kernel, shape, b);
  const measured = await measureConvChoices(gpu, arch, batch, (n, total) => progress.update(`timing conv kernels per layer ${bar(n / total)} ${n}/${total}`), remembered);
  const timed = measured.filter((c) => !c.remembered);
  if (timed.length) {
    try {
      cache.store(gpu, batch, timed);
    } catch (e) {
      progress.log(`warning: could not keep the measured conv kernels for later runs (${(e as Error).message}); the next run times them again`);
    }
  }
  const source = timed.length === 0 ? `as measured before on this adapter, kept in ${cache.path}; --conv-kernels remeasure times them again` : `measured at batch ${batch}, kept in ${cache.path}`;
  progress.log(`conv kernels (${source}): ${describeChoices(measured)}`);
  return recorded(measured);
}

export const CONV_KERNEL_MODES = ['measured', 'remeasure', 'direct', 'winograd2', 'winograd4', 'winograd6'] as const;
export type ConvKernelsMode = (typeof CONV_KERNEL_MODES)[number];
const isMeasured = (mode: ConvKernelsMode): mode is 'measured' | 'remeasure' => mode === 'measured' || mode === 'remeasure';

/** A fixed mode's choices ('direct': none, every kernel's default). */
const choicesOf = (mode: Exclude<ConvKernelsMode, 'measured' | 'remeasure'>, gpu: Gpu, arch: Arch): ConvChoice[] => (mode === 'direct' ? [] : fixedChoices(gpu, arch, mode));

/** Fills the settings a resumed run leaves out from its checkpoint; a contradicting flag is refused naming both. */
function resumeSettings(o: TrainOptions, from: string, meta: ModelMeta): Settings {
  const t = meta.training!;
  const given: [string, unknown, unknown][] = [
    ['--batch', o.batch, t.batch],
    ['--lr', o.lr, t.lr],
    ['--optimizer', o.optimizer, t.optimizer],
    ['--weight-decay', o.weightDecay, t.weightDecay],
    ['--arch', o.arch === undefined ? undefined : normalizeBlocks(o.arch), normalizeBlocks(meta.arch.blocks)],
    ['--seed', o.seed, t.seed],
    ['--val-split', o.valSplit, t.valSplit],
    ['--classes', o.classes, t.classesOption],
  ];
  for (const [flag, value, recorded] of given) {
    if (value !== undefined && recorded !== undefined && value !== recorded) {
      throw new TrainingError(`${flag} ${value} contradicts the run being resumed (${from} has ${flag} ${recorded}); leave ${flag} out to continue it, or start a new run in another --out`);
    }
  }
  if (o.flip !== undefined && t.flip !== undefined && o.flip !== t.flip) {
    throw new TrainingError(`${o.flip ? 'flips' : '--no-flip'} contradicts the run being resumed (${from} was trained ${t.flip ? 'with flips' : 'with --no-flip'}); leave it out to continue the run`);
  }
  if (o.size !== undefined && o.size !== meta.arch.height && meta.input.channels === 3) {
    throw new TrainingError(`--size ${o.size} contradicts the run being resumed (${from} has --size ${meta.arch.height}); leave --size out to continue it`);
  }
  return {
    batch: t.batch,
    lr: t.lr,
    optimizer: t.optimizer,
    weightDecay: t.weightDecay ?? o.weightDecay ?? 0,
    size: meta.input.channels === 3 ? meta.arch.height : o.size,
    arch: meta.arch.blocks,
    seed: t.seed,
    valSplit: t.valSplit ?? o.valSplit ?? 0.2,
    flip: t.flip ?? o.flip ?? true,
    classes: t.classesOption ?? o.classes,
  };
}

function freshSettings(o: TrainOptions): Settings {
  const optimizer = o.optimizer ?? 'adam';
  return {
    batch: o.batch ?? 64,
    lr: o.lr ?? (optimizer === 'adam' ? 1e-3 : 0.01),
    optimizer,
    weightDecay: o.weightDecay ?? 0,
    size: o.size,
    arch: o.arch === undefined ? '' : normalizeBlocks(o.arch),
    seed: o.seed ?? 1,
    valSplit: o.valSplit ?? 0.2,
    flip: o.flip ?? true,
    classes: o.classes,
  };
}

export function checkNumbers(o: Pick<TrainOptions, 'epochs' | 'batch' | 'valSplit' | 'weightDecay' | 'lr' | 'devices' | 'arch'>): void {
  if (!(o.epochs >= 1)) throw new TrainingError(`--epochs ${o.epochs}: must be at least 1`);
  if (o.batch !== undefined && !(o.batch >= 1)) throw new TrainingError(`--batch ${o.batch}: must be at least 1`);
  if (o.valSplit !== undefined && !(o.valSplit >= 0 && o.valSplit < 1)) throw new TrainingError(`--val-split ${o.valSplit}: must be in [0, 1)`);
  if (o.weightDecay !== undefined && !(o.weightDecay >= 0)) throw new TrainingError(`--weight-decay ${o.weightDecay}: must be >= 0`);
  if (o.lr !== undefined && !(o.lr > 0 && Number.isFinite(o.lr))) throw new TrainingError(`--lr ${o.lr}: must be a number > 0`);
  const devices = o.devices ?? 1;
  if (!(Number.isInteger(devices) && devices >= 1 && devices <= MAX_DEVICES)) {
    throw new TrainingError(`--devices ${devices}: must be a whole number from 1 to ${MAX_DEVICES} (logical devices share one adapter's driver resources)`);
  }
  if (o.arch) parseBlocks(o.arch); // a typo is one line before minutes of decoding, not after
}

/** What a run trains on, as it tells the user: the images per class, the files skipped or left out, the thin classes. */
export function reportData(dir: string, data: ImageSet, log: (line: string) => void): void {
  const counts = data.classes.map((c, i) => `${c} ${data.labels.filter((l) => l === i).length}`).join(', ');
  log(`data: ${dir} (${data.layout} layout), ${data.count} images ${data.width}x${data.height}x${data.channels} [${counts}], cache ${data.cache}`);
  if (data.bad.length) log(`skipped ${data.bad.length} unreadable file${data.bad.length > 1 ? 's' : ''} (listed in ${data.badReport})`);
  if (data.unlabelled.length) {
    const n = data.unlabelled.length;
    log(`warning: left out ${n} image${n > 1 ? 's' : ''} without a class prefix (${data.unlabelled.slice(0, 2).map((p) => basename(p)).join(', ')}${n > 2 ? ', ...' : ''}): the Kaggle layout takes the class from names like cat.0.jpg`);
  }
  for (const line of thinClassWarnings(data)) log(line);
}

/** Epoch checkpoints kept by default: enough to step back a little, not one 4.6 MB file per epoch. */
export const DEFAULT_KEEP = 3;

/** Removes all but the newest `keep` epoch-NNN.bin files (the newest is the one --resume needs). */
export function dropOldCheckpoints(out: string, keep: number, pattern = /^epoch-(\d{3,})\.bin$/): void {
  const number = (f: string) => Number(pattern.exec(f)![1]);
  const epochs = readdirSync(out).filter((f) => pattern.test(f)).sort((a, b) => number(a) - number(b));
  for (const f of epochs.slice(0, Math.max(0, epochs.length - keep))) rmSync(join(out, f), { force: true });
}

/** The run's earlier metrics lines up to `epochs` (a resume from an older checkpoint drops the later ones). */
export function keepMetricsUpTo(out: string, epochs: number): void {
  const path = join(out, 'metrics.jsonl');
  if (!existsSync(path)) return;
  const lines = readFileSync(path, 'utf8').split('\n').filter((l) => {
    try {
      return l && (JSON.parse(l) as { epoch: number }).epoch <= epochs;
    } catch {
      return false;
    }
  });
  writeFileAtomic(path, lines.map((l) => l + '\n').join(''));
}

/** The validation report of best.bin (accuracy, per-class figures, confusion matrix), printed and saved into --out. */
async function reportBest(bestPath: string, gpu: Gpu, data: ImageSet, valIdx: number[], out: string, log: (s: string) => void): Promise<void> {
  const loaded = loadModelFile(bestPath);
  const model = buildModel(new GpuBackend(gpu), loaded);
  try {
    const e = await evaluateImages(new Predictor(gpu, model, bestPath), loaded.meta.classes, data, valIdx, data.classes.map((_, c) => c));
    log(`${bestPath}: the best epoch, ${loaded.meta.training?.epoch ?? '?'}, on the ${valIdx.length} validation images:`);
    for (const line of reportLines(e.report)) log(`  ${line}`);
    const saved = await saveEvaluation(out, e, { model: bestPath, split: 'validation' }, `${bestPath} on the validation images`, true);
    log(`wrote ${saved.join(', ')}`);
  } finally {
    model.dispose();
  }
}

export async function train(o: TrainOptions): Promise<TrainResult> {
  const progress = o.progress ?? new Progress();
  checkNumbers(o);
  return withRunFolder(o.out, o.data, progress, () => trainLocked(o, progress));
}

/** Runs `job` with the output folder made (not inside the data) and locked against a second run. */
export async function withRunFolder<T>(out: string, data: string, progress: Progress, job: () => Promise<T>): Promise<T> {
  const o = { out, data };
  const log = (s: string) => progress.log(s);
  if (isInside(o.out, o.data)) {
    throw new TrainingError(`--out ${o.out} is inside --data ${o.data}: the next run would train on its own outputs; pick an --out outside the data folder`);
  }
  const whyNot = existsSync(o.out) ? whyNotAFolder(o.out) : null;
  if (whyNot) throw new TrainingError(`cannot use the output folder ${o.out} (${whyNot})`);
  try {
    mkdirSync(o.out, { recursive: true });
  } catch (e) {
    throw new TrainingError(`cannot create the output folder ${o.out} (${(e as NodeJS.ErrnoException).code})`);
  }
  const unlock = lockRunFolder(o.out, 'train', log);
  try {
    return await job();
  } finally {
    unlock();
  }
}

/**
 * The run folder made ready: temporaries of an interrupted run removed, every file the run
 * will replace checked to be a regular file (now, not after an epoch of work), and an earlier
 * run's files removed with --overwrite (a fresh run must not mix with an earlier one: a later
 * --resume would pick its newest checkpoint).
 */
function readyRunFolder(o: TrainOptions, log: (line: string) => void): void {
  const leftovers = removeStaleTemporaries(o.out);
  if (leftovers.length) log(`removed ${leftovers.length} temporary file${leftovers.length > 1 ? 's' : ''} left in ${o.out} by an interrupted run`);
  const earlier = readdirSync(o.out).filter((f) => /^(epoch-\d{3,}|interrupted|best|model)\.bin$|^metrics\.jsonl$/.test(f));
  refuseToReplace(['model.bin', 'best.bin', 'interrupted.bin', 'metrics.jsonl', ...EVAL_FILES, ...RUN_REPORT_FILES, ...earlier].map((f) => join(o.out, f)));
  if (o.resume || !earlier.length) return;
  if (!o.overwrite) {
    throw new TrainingError(`${o.out} already holds a training run (${earlier.slice(0, 3).join(', ')}${earlier.length > 3 ? ', ...' : ''}); continue it with --resume, start over with --overwrite, or pick another --out`);
  }
  for (const f of [...earlier, ...EVAL_FILES, ...RUN_REPORT_FILES]) rmSync(join(o.out, f), { force: true });
}

/** Where the run starts: with --resume, the newest checkpoint (its weights, settings and training state); else fresh settings. */
function startingPoint(o: TrainOptions, log: (line: string) => void): { resumeFrom: string | null; loaded: LoadedModel | null; set: Settings; done?: TrainingState } {
  const resumeFrom = o.resume ? latestCheckpoint(o.out) : null;
  if (o.resume && !resumeFrom) log(`--resume: no checkpoint in ${o.out}, starting fresh`);
  const loaded = resumeFrom ? loadModelFile(resumeFrom) : null;
  if (loaded && loaded.optimizerState.size === 0) throw new ModelFileError(`${resumeFrom}: holds no optimizer state, so training cannot continue from it`);
  const set = loaded ? resumeSettings(o, resumeFrom!, loaded.meta) : freshSettings(o);
  return { resumeFrom, loaded, set, done: loaded?.meta.training };
}

/** What one epoch's steps read. */
interface EpochContext {
  o: TrainOptions;
  set: Settings;
  data: ImageSet;
  trainIdx: number[];
  replicas: Replica[];
  stats: Tensor;
  micro: number;
  stop: StopRequest;
  progress: Progress;
}

/**
 * The training steps of one epoch from step `first`, its progress line updated at most once a
 * second and after the last step; `stoppedAfter` is the number of steps done where a stop was
 * asked for before the last one (the caller saves the interrupted state).
 */
async function epochSteps(c: EpochContext, epoch: number, first: number): Promise<{ seen: number; running: { lossSum: number; correct: number; count: number }; seconds: number; stoppedAfter?: number }> {
  const { o, set, replicas, stats, micro } = c;
  const steps = Math.ceil(c.trainIdx.length / set.batch);
  const plan = epochPlan(set.seed, epoch, c.trainIdx, set.flip);
  const t0 = performance.now();
  let seen = 0;
  const running = { lossSum: 0, correct: 0, count: 0 };
  let lastRead = performance.now();
  for (let step = first; step < steps; step++) {
    const lo = step * set.batch;
    const idx = plan.order.slice(lo, lo + set.batch);
    const batch = makeBatch(c.data, idx, plan.flips.subarray(lo, lo + idx.length));
    if (replicas.length === 1) trainStep(replicas[0].model, replicas[0].opt, batch, stats, micro);
    else await parallelStep(replicas, batch, micro);
    // Recording a step never waits for the GPU, so give signal handlers their turn:
    // a stop is then seen right after the step it interrupted.
    await new Promise((resolve) => setImmediate(resolve));
    seen += idx.length;
    const last = step === steps - 1;
    if (last || c.stop.requested || performance.now() - lastRead > 1000) {
      await gatherStats(replicas);
      const s = await takeStats(stats);
      lastRead = performance.now();
      running.lossSum += s.loss * s.count;
      running.correct += s.accuracy * s.count;
      running.count += s.count;
      if (!Number.isFinite(s.loss)) {
        throw new TrainingError(`the loss became ${s.loss} at epoch ${epoch + 1} step ${step + 1}; lower --lr (now ${set.lr}). Checkpoints written so far are intact.`);
      }
      const secs = (performance.now() - t0) / 1000;
      const ips = seen / secs;
      const left = ((steps - step - 1) * set.batch) / ips + (o.epochs - epoch - 1) * (c.trainIdx.length / ips);
      c.progress.update(
        `epoch ${epoch + 1}/${o.epochs} ${bar((step + 1) / steps)} step ${step + 1}/${steps}  loss ${(running.lossSum / running.count).toFixed(4)}  acc ${((100 * running.correct) / running.count).toFixed(1)}%  ${ips.toFixed(1)} img/s  ETA ${formatDuration(left)}`,
      );
    }
    if (c.stop.requested && !last) return { seen, running, seconds: (performance.now() - t0) / 1000, stoppedAfter: step + 1 };
  }
  return { seen, running, seconds: (performance.now() - t0) / 1000 };
}

async function trainLocked(o: TrainOptions, progress: Progress): Promise<TrainResult> {
  const log = (s: string) => progress.log(s);
  const stop = o.stop ?? new StopRequest();
  readyRunFolder(o, log);
  const { resumeFrom, loaded, set, done } = startingPoint(o, log);
  const modelPath = join(o.out, 'model.bin');
  if (done && done.step === 0 && done.epoch >= o.epochs && (existsSync(modelPath) || done.epoch > o.epochs)) {
    log(`nothing to do: ${o.out} already holds ${done.epoch} trained epoch${done.epoch > 1 ? 's' : ''} (--epochs ${o.epochs}); pass a larger --epochs to train further`);
    return { epochs: done.epoch, valAccuracy: loaded!.meta.valAccuracy ?? NaN, bestValAccuracy: NaN, modelPath, stoppedEarly: false, nothingToDo: true, valFiles: [] };
  }

  const devices = o.devices ?? 1;
  if (devices > set.batch) throw new TrainingError(`--devices ${devices}: more devices than images in a batch (--batch ${set.batch})`);
  const data = await prepareDataset(o.data, {
    size: set.size,
    cacheDir: o.cache,
    classes: set.classes,
    signal: stop.signal,
    onProgress: (n, total) => progress.update(`preparing images ${bar(n / total)} ${n}/${total}`),
  });
  const gpus: Gpu[] = [];
  try {
    reportData(o.data, data, log);
    if (data.layout === 'idx' && o.size !== undefined && o.size !== data.height) log(`note: IDX images keep their own ${data.width}x${data.height} size; --size ${o.size} applies to photos only`);
    const { train: trainIdx, val: valIdx } = stratifiedSplit(data.labels, set.valSplit, set.seed);
    if (trainIdx.length === 0) throw new TrainingError('no training images left after the validation split');

    const blocks = set.arch || defaultArchFor(data.channels, data.height, data.width);
    if (!set.arch && blocks !== DEFAULT_ARCH) log(`arch: ${blocks} (the default ${DEFAULT_ARCH}, shortened to fit ${data.width}x${data.height} images)`);
    const arch: Arch = { blocks, inputChannels: data.channels, height: data.height, width: data.width, classes: data.classes.length };
    featureShapes(arch); // a clear error if the images are too small for the network
    if (loaded && (JSON.stringify(loaded.meta.arch) !== JSON.stringify(arch) || JSON.stringify(loaded.meta.classes) !== JSON.stringify(data.classes))) {
      throw new ModelFileError(`${resumeFrom}: trained for arch ${loaded.meta.arch.blocks} at ${loaded.meta.arch.width}x${loaded.meta.arch.height} on [${loaded.meta.classes}], not this data (${data.width}x${data.height}, [${data.classes}]); use another --out`);
    }
    const need = trainingNeed(arch, OPTIMIZER_SLOTS[set.optimizer].length);
    for (let i = 0; i < devices; i++) gpus.push(await openGpu());
    const gpu = gpus[0];
    const what = resumeFrom ?? `model ${arch.blocks} at ${arch.width}x${arch.height}`;
    const micro = imagesThatFit(what, need, Math.ceil(set.batch / devices), o.memoryLimit ?? defaultMemoryLimit(), gpu.maxBindingBytes, devices);
    const valFiles = valIdx.map((i) => data.names[i]);

    const startEpoch = done?.epoch ?? 0;
    const startStep = done?.step ?? 0;
    const { lr } = set;
    if (done) {
      keepMetricsUpTo(o.out, startEpoch);
      log(`resuming from ${resumeFrom}: epoch ${startEpoch + 1}, step ${startStep + 1} (batch ${set.batch}, ${set.optimizer} lr ${lr}, seed ${set.seed}${set.flip ? '' : ', no flips'})`);
    }
    // One replica per device, identical from the start (same seed, or the same checkpoint).
    const replicas: Replica[] = gpus.map((g) => {
      const backend = new GpuBackend(g);
      const model = loaded ? buildModel(backend, loaded) : new Classifier(backend, arch, new Rng(set.seed));
      const opt = makeOptimizer(set.optimizer, backend, model.parameters(), { lr, weightDecay: set.weightDecay });
      if (loaded) opt.load(done!.optimizerSteps, loaded.optimizerState);
      return { gpu: g, backend, model, opt, stats: Tensor.zeros(backend, [4]).keep() };
    });
    const convKernels = await convKernelsFor(o, gpu, arch, micro, done, progress);
    for (const r of replicas) r.backend.useConvChoices(convKernels);
    const { model, opt, stats } = replicas[0];
    log(`model: ${arch.blocks} -> GAP -> dense ${arch.classes}; ${model.parameters().reduce((a, [, t]) => a + t.size, 0)} parameters; ${set.optimizer} lr ${lr}; batch ${set.batch}${micro * devices < set.batch ? ` (micro-batches of ${micro})` : ''}; ${gpu.adapterName}${devices > 1 ? ` x ${devices} devices` : ''}`);

    let best = -1;
    const bestPath = join(o.out, 'best.bin');
    if (resumeFrom && existsSync(bestPath)) {
      try {
        best = loadModelFile(bestPath).meta.valAccuracy ?? -1;
      } catch {
        best = -1;
      }
    }

    const meta = (epoch: number, step: number, valAccuracy?: number, valLoss?: number): ModelMeta => {
      const training: TrainingState = {
        epoch,
        step,
        seed: set.seed,
        optimizer: set.optimizer,
        lr,
        batch: set.batch,
        optimizerSteps: opt.steps,
        flip: set.flip,
        valSplit: set.valSplit,
        weightDecay: set.weightDecay,
        ...(set.classes !== undefined ? { classesOption: set.classes } : {}),
        convKernels,
      };
      return {
        arch,
        classes: data.classes,
        input: { height: data.height, width: data.width, channels: data.channels, resize: 'fill', scale: '1/255' },
        valAccuracy,
        valLoss,
        training,
      };
    };

    // What a person looks at beside the weights (overlays, curves, reports) never stops the
    // run: a failure is told once per kind of output, and training goes on.
    const failedOutputs = new Set<string>();
    const sideOutput = async (what: string, write: () => Promise<void>) => {
      try {
        await write();
      } catch (e) {
        if (failedOutputs.has(what)) return;
        failedOutputs.add(what);
        log(`warning: could not write ${what} (${(e as Error).message}); training goes on without it`);
      }
    };

    const reportTitle = `wgcam training run ${o.out}: ${arch.blocks} on ${data.classes.slice(0, 10).join(', ')}${data.classes.length > 10 ? ', ...' : ''}`;
    let lastVal = { loss: loaded?.meta.valLoss ?? NaN, accuracy: loaded?.meta.valAccuracy ?? NaN };
    const stoppedBy = () => stopWords(stop.reason!);
    try {
      for (let epoch = startEpoch; epoch < o.epochs; epoch++) {
        const first = epoch === startEpoch ? startStep : 0;
        const { seen, running, seconds: trainSecs, stoppedAfter } = await epochSteps({ o, set, data, trainIdx, replicas, stats, micro, stop, progress }, epoch, first);
        if (stoppedAfter !== undefined) {
          const path = join(o.out, 'interrupted.bin');
          await saveModel(path, model, meta(epoch, stoppedAfter), opt);
          log(`${stoppedBy()}: saved ${path} (epoch ${epoch + 1}, step ${stoppedAfter}); continue with --resume`);
          return { epochs: epoch, valAccuracy: lastVal.accuracy, bestValAccuracy: best, modelPath: path, stoppedEarly: true, valFiles };
        }
        for (let v = 0; v < valIdx.length; v += set.batch) evalStep(model, makeBatch(data, valIdx.slice(v, v + set.batch)), stats, micro);
        const val = valIdx.length ? await takeStats(stats) : { loss: NaN, accuracy: NaN, count: 0 };
        if (valIdx.length && !Number.isFinite(val.loss)) {
          throw new TrainingError(`the validation loss became ${val.loss} after epoch ${epoch + 1}; lower --lr (now ${lr}). Checkpoints written so far are intact.`);
        }
        lastVal = val;
        const trainLoss = running.lossSum / running.count;
        const trainAcc = running.correct / running.count;
        const epochMeta = meta(epoch + 1, 0, valIdx.length ? val.accuracy : undefined, valIdx.length ? val.loss : undefined);
        const ckpt = join(o.out, `epoch-${pad3(epoch + 1)}.bin`);
        await saveModel(ckpt, model, epochMeta, opt);
        dropOldCheckpoints(o.out, o.keep ?? DEFAULT_KEEP);
        const improved = valIdx.length > 0 && val.accuracy > best;
        if (improved) {
          best = val.accuracy;
          await saveModel(bestPath, model, epochMeta);
        }
        const metricsLine = JSON.stringify({ epoch: epoch + 1, train_loss: trainLoss, train_acc: trainAcc, val_loss: val.loss, val_acc: val.accuracy, seconds: trainSecs, images_per_s: seen / trainSecs, lr });
        try {
          appendFileSync(join(o.out, 'metrics.jsonl'), metricsLine + '\n');
        } catch (e) {
          throw new TrainingError(`cannot append to ${join(o.out, 'metrics.jsonl')} (${(e as NodeJS.ErrnoException).code}); the checkpoints written so far are intact`);
        }
        log(
          `epoch ${epoch + 1}/${o.epochs}  train loss ${trainLoss.toFixed(4)} acc ${(100 * trainAcc).toFixed(1)}%  ` +
            `${valIdx.length ? `val loss ${val.loss.toFixed(4)} acc ${(100 * val.accuracy).toFixed(1)}%` : 'no validation set'}  ${formatDuration(trainSecs)} (${(seen / trainSecs).toFixed(1)} img/s)  -> ${ckpt}${improved ? ' (best)' : ''}`,
        );
        const afterEpoch = o.afterEpoch;
        if (afterEpoch) await sideOutput('the --watch overlays', () => afterEpoch({ epoch: epoch + 1, model, data, val: valIdx, meta: epochMeta }));
        await sideOutput('the run report', () => writeRunReport(o.out, reportTitle));
        if (stop.requested && epoch + 1 < o.epochs) {
          log(`${stoppedBy()} after epoch ${epoch + 1}; continue with --resume`);
          return { epochs: epoch + 1, valAccuracy: val.accuracy, bestValAccuracy: best, modelPath: ckpt, stoppedEarly: true, valFiles };
        }
      }
      const finalMeta = meta(o.epochs, 0, valIdx.length ? lastVal.accuracy : undefined, valIdx.length ? lastVal.loss : undefined);
      await saveModel(modelPath, model, finalMeta);
      const lastAcc = valIdx.length ? ` (validation accuracy ${(100 * lastVal.accuracy).toFixed(1)}%)` : '';
      log(`wrote ${modelPath}: the weights after the last epoch, ${o.epochs}${lastAcc}`);
      if (best >= 0 && existsSync(bestPath)) await sideOutput('the validation report', () => reportBest(bestPath, gpu, data, valIdx, o.out, log));
      await sideOutput('the run report', () => writeRunReport(o.out, reportTitle));
      log(`run report: ${join(o.out, 'report.html')} (curves in ${join(o.out, 'curves.svg')})`);
      return { epochs: o.epochs, valAccuracy: lastVal.accuracy, bestValAccuracy: best, modelPath, stoppedEarly: false, valFiles };
    } finally {
      destroyReplicas(replicas);
    }
  } finally {
    data.close();
    for (const g of gpus) g.destroy();
  }
}
