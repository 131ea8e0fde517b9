/**
 * The model file: safetensors with PyTorch-layout tensors (conv weight [out,in,3,3],
 * biases [out], dense weight [classes,features]) and wgcam's metadata as JSON strings.
 * Checkpoints are the same format plus the optimizer's state under "optimizer.*".
 * See docs/model-format.md.
 */
import { featureShapes, parseBlocks, type Arch, Classifier } from '../nn/model.ts';
import type { Optimizer } from '../nn/optim.ts';
import type { Backend } from '../tensor/backend.ts';
import { Rng } from '../util/rng.ts';
import { ModelFileError, readSafetensors, writeSafetensors, type NamedTensor } from './safetensors.ts';

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

export async function saveModel(path: string, model: Classifier, meta: ModelMeta, opt?: Optimizer): Promise<void> {
  const tensors: NamedTensor[] = [];
  for (const [name, t] of model.parameters()) tensors.push({ name, shape: [...t.shape], data: await t.toArray() });
  if (opt) for (const [name, t] of opt.state().tensors) tensors.push({ name: `optimizer.${name}`, shape: [...t.shape], data: await t.toArray() });
  const metadata: Record<string, string> = {
    format: 'wgcam',
    format_version: String(FORMAT_VERSION),
    arch: JSON.stringify(meta.arch),
    classes: JSON.stringify(meta.classes),
    input: JSON.stringify(meta.input),
  };
  if (meta.valAccuracy !== undefined) metadata.val_accuracy = String(meta.valAccuracy);
  if (meta.valLoss !== undefined) metadata.val_loss = String(meta.valLoss);
  if (meta.training) metadata.training = JSON.stringify(meta.training);
  writeSafetensors(path, tensors, metadata);
}

function json<T>(path: string, meta: Record<string, string>, key: string): T {
  if (meta[key] === undefined) throw new ModelFileError(`${path}: not a wgcam model (no '${key}' in its metadata)`);
  try {
    return JSON.parse(meta[key]) as T;
  } catch {
    throw new ModelFileError(`${path}: metadata '${key}' is not valid JSON`);
  }
}

const isPosInt = (v: unknown, max = 1 << 20) => Number.isSafeInteger(v) && (v as number) > 0 && (v as number) <= max;

/** Reads and validates a model file or checkpoint; every problem is one clear ModelFileError. */
export function loadModelFile(path: string): LoadedModel {
  const file = readSafetensors(path);
  const m = file.metadata;
  if (m.format !== 'wgcam') throw new ModelFileError(`${path}: not a wgcam model (safetensors metadata has no format=wgcam)`);
  if (Number(m.format_version) > FORMAT_VERSION) throw new ModelFileError(`${path}: format version ${m.format_version} is newer than this wgcam (${FORMAT_VERSION})`);
  const arch = json<Arch>(path, m, 'arch');
  const classes = json<string[]>(path, m, 'classes');
  const input = json<InputSpec>(path, m, 'input');
  if (!arch || typeof arch.blocks !== 'string' || ![arch.inputChannels, arch.height, arch.width, arch.classes].every((v) => isPosInt(v, 1 << 16))) {
    throw new ModelFileError(`${path}: metadata 'arch' is malformed`);
  }
  try {
    featureShapes(arch);
  } catch (e) {
    throw new ModelFileError(`${path}: ${(e as Error).message}`);
  }
  if (!Array.isArray(classes) || classes.length !== arch.classes || !classes.every((c) => typeof c === 'string')) {
    throw new ModelFileError(`${path}: metadata 'classes' must list ${arch.classes} class names`);
  }
  if (!input || input.height !== arch.height || input.width !== arch.width || input.channels !== arch.inputChannels) {
    throw new ModelFileError(`${path}: metadata 'input' does not match the architecture`);
  }
  const weights = new Map<string, Float32Array>();
  const optimizerState = new Map<string, Float32Array>();
  const expected = expectedParams(arch);
  for (const [name, shape] of expected) {
    const t = file.tensors.get(name);
    if (!t) throw new ModelFileError(`${path}: tensor '${name}' is missing`);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new ModelFileError(`${path}: tensor '${name}' has shape [${t.shape}], the architecture needs [${shape}]`);
    }
    if (!t.data.every(Number.isFinite)) throw new ModelFileError(`${path}: tensor '${name}' contains NaN or Inf`);
    weights.set(name, t.data);
  }
  for (const [name, t] of file.tensors) {
    if (name.startsWith('optimizer.')) optimizerState.set(name.slice('optimizer.'.length), t.data);
    else if (!weights.has(name)) throw new ModelFileError(`${path}: unexpected tensor '${name}' for architecture '${arch.blocks}'`);
  }
  const meta: ModelMeta = { arch, classes, input };
  if (m.val_accuracy !== undefined) meta.valAccuracy = Number(m.val_accuracy);
  if (m.val_loss !== undefined) meta.valLoss = Number(m.val_loss);
  if (m.training !== undefined) meta.training = json<TrainingState>(path, m, 'training');
  return { meta, weights, optimizerState };
}

/** A Classifier on `backend` holding a loaded file's weights. */
export function buildModel(backend: Backend, loaded: LoadedModel): Classifier {
  const model = new Classifier(backend, loaded.meta.arch, new Rng(0));
  for (const [name, t] of model.parameters()) backend.write(t.storage, loaded.weights.get(name)!);
  return model;
}
