/** Model files on disk (their contents and validation: model-format.ts). See docs/model-format.md. */
import type { Classifier } from '../nn/model.ts';
import type { Optimizer } from '../nn/optim.ts';
import { FORMAT_VERSION, modelFromSafetensors, type LoadedModel, type ModelMeta } from './model-format.ts';
import { readSafetensors, writeSafetensors, type NamedTensor } from './safetensors.ts';

export * from './model-format.ts';

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

/** Reads and validates a model file or checkpoint; every problem is one clear ModelFileError. */
export function loadModelFile(path: string): LoadedModel {
  return modelFromSafetensors(readSafetensors(path), path);
}
