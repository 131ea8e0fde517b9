/**
 * A classifier as `predict` uses it, whichever file holds it: a wgcam model (model.bin and its
 * checkpoints) or an imported ONNX graph. Both prepare a photo as their model wants it and give
 * class probabilities for batches of prepared photos on the GPU.
 */
import { loadPhoto } from '../cam/photos.ts';
import type { Gpu } from '../gpu/runtime.ts';
import { chooseGraphConvs } from '../graph/conv-choices.ts';
import { importedInput, loadImportedModel } from '../graph/imported-files.ts';
import { describePreprocessing, fittingBatch, ImportedPredictor, type PreprocessOptions } from '../graph/imported-model.ts';
import { buildModel, loadModelFile } from '../io/model-file.ts';
import { ConvChoiceCache } from '../nn/conv-choice-cache.ts';
import type { MemoryLimit } from '../nn/memory.ts';
import { GpuBackend } from '../tensor/gpu-backend.ts';
import { Predictor } from './predictor.ts';

export interface OpenClassifier {
  classes: string[];
  /** How photos are prepared, in words (imported models: the preprocessing used). */
  preprocessing?: string;
  prepare(file: string): Promise<Float32Array | Uint8Array>;
  probabilities(prepared: (Float32Array | Uint8Array)[]): Promise<Float32Array>;
  dispose(): void;
}

/** Imported graphs are told apart by their extension: ONNX files carry no magic number. */
export const isOnnxPath = (path: string): boolean => /\.onnx$/i.test(path);

export async function openClassifier(
  gpu: Gpu,
  path: string,
  o: PreprocessOptions & { labels?: string; maxBatch: number; limit: MemoryLimit; warn?: (line: string) => void; /** How many photos will be classified, if known: no batch is larger. */ photos?: number },
): Promise<OpenClassifier> {
  const backend = new GpuBackend(gpu);
  if (isOnnxPath(path)) {
    const model = loadImportedModel(path, o);
    // The 3x3 convolutions' kernels, timed once per adapter and batch (remembered after).
    const batch = Math.min(fittingBatch(model, o.maxBatch, o.limit, backend.maxBindingBytes), o.photos ?? Infinity);
    const { innerConv } = await chooseGraphConvs(gpu, model.graph, batch, { cache: new ConvChoiceCache(), warn: o.warn });
    const predictor = new ImportedPredictor(backend, model, { maxBatch: o.maxBatch, limit: o.limit, innerConv });
    return {
      classes: model.classes,
      preprocessing: describePreprocessing(model.pre),
      prepare: (file) => importedInput(file, model),
      probabilities: (prepared) => predictor.probabilities(prepared as Float32Array[]),
      dispose: () => predictor.dispose(),
    };
  }
  const loaded = loadModelFile(path);
  const { input, arch } = loaded.meta;
  const model = buildModel(backend, loaded);
  const predictor = new Predictor(gpu, model, path, { maxBatch: o.maxBatch, limit: o.limit });
  const per = arch.inputChannels * arch.height * arch.width;
  return {
    classes: loaded.meta.classes,
    prepare: async (file) => (await loadPhoto(file, input)).input,
    probabilities: (prepared) => {
      const pixels = new Uint8Array(prepared.length * per);
      prepared.forEach((p, i) => pixels.set(p as Uint8Array, i * per));
      return predictor.probabilities(pixels, prepared.length);
    },
    dispose: () => model.dispose(),
  };
}
