/**
 * wgcam as a library: `import { loadModel, train, explain, predict } from 'wgcam'`.
 * The same engine as the `wgcam` command (WGSL kernels through WebGPU), without the CLI.
 */
import { openGpu } from './gpu/dawn.ts';
import { buildModel, loadModelFile, type LoadedModel } from './io/model-file.ts';
import { GpuBackend } from './tensor/gpu-backend.ts';
import { Explainer, type CamOptions } from './cam/explain.ts';
import { loadPhoto } from './cam/photos.ts';
import { colormapTable, overlay, type ColormapName } from './cam/colormap.ts';
import { Predictor, ranked } from './eval/predictor.ts';
import sharp from 'sharp';
import { defaultMemoryLimit } from './nn/machine-memory.ts';
import { encodeOnnx } from './export/onnx.ts';
import { VERSION } from './version.ts';

export { train, type TrainOptions, type TrainResult } from './train/trainer.ts';
export { runCam, type CamJob, type CamJobResult } from './cam/run.ts';
export { saveModel, type LoadedModel, type ModelMeta } from './io/model-file.ts';
export { evaluate, type EvalReport } from './eval/metrics.ts';

/**
 * The model as an ONNX file's bytes (opset 13: input 'image' [N, C, H, W], outputs
 * 'probabilities', 'logits', 'features'; what `wgcam export` writes). See docs/onnx.md.
 */
export function toOnnx(model: string | LoadedModel): Uint8Array {
  return encodeOnnx(typeof model === 'string' ? loadModelFile(model) : model, VERSION);
}

/** Reads and validates a model file (model.bin, best.bin, a checkpoint); throws a ModelFileError naming the file. */
export const loadModel = (path: string): LoadedModel => loadModelFile(path);

export interface Prediction {
  class: string;
  probability: number;
}

export interface Explanation {
  image: string;
  /** Every class, most probable first. */
  predictions: Prediction[];
  /** The class activation map at feature resolution, 0..255 (what NAME.cam.png holds). */
  map: Uint8Array;
  mapWidth: number;
  mapHeight: number;
  /** The map coloured over the photo, as a PNG file's bytes (what NAME.overlay.png holds). */
  overlayPng: Buffer;
}

export interface ExplainOptions {
  /** 'cam' (default), a gradient method ('gradcam', 'gradcam++', 'xgradcam', 'layercam', 'hirescam') or 'scorecam'. */
  method?: CamOptions['method'];
  /** The conv layer (1-based) the other methods read; default the last. */
  layer?: number;
  /** Several conv layers, fused by `fuse` (default 'max'; docs/cam-methods.md). */
  layers?: number[];
  fuse?: CamOptions['fuse'];
  mode?: CamOptions['mode'];
  contrast?: CamOptions['contrast'];
  colormap?: ColormapName;
  alpha?: number;
}

const rankedPredictions = (probs: Float32Array, classes: string[], n = 0): Prediction[] => ranked(probs, n, classes.length).map((j) => ({ class: classes[j], probability: probs[n * classes.length + j] }));

/** Class activation maps of image files (one GPU device for the call, released after). */
export async function explain(model: string | LoadedModel, images: string[], o: ExplainOptions = {}): Promise<Explanation[]> {
  const loaded = typeof model === 'string' ? loadModelFile(model) : model;
  const gpu = await openGpu();
  try {
    const backend = new GpuBackend(gpu);
    const net = buildModel(backend, loaded);
    const explainer = new Explainer(backend, net, { limit: defaultMemoryLimit(), source: typeof model === 'string' ? model : 'the model' });
    const photos = await Promise.all(images.map((f) => loadPhoto(f, loaded.meta.input)));
    const results = await explainer.explain(
      photos.map((p) => p.input),
      photos.map((p) => p.photo),
      { method: o.method, layer: o.layer, layers: o.layers, fuse: o.fuse, mode: o.mode ?? 'contrast', contrast: o.contrast ?? 'runner-up', cls: -1, rawScale: 1, allClasses: false },
    );
    net.dispose();
    return Promise.all(
      results.map(async (r, i) => {
        const { photo } = photos[i];
        if (r.error) throw new Error(`${images[i]}: ${r.error}`);
        const img = overlay(photo.data, r.upsampled, colormapTable(o.colormap ?? 'jet'), o.alpha ?? 0.5);
        return {
          image: images[i],
          predictions: rankedPredictions(r.probs, loaded.meta.classes),
          map: r.cam,
          mapWidth: r.mapWidth,
          mapHeight: r.mapHeight,
          overlayPng: await sharp(img, { raw: { width: photo.width, height: photo.height, channels: 3 } }).png().toBuffer(),
        };
      }),
    );
  } finally {
    gpu.destroy();
  }
}

/** Class probabilities of image files, most probable first. */
export async function predict(model: string | LoadedModel, images: string[]): Promise<{ image: string; predictions: Prediction[] }[]> {
  const loaded = typeof model === 'string' ? loadModelFile(model) : model;
  const gpu = await openGpu();
  try {
    const net = buildModel(new GpuBackend(gpu), loaded);
    const { arch, classes, input } = loaded.meta;
    const per = arch.inputChannels * arch.height * arch.width;
    const pixels = new Uint8Array(images.length * per);
    (await Promise.all(images.map((f) => loadPhoto(f, input)))).forEach((p, i) => pixels.set(p.input, i * per));
    const probs = await new Predictor(gpu, net, typeof model === 'string' ? model : 'the model').probabilities(pixels, images.length);
    net.dispose();
    return images.map((image, n) => ({ image, predictions: rankedPredictions(probs, classes, n) }));
  } finally {
    gpu.destroy();
  }
}
