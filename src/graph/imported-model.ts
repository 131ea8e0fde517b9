/**
 * An imported classifier (an ONNX file) as the commands use it: the graph, its class names,
 * the preprocessing a photo needs (which the file does not say: presets or the user's figures),
 * and batched class probabilities on the GPU within the memory limit. Nothing here touches the
 * file system, so the web page uses it as it is; imported-files.ts reads models and photos.
 */
import { softmax as softmaxKernel } from '../kernels/loss.ts';
import { imagesThatFit, MemoryLimitError, type MemoryLimit } from '../nn/memory.ts';
import type { Backend } from '../tensor/backend.ts';
import { GraphRunner } from './execute.ts';
import { elementCount, GraphError, type Graph } from './graph.ts';
import { planGraph, type PlanOptions } from './plan.ts';

/** How a photo becomes the input: resize (shorter side, or both sides), centre crop, (x / 255 - mean) / std per channel. */
export interface Preprocessing {
  name: string;
  /** The shorter side after resizing; null: resized straight to the crop size, aspect ratio not kept. */
  resize: number | null;
  crop: [number, number];
  mean: number[];
  std: number[];
}

export const PRESETS = ['imagenet', 'inception', 'tf', 'unit', 'bytes'] as const;
export type Preset = (typeof PRESETS)[number];

export interface PreprocessOptions {
  preset?: string;
  mean?: number[];
  std?: number[];
  /** The shorter side before the centre crop; null: straight to the crop size (aspect ratio not kept). */
  resize?: number | null;
  crop?: number;
}

/**
 * The preprocessing for an input of H x W: a preset's (torchvision's ImageNet: shorter side
 * 256/224 of the crop, centre crop, ImageNet mean and std; inception: 1/0.875, x / 127.5 - 1; tf:
 * x / 127.5 - 1, no crop; unit: x / 255; bytes: 0..255 as they are), then the user's figures.
 */
export function preprocessingFor(H: number, W: number, o: PreprocessOptions): Preprocessing {
  const preset = o.preset ?? 'unit';
  if (!(PRESETS as readonly string[]).includes(preset)) throw new GraphError(`--preprocess ${preset}: use ${PRESETS.join(', ')}`);
  const crop: [number, number] = o.crop ? [o.crop, o.crop] : [H, W];
  const byPreset: Record<Preset, Omit<Preprocessing, 'name' | 'crop'>> = {
    imagenet: { resize: Math.round((Math.min(...crop) * 256) / 224), mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
    inception: { resize: Math.round(Math.min(...crop) / 0.875), mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] },
    tf: { resize: null, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] },
    unit: { resize: null, mean: [0, 0, 0], std: [1, 1, 1] },
    bytes: { resize: null, mean: [0, 0, 0], std: [1 / 255, 1 / 255, 1 / 255] },
  };
  const p = { name: preset, crop, ...byPreset[preset as Preset] };
  if (o.resize !== undefined) p.resize = o.resize;
  if (o.mean) p.mean = o.mean;
  if (o.std) p.std = o.std;
  if (p.mean.length !== 3 || p.std.length !== 3 || p.std.some((s) => !(s > 0))) throw new GraphError('--mean and --std take three numbers (R,G,B), --std above 0');
  if (p.crop[0] !== H || p.crop[1] !== W) throw new GraphError(`--crop ${o.crop}: the model takes ${W}x${H} inputs`);
  if (p.resize !== null && p.resize < Math.max(...p.crop)) throw new GraphError(`--resize ${p.resize}: smaller than the ${p.crop[1]}x${p.crop[0]} crop`);
  return p;
}

export function describePreprocessing(p: Preprocessing): string {
  const size = p.resize === null ? `resize to ${p.crop[1]}x${p.crop[0]} (aspect ratio not kept)` : `resize the shorter side to ${p.resize}, centre crop ${p.crop[1]}x${p.crop[0]}`;
  return `${p.name}: ${size}, (x/255 - [${p.mean.map((v) => +v.toFixed(4))}]) / [${p.std.map((v) => +v.toFixed(4))}]`;
}

export interface ImportedModel {
  path: string;
  graph: Graph;
  classes: string[];
  /** The graph's output read as the class scores, and whether a Softmax already made them probabilities. */
  output: string;
  probabilities: boolean;
  channels: number;
  height: number;
  width: number;
  layout: 'NCHW' | 'NHWC';
  pre: Preprocessing;
}

/**
 * The classifier in `graph` (decoded from `source`): its input's layout and size, its class
 * names (`labels`, else the file's metadata, else class0, class1, ...) and the preprocessing.
 */
export function importedModelOf(graph: Graph, path: string, o: PreprocessOptions & { labels?: ClassList }): ImportedModel {
  const dims = graph.inputs[0].dims;
  const nhwc = typeof dims[3] === 'number' && dims[3] <= 4 && !(typeof dims[1] === 'number' && dims[1] <= 4);
  const [C, H, W] = (nhwc ? [dims[3], dims[1], dims[2]] : [dims[1], dims[2], dims[3]]).map((d) => (typeof d === 'number' ? d : (o.crop ?? NaN)));
  if (dims.length !== 4 || !(C === 1 || C === 3) || !(H >= 1 && W >= 1)) {
    throw new GraphError(`${path}: input '${graph.inputs[0].name}' is [${dims.join(', ')}]; wgcam feeds images of 1 or 3 channels, NCHW or NHWC${Number.isNaN(H) ? ' (give the size with --crop N)' : ''}`);
  }
  const output = graph.outputs[0];
  let plan;
  try {
    plan = planGraph(graph, typeof dims[0] === 'number' ? dims[0] : 1);
  } catch (e) {
    if (e instanceof GraphError) throw new GraphError(`${path}: ${e.message}`);
    throw e;
  }
  const outShape = plan.shapes.get(output) ?? [];
  if (outShape.length !== 2) throw new GraphError(`${path}: output '${output}' is [${outShape}]; wgcam reads classifiers whose first output is [N, classes]`);
  const J = outShape[1];
  const probabilities = plan.steps.at(-1)?.node.op === 'Softmax' && plan.steps.at(-1)!.outputs[0] === output;
  const given = o.preset !== undefined || o.mean !== undefined || o.std !== undefined || o.resize !== undefined;
  const pre = preprocessingFor(H, W, given ? o : { ...(statedPreprocessing(graph) ?? {}), crop: o.crop });
  return { path, graph, classes: classNames(path, graph, J, o.labels), output, probabilities, channels: C, height: H, width: W, layout: nhwc ? 'NHWC' : 'NCHW', pre };
}

/**
 * The preprocessing a file states in its metadata ('wgcam.preprocess', as `wgcam export`
 * writes it), used when the command is given none; a value that does not read as one is ignored.
 */
function statedPreprocessing(graph: Graph): PreprocessOptions | undefined {
  const text = graph.metadata.get('wgcam.preprocess');
  if (!text || text.length > 4096) return undefined;
  try {
    const v = JSON.parse(text) as Record<string, unknown>;
    const three = (x: unknown) => Array.isArray(x) && x.length === 3 && x.every((n) => typeof n === 'number' && Number.isFinite(n));
    if (typeof v !== 'object' || v === null || !(PRESETS as readonly unknown[]).includes(v.preset) || !three(v.mean) || !three(v.std)) return undefined;
    if (!(v.resize === null || (Number.isSafeInteger(v.resize) && (v.resize as number) > 0))) return undefined;
    return { preset: v.preset as string, mean: v.mean as number[], std: v.std as number[], resize: v.resize as number | null };
  } catch {
    return undefined;
  }
}

/** Class names the user gives, and where they come from (for errors): `--labels FILE`. */
export interface ClassList {
  names: string[];
  source: string;
}

/** Class names: the given list, else the file's metadata (wgcam.classes, or a JSON list under 'labels'), else class0, class1, ... */
function classNames(path: string, graph: Graph, J: number, labels?: ClassList): string[] {
  if (labels !== undefined) {
    if (labels.names.length !== J) throw new GraphError(`${labels.source}: ${labels.names.length} names for the ${J} outputs of ${path}`);
    return labels.names;
  }
  for (const key of ['wgcam.classes', 'labels', 'classes']) {
    const text = graph.metadata.get(key);
    if (!text) continue;
    try {
      const list = JSON.parse(text) as unknown;
      if (Array.isArray(list) && list.length === J && list.every((c) => typeof c === 'string')) return list;
    } catch {
      // not a JSON list: fall through to the next key
    }
  }
  return Array.from({ length: J }, (_, j) => `class${j}`);
}

/** A photo of width x height resized (shorter side to pre.resize) and centre-cropped: the resized size and the crop's corner. */
export function cropOf(pre: Preprocessing, width: number, height: number): { resized: [number, number]; left: number; top: number } {
  const [ch, cw] = pre.crop;
  if (pre.resize === null) return { resized: [cw, ch], left: 0, top: 0 };
  const scale = pre.resize / Math.min(width, height);
  const [rw, rh] = [Math.max(cw, Math.round(width * scale)), Math.max(ch, Math.round(height * scale))];
  return { resized: [rw, rh], left: Math.floor((rw - cw) / 2), top: Math.floor((rh - ch) / 2) };
}

/** Where the model's input lies on a photo of width x height, in that photo's pixels (the whole photo unless cropped). */
export function inputOnPhoto(pre: Preprocessing, width: number, height: number): { left: number; top: number; width: number; height: number } {
  const c = cropOf(pre, width, height);
  const [fx, fy] = [width / c.resized[0], height / c.resized[1]];
  return { left: c.left * fx, top: c.top * fy, width: pre.crop[1] * fx, height: pre.crop[0] * fy };
}

/** The input from the prepared pixels (crop size, interleaved bytes of the model's channels): (x / 255 - mean) / std in the model's layout. */
export function inputFromPixels(raw: Uint8Array, model: ImportedModel): Float32Array {
  const [ch, cw] = model.pre.crop;
  const C = model.channels;
  const out = new Float32Array(C * ch * cw);
  for (let i = 0; i < ch * cw; i++)
    for (let c = 0; c < C; c++) {
      const v = (raw[i * C + c] / 255 - model.pre.mean[c]) / model.pre.std[c];
      out[model.layout === 'NHWC' ? i * C + c : c * ch * cw + i] = v;
    }
  return out;
}

/**
 * The images a batch of `model` may hold: within the memory limit and the adapter's largest
 * buffer, counting every weight once more on the device and every tensor of a pass alive (an
 * upper bound, and what a backward pass keeps); a file with a fixed batch gets its own.
 */
export function fittingBatch(model: ImportedModel, wanted: number, limit: MemoryLimit, maxBindingBytes: number): number {
  const fixed = model.graph.inputs[0].dims[0];
  const one = planGraph(model.graph, typeof fixed === 'number' ? fixed : 1);
  const per = typeof fixed === 'number' ? fixed : 1;
  let weights = 0;
  for (const c of one.constants.values()) if (c.kind === 'float') weights += 4 * c.data.length;
  let perImage = 0;
  let largest = 0;
  for (const s of one.shapes.values()) {
    perImage += (4 * elementCount(s)) / per;
    largest = Math.max(largest, (4 * elementCount(s)) / per);
  }
  const fits = imagesThatFit(model.path, { fixed: weights, perImage, largestBuffer: largest }, wanted, limit, maxBindingBytes);
  if (typeof fixed !== 'number') return fits;
  if (fits < fixed) throw new MemoryLimitError(`${model.path}: takes batches of exactly ${fixed} images, more than fit the memory limit (${fits})`);
  return fixed;
}

/** Class probabilities of prepared inputs, in batches that fit the memory limit. */
export class ImportedPredictor {
  readonly maxBatch: number;
  private readonly runner: GraphRunner;

  constructor(
    private readonly backend: Backend,
    private readonly model: ImportedModel,
    o: { maxBatch?: number; limit: MemoryLimit } & Pick<PlanOptions, 'innerConv'>,
  ) {
    this.runner = new GraphRunner(backend, model.graph, { innerConv: o.innerConv });
    this.maxBatch = fittingBatch(model, o.maxBatch ?? 32, o.limit, backend.maxBindingBytes);
  }

  /** [count x classes] probabilities of `inputs` (each from importedInput). */
  async probabilities(inputs: Float32Array[]): Promise<Float32Array> {
    const J = this.model.classes.length;
    const out = new Float32Array(inputs.length * J);
    const fixed = typeof this.model.graph.inputs[0].dims[0] === 'number';
    for (let start = 0; start < inputs.length; start += this.maxBatch) {
      const part = inputs.slice(start, start + this.maxBatch);
      // A file whose batch is fixed gets whole batches (the last one padded).
      const N = fixed ? this.maxBatch : part.length;
      const per = part[0].length;
      const x = new Float32Array(N * per);
      part.forEach((p, i) => x.set(p, i * per));
      let scores = (await this.runner.run(x, N, [this.model.output])).get(this.model.output)!;
      if (!this.model.probabilities) {
        const s = this.backend.upload(scores);
        const p = this.backend.run(softmaxKernel, { z: s }, { N, J }).probs;
        scores = await this.backend.download(p, N * J);
        this.backend.free(s);
        this.backend.free(p);
      }
      if (!scores.every(Number.isFinite)) throw new GraphError(`${this.model.path}: the model's outputs are not finite numbers`);
      out.set(scores.subarray(0, part.length * J), start * J);
    }
    return out;
  }

  dispose(): void {
    this.runner.dispose();
  }
}
