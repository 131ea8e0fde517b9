/**
 * The training job: prepare the data, build (or resume) the model, train on the GPU
 * with progress, validate and checkpoint every epoch, keep the best, write model.bin.
 */
import { appendFileSync, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Gpu } from '../gpu/runtime.ts';
import { prepareDataset, thinClassWarnings, type ImageSet } from '../data/dataset.ts';
import { stratifiedSplit } from '../data/split.ts';
import { buildModel, loadModelFile, ModelFileError, saveModel, type ModelMeta, type TrainingState } from '../io/model-file.ts';
import { Classifier, DEFAULT_ARCH, defaultArchFor, featureShapes, parseBlocks, type Arch } from '../nn/model.ts';
import { Adam, Sgd, type Optimizer } from '../nn/optim.ts';
import { evalStep, maxMicroBatch, takeStats, trainStep, type Batch } from '../nn/train-step.ts';
import { GpuBackend } from '../tensor/gpu-backend.ts';
import { Tensor } from '../tensor/tensor.ts';
import { destroyReplicas, gatherStats, parallelStep, type Replica } from './data-parallel.ts';
import { Rng } from '../util/rng.ts';
import { bar, formatDuration, Progress } from '../util/progress.ts';

export interface TrainOptions {
  data: string;
  out: string;
  epochs: number;
  batch: number;
  lr?: number;
  optimizer: 'sgd' | 'adam';
  /** L2 weight decay (SGD) or decoupled weight decay (Adam); default 0. */
  weightDecay?: number;
  size?: number;
  arch: string;
  seed: number;
  valSplit: number;
  resume: boolean;
  /** Start a fresh run in an --out that holds another run's files (they are removed). */
  overwrite?: boolean;
  cache?: string;
  classes?: string;
  flip: boolean;
  /** WebGPU devices to train on in data parallel (default 1). */
  devices?: number;
  /** Called after each epoch's checkpoint (the CAM --watch hook). */
  afterEpoch?: (ctx: { epoch: number; model: Classifier; data: ImageSet; val: number[]; meta: ModelMeta }) => Promise<void>;
  progress?: Progress;
}

export interface TrainResult {
  epochs: number;
  valAccuracy: number;
  bestValAccuracy: number;
  modelPath: string;
  stoppedEarly: boolean;
  /** Source paths of the validation images. */
  valFiles: string[];
}

export class TrainingError extends Error {}

const pad3 = (n: number) => String(n).padStart(3, '0');

/** The images of one epoch, in a shuffled order and with flips, derived from (seed, epoch) alone so a resumed run repeats it exactly. */
function epochPlan(seed: number, epoch: number, train: number[], flip: boolean) {
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

export async function train(o: TrainOptions): Promise<TrainResult> {
  const progress = o.progress ?? new Progress();
  const log = (s: string) => progress.log(s);
  if (!(o.epochs >= 1)) throw new TrainingError(`--epochs ${o.epochs}: must be at least 1`);
  if (!(o.batch >= 1)) throw new TrainingError(`--batch ${o.batch}: must be at least 1`);
  if (!(o.valSplit >= 0 && o.valSplit < 1)) throw new TrainingError(`--val-split ${o.valSplit}: must be in [0, 1)`);
  if (!((o.weightDecay ?? 0) >= 0)) throw new TrainingError(`--weight-decay ${o.weightDecay}: must be >= 0`);
  if (o.arch) parseBlocks(o.arch); // a typo is one line before minutes of decoding, not after

  const devices = o.devices ?? 1;
  if (!(Number.isInteger(devices) && devices >= 1)) throw new TrainingError(`--devices ${devices}: must be a whole number >= 1`);
  const gpus: Gpu[] = [];
  for (let i = 0; i < devices; i++) gpus.push(await Gpu.create());
  const gpu = gpus[0];
  const data = await prepareDataset(o.data, {
    size: o.size,
    cacheDir: o.cache,
    classes: o.classes,
    onProgress: (done, total) => progress.update(`preparing images ${bar(done / total)} ${done}/${total}`),
  }).catch((e) => {
    for (const g of gpus) g.destroy();
    throw e;
  });
  try {
    const counts = data.classes.map((c, i) => `${c} ${data.labels.filter((l) => l === i).length}`).join(', ');
    log(`data: ${o.data} (${data.layout} layout), ${data.count} images ${data.width}x${data.height}x${data.channels} [${counts}], cache ${data.cache}`);
    if (data.layout === 'idx' && o.size !== undefined && o.size !== data.height) log(`note: IDX images keep their own ${data.width}x${data.height} size; --size ${o.size} applies to photos only`);
    if (data.bad.length) log(`skipped ${data.bad.length} unreadable file${data.bad.length > 1 ? 's' : ''} (listed in ${data.badReport})`);
    for (const line of thinClassWarnings(data)) log(line);
    const { train: trainIdx, val: valIdx } = stratifiedSplit(data.labels, o.valSplit, o.seed);
    if (trainIdx.length === 0) throw new TrainingError('no training images left after the validation split');

    const blocks = o.arch || defaultArchFor(data.channels, data.height, data.width);
    if (!o.arch && blocks !== DEFAULT_ARCH) log(`arch: ${blocks} (the default ${DEFAULT_ARCH}, shortened to fit ${data.width}x${data.height} images)`);
    const arch: Arch = { blocks, inputChannels: data.channels, height: data.height, width: data.width, classes: data.classes.length };
    featureShapes(arch); // a clear error if the images are too small for the network
    try {
      mkdirSync(o.out, { recursive: true });
    } catch (e) {
      throw new TrainingError(`cannot create the output folder ${o.out} (${(e as NodeJS.ErrnoException).code})`);
    }
    // Temporary files of a run that was killed mid-write: never a checkpoint, so drop them.
    for (const f of readdirSync(o.out)) if (/^\..*\.tmp$/.test(f)) rmSync(join(o.out, f), { force: true });
    // A fresh run must not mix with an earlier one (a later --resume would pick its newest checkpoint).
    const earlier = readdirSync(o.out).filter((f) => /^(epoch-\d{3,}|interrupted|best|model)\.bin$|^metrics\.jsonl$/.test(f));
    if (!o.resume && earlier.length) {
      if (!o.overwrite) {
        throw new TrainingError(`${o.out} already holds a training run (${earlier.slice(0, 3).join(', ')}${earlier.length > 3 ? ', ...' : ''}); continue it with --resume, start over with --overwrite, or pick another --out`);
      }
      for (const f of earlier) rmSync(join(o.out, f), { force: true });
    }
    const valFiles = valIdx.map((i) => data.names[i]);

    let startEpoch = 0;
    let startStep = 0;
    const lr = o.lr ?? (o.optimizer === 'adam' ? 1e-3 : 0.01);
    const makeOpt = (backend: GpuBackend, m: Classifier): Optimizer =>
      o.optimizer === 'adam'
        ? new Adam(backend, m.parameters(), lr, 0.9, 0.999, 1e-8, o.weightDecay ?? 0)
        : new Sgd(backend, m.parameters(), lr, 0.9, o.weightDecay ?? 0);
    const resumeFrom = o.resume ? latestCheckpoint(o.out) : null;
    if (o.resume && !resumeFrom) log(`--resume: no checkpoint in ${o.out}, starting fresh`);
    const loaded = resumeFrom ? loadModelFile(resumeFrom) : null;
    if (loaded) {
      const t = loaded.meta.training!;
      if (JSON.stringify(loaded.meta.arch) !== JSON.stringify(arch) || JSON.stringify(loaded.meta.classes) !== JSON.stringify(data.classes)) {
        throw new ModelFileError(`${resumeFrom}: trained for arch ${loaded.meta.arch.blocks} on [${loaded.meta.classes}], not this data/arch; use another --out`);
      }
      if (t.optimizer !== o.optimizer) throw new TrainingError(`${resumeFrom} was trained with --optimizer ${t.optimizer}`);
      // The split and every epoch's order come from the seed; a mid-epoch position counts batches.
      if (t.seed !== o.seed) throw new TrainingError(`${resumeFrom} was trained with --seed ${t.seed}; resume with the same seed`);
      if (t.step > 0 && t.batch !== o.batch) throw new TrainingError(`${resumeFrom} stopped inside an epoch with --batch ${t.batch}; resume with the same batch`);
      startEpoch = t.epoch;
      startStep = t.step;
      log(`resuming from ${resumeFrom}: epoch ${t.epoch + 1}, step ${t.step + 1}`);
    }
    // One replica per device, identical from the start (same seed, or the same checkpoint).
    const replicas: Replica[] = gpus.map((g) => {
      const backend = new GpuBackend(g);
      const model = loaded ? buildModel(backend, loaded) : new Classifier(backend, arch, new Rng(o.seed));
      const opt = makeOpt(backend, model);
      if (loaded) opt.load(loaded.meta.training!.optimizerSteps, loaded.optimizerState);
      return { gpu: g, backend, model, opt, stats: Tensor.zeros(backend, [4]).keep() };
    });
    const { model, opt, stats } = replicas[0];
    const micro = Math.min(o.batch, maxMicroBatch(model, gpu.maxBindingBytes));
    // From here on Ctrl-C finishes the current step and saves instead of killing the run.
    let interrupted = false;
    const onSigint = () => {
      if (interrupted) process.exit(130);
      interrupted = true;
      progress.log('interrupt: finishing the current step and saving (Ctrl-C again to quit at once)');
    };
    process.on('SIGINT', onSigint);
    log(`model: ${arch.blocks} -> GAP -> dense ${arch.classes}; ${model.parameters().reduce((a, [, t]) => a + t.size, 0)} parameters; ${o.optimizer} lr ${lr}; batch ${o.batch}${micro < o.batch ? ` (micro-batches of ${micro})` : ''}; ${gpu.adapterName}${devices > 1 ? ` x ${devices} devices` : ''}`);

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
      const training: TrainingState = { epoch, step, seed: o.seed, optimizer: o.optimizer, lr, batch: o.batch, optimizerSteps: opt.steps };
      return {
        arch,
        classes: data.classes,
        input: { height: data.height, width: data.width, channels: data.channels, resize: 'fill', scale: '1/255' },
        valAccuracy,
        valLoss,
        training,
      };
    };

    const steps = Math.ceil(trainIdx.length / o.batch);
    let lastVal = { loss: NaN, accuracy: NaN };
    let epoch = startEpoch;
    try {
      for (; epoch < o.epochs; epoch++) {
        const plan = epochPlan(o.seed, epoch, trainIdx, o.flip);
        const t0 = performance.now();
        let seen = 0;
        let running = { lossSum: 0, correct: 0, count: 0 };
        let lastRead = performance.now();
        for (let step = epoch === startEpoch ? startStep : 0; step < steps; step++) {
          const lo = step * o.batch;
          const idx = plan.order.slice(lo, lo + o.batch);
          const batch = makeBatch(data, idx, plan.flips.subarray(lo, lo + idx.length));
          if (replicas.length === 1) trainStep(model, opt, batch, stats, micro);
          else await parallelStep(replicas, batch, micro);
          // Recording a step never waits for the GPU, so give signal handlers their turn:
          // Ctrl-C is then seen right after the step it interrupted.
          await new Promise((resolve) => setImmediate(resolve));
          seen += idx.length;
          const last = step === steps - 1;
          if (last || interrupted || performance.now() - lastRead > 1000) {
            await gatherStats(replicas);
            const s = await takeStats(stats);
            lastRead = performance.now();
            running = { lossSum: running.lossSum + s.loss * s.count, correct: running.correct + s.accuracy * s.count, count: running.count + s.count };
            if (!Number.isFinite(s.loss)) {
              throw new TrainingError(`the loss became ${s.loss} at epoch ${epoch + 1} step ${step + 1}; lower --lr (now ${lr}). Checkpoints written so far are intact.`);
            }
            const secs = (performance.now() - t0) / 1000;
            const ips = seen / secs;
            const left = (steps - step - 1) * o.batch / ips + (o.epochs - epoch - 1) * (trainIdx.length / ips);
            progress.update(
              `epoch ${epoch + 1}/${o.epochs} ${bar((step + 1) / steps)} step ${step + 1}/${steps}  loss ${(running.lossSum / running.count).toFixed(4)}  acc ${((100 * running.correct) / running.count).toFixed(1)}%  ${ips.toFixed(1)} img/s  ETA ${formatDuration(left)}`,
            );
          }
          if (interrupted && !last) {
            const path = join(o.out, 'interrupted.bin');
            await saveModel(path, model, meta(epoch, step + 1), opt);
            log(`saved ${path} (epoch ${epoch + 1}, step ${step + 1}); continue with --resume`);
            return { epochs: epoch, valAccuracy: lastVal.accuracy, bestValAccuracy: best, modelPath: path, stoppedEarly: true, valFiles };
          }
        }
        const trainSecs = (performance.now() - t0) / 1000;
        for (let v = 0; v < valIdx.length; v += o.batch) evalStep(model, makeBatch(data, valIdx.slice(v, v + o.batch)), stats, micro);
        const val = valIdx.length ? await takeStats(stats) : { loss: NaN, accuracy: NaN, count: 0 };
        lastVal = val;
        const trainLoss = running.lossSum / running.count;
        const trainAcc = running.correct / running.count;
        const epochMeta = meta(epoch + 1, 0, valIdx.length ? val.accuracy : undefined, valIdx.length ? val.loss : undefined);
        const ckpt = join(o.out, `epoch-${pad3(epoch + 1)}.bin`);
        await saveModel(ckpt, model, epochMeta, opt);
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
        if (o.afterEpoch) await o.afterEpoch({ epoch: epoch + 1, model, data, val: valIdx, meta: epochMeta });
        if (interrupted) {
          log(`interrupted after epoch ${epoch + 1}; continue with --resume`);
          return { epochs: epoch + 1, valAccuracy: val.accuracy, bestValAccuracy: best, modelPath: ckpt, stoppedEarly: true, valFiles };
        }
      }
      const modelPath = join(o.out, 'model.bin');
      await saveModel(modelPath, model, meta(o.epochs, 0, valIdx.length ? lastVal.accuracy : undefined, valIdx.length ? lastVal.loss : undefined));
      log(`wrote ${modelPath}${best >= 0 ? ` (best validation accuracy ${(100 * best).toFixed(1)}% in ${bestPath})` : ''}`);
      return { epochs: o.epochs, valAccuracy: lastVal.accuracy, bestValAccuracy: best, modelPath, stoppedEarly: false, valFiles };
    } finally {
      process.off('SIGINT', onSigint);
      destroyReplicas(replicas);
    }
  } finally {
    data.close();
    for (const g of gpus) g.destroy();
  }
}
