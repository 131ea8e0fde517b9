/**
 * The explanation methods on an imported graph, batched on the GPU (or the CPU references):
 *   - gradient methods (gradcam, gradcam++, xgradcam, layercam, hirescam) at any 4-D tensor of
 *     the graph: its activations A and the gradient G of the target (the class scores before
 *     the graph's Softmax, combined as the mode says) from wgcam's own backward kernels, only as
 *     far back as that tensor; the gradcam kernel draws the map, as for wgcam's own models;
 *   - cam where the layer is followed by global average pooling and one dense layer (ResNet,
 *     DenseNet, MobileNet, EfficientNet): the dense weights over A, the cam kernel;
 *   - scorecam: each channel's map placed on the input and normalized there masks the prepared
 *     input; its weight is the target's probability on the masked batch.
 * Each map is placed on the photo by its layer's receptive field and by the preprocessing's
 * resize and crop: a centre-cropped input's map covers the crop, at its place on the photo.
 * Nothing here reads or writes files: `wgcam cam` (imported.ts) and the web page both use it.
 */
import { GraphRunner } from '../graph/execute.ts';
import { GraphError } from '../graph/graph.ts';
import { inputOnPhoto, type ImportedModel } from '../graph/imported-model.ts';
import type { Plan, ReceptiveField } from '../graph/plan.ts';
import { cam as camKernel, camTargets, camUpsample, upsampleReference, type CamMode } from '../kernels/cam.ts';
import { gradCam, type GradientMethod } from '../kernels/gradcam.ts';
import type { FloatArray } from '../kernels/kernel.ts';
import type { MaskMode } from '../kernels/mask.ts';
import type { Storage } from '../tensor/backend.ts';
import { mapError, type CamMethod, type Explained, type Photo } from './explain.ts';
import { faithfulnessOf, saliencyRanks, type Faithfulness } from './faithfulness.ts';
import { fuseMaps, mirrored, resampleMap, type FuseMode, type LayerGrid } from './fuse.ts';

/**
 * The steps whose output is a map larger than 1x1 that the class scores (the graph's first
 * output) are computed from: the layers an explanation can read. A side output (an auxiliary
 * head, the maps `wgcam export` adds) is not one.
 */
export function mapLayers(plan: Plan): Plan['steps'] {
  const feeding = new Set([plan.outputs[0]]);
  for (let i = plan.steps.length - 1; i >= 0; i--) {
    const s = plan.steps[i];
    if (s.outputs.some((o) => feeding.has(o))) s.reads.forEach((r) => feeding.add(r));
  }
  return plan.steps.filter((s) => s.shapes[0].length === 4 && s.shapes[0][2] * s.shapes[0][3] > 1 && feeding.has(s.outputs[0]));
}

/** The 4-D tensor `name` names (output, node or step number), or the last of mapLayers. */
export function resolveLayer(plan: Plan, name: string | undefined, source: string, flag = '--layer'): string {
  const spatial = mapLayers(plan);
  if (name === undefined) {
    const last = spatial.at(-1);
    if (!last) throw new GraphError(`${source}: no output of the graph is a map larger than 1x1; there is nothing to draw`);
    return last.outputs[0];
  }
  const byIndex = /^\d+$/.test(name) ? plan.steps[Number(name) - 1] : undefined;
  const step = byIndex ?? plan.steps.find((s) => s.outputs[0] === name || s.node.name === name);
  if (!step) throw new GraphError(`${flag} ${name}: no step, node or output of ${source} has that name (wgcam info ${source} lists them)`);
  const shape = step.shapes[0];
  if (shape.length !== 4 || shape[2] * shape[3] < 1) throw new GraphError(`${flag} ${name}: its output is [${shape.slice(1)}] per image, not a map (C, H, W)`);
  return step.outputs[0];
}

/** The dense weights of a global-average-pool + dense head right after `layer`, or null (CAM needs one). */
export function camHead(plan: Plan, layer: string): { w: string; bias: string } | null {
  let t = layer;
  let pooled = false;
  for (const step of plan.steps) {
    if (!step.reads.includes(t)) continue;
    const op = step.node.op;
    if (!pooled && (op === 'GlobalAveragePool' || op === 'ReduceMean')) pooled = true;
    else if (pooled && step.alias) {
      // Flatten, Reshape, Dropout between the pool and the dense layer
    } else if (pooled && step.dense) return { w: step.dense.w, bias: step.dense.b };
    else return null;
    t = step.outputs[0];
  }
  return null;
}

/** The tensor holding the class scores: the graph's output, or the input of its final Softmax. */
export function scoresOf(plan: Plan, model: ImportedModel): string {
  const last = plan.steps.at(-1)!;
  return model.probabilities && last.node.op === 'Softmax' ? last.reads[0] : model.output;
}

export const mapSize = (plan: Plan, t: string) => plan.shapes.get(t)![2] * plan.shapes.get(t)![3];

/** A layer's map grid: cell u of its rows and columns is centred on input pixel start + jump * u. */
function gridOf(plan: Plan, t: string): LayerGrid {
  const [, , h, w] = plan.shapes.get(t)!;
  const f = plan.fields.get(t) ?? { size: 1, jump: 1, start: 0 };
  return { offset: f.start, stride: f.jump, h, w };
}

/** An input (one image, in the model's layout) mirrored left-right. */
function mirroredInput(x: Float32Array, model: ImportedModel): Float32Array {
  const [H, W, C] = [model.height, model.width, model.channels];
  const out = new Float32Array(x.length);
  for (let c = 0; c < C; c++)
    for (let y = 0; y < H; y++)
      for (let v = 0; v < W; v++) {
        const [from, to] = model.layout === 'NHWC' ? [(y * W + v) * C + c, (y * W + (W - 1 - v)) * C + c] : [(c * H + y) * W + v, (c * H + y) * W + (W - 1 - v)];
        out[to] = x[from];
      }
  return out;
}

/**
 * The maps at each layer (each, with flips, the mean of the photo's and its mirror image's,
 * mirrored back and resampled by the mirrored cells' positions), fused on the finest layer's
 * grid as for wgcam's own models (fuse.ts); one layer without flips is its map as it is.
 */
export async function explainLayers(
  runner: GraphRunner,
  model: ImportedModel,
  o: Omit<BatchOptions, 'layer'>,
  items: { input: Float32Array; photo: Photo }[],
  layers: string[],
  finest: string,
  how: { flip: boolean; fuse: FuseMode },
): Promise<Explained[]> {
  const plan = runner.plan(o.batch);
  const perLayer: Explained[][] = [];
  for (const layer of layers) {
    const field = plan.fields.get(layer) ?? { size: 1, jump: 1, start: 0 };
    const own = await explainBatch(runner, model, { ...o, layer }, items, field);
    if (!how.flip) {
      perLayer.push(own);
      continue;
    }
    const flipped = await explainBatch(runner, model, { ...o, layer }, items.map((it) => ({ ...it, input: mirroredInput(it.input, model) })), field);
    const grid = gridOf(plan, layer);
    // Cell u of the flipped input sits at x = W-1-(start + jump u); mirrored, cell u' at W-1-start-jump(w-1) + jump u'.
    const back: LayerGrid = { ...grid, offsetX: model.width - 1 - grid.offset - grid.stride * (grid.w - 1) };
    perLayer.push(
      own.map((r, n) => {
        const f = flipped[n];
        const mean = fuseMaps([Float32Array.from(r.cam, (v) => v / 255), resampleMap(mirrored(Float32Array.from(f.cam, (v) => v / 255), grid.w), back, grid)], 'mean');
        return {
          ...r,
          error: r.error ?? f.error,
          cam: Uint8Array.from(mean, (v) => Math.floor(255 * v + 0.5)),
          raw: mean,
          upsampled: fuseMaps([r.upsampled, mirrored(f.upsampled, items[n].photo.width)], 'mean'),
          inputMap: fuseMaps([r.inputMap!, mirrored(f.inputMap!, model.width)], 'mean'),
        };
      }),
    );
  }
  if (layers.length === 1) return perLayer[0];
  const to = gridOf(plan, finest);
  return items.map((_, n) => {
    const maps = perLayer.map((r, l) => {
      const top = r[n].raw.reduce((m, v) => Math.max(m, v), 0);
      return resampleMap(r[n].raw.map((v) => (top > 0 ? Math.max(0, v) / top : 0)), gridOf(plan, layers[l]), to);
    });
    const fused = fuseMaps(maps, how.fuse);
    const base = perLayer[layers.indexOf(finest)][n];
    return {
      ...base,
      error: perLayer.map((r) => r[n].error).find((e) => e !== undefined),
      cam: Uint8Array.from(fused, (v) => Math.floor(255 * v + 0.5)),
      raw: fused,
      upsampled: fuseMaps(perLayer.map((r) => r[n].upsampled), how.fuse),
      inputMap: fuseMaps(perLayer.map((r) => r[n].inputMap!), how.fuse),
    };
  });
}

export interface BatchOptions {
  layer: string;
  scores: string;
  head: { w: string; bias: string } | null;
  method: CamMethod;
  mode: CamMode;
  contrast: 'runner-up' | 'mean';
  cls: number;
  /** The batch the graph runs (a fixed-batch file's own; its last batch padded). */
  batch: number;
  rawScale: number;
  /** Also every class's raw map (cam only: the dense weights over A, J x h x w a photo). */
  allClasses?: boolean;
}

async function explainBatch(runner: GraphRunner, model: ImportedModel, o: BatchOptions, items: { input: Float32Array; photo: Photo }[], field: ReceptiveField): Promise<Explained[]> {
  const backend = runner.backend;
  const plan = runner.plan(o.batch);
  const [, K, h, w] = plan.shapes.get(o.layer)!;
  const HW = h * w;
  const J = model.classes.length;
  const N = o.batch;
  const per = items[0].input.length;
  const x = new Float32Array(N * per);
  items.forEach((it, i) => x.set(it.input, i * per));
  const mode = o.mode === 'raw' ? 'class' : o.mode;
  const targets = (s: FloatArray) => camTargets.reference({ logits: s }, { N, J, mode, contrast: o.contrast, cls: o.cls }).coef;
  const method = o.method ?? 'cam';
  // Activations at the layer and the gradient of the target there (the gradient is not needed by cam and scorecam, but their pass is the same).
  const g = await runner.gradient(x, N, { at: o.layer, from: o.scores, seed: targets });
  const A = backend.upload(g.values);
  const logits = backend.upload(g.from);
  const owned: Storage[] = [A, logits];
  try {
    let r: Record<'raw' | 'norm' | 'u8', Storage>;
    let allMaps: Float32Array | undefined;
    if (method === 'cam') {
      const out = backend.run(camKernel, { F: A, W: runner.constantBuffer(o.head!.w, o.batch), logits }, { N, K, J, HW, mode: o.mode, contrast: o.contrast, cls: o.cls, rawScale: o.rawScale });
      if (o.allClasses) allMaps = await backend.download(out.maps, N * J * HW);
      backend.free(out.maps);
      r = out as typeof r;
    } else {
      let G: Storage;
      if (method === 'scorecam') G = backend.upload(await scoreWeights(runner, model, x, g.values, g.from, targets, { N, K, h, w, HW, field, scores: o.scores }));
      else G = backend.upload(g.grad);
      owned.push(G);
      const out = backend.run(gradCam, { A, G }, { N, K, HW, method: method === 'scorecam' ? 'gradcam' : (method as GradientMethod) });
      backend.free(out.weights);
      r = out as typeof r;
    }
    owned.push(r.raw, r.norm, r.u8);
    const raw = await backend.download(r.raw, N * HW);
    const u8 = await backend.downloadU32(r.u8, N * HW);
    const probs = softmaxRows(g.from, N, J);
    const results: Explained[] = [];
    for (let n = 0; n < items.length; n++) {
      const ph = items[n].photo;
      const box = inputOnPhoto(model.pre, ph.width, ph.height);
      const [bw, bh] = [Math.max(1, Math.round(box.width)), Math.max(1, Math.round(box.height))];
      const up = backend.run(camUpsample, { map: r.norm }, { h, w, outH: bh, outW: bw, inH: model.height, inW: model.width, offset: field.start, stride: field.jump, mapOffset: n * HW }).out;
      const placed = await backend.download(up, bw * bh);
      backend.free(up);
      // The map covers the input's place on the photo; the rest of a cropped photo shows nothing.
      const upsampled = new Float32Array(ph.width * ph.height);
      const [x0, y0] = [Math.round(box.left), Math.round(box.top)];
      for (let yy = 0; yy < bh; yy++) {
        const py = y0 + yy;
        if (py < 0 || py >= ph.height) continue;
        for (let xx = 0; xx < bw; xx++) {
          const px = x0 + xx;
          if (px >= 0 && px < ph.width) upsampled[py * ph.width + px] = placed[yy * bw + xx];
        }
      }
      const mine = raw.slice(n * HW, (n + 1) * HW);
      const error = mapError(mine, method);
      // The map at the network input's size too (the faithfulness metrics mask the input with it).
      const atInput = backend.run(camUpsample, { map: r.norm }, { h, w, outH: model.height, outW: model.width, inH: model.height, inW: model.width, offset: field.start, stride: field.jump, mapOffset: n * HW }).out;
      const inputMap = await backend.download(atInput, model.height * model.width);
      backend.free(atInput);
      results.push({
        probs: probs.slice(n * J, (n + 1) * J),
        cam: Uint8Array.from(u8.subarray(n * HW, (n + 1) * HW)),
        raw: mine,
        mapWidth: w,
        mapHeight: h,
        upsampled,
        inputMap,
        ...(allMaps ? { allMaps: allMaps.slice(n * J * HW, (n + 1) * J * HW) } : {}),
        ...(error ? { error } : {}),
      });
    }
    return results;
  } finally {
    for (const s of owned) backend.free(s);
  }
}

/**
 * The faithfulness metrics (faithfulness.ts) on an imported graph: the prepared inputs altered
 * on the CPU in the model's layout, where a removed pixel is black as the preprocessing turns
 * black ((0 - mean) / std per channel) and the map mode multiplies the photo, not its
 * normalized values, by the map; each altered batch classified by the graph.
 */
export async function importedFaithfulness(runner: GraphRunner, model: ImportedModel, scores: string, fixedBatch: number | undefined, inputs: Float32Array[], maps: Float32Array[], probs: Float32Array[]): Promise<Faithfulness[]> {
  if (!inputs.length) return [];
  const [H, W, C] = [model.height, model.width, model.channels];
  const HW = H * W;
  const N = fixedBatch ?? inputs.length;
  const black = Array.from({ length: C }, (_, c) => (0 - model.pre.mean[c]) / model.pre.std[c]);
  const ranks = maps.map(saliencyRanks);
  const at = (c: number, i: number) => (model.layout === 'NHWC' ? i * C + c : c * HW + i);
  const classify = async (mode: MaskMode, k: number): Promise<Float32Array> => {
    const x = new Float32Array(N * C * HW);
    inputs.forEach((input, n) => {
      for (let i = 0; i < HW; i++) {
        const salient = ranks[n][i] < k;
        for (let c = 0; c < C; c++) {
          const v = input[at(c, i)];
          const b = black[c];
          x[n * C * HW + at(c, i)] = mode === 'map' ? b + (v - b) * maps[n][i] : (mode === 'delete') === salient ? b : v;
        }
      }
    });
    const s = (await runner.run(x, N, [scores])).get(scores)!;
    return softmaxRows(s, N, model.classes.length).subarray(0, inputs.length * model.classes.length);
  };
  return faithfulnessOf(probs, HW, classify);
}

function softmaxRows(scores: FloatArray, N: number, J: number): Float32Array {
  const out = new Float32Array(N * J);
  for (let n = 0; n < N; n++) {
    let top = -Infinity;
    for (let j = 0; j < J; j++) top = Math.max(top, scores[n * J + j]);
    let sum = 0;
    for (let j = 0; j < J; j++) sum += Math.exp(scores[n * J + j] - top);
    for (let j = 0; j < J; j++) out[n * J + j] = Math.exp(scores[n * J + j] - top) / sum;
  }
  return out;
}

/**
 * Score-CAM's weights as a gradient constant over each channel (Grad-CAM's mean gives them
 * back): each channel map placed on the input and min-max normalized there masks the prepared
 * input (every channel of a pixel alike, in the input's own layout); the weight is the
 * target's probability on the masked batch.
 */
async function scoreWeights(
  runner: GraphRunner,
  model: ImportedModel,
  x: Float32Array,
  A: FloatArray,
  scores: FloatArray,
  targets: (s: FloatArray) => FloatArray,
  m: { N: number; K: number; h: number; w: number; HW: number; field: ReceptiveField; scores: string },
): Promise<Float32Array> {
  const { N, K, HW } = m;
  const coef = targets(scores);
  const J = model.classes.length;
  const [H, W, C] = [model.height, model.width, model.channels];
  const inHW = H * W;
  const weights = new Float32Array(N * K);
  const placement = { h: m.h, w: m.w, outH: H, outW: W, inH: H, inW: W, offset: m.field.start, stride: m.field.jump };
  for (let k = 0; k < K; k++) {
    const masked = new Float32Array(x.length);
    for (let n = 0; n < N; n++) {
      const placed = upsampleReference(A.subarray((n * K + k) * HW, (n * K + k + 1) * HW), placement);
      let [lo, hi] = [Infinity, -Infinity];
      for (const v of placed) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
      for (let i = 0; i < inHW; i++) {
        const mask = hi > lo ? (placed[i] - lo) / (hi - lo) : 0;
        for (let c = 0; c < C; c++) {
          const at = n * C * inHW + (model.layout === 'NHWC' ? i * C + c : c * inHW + i);
          masked[at] = x[at] * mask;
        }
      }
    }
    const s = (await runner.run(masked, N, [m.scores])).get(m.scores)!;
    const p = softmaxRows(s, N, J);
    for (let n = 0; n < N; n++) {
      let score = 0;
      for (let j = 0; j < J; j++) score += coef[n * J + j] * p[n * J + j];
      weights[n * K + k] = score;
    }
  }
  const constant = new Float32Array(N * K * HW);
  for (let c = 0; c < N * K; c++) constant.fill(weights[c], c * HW, (c + 1) * HW);
  return constant;
}
