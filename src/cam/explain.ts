/**
 * From images to class activation maps: one forward per batch, the fused CAM kernel over
 * the batch, then each map upsampled to its photo's size, aligned by the receptive-field
 * geometry. Only the results are read back. Runs on any backend: the GPU (in Node or in a
 * browser) or the CPU references (the web page without WebGPU).
 */
import { classScores, imagesToTensor, softmax } from '../autograd/ops.ts';
import { backward, noGrad } from '../autograd/tape.ts';
import { cam, CAM_MODES, camTargets, camUpsample, upsampleReference, type CamMode } from '../kernels/cam.ts';
import { gradCam, GRADIENT_METHODS, type GradientMethod } from '../kernels/gradcam.ts';
import { isOwnKey } from '../util/arrays.ts';
import { maskImages } from '../kernels/mask.ts';
import { packBytes } from '../kernels/images.ts';
import type { Classifier } from '../nn/model.ts';
import { blocksThroughConv, featureShapes } from '../nn/model.ts';
import { imagesThatFit, inferenceNeed, trainingNeed, type MemoryLimit, type MemoryNeed } from '../nn/memory.ts';
import type { Backend, Storage } from '../tensor/backend.ts';
import { Tensor, tidy } from '../tensor/tensor.ts';
import type { Faithfulness } from './faithfulness.ts';
import { fuseMaps, mirrored, resampleMap, type FuseMode, type LayerGrid } from './fuse.ts';
import { cellGeometry } from './geometry.ts';

/** The seed's CAM (class weights times the last features), a gradient-based method, or Score-CAM. */
export type CamMethod = 'cam' | GradientMethod | 'scorecam';

export interface CamOptions {
  /** Default 'cam'. The gradient methods take the mode's classes as their target and draw relu(map) / max. */
  method?: CamMethod;
  /** The conv layer (1-based) whose activations a gradient method weighs; default the last (CAM: always the last). */
  layer?: number;
  /** Several conv layers, each explained by the method and fused (`fuse`, default max) on the finest one's grid. */
  layers?: number[];
  fuse?: FuseMode;
  /** Test-time flips: also explain each image mirrored left-right and average the two maps. */
  flip?: boolean;
  mode: CamMode;
  contrast: 'runner-up' | 'mean';
  /** Class index for the class/raw modes, -1 for the predicted class. */
  cls: number;
  rawScale: number;
  allClasses: boolean;
  /** Also each normalized map at the network input's size (for the faithfulness metrics). */
  inputMaps?: boolean;
}

export interface Photo {
  /** RGB bytes, HWC. */
  data: Uint8Array;
  width: number;
  height: number;
}

export interface Explained {
  probs: Float32Array;
  /** The map at feature resolution, u8 as the seed saved it. */
  cam: Uint8Array;
  /** Raw (unnormalized) combined map at feature resolution. */
  raw: Float32Array;
  mapWidth: number;
  mapHeight: number;
  /** Normalized map (0..1) at the photo's size. */
  upsampled: Float32Array;
  /** Every class's raw map (J x h x w), with allClasses. */
  allMaps?: Float32Array;
  /** The normalized map at the network input's size, with inputMaps. */
  inputMap?: Float32Array;
  /** The map's faithfulness scores, where they were asked for (wgcam cam --metrics). */
  faithfulness?: Faithfulness;
  /** Why this photo has no usable map (its map is not finite); the other photos of the batch are unaffected. */
  error?: string;
}

/** A model whose outputs overflowed float32 (finite but huge weights do it): its maps mean nothing. */
export class NonFiniteOutputError extends Error {}

/** Throws a NonFiniteOutputError naming `source` unless every value of `outputs` is finite. */
export function assertFiniteOutputs(source: string, ...outputs: (Float32Array | null)[]): void {
  if (outputs.every((o) => !o || o.every(Number.isFinite))) return;
  throw new NonFiniteOutputError(`${source}: the model's outputs are not finite numbers (its weights overflow float32); its predictions and maps would mean nothing`);
}

/** Why one photo's raw map cannot be drawn (a value that is not finite), naming the method; undefined when it can. */
export function mapError(raw: Float32Array, method: string): string | undefined {
  return raw.every(Number.isFinite) ? undefined : `the ${method} map of this photo is not finite (NaN or infinity); no map was drawn for it`;
}

export interface ExplainerOptions {
  /** Images per forward pass at most (default: as many as fit). */
  maxBatch?: number;
  /** Host/GPU memory the explanations may take (in Node: defaultMemoryLimit(), nn/machine-memory.ts). */
  limit: MemoryLimit;
  /** Names the model in errors (its file). */
  source?: string;
}

export class Explainer {
  private readonly maxBatch: number;
  private readonly maxBatchWanted: number;
  private readonly need: MemoryNeed;
  /** The need and batch of the gradient methods, worked out when one is first asked for. */
  private gradient?: { need: MemoryNeed; maxBatch: number };
  private readonly limit: MemoryLimit;
  private readonly source: string;

  /** Throws a MemoryLimitError when not even one image fits the adapter or the memory limit. */
  constructor(
    readonly backend: Backend,
    readonly model: Classifier,
    o: ExplainerOptions,
  ) {
    this.need = inferenceNeed(model.arch);
    this.limit = o.limit;
    this.source = o.source ?? 'the model';
    this.maxBatchWanted = o.maxBatch ?? Infinity;
    this.maxBatch = imagesThatFit(this.source, this.need, this.maxBatchWanted, this.limit, backend.maxBindingBytes);
  }

  private fitting(need: MemoryNeed, wanted: number): { need: MemoryNeed; maxBatch: number } {
    return { need, maxBatch: imagesThatFit(this.source, need, wanted, this.limit, this.backend.maxBindingBytes) };
  }

  /** `inputs`: u8 images at the model's input size (HWC); `photos`: where each map is drawn. */
  async explain(inputs: Uint8Array[], photos: Photo[], o: CamOptions): Promise<Explained[]> {
    if (o.flip) return this.explainWithFlips(inputs, photos, o);
    if (o.layers && o.layers.length > 1) return this.explainFused(inputs, photos, { ...o, layers: o.layers });
    const method = o.method ?? 'cam';
    const gradient = method !== 'cam' && method !== 'scorecam';
    if (gradient && !isOwnKey(GRADIENT_METHODS, method)) throw new Error(`method ${method}: use cam, ${Object.keys(GRADIENT_METHODS).join(', ')} or scorecam`);
    if (!isOwnKey(CAM_MODES, o.mode)) throw new Error(`mode ${o.mode}: use ${Object.keys(CAM_MODES).join(', ')}`);
    if (method !== 'cam' && o.mode === 'raw') throw new Error(`--method ${o.method}: draws relu(map) / max; use --mode contrast or class`);
    // A backward pass keeps the activations after the chosen layer: sized like a training step.
    this.gradient ??= gradient ? this.fitting(trainingNeed(this.model.arch, 0), this.maxBatchWanted) : undefined;
    const { need, maxBatch } = gradient ? this.gradient! : { need: this.need, maxBatch: this.maxBatch };
    // Every buffer a batch allocates counts: activations and CAM buffers per image, and each
    // photo's upsampled map (on the GPU and read back), so a batch of large photos is split.
    const inputMapBytes = o.inputMaps ? 8 * this.model.arch.width * this.model.arch.height : 0;
    const photoBytes = (ph: Photo) => 8 * ph.width * ph.height + inputMapBytes;
    const budget = this.limit.bytes - need.fixed;
    const batches: [number, number][] = [];
    for (let start = 0, used = 0, i = 0; i < inputs.length; i++) {
      const cost = need.perImage + photoBytes(photos[i]);
      if (i > start && (i - start >= maxBatch || used + cost > budget)) {
        batches.push([start, i]);
        [start, used] = [i, 0];
      }
      used += cost;
      if (i === inputs.length - 1) batches.push([start, inputs.length]);
    }
    const out: Explained[] = [];
    for (const [a, b] of batches) {
      const [batchInputs, batchPhotos] = [inputs.slice(a, b), photos.slice(a, b)];
      const explainBatch = gradient ? this.explainBatchByGradient : method === 'scorecam' ? this.explainBatchByScore : this.explainBatch;
      out.push(...(await explainBatch.call(this, batchInputs, batchPhotos, o)));
    }
    return out;
  }

  private async explainBatch(inputs: Uint8Array[], photos: Photo[], o: CamOptions): Promise<Explained[]> {
    const { arch } = this.model;
    const N = inputs.length;
    const [K, h, w] = featureShapes(arch).at(-1)!;
    const HW = h * w;
    const geo = cellGeometry(arch.blocks);
    const per = arch.inputChannels * arch.height * arch.width;
    const pixels = new Uint8Array(N * per);
    inputs.forEach((img, i) => pixels.set(img, i * per));

    const outs = noGrad(() =>
      tidy(() => {
        const x = imagesToTensor(this.backend, packBytes(pixels), new Float32Array(N), { N, C: arch.inputChannels, H: arch.height, W: arch.width });
        const { logits, features } = this.model.forwardWithFeatures(x);
        const probs = softmax(logits);
        const r = this.backend.run(
          cam,
          { F: features.storage, W: this.model.fc.weight.storage, logits: logits.storage },
          { N, K, J: arch.classes, HW, mode: o.mode, contrast: o.contrast, cls: o.cls, rawScale: o.rawScale },
        ) as Record<'maps' | 'raw' | 'norm' | 'u8', Storage>;
        return { probs, r, ups: this.upsampleAll(r.norm, photos, { h, w, HW, geo }), inputUps: o.inputMaps ? this.upsampleAll(r.norm, this.inputSized(N), { h, w, HW, geo }) : [] };
      }),
    );
    return this.readBack(outs, photos, N, HW, w, h, o.allClasses, 'cam');

  }

  /**
   * A gradient-based CAM: the forward pass runs unfused at the chosen conv layer, whose
   * activations A (after its ReLU) become the leaf the target score (cam_targets.wgsl: the mode's
   * classes) is differentiated against, through the engine's own backward ops; the fused
   * gradcam kernel draws every image's map; then the same upsampling. One readback per batch.
   */
  private async explainBatchByGradient(inputs: Uint8Array[], photos: Photo[], o: CamOptions): Promise<Explained[]> {
    const { arch } = this.model;
    const { layer, N, K, h, w, HW, geo, x: input } = this.atLayer(inputs, o);
    const params = this.model.parameters().map(([, t]) => t);
    const trainable = params.map((t) => t.requiresGrad);
    params.forEach((t) => (t.requiresGrad = false)); // only the activations' gradient is wanted
    let gradient: Tensor | null = null;
    try {
      const outs = tidy(() => {
        const A = this.model.forwardTo(input(), layer);
        A.requiresGrad = true;
        const { logits } = this.model.forwardFrom(A, layer);
        const mode = o.mode === 'raw' ? 'class' : o.mode;
        const coef = this.backend.run(camTargets, { logits: logits.storage }, { N, J: arch.classes, mode, contrast: o.contrast, cls: o.cls }).coef;
        backward(classScores(logits, new Tensor(this.backend, coef, logits.shape)));
        gradient = A.grad;
        return this.drawWeighted(A, A.grad!, o.method as GradientMethod, softmax(logits), photos, { N, K, h, w, geo }, o.inputMaps);
      });
      return await this.readBack(outs, photos, N, HW, w, h, false, o.method as GradientMethod);
    } finally {
      (gradient as Tensor | null)?.dispose();
      params.forEach((t, i) => (t.requiresGrad = trainable[i]));
    }
  }

  /**
   * Score-CAM (Wang et al. 2020) at conv layer L: every channel's activation map, placed on
   * the network input by the layer's geometry and min-max normalized there, masks the input
   * (mask_images); its weight is the
   * target's softmax score on that masked batch (the predicted class's probability, minus the
   * runner-up's in the contrast mode, as cam_targets chooses); the map is relu(sum_k w_k A_k),
   * drawn by the gradcam kernel with the weights as a constant gradient. One classification of
   * the batch per channel.
   */
  private async explainBatchByScore(inputs: Uint8Array[], photos: Photo[], o: CamOptions): Promise<Explained[]> {
    const { arch } = this.model;
    const J = arch.classes;
    const inHW = arch.height * arch.width;
    const { layer, N, K, h, w, HW, geo, x: input } = this.atLayer(inputs, o);
    const { x, A, coef } = noGrad(() =>
      tidy(() => {
        const x = input();
        const A = this.model.forwardTo(x, layer);
        const logits = this.model.forwardFrom(A, layer).logits;
        const mode = o.mode === 'raw' ? 'class' : o.mode;
        const coef = new Tensor(this.backend, this.backend.run(camTargets, { logits: logits.storage }, { N, J, mode, contrast: o.contrast, cls: o.cls }).coef, logits.shape);
        return { x: x.keep(), A: A.keep(), coef: coef.keep() };
      }),
    );
    try {
      const [activations, coefficients] = [await A.toArray(), await coef.toArray()];
      // Each mask is the channel map placed on the input, then min-max normalized, as Score-CAM
      // defines it. The placement is bilinear (weights summing to 1), so it commutes with an
      // affine map: the cell values are scaled by the placed map's own min and max (found on the
      // CPU), and the GPU's placement of the scaled map is the normalized mask.
      const placement = { h, w, outH: arch.height, outW: arch.width, inH: arch.height, inW: arch.width, offset: geo.offset, stride: geo.stride };
      const normalized = new Float32Array(activations.length);
      for (let c = 0; c < N * K; c++) {
        const m = activations.subarray(c * HW, (c + 1) * HW);
        const placed = upsampleReference(m, placement);
        let [lo, hi] = [Infinity, -Infinity];
        for (const v of placed) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
        for (let p = 0; p < HW; p++) normalized[c * HW + p] = hi > lo ? (m[p] - lo) / (hi - lo) : 0;
      }
      const maps = Tensor.fromArray(this.backend, normalized, A.shape).keep();
      const noRanks = Tensor.zeros(this.backend, [N, inHW]).keep();
      const weights = new Float32Array(N * K);
      try {
        for (let k = 0; k < K; k++) {
          const probs = noGrad(() =>
            tidy(() => {
              const E = this.backend.alloc(N * inHW);
              for (let n = 0; n < N; n++) {
                const up = this.backend.run(camUpsample, { map: maps.storage }, { ...placement, mapOffset: (n * K + k) * HW }).out;
                this.backend.copyInto(up, E, inHW, n * inHW);
                this.backend.free(up);
              }
              const y = this.backend.run(maskImages, { x: x.storage, E, rank: noRanks.storage }, { N, C: arch.inputChannels, HW: inHW, mode: 'map' as const, k: 0 }).y;
              this.backend.free(E);
              return softmax(this.model.forward(new Tensor(this.backend, y, x.shape)));
            }),
          );
          const p = await probs.toArray();
          probs.dispose();
          for (let n = 0; n < N; n++) {
            let score = 0;
            for (let j = 0; j < J; j++) score += coefficients[n * J + j] * p[n * J + j];
            weights[n * K + k] = score;
          }
        }
      } finally {
        maps.dispose();
        noRanks.dispose();
      }
      // The weights as a gradient constant over each channel: Grad-CAM's mean gives them back.
      const constant = new Float32Array(N * K * HW);
      for (let c = 0; c < N * K; c++) constant.fill(weights[c], c * HW, (c + 1) * HW);
      const outs = noGrad(() =>
        tidy(() => this.drawWeighted(A, Tensor.fromArray(this.backend, constant, A.shape), 'gradcam', softmax(this.model.forward(x)), photos, { N, K, h, w, geo }, o.inputMaps)),
      );
      return await this.readBack(outs, photos, N, HW, w, h, false, 'scorecam');
    } finally {
      for (const t of [x, A, coef]) t.dispose();
    }
  }

  /**
   * Test-time flips: each image is also explained mirrored left-right; the mirrored map, put back
   * (mirrored again, and on the map's own grid resampled by the mirrored cells' positions, as
   * valid convolutions and floor pools need not be symmetric), is averaged with the image's own
   * (both normalized, as drawn), and the mean divided by its maximum. The probabilities are
   * the image's own.
   */
  private async explainWithFlips(inputs: Uint8Array[], photos: Photo[], o: CamOptions): Promise<Explained[]> {
    const { arch } = this.model;
    const C = arch.inputChannels;
    const flippedInputs = inputs.map((img) => {
      const out = new Uint8Array(img.length);
      for (let y = 0; y < arch.height; y++)
        for (let x = 0; x < arch.width; x++) out.set(img.subarray((y * arch.width + x) * C, (y * arch.width + x + 1) * C), (y * arch.width + (arch.width - 1 - x)) * C);
      return out;
    });
    const plain = await this.explain(inputs, photos, { ...o, flip: false });
    const flipped = await this.explain(flippedInputs, photos, { ...o, flip: false });
    const method = o.method ?? 'cam';
    const layers = o.layers && o.layers.length > 1 ? o.layers : [o.layer ?? this.model.convCount];
    const geo = cellGeometry(blocksThroughConv(arch.blocks, method === 'cam' ? this.model.convCount : Math.min(...layers)));
    return plain.map((r, n) => {
      const f = flipped[n];
      const grid: LayerGrid = { ...geo, h: r.mapHeight, w: r.mapWidth };
      // The flipped input's cell u sits at input x = W-1-(offset + stride u); mirrored, cell u' at W-1-offset-stride(w-1) + stride u'.
      const back: LayerGrid = { ...grid, offsetX: arch.width - 1 - geo.offset - geo.stride * (r.mapWidth - 1) };
      const own = Float32Array.from(r.cam, (v) => v / 255);
      const theirs = resampleMap(mirrored(Float32Array.from(f.cam, (v) => v / 255), r.mapWidth), back, grid);
      const mean = fuseMaps([own, theirs], 'mean');
      return {
        ...r,
        error: r.error ?? f.error,
        cam: Uint8Array.from(mean, (v) => Math.floor(255 * v + 0.5)),
        raw: mean,
        upsampled: fuseMaps([r.upsampled, mirrored(f.upsampled, photos[n].width)], 'mean'),
        inputMap: r.inputMap ? fuseMaps([r.inputMap, mirrored(f.inputMap!, arch.width)], 'mean') : undefined,
      };
    });
  }

  /** Each of `o.layers` explained by the method, then fused (see fuse.ts) on the finest layer's grid. */
  private async explainFused(inputs: Uint8Array[], photos: Photo[], o: CamOptions & { layers: number[] }): Promise<Explained[]> {
    if ((o.method ?? 'cam') === 'cam') throw new Error('fusing layers needs a method that reads any layer (gradcam, gradcam++, xgradcam, layercam, hirescam, scorecam)');
    const { arch } = this.model;
    const perLayer: Explained[][] = [];
    for (const layer of o.layers) perLayer.push(await this.explain(inputs, photos, { ...o, layer, layers: undefined }));
    const grids: LayerGrid[] = o.layers.map((layer, l) => {
      const blocks = blocksThroughConv(arch.blocks, layer);
      return { ...cellGeometry(blocks), h: perLayer[l][0].mapHeight, w: perLayer[l][0].mapWidth };
    });
    const finest = grids.reduce((best, g, l) => (g.h * g.w > grids[best].h * grids[best].w ? l : best), 0);
    const mode = o.fuse ?? 'max';
    return inputs.map((_, n) => {
      const normalized = perLayer.map((r) => {
        const top = r[n].raw.reduce((m, v) => Math.max(m, v), 0);
        return r[n].raw.map((v) => (top > 0 ? Math.max(0, v) / top : 0));
      });
      const fused = fuseMaps(normalized.map((m, l) => resampleMap(m, grids[l], grids[finest])), mode);
      const base = perLayer[finest][n];
      return {
        ...base,
        error: perLayer.map((r) => r[n].error).find((e) => e !== undefined),
        cam: Uint8Array.from(fused, (v) => Math.floor(255 * v + 0.5)),
        raw: fused,
        upsampled: fuseMaps(perLayer.map((r) => r[n].upsampled), mode),
        inputMap: base.inputMap ? fuseMaps(perLayer.map((r) => r[n].inputMap!), mode) : undefined,
      };
    });
  }

  /** A batch explained at a conv layer: the layer, its map's shape and geometry, and the batch as an input tensor (made on call). */
  private atLayer(inputs: Uint8Array[], o: CamOptions) {
    const { arch } = this.model;
    const layer = o.layer ?? this.model.convCount;
    const blocks = blocksThroughConv(arch.blocks, layer);
    const N = inputs.length;
    const [K, h, w] = featureShapes({ ...arch, blocks }).at(-1)!;
    const per = arch.inputChannels * arch.height * arch.width;
    const pixels = new Uint8Array(N * per);
    inputs.forEach((img, i) => pixels.set(img, i * per));
    const x = () => imagesToTensor(this.backend, packBytes(pixels), new Float32Array(N), { N, C: arch.inputChannels, H: arch.height, W: arch.width });
    return { layer, N, K, h, w, HW: h * w, geo: cellGeometry(blocks), x };
  }

  /** Activations A weighted by G as `method` weighs them (the gradcam kernel), with the upsampled maps: what readBack reads. */
  private drawWeighted(A: Tensor, G: Tensor, method: GradientMethod, probs: Tensor, photos: Photo[], m: { N: number; K: number; h: number; w: number; geo: { offset: number; stride: number } }, inputMaps?: boolean) {
    const HW = m.h * m.w;
    const r = this.backend.run(gradCam, { A: A.storage, G: G.storage }, { N: m.N, K: m.K, HW, method }) as Record<'weights' | 'raw' | 'norm' | 'u8', Storage>;
    this.backend.free(r.weights);
    const grid = { h: m.h, w: m.w, HW, geo: m.geo };
    return {
      probs,
      r: { raw: r.raw, norm: r.norm, u8: r.u8 },
      ups: this.upsampleAll(r.norm, photos, grid),
      inputUps: inputMaps ? this.upsampleAll(r.norm, this.inputSized(m.N), grid) : [],
    };
  }

  /** N stand-ins for photos at the network input's size (where the input maps are drawn). */
  private inputSized(N: number): { width: number; height: number }[] {
    const { width, height } = this.model.arch;
    return Array.from({ length: N }, () => ({ width, height }));
  }

  /** Each image's normalized map at its photo's size, placed by the cell geometry. */
  private upsampleAll(norm: Storage, photos: { width: number; height: number }[], m: { h: number; w: number; HW: number; geo: { offset: number; stride: number } }): Storage[] {
    const { arch } = this.model;
    return photos.map(
      (ph, n) => this.backend.run(camUpsample, { map: norm }, { h: m.h, w: m.w, outH: ph.height, outW: ph.width, inH: arch.height, inW: arch.width, offset: m.geo.offset, stride: m.geo.stride, mapOffset: n * m.HW }).out,
    );
  }

  /** The one readback of a batch; frees everything it was given. */
  private async readBack(
    outs: { probs: Tensor; r: { raw: Storage; norm: Storage; u8: Storage; maps?: Storage }; ups: Storage[]; inputUps: Storage[] },
    photos: Photo[],
    N: number,
    HW: number,
    w: number,
    h: number,
    allClasses: boolean,
    method: string,
  ): Promise<Explained[]> {
    const J = this.model.arch.classes;
    try {
      const probs = await outs.probs.toArray();
      const u8 = await this.backend.downloadU32(outs.r.u8, N * HW);
      const raw = await this.backend.download(outs.r.raw, N * HW);
      const maps = allClasses && outs.r.maps ? await this.backend.download(outs.r.maps, N * J * HW) : null;
      // Outputs that are not finite mean the model overflows: no photo's map means anything.
      // A map alone that is not finite (a method's arithmetic on one photo) is that photo's error.
      assertFiniteOutputs(this.source, probs, maps);
      const results: Explained[] = [];
      for (let n = 0; n < N; n++) {
        const ph = photos[n];
        const error = mapError(raw.subarray(n * HW, (n + 1) * HW), method);
        results.push({
          ...(error ? { error } : {}),
          probs: probs.slice(n * J, (n + 1) * J),
          cam: Uint8Array.from(u8.subarray(n * HW, (n + 1) * HW)),
          raw: raw.slice(n * HW, (n + 1) * HW),
          mapWidth: w,
          mapHeight: h,
          upsampled: await this.backend.download(outs.ups[n], ph.width * ph.height),
          allMaps: maps?.slice(n * J * HW, (n + 1) * J * HW),
          inputMap: outs.inputUps.length ? await this.backend.download(outs.inputUps[n], this.model.arch.width * this.model.arch.height) : undefined,
        });
      }
      return results;
    } finally {
      outs.probs.dispose();
      for (const b of [...Object.values(outs.r), ...outs.ups, ...outs.inputUps]) this.backend.free(b);
    }
  }
}
