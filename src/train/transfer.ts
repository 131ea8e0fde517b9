/**
 * Transfer learning, `wgcam train --backbone MODEL.onnx`: an imported network, cut at a layer,
 * becomes the frozen feature extractor of a new classifier. Its features at the cut are
 * computed once per photo and mirror image and cached (feature-cache.ts); the epochs then train
 * only the head (transfer-head.ts) on the GPU. Each epoch writes a checkpoint of the head and
 * its optimizer (--resume continues bit for bit), metrics.jsonl and the run report; best.onnx
 * (the best validation accuracy) and model.onnx (the last epoch) are whole models: the backbone
 * up to the cut and the head, which every wgcam command reads (onnx-transfer.ts).
 */
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, readdirSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { softmaxCrossEntropy } from '../autograd/ops.ts';
import { backward, noGrad } from '../autograd/tape.ts';
import { resolveLayer } from '../cam/imported-explain.ts';
import { prepareDataset } from '../data/dataset.ts';
import { stratifiedSplit } from '../data/split.ts';
import { TransferOnnxWriter } from '../export/onnx-transfer.ts';
import { openGpu } from '../gpu/dawn.ts';
import { fmtBytes } from '../gpu/pool.ts';
import { chooseGraphConvs } from '../graph/conv-choices.ts';
import { GraphRunner } from '../graph/execute.ts';
import { graphUpTo } from '../graph/graph.ts';
import { readImportedModel } from '../graph/imported-files.ts';
import { describePreprocessing, fittingBatch, type ImportedModel, type PreprocessOptions } from '../graph/imported-model.ts';
import { planGraph } from '../graph/plan.ts';
import { removeStaleTemporaries, writeFileAtomic } from '../io/atomic.ts';
import { refuseToReplace } from '../io/input-path.ts';
import { ModelFileError, readSafetensors, writeSafetensors, type NamedTensor } from '../io/safetensors.ts';
import { ConvChoiceCache } from '../nn/conv-choice-cache.ts';
import { defaultMemoryLimit } from '../nn/machine-memory.ts';
import type { MemoryLimit } from '../nn/memory.ts';
import { makeOptimizer, type Optimizer } from '../nn/optim.ts';
import { takeStats } from '../nn/train-step.ts';
import { GpuBackend } from '../tensor/gpu-backend.ts';
import { Tensor, tidy } from '../tensor/tensor.ts';
import { bar, formatDuration, Progress } from '../util/progress.ts';
import { Rng } from '../util/rng.ts';
import { StopRequest, stopWords } from '../util/stop.ts';
import type { ImageSet } from '../data/dataset.ts';
import { backboneFeatures, backboneInput, type FeatureCache } from './feature-cache.ts';
import { BackboneTuner, resolveFineTune } from './fine-tune.ts';
import { RUN_REPORT_FILES, writeRunReport } from './run-report.ts';
import { describeHead, headInput, headInputGrad, parseHead, TransferHead, type HeadSpec } from './transfer-head.ts';
import { checkNumbers, DEFAULT_KEEP, dropOldCheckpoints, epochPlan, keepMetricsUpTo, reportData, TrainingError, withRunFolder, type TrainResult } from './trainer.ts';

export interface TransferOptions {
  data: string;
  out: string;
  backbone: string;
  /** The tensor (or node, or step number) the backbone is cut at; default the last map its class scores are computed from. */
  cut?: string;
  /** 'gap' (default) or 'conv:N-gap'. */
  head?: string;
  /** Backbone convolutions to train with the head after the frozen epochs: last:N, from:LAYER or LAYER,... (fine-tune.ts). */
  fineTune?: string;
  /** Epochs of that phase (default 5) and its learning rate (default a hundredth of --lr). */
  fineTuneEpochs?: number;
  fineTuneLr?: number;
  preprocess: PreprocessOptions;
  epochs: number;
  batch?: number;
  lr?: number;
  optimizer?: 'sgd' | 'adam';
  weightDecay?: number;
  seed?: number;
  valSplit?: number;
  flip?: boolean;
  classes?: string;
  cache?: string;
  resume: boolean;
  overwrite?: boolean;
  keep?: number;
  memoryLimit?: MemoryLimit;
  stop?: StopRequest;
  progress?: Progress;
}

/** What a run is, recorded in every checkpoint: a resumed run takes it, a flag that contradicts it is refused. */
interface Settings {
  backbone: string;
  cut: string;
  head: string;
  batch: number;
  lr: number;
  optimizer: 'sgd' | 'adam';
  weightDecay: number;
  seed: number;
  valSplit: number;
  flip: boolean;
  classes?: string;
  fineTune?: string;
  fineTuneEpochs: number;
  fineTuneLr: number;
}

/** A checkpoint's own state beside the settings. */
interface Progressed {
  epoch: number;
  step: number;
  optimizerSteps: number;
  valAccuracy: number | null;
  best: number;
}

const CHECKPOINT = /^head-(epoch-(\d{3,})|interrupted)\.safetensors$/;
const EPOCH_CHECKPOINT = /^head-epoch-(\d{3,})\.safetensors$/;
const STATE_KEY = 'wgcam.transfer';
const pad3 = (n: number) => String(n).padStart(3, '0');

export async function trainTransfer(o: TransferOptions): Promise<TrainResult> {
  const progress = o.progress ?? new Progress();
  checkNumbers({ ...o, devices: 1 });
  parseHead(o.head ?? 'gap'); // a typo is one line before minutes of work
  if (o.fineTuneLr !== undefined && !(o.fineTuneLr > 0 && Number.isFinite(o.fineTuneLr))) throw new TrainingError(`--fine-tune-lr ${o.fineTuneLr}: must be a number > 0`);
  return withRunFolder(o.out, o.data, progress, () => transferLocked(o, progress));
}

function latestCheckpoint(out: string): { path: string; settings: Settings; state: Progressed; classes: string } | null {
  let best: { path: string; settings: Settings; state: Progressed; classes: string } | null = null;
  for (const name of readdirSync(out).filter((f) => CHECKPOINT.test(f))) {
    const path = join(out, name);
    try {
      const { metadata } = readSafetensors(path);
      const { settings, state } = JSON.parse(metadata[STATE_KEY]) as { settings: Settings; state: Progressed };
      if (!wellFormed(settings, state)) continue;
      if (!best || state.epoch > best.state.epoch || (state.epoch === best.state.epoch && state.step > best.state.step)) best = { path, settings, state, classes: metadata['wgcam.classes'] ?? '[]' };
    } catch {
      // an unreadable checkpoint is skipped; the others still count
    }
  }
  return best;
}

/** A checkpoint's recorded run, as this version writes it (anything else is skipped like an unreadable file). */
function wellFormed(settings: Settings, state: Progressed): boolean {
  const count = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
  const positive = (v: unknown) => typeof v === 'number' && v > 0 && Number.isFinite(v);
  return (
    typeof settings === 'object' && settings !== null && typeof state === 'object' && state !== null &&
    typeof settings.backbone === 'string' && typeof settings.cut === 'string' && typeof settings.head === 'string' &&
    count(settings.batch) && settings.batch > 0 && positive(settings.lr) && (settings.optimizer === 'adam' || settings.optimizer === 'sgd') &&
    typeof settings.weightDecay === 'number' && settings.weightDecay >= 0 && count(settings.seed) && typeof settings.valSplit === 'number' &&
    settings.valSplit >= 0 && settings.valSplit < 1 && typeof settings.flip === 'boolean' && count(settings.fineTuneEpochs) && positive(settings.fineTuneLr) &&
    (settings.fineTune === undefined || typeof settings.fineTune === 'string') && (settings.classes === undefined || typeof settings.classes === 'string') &&
    count(state.epoch) && count(state.step) && count(state.optimizerSteps) && typeof state.best === 'number'
  );
}

function settingsOf(o: TransferOptions, backboneHash: string, cut: string, recorded?: { path: string; settings: Settings }): Settings {
  const optimizer = o.optimizer ?? recorded?.settings.optimizer ?? 'adam';
  const given: Partial<Settings> = {
    batch: o.batch,
    lr: o.lr,
    optimizer: o.optimizer,
    weightDecay: o.weightDecay,
    seed: o.seed,
    valSplit: o.valSplit,
    flip: o.flip,
    head: o.head,
    classes: o.classes,
    fineTune: o.fineTune,
    fineTuneEpochs: o.fineTune === undefined ? undefined : o.fineTuneEpochs,
    fineTuneLr: o.fineTune === undefined ? undefined : o.fineTuneLr,
  };
  if (recorded) {
    const r = recorded.settings;
    if (r.backbone !== backboneHash) throw new TrainingError(`--backbone ${o.backbone} is not the backbone of the run being resumed (${recorded.path} was trained on another file); start a new run in another --out`);
    if (r.cut !== cut) throw new TrainingError(`--cut ${cut} contradicts the run being resumed (${recorded.path} has --cut ${r.cut}); leave --cut out to continue it`);
    for (const [key, value] of Object.entries(given)) {
      // A frozen run's fine-tuning figures are only defaults: --resume --fine-tune sets them.
      if (key.startsWith('fineTune') && r.fineTune === undefined) continue;
      const was = r[key as keyof Settings];
      if (value !== undefined && was !== undefined && value !== was) {
        const flag = `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
        throw new TrainingError(`${flag} ${value} contradicts the run being resumed (${recorded.path} has ${flag} ${was}); leave ${flag} out to continue it, or start a new run in another --out`);
      }
    }
    // A frozen run resumed with --fine-tune goes on into the fine-tuning phase.
    if (r.fineTune === undefined && o.fineTune !== undefined) return { ...r, fineTune: o.fineTune, fineTuneEpochs: o.fineTuneEpochs ?? 5, fineTuneLr: o.fineTuneLr ?? r.lr / 100 };
    return r;
  }
  const lr = o.lr ?? 0.01;
  return {
    backbone: backboneHash,
    cut,
    head: o.head ?? 'gap',
    batch: o.batch ?? 32,
    // A head on fixed features takes larger steps than a whole network from scratch (1e-3).
    lr,
    fineTune: o.fineTune,
    fineTuneEpochs: o.fineTuneEpochs ?? 5,
    // Small steps: the backbone's features are good already (1e-3 undid a head's accuracy in scripts/transfer-proof.ts).
    fineTuneLr: o.fineTuneLr ?? lr / 100,
    optimizer,
    weightDecay: o.weightDecay ?? 0,
    seed: o.seed ?? 1,
    valSplit: o.valSplit ?? 0.2,
    flip: o.flip ?? true,
    classes: o.classes,
  };
}

/** The backbone, its preprocessing fixed to the image cache's (photos resized to the input size, aspect ratio not kept). */
function openBackbone(o: TransferOptions, limit: MemoryLimit, log: (s: string) => void): { model: ImportedModel; bytes: Uint8Array } {
  const { model, bytes } = readImportedModel(o.backbone, { ...o.preprocess, limit });
  if (model.height !== model.width) throw new TrainingError(`${o.backbone}: takes ${model.width}x${model.height} inputs; wgcam trains on square images`);
  if (model.pre.resize !== null) log(`note: photos are resized to ${model.width}x${model.height} as the image cache holds them (aspect ratio not kept), not to a shorter side of ${model.pre.resize} and a centre crop; the model records this`);
  return { model: { ...model, pre: { ...model.pre, resize: null } }, bytes };
}

async function transferLocked(o: TransferOptions, progress: Progress): Promise<TrainResult> {
  const log = (s: string) => progress.log(s);
  const stop = o.stop ?? new StopRequest();
  const leftovers = removeStaleTemporaries(o.out);
  if (leftovers.length) log(`removed ${leftovers.length} temporary file${leftovers.length > 1 ? 's' : ''} left in ${o.out} by an interrupted run`);
  const names = readdirSync(o.out);
  const earlier = names.filter((f) => CHECKPOINT.test(f) || /^(model|best)\.onnx$|^metrics\.jsonl$/.test(f));
  const own = names.filter((f) => /^(epoch-\d{3,}|interrupted|best|model)\.bin$/.test(f));
  refuseToReplace(['model.onnx', 'best.onnx', 'head-interrupted.safetensors', 'metrics.jsonl', ...RUN_REPORT_FILES, ...earlier].map((f) => join(o.out, f)));
  if (own.length && !o.overwrite) throw new TrainingError(`${o.out} holds a run of a network trained from scratch (${own.slice(0, 2).join(', ')}); pick another --out, or start over with --overwrite`);
  if (!o.resume && earlier.length) {
    if (!o.overwrite) {
      throw new TrainingError(`${o.out} already holds a training run (${earlier.slice(0, 3).join(', ')}${earlier.length > 3 ? ', ...' : ''}); continue it with --resume, start over with --overwrite, or pick another --out`);
    }
  }
  if (o.overwrite && !o.resume) for (const f of [...earlier, ...own, ...RUN_REPORT_FILES]) rmSync(join(o.out, f), { force: true });

  const limit = o.memoryLimit ?? defaultMemoryLimit();
  const { model, bytes } = openBackbone(o, limit, log);
  const backboneHash = createHash('sha256').update(bytes).digest('hex');
  const fixedBatch = model.graph.inputs[0].dims[0];
  const plan = planGraph(model.graph, typeof fixedBatch === 'number' ? fixedBatch : 1);
  const cut = resolveLayer(plan, o.cut, o.backbone, '--cut');
  const [, K, h, w] = plan.shapes.get(cut)!;
  const resumed = o.resume ? latestCheckpoint(o.out) : null;
  if (o.resume && !resumed) log(`--resume: no checkpoint in ${o.out}, starting fresh`);
  const set = settingsOf(o, backboneHash, cut, resumed ?? undefined);
  const head = parseHead(set.head);
  const done = resumed?.state;
  const modelPath = join(o.out, 'model.onnx');
  const total = o.epochs + (set.fineTune === undefined ? 0 : set.fineTuneEpochs);
  if (done && done.step === 0 && done.epoch >= total && (existsSync(modelPath) || done.epoch > total)) {
    log(`nothing to do: ${o.out} already holds ${done.epoch} trained epoch${done.epoch > 1 ? 's' : ''} (--epochs ${o.epochs}${set.fineTune === undefined ? '' : ` and --fine-tune-epochs ${set.fineTuneEpochs}`}); pass a larger --epochs to train further`);
    return { epochs: done.epoch, valAccuracy: done.valAccuracy ?? NaN, bestValAccuracy: done.best, modelPath, stoppedEarly: false, nothingToDo: true, valFiles: [] };
  }
  const cutModel: ImportedModel = { ...model, graph: graphUpTo(model.graph, cut) };

  const data = await prepareDataset(o.data, {
    size: model.height,
    cacheDir: o.cache,
    classes: set.classes,
    signal: stop.signal,
    onProgress: (n, total) => progress.update(`preparing images ${bar(n / total)} ${n}/${total}`),
  });
  const gpu = await openGpu();
  try {
    reportData(o.data, data, log);
    if (data.height !== model.height || data.width !== model.width) {
      throw new TrainingError(`${o.data}: its images are ${data.width}x${data.height} and the backbone ${o.backbone} takes ${model.width}x${model.height}; IDX images keep their own size`);
    }
    const { train: trainIdx, val: valIdx } = stratifiedSplit(data.labels, set.valSplit, set.seed);
    if (trainIdx.length === 0) throw new TrainingError('no training images left after the validation split');
    const classes = data.classes;
    if (resumed && resumed.classes !== JSON.stringify(classes)) {
      throw new ModelFileError(`${resumed.path}: trained on other classes than this data's [${classes}]; use another --out`);
    }

    const backend = new GpuBackend(gpu);
    const featureBatch = fittingBatch(cutModel, 32, limit, gpu.maxBindingBytes);
    const { innerConv } = await chooseGraphConvs(gpu, cutModel.graph, featureBatch, { cache: new ConvChoiceCache(), warn: log });
    const runner = new GraphRunner(backend, cutModel.graph, { innerConv });
    const writer = new TransferOnnxWriter(bytes, cut, model.graph.inputs[0].name, o.backbone);
    let tune: HeadJob['tune'];
    if (set.fineTune !== undefined) {
      if (typeof fixedBatch === 'number') throw new TrainingError(`--fine-tune: ${o.backbone} takes batches of exactly ${fixedBatch} images; export it with a free batch dimension to fine-tune it`);
      const steps = resolveFineTune(runner.plan(1), set.fineTune, o.backbone, (s) => writer.whyNotTunable(s.node.outputs[0]));
      tune = { runner, steps, micro: Math.min(set.batch, featureBatch) };
    }
    log(`backbone: ${o.backbone} cut at '${cut}' (${K}x${h}x${w} per image); ${describePreprocessing(model.pre)}`);
    const features = await backboneFeatures({ data, model: cutModel, runner, cut, shape: [K, h, w], backboneHash, flips: set.flip, batch: featureBatch, progress, stop });
    try {
      log(`features: ${features.path} (${features.state}, ${fmtBytes(data.count * (set.flip ? 2 : 1) * features.per * 4)}${set.flip ? ', each photo and its mirror image' : ''})`);
      return await trainHead({ o, set, progress, stop, backend, features, data, trainIdx, valIdx, writer, shape: [K, h, w], head, done, resumedPath: resumed?.path, model: cutModel, cut, tune });
    } finally {
      features.close();
      runner.dispose();
    }
  } finally {
    data.close();
    gpu.destroy();
  }
}

interface HeadJob {
  o: TransferOptions;
  set: Settings;
  progress: Progress;
  stop: StopRequest;
  backend: GpuBackend;
  features: FeatureCache;
  data: ImageSet;
  trainIdx: number[];
  valIdx: number[];
  writer: TransferOnnxWriter;
  shape: [number, number, number];
  head: HeadSpec;
  done?: Progressed;
  resumedPath?: string;
  model: ImportedModel;
  cut: string;
  /** For the fine-tuning phase: the cut backbone's runner, the convolutions to train and the micro-batch its passes fit. */
  tune?: { runner: GraphRunner; steps: number[]; micro: number };
}

/** The state a checkpoint at (epoch, step) was in: the fine-tuning phase from epoch `frozen` on. */
const tuningAt = (epoch: number, step: number, frozen: number) => (step > 0 ? epoch >= frozen : epoch > frozen);

async function trainHead(j: HeadJob): Promise<TrainResult> {
  const { o, set, progress, stop, backend, features, data, trainIdx, valIdx } = j;
  const classes = data.classes;
  const log = (s: string) => progress.log(s);
  const net = new TransferHead(backend, j.shape[0], classes.length, j.head, new Rng(set.seed));
  const makeOpt = (params: [string, Tensor][], lr: number): Optimizer =>
    makeOptimizer(set.optimizer, backend, params, { lr, weightDecay: set.weightDecay });
  let opt = makeOpt(net.parameters(), set.lr);
  const tuner = j.tune ? new BackboneTuner(backend, j.tune.runner, j.tune.steps, j.tune.micro) : null;
  const stats = Tensor.zeros(backend, [4]).keep();
  const frozen = o.epochs;
  const total = frozen + (tuner ? set.fineTuneEpochs : 0);
  let tuning = false;
  const startTuning = () => {
    opt.dispose();
    opt = makeOpt([...net.parameters(), ...tuner!.parameters()], set.fineTuneLr);
    tuning = true;
  };
  try {
    if (j.resumedPath && j.done) {
      const file = readSafetensors(j.resumedPath);
      const saved = new Map([...file.tensors].map(([n, v]) => [n, v.data]));
      for (const [name, t] of net.parameters()) {
        const v = saved.get(name);
        if (!v || v.length !== t.size) throw new ModelFileError(`${j.resumedPath}: lacks the head's '${name}' or has the wrong size`);
        backend.write(t.storage, v);
      }
      if (tuningAt(j.done.epoch, j.done.step, frozen)) {
        tuner!.load(saved, j.resumedPath);
        startTuning();
      }
      if (j.done.step > 0 || j.done.epoch !== frozen) opt.load(j.done.optimizerSteps, saved);
      keepMetricsUpTo(o.out, j.done.epoch);
      log(`resuming from ${j.resumedPath}: epoch ${j.done.epoch + 1}, step ${j.done.step + 1}`);
    }
    const params = net.parameters().reduce((a, [, t]) => a + t.size, 0);
    log(`head: ${describeHead(j.head, classes.length)}; ${params} parameters; ${set.optimizer} lr ${set.lr}; batch ${set.batch}; ${trainIdx.length} training and ${valIdx.length} validation images`);
    if (tuner) {
      const n = tuner.parameters().reduce((a, [, t]) => a + t.size, 0);
      log(`fine-tuning after epoch ${frozen}: ${j.tune!.steps.length} convolution${j.tune!.steps.length > 1 ? 's' : ''} of the backbone (${n} parameters, batch-norm folded and frozen) with the head, ${set.fineTuneEpochs} epoch${set.fineTuneEpochs > 1 ? 's' : ''} at lr ${set.fineTuneLr}${j.tune!.micro < set.batch ? `, micro-batches of ${j.tune!.micro}` : ''}`);
    }
    const labelsOf = (idx: number[]) => Tensor.fromArray(backend, Float32Array.from(idx, (i) => data.labels[i]), [idx.length]);
    /** The head on cached features: a training step's forward and backward, or validation. */
    const frozenStep = (idx: number[], flips: Float32Array | undefined, train: boolean) =>
      tidy(() => {
        const input = headInput(j.head, features.read(idx, flips), idx.length, j.shape);
        const labels = labelsOf(idx);
        const x = Tensor.fromArray(backend, input.data, input.shape);
        const loss = () => softmaxCrossEntropy(net.forward(x), labels, stats, 1 / idx.length);
        if (train) backward(loss());
        else noGrad(loss);
      });
    const inputs = (idx: number[], flips?: Float32Array) => {
      const per = data.height * data.width * data.channels;
      const pixels = data.read(idx);
      const size = j.model.channels * j.model.height * j.model.width;
      const x = new Float32Array(idx.length * size);
      idx.forEach((_, k) => x.set(backboneInput(data, pixels.subarray(k * per, (k + 1) * per), j.model, Boolean(flips?.[k])), k * size));
      return x;
    };
    /** The backbone (its chosen convolutions training) and the head, in micro-batches whose gradients add up. */
    const tuningStep = async (idx: number[], flips: Float32Array | undefined, train: boolean) => {
      const micro = j.tune!.micro;
      for (let lo = 0; lo < idx.length; lo += micro) {
        const part = idx.slice(lo, lo + micro);
        const x = inputs(part, flips?.subarray(lo, lo + part.length));
        if (!train) {
          const f = (await j.tune!.runner.run(x, part.length, [j.cut])).get(j.cut)!;
          tidy(() => {
            const input = headInput(j.head, f, part.length, j.shape);
            noGrad(() => softmaxCrossEntropy(net.forward(Tensor.fromArray(backend, input.data, input.shape)), labelsOf(part), stats, 1 / idx.length));
          });
          continue;
        }
        const pass = await j.tune!.runner.trainingPass(x, part.length, j.cut, tuner!.trainable(part.length));
        try {
          const input = headInput(j.head, pass.values as Float32Array, part.length, j.shape);
          const at = Tensor.fromArray(backend, input.data, input.shape).keep();
          at.requiresGrad = true;
          tidy(() => backward(softmaxCrossEntropy(net.forward(at), labelsOf(part), stats, 1 / idx.length)));
          const grad = await at.grad!.toArray();
          at.grad!.dispose();
          at.dispose();
          tuner!.accumulate(pass.backward(headInputGrad(j.head, grad, part.length, j.shape)));
        } finally {
          pass.release();
        }
      }
    };
    const save = async (path: string, epoch: number, stepInEpoch: number, valAccuracy: number | null, best: number) => {
      const tensors: NamedTensor[] = [];
      const named = [...net.parameters(), ...(tuning ? tuner!.parameters() : []), ...opt.state().tensors];
      for (const [name, t] of named) tensors.push({ name, shape: [...t.shape], data: await t.toArray() });
      const state: Progressed = { epoch, step: stepInEpoch, optimizerSteps: opt.steps, valAccuracy, best };
      writeSafetensors(path, tensors, { [STATE_KEY]: JSON.stringify({ settings: set, state }), 'wgcam.classes': JSON.stringify(classes) });
    };
    const writeModel = async (path: string, epochs: number, valAccuracy: number | null) => {
      const fixed = j.model.graph.inputs[0].dims[0];
      const about = {
        backbone: basename(o.backbone),
        backbone_sha256: set.backbone,
        cut: j.cut,
        head: set.head,
        epochs: Math.min(epochs, frozen),
        ...(tuning ? { fine_tuned: set.fineTune, fine_tune_epochs: epochs - frozen } : {}),
        val_accuracy: valAccuracy,
        trained_by: `wgcam train --backbone (${tuning ? 'fine-tuned' : 'frozen backbone'})`,
      };
      const tuned = tuning ? await tuner!.tuned(j.tune!.micro) : undefined;
      writeFileAtomic(path, j.writer.write(await net.weights(), { classes, pre: j.model.pre, batch: typeof fixed === 'number' ? fixed : null, about, tuned }));
    };

    const startEpoch = j.done?.epoch ?? 0;
    const startStep = j.done?.step ?? 0;
    let best = j.done?.best ?? -1;
    let lastVal: number | null = j.done?.valAccuracy ?? null;
    const steps = Math.ceil(trainIdx.length / set.batch);
    const bestPath = join(o.out, 'best.onnx');
    const modelPath = join(o.out, 'model.onnx');
    const reportTitle = `wgcam transfer run ${o.out}: ${basename(o.backbone)} cut at ${j.cut}, ${describeHead(j.head, classes.length)}`;
    const valFiles = valIdx.map((i) => data.names[i]);
    for (let epoch = startEpoch; epoch < total; epoch++) {
      if (epoch >= frozen && !tuning) startTuning();
      const plan = epochPlan(set.seed, epoch, trainIdx, set.flip);
      const t0 = performance.now();
      let running = { lossSum: 0, correct: 0, count: 0 };
      let lastRead = performance.now();
      let seen = 0;
      for (let s = epoch === startEpoch ? startStep : 0; s < steps; s++) {
        const lo = s * set.batch;
        const idx = plan.order.slice(lo, lo + set.batch);
        const flips = plan.flips.subarray(lo, lo + idx.length);
        opt.beginStep();
        if (tuning) await tuningStep(idx, flips, true);
        else frozenStep(idx, flips, true);
        opt.step();
        await new Promise((resolve) => setImmediate(resolve));
        seen += idx.length;
        const last = s === steps - 1;
        if (last || stop.requested || performance.now() - lastRead > 1000) {
          const r = await takeStats(stats);
          lastRead = performance.now();
          running = { lossSum: running.lossSum + r.loss * r.count, correct: running.correct + r.accuracy * r.count, count: running.count + r.count };
          if (!Number.isFinite(r.loss)) throw new TrainingError(`the loss became ${r.loss} at epoch ${epoch + 1} step ${s + 1}; lower ${tuning ? '--fine-tune-lr' : '--lr'}. Checkpoints written so far are intact.`);
          const secs = (performance.now() - t0) / 1000;
          const left = ((steps - s - 1) * set.batch) / (seen / secs) + (total - epoch - 1) * (trainIdx.length / (seen / secs));
          progress.update(
            `epoch ${epoch + 1}/${total}${tuning ? ' (fine-tuning)' : ''} ${bar((s + 1) / steps)} step ${s + 1}/${steps}  loss ${(running.lossSum / running.count).toFixed(4)}  acc ${((100 * running.correct) / running.count).toFixed(1)}%  ETA ${formatDuration(left)}`,
          );
        }
        if (stop.requested && !last) {
          const path = join(o.out, 'head-interrupted.safetensors');
          await save(path, epoch, s + 1, lastVal, best);
          log(`${stopWords(stop.reason!)}: saved ${path} (epoch ${epoch + 1}, step ${s + 1}); continue with --resume`);
          return { epochs: epoch, valAccuracy: lastVal ?? NaN, bestValAccuracy: best, modelPath: path, stoppedEarly: true, valFiles };
        }
      }
      const trainSecs = (performance.now() - t0) / 1000;
      for (let v = 0; v < valIdx.length; v += set.batch) {
        const idx = valIdx.slice(v, v + set.batch);
        if (tuning) await tuningStep(idx, undefined, false);
        else frozenStep(idx, undefined, false);
      }
      const val = valIdx.length ? await takeStats(stats) : { loss: NaN, accuracy: NaN, count: 0 };
      lastVal = valIdx.length ? val.accuracy : null;
      const trainLoss = running.lossSum / running.count;
      const trainAcc = running.correct / running.count;
      const ckpt = join(o.out, `head-epoch-${pad3(epoch + 1)}.safetensors`);
      const improved = valIdx.length > 0 && val.accuracy > best;
      if (improved) {
        best = val.accuracy;
        await writeModel(bestPath, epoch + 1, val.accuracy);
      }
      await save(ckpt, epoch + 1, 0, lastVal, best);
      rmSync(join(o.out, 'head-interrupted.safetensors'), { force: true });
      dropOldCheckpoints(o.out, o.keep ?? DEFAULT_KEEP, EPOCH_CHECKPOINT);
      const lr = tuning ? set.fineTuneLr : set.lr;
      const line = JSON.stringify({ epoch: epoch + 1, train_loss: trainLoss, train_acc: trainAcc, val_loss: val.loss, val_acc: val.accuracy, seconds: trainSecs, images_per_s: seen / trainSecs, lr, phase: tuning ? 'fine-tune' : 'frozen' });
      try {
        appendFileSync(join(o.out, 'metrics.jsonl'), line + '\n');
      } catch (e) {
        throw new TrainingError(`cannot append to ${join(o.out, 'metrics.jsonl')} (${(e as NodeJS.ErrnoException).code}); the checkpoints written so far are intact`);
      }
      log(
        `epoch ${epoch + 1}/${total}${tuning ? ' (fine-tuning)' : ''}  train loss ${trainLoss.toFixed(4)} acc ${(100 * trainAcc).toFixed(1)}%  ` +
          `${valIdx.length ? `val loss ${val.loss.toFixed(4)} acc ${(100 * val.accuracy).toFixed(1)}%` : 'no validation set'}  ${formatDuration(trainSecs)} (${(seen / trainSecs).toFixed(1)} img/s)  -> ${ckpt}${improved ? ' (best)' : ''}`,
      );
      try {
        await writeRunReport(o.out, reportTitle);
      } catch (e) {
        log(`warning: could not write the run report (${(e as Error).message}); training goes on without it`);
      }
      if (stop.requested && epoch + 1 < total) {
        log(`${stopWords(stop.reason!)} after epoch ${epoch + 1}; continue with --resume`);
        return { epochs: epoch + 1, valAccuracy: val.accuracy, bestValAccuracy: best, modelPath: ckpt, stoppedEarly: true, valFiles };
      }
    }
    await writeModel(modelPath, total, lastVal);
    log(`wrote ${modelPath}: ${basename(o.backbone)} up to '${j.cut}'${tuning ? ' (fine-tuned)' : ''} and the head after the last epoch, ${total}${lastVal === null ? '' : ` (validation accuracy ${(100 * lastVal).toFixed(1)}%)`}`);
    if (best >= 0) log(`best.onnx: validation accuracy ${(100 * best).toFixed(1)}%; explain it with: wgcam cam ${bestPath} PHOTOS`);
    log(`run report: ${join(o.out, 'report.html')} (curves in ${join(o.out, 'curves.svg')})`);
    return { epochs: total, valAccuracy: lastVal ?? NaN, bestValAccuracy: best, modelPath, stoppedEarly: false, valFiles };
  } finally {
    stats.dispose();
    opt.dispose();
    net.dispose();
  }
}
