/**
 * The model file's contents: safetensors with PyTorch-layout tensors (conv weight
 * [out,in,3,3], biases [out], dense weight [classes,features]) and wgcam's metadata as JSON
 * strings; checkpoints add the optimizer's state under "optimizer.*". Everything here is
 * validation of an already parsed file, free of Node (the web page loads models with it);
 * model-file.ts reads and writes files. See docs/model-format.md.
 */
import { featureShapes, parseBlocks, type Arch, Classifier } from '../nn/model.ts';
import { CHOOSABLE_KERNELS, type ConvChoice } from '../kernels/conv-choice-key.ts';
import type { Backend } from '../tensor/backend.ts';
import { Rng } from '../util/rng.ts';
import { describeValue, ModelFileError, quoteName, type SafetensorsFile } from './safetensors-format.ts';

export { ModelFileError };
export const FORMAT_VERSION = 1;

export interface InputSpec {
  height: number;
  width: number;
  channels: number;
  /** How a photo becomes the input: resized to height x width ignoring aspect ratio, then bytes / 255. */
  resize: 'fill';
  scale: '1/255';
}

export interface TrainingState {
  /** Epochs fully completed. */
  epoch: number;
  /** Steps already done in the next epoch (non-zero only for an interrupted run). */
  step: number;
  seed: number;
  optimizer: 'sgd' | 'adam';
  lr: number;
  batch: number;
  optimizerSteps: number;
  /** Random horizontal flips (absent in checkpoints written before it was recorded). */
  flip?: boolean;
  valSplit?: number;
  weightDecay?: number;
  /** The --classes subset of an IDX run, as given. */
  classesOption?: string;
  /**
   * The convolution variant of each layer shape, measured when the run started (absent in
   * checkpoints from before: those ran every kernel's default).
   */
  convKernels?: ConvChoice[];
}

export interface ModelMeta {
  arch: Arch;
  classes: string[];
  input: InputSpec;
  valAccuracy?: number;
  valLoss?: number;
  training?: TrainingState;
}

export interface LoadedModel {
  meta: ModelMeta;
  weights: Map<string, Float32Array>;
  optimizerState: Map<string, Float32Array>;
}

/** Expected parameter names and shapes for an architecture, in file order. */
export function expectedParams(arch: Arch): [string, number[]][] {
  const out: [string, number[]][] = [];
  let c = arch.inputChannels;
  let conv = 0;
  for (const b of parseBlocks(arch.blocks)) {
    if (b.kind !== 'conv') continue;
    conv++;
    out.push([`conv${conv}.weight`, [b.channels, c, 3, 3]], [`conv${conv}.bias`, [b.channels]]);
    c = b.channels;
  }
  out.push(['fc.weight', [arch.classes, c]], ['fc.bias', [arch.classes]]);
  return out;
}

/** Parses a JSON metadata value; a value nested too deeply to parse is invalid JSON too. */
function json(path: string, meta: Record<string, string>, key: string): unknown {
  if (meta[key] === undefined) throw new ModelFileError(`${path}: not a wgcam model (no '${key}' in its metadata)`);
  try {
    return JSON.parse(meta[key]);
  } catch {
    throw new ModelFileError(`${path}: metadata '${key}' is not valid JSON`);
  }
}

const isInt = (v: unknown, min: number, max: number) => Number.isSafeInteger(v) && (v as number) >= min && (v as number) <= max;
const isObject = (v: unknown): v is Record<string, unknown> => Boolean(v) && typeof v === 'object' && !Array.isArray(v);

/** Image sides the loader accepts (the CLI's --size goes to 4096; IDX sets are smaller). */
export const MAX_INPUT_SIDE = 8192;
export const MAX_CLASSES = 100_000;
const MAX_CLASS_NAME = 255;
/** What wgcam feeds a network: gray (1 channel) or sRGB (3) pixels. */
const INPUT_CHANNELS = [1, 3];

function validArch(path: string, raw: unknown): Arch {
  if (!isObject(raw) || typeof raw.blocks !== 'string' || raw.blocks.length > 20_000) throw new ModelFileError(`${path}: metadata 'arch' is malformed`);
  if (!INPUT_CHANNELS.includes(raw.inputChannels as number)) {
    throw new ModelFileError(`${path}: metadata 'arch' asks for ${describeValue(raw.inputChannels)} input channels; wgcam feeds 1 (gray) or 3 (RGB)`);
  }
  for (const k of ['height', 'width'] as const) {
    if (!isInt(raw[k], 1, MAX_INPUT_SIDE)) throw new ModelFileError(`${path}: metadata 'arch' has ${k} ${describeValue(raw[k])}; need 1..${MAX_INPUT_SIDE}`);
  }
  // One class is a model too (its CAM is that class's map); training needs two (data/layout.ts).
  if (!isInt(raw.classes, 1, MAX_CLASSES)) throw new ModelFileError(`${path}: metadata 'arch' has ${describeValue(raw.classes)} classes; need 1..${MAX_CLASSES}`);
  const arch: Arch = { blocks: raw.blocks, inputChannels: raw.inputChannels as number, height: raw.height as number, width: raw.width as number, classes: raw.classes as number };
  try {
    featureShapes(arch);
  } catch (e) {
    throw new ModelFileError(`${path}: ${(e as Error).message}`);
  }
  return arch;
}

function validClasses(path: string, raw: unknown, count: number): string[] {
  if (!Array.isArray(raw) || raw.length !== count) throw new ModelFileError(`${path}: metadata 'classes' must list ${count} class names`);
  if (!raw.every((c) => typeof c === 'string' && c.length > 0 && c.length <= MAX_CLASS_NAME)) {
    throw new ModelFileError(`${path}: metadata 'classes' must hold names of 1..${MAX_CLASS_NAME} characters`);
  }
  if (new Set(raw).size !== raw.length) throw new ModelFileError(`${path}: metadata 'classes' names a class twice`);
  return raw as string[];
}

function validInput(path: string, raw: unknown, arch: Arch): InputSpec {
  if (!isObject(raw) || raw.height !== arch.height || raw.width !== arch.width || raw.channels !== arch.inputChannels) {
    throw new ModelFileError(`${path}: metadata 'input' does not match the architecture`);
  }
  if (raw.resize !== 'fill' || raw.scale !== '1/255') {
    throw new ModelFileError(`${path}: metadata 'input' asks for resize ${describeValue(raw.resize)}, scale ${describeValue(raw.scale)}; wgcam prepares images as resize "fill", scale "1/255"`);
  }
  return { height: arch.height, width: arch.width, channels: arch.inputChannels, resize: 'fill', scale: '1/255' };
}

function validTraining(path: string, raw: unknown): TrainingState {
  const bad = (what: string) => new ModelFileError(`${path}: metadata 'training' has an invalid ${what}`);
  if (!isObject(raw)) throw bad('value (not an object)');
  if (!isInt(raw.epoch, 0, 1e9)) throw bad('epoch');
  if (!isInt(raw.step, 0, 1e12)) throw bad('step');
  if (!isInt(raw.seed, 0, 2 ** 32)) throw bad('seed');
  if (raw.optimizer !== 'adam' && raw.optimizer !== 'sgd') throw bad('optimizer');
  if (!(typeof raw.lr === 'number' && raw.lr > 0 && Number.isFinite(raw.lr))) throw bad('lr');
  if (!isInt(raw.batch, 1, 1e9)) throw bad('batch');
  if (!isInt(raw.optimizerSteps, 0, 1e15)) throw bad('optimizerSteps');
  const t: TrainingState = { epoch: raw.epoch as number, step: raw.step as number, seed: raw.seed as number, optimizer: raw.optimizer, lr: raw.lr, batch: raw.batch as number, optimizerSteps: raw.optimizerSteps as number };
  // Settings recorded since format 1 gained them; a checkpoint from before lacks them.
  if (raw.flip !== undefined) {
    if (typeof raw.flip !== 'boolean') throw bad('flip');
    t.flip = raw.flip;
  }
  if (raw.valSplit !== undefined) {
    if (!(typeof raw.valSplit === 'number' && raw.valSplit >= 0 && raw.valSplit < 1)) throw bad('valSplit');
    t.valSplit = raw.valSplit;
  }
  if (raw.weightDecay !== undefined) {
    if (!(typeof raw.weightDecay === 'number' && raw.weightDecay >= 0 && Number.isFinite(raw.weightDecay))) throw bad('weightDecay');
    t.weightDecay = raw.weightDecay;
  }
  if (raw.classesOption !== undefined) {
    if (typeof raw.classesOption !== 'string' || raw.classesOption.length > 10_000) throw bad('classesOption');
    t.classesOption = raw.classesOption;
  }
  if (raw.convKernels !== undefined) t.convKernels = validConvKernels(raw.convKernels, bad);
  return t;
}

/** Two convolutions per conv layer, far more layers than any arch a file can hold. */
const MAX_CONV_CHOICES = 2 * 4096;
/** The kernels a choice may name, with their variants. */
const CONV_VARIANTS = new Map(CHOOSABLE_KERNELS.map((k) => [k.name, k.variants.map((v) => v.name)]));

function validConvKernels(raw: unknown, bad: (what: string) => ModelFileError): ConvChoice[] {
  if (!Array.isArray(raw) || raw.length > MAX_CONV_CHOICES) throw bad('convKernels (not a list of choices)');
  return raw.map((c, i) => {
    const what = `convKernels entry ${i + 1}`;
    if (!isObject(c) || typeof c.kernel !== 'string' || typeof c.shape !== 'string' || typeof c.variant !== 'string') throw bad(what);
    const variants = CONV_VARIANTS.get(c.kernel);
    if (!variants) throw bad(`${what} (kernel ${describeValue(c.kernel)})`);
    if (!variants.includes(c.variant)) throw bad(`${what} (variant ${describeValue(c.variant)} of ${c.kernel})`);
    if (!/^\d{1,5}->\d{1,5} \d{1,6}x\d{1,6}$/.test(c.shape)) throw bad(`${what} (shape ${describeValue(c.shape)})`);
    return { kernel: c.kernel, shape: c.shape, variant: c.variant };
  });
}

function validFigure(path: string, m: Record<string, string>, key: string, max: number): number | undefined {
  if (m[key] === undefined) return undefined;
  const v = Number(m[key]);
  if (!(Number.isFinite(v) && v >= 0 && v <= max)) throw new ModelFileError(`${path}: metadata '${key}' is ${describeValue(m[key])}, not a number in 0..${max}`);
  return v;
}

/** The state tensors each optimizer keeps per parameter (see nn/optim.ts). */
export const OPTIMIZER_SLOTS: Record<TrainingState['optimizer'], string[]> = { sgd: ['momentum'], adam: ['exp_avg', 'exp_avg_sq'] };

/** Validates a parsed model file or checkpoint (`path` names it); every problem is one clear ModelFileError. */
export function modelFromSafetensors(file: SafetensorsFile, path: string): LoadedModel {
  const m = file.metadata;
  if (m.format !== 'wgcam') throw new ModelFileError(`${path}: not a wgcam model (safetensors metadata has no format=wgcam)`);
  const version = Number(m.format_version);
  if (!Number.isSafeInteger(version) || version < 1) throw new ModelFileError(`${path}: metadata 'format_version' is ${describeValue(m.format_version)}, not a version number`);
  if (version > FORMAT_VERSION) throw new ModelFileError(`${path}: format version ${version} is newer than this wgcam (${FORMAT_VERSION})`);
  const arch = validArch(path, json(path, m, 'arch'));
  const classes = validClasses(path, json(path, m, 'classes'), arch.classes);
  const input = validInput(path, json(path, m, 'input'), arch);
  const meta: ModelMeta = { arch, classes, input };
  const valAccuracy = validFigure(path, m, 'val_accuracy', 1);
  if (valAccuracy !== undefined) meta.valAccuracy = valAccuracy;
  const valLoss = validFigure(path, m, 'val_loss', Number.MAX_VALUE);
  if (valLoss !== undefined) meta.valLoss = valLoss;
  if (m.training !== undefined) meta.training = validTraining(path, json(path, m, 'training'));

  const weights = new Map<string, Float32Array>();
  const expected = expectedParams(arch);
  const shapes = new Map(expected);
  for (const [name, shape] of expected) {
    const t = file.tensors.get(name);
    if (!t) throw new ModelFileError(`${path}: tensor '${name}' is missing`);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new ModelFileError(`${path}: tensor '${name}' has shape [${t.shape}], the architecture needs [${shape}]`);
    }
    if (!t.data.every(Number.isFinite)) throw new ModelFileError(`${path}: tensor '${name}' contains NaN or Inf`);
    weights.set(name, t.data);
  }
  const optimizerState = new Map<string, Float32Array>();
  const slots = meta.training ? OPTIMIZER_SLOTS[meta.training.optimizer] : [];
  for (const [name, t] of file.tensors) {
    if (weights.has(name)) continue;
    if (!name.startsWith('optimizer.')) throw new ModelFileError(`${path}: unexpected tensor ${quoteName(name)} for architecture '${arch.blocks}'`);
    const key = name.slice('optimizer.'.length);
    const slot = slots.find((s) => key.endsWith(`.${s}`));
    const param = slot && shapes.get(key.slice(0, -slot.length - 1));
    if (!param || t.shape.join() !== param.join()) throw new ModelFileError(`${path}: unexpected optimizer tensor ${quoteName(name)}`);
    if (!t.data.every(Number.isFinite)) throw new ModelFileError(`${path}: tensor ${quoteName(name)} contains NaN or Inf`);
    optimizerState.set(key, t.data);
  }
  return { meta, weights, optimizerState };
}

/** A Classifier on `backend` holding a loaded file's weights. */
export function buildModel(backend: Backend, loaded: LoadedModel): Classifier {
  const model = new Classifier(backend, loaded.meta.arch, new Rng(0));
  for (const [name, t] of model.parameters()) backend.write(t.storage, loaded.weights.get(name)!);
  return model;
}
