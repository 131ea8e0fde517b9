/**
 * From images to class activation maps: one forward per batch, the fused CAM kernel over
 * the batch, then each map upsampled to its photo's size, aligned by the receptive-field
 * geometry. Only the results are read back. Runs on any backend: the GPU (in Node or in a
 * browser) or the CPU references (the web page without WebGPU).
 */
import { imagesToTensor, softmax } from '../autograd/ops.ts';
import { noGrad } from '../autograd/tape.ts';
import { cam, camUpsample, type CamMode } from '../kernels/cam.ts';
import { packBytes } from '../kernels/images.ts';
import type { Classifier } from '../nn/model.ts';
import { featureShapes } from '../nn/model.ts';
import { imagesThatFit, inferenceNeed, type MemoryLimit, type MemoryNeed } from '../nn/memory.ts';
import type { Backend, Storage } from '../tensor/backend.ts';
import { tidy } from '../tensor/tensor.ts';
import { cellGeometry } from './geometry.ts';

export interface CamOptions {
  mode: CamMode;
  contrast: 'runner-up' | 'mean';
  /** Class index for the class/raw modes, -1 for the predicted class. */
  cls: number;
  rawScale: number;
  allClasses: boolean;
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
}

/** A model whose outputs overflowed float32 (finite but huge weights do it): its maps mean nothing. */
export class NonFiniteOutputError extends Error {}

/** Throws a NonFiniteOutputError naming `source` unless every value of `outputs` is finite. */
export function assertFiniteOutputs(source: string, ...outputs: (Float32Array | null)[]): void {
  if (outputs.every((o) => !o || o.every(Number.isFinite))) return;
  throw new NonFiniteOutputError(`${source}: the model's outputs are not finite numbers (its weights overflow float32); its predictions and maps would mean nothing`);
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
  private readonly need: MemoryNeed;
  private readonly limit: MemoryLimit;
  private readonly source: string;

  /** Throws a MemoryLimitError when not even one image fits the adapter or the memory limit. */
  constructor(
    private backend: Backend,
    readonly model: Classifier,
    o: ExplainerOptions,
  ) {
    this.need = inferenceNeed(model.arch);
    this.limit = o.limit;
    this.source = o.source ?? 'the model';
    this.maxBatch = imagesThatFit(this.source, this.need, o.maxBatch ?? Infinity, this.limit, backend.maxBindingBytes);
  }

  /** `inputs`: u8 images at the model's input size (HWC); `photos`: where each map is drawn. */
  async explain(inputs: Uint8Array[], photos: Photo[], o: CamOptions): Promise<Explained[]> {
    // Every buffer a batch allocates counts: activations and CAM buffers per image, and each
    // photo's upsampled map (on the GPU and read back), so a batch of large photos is split.
    const photoBytes = (ph: Photo) => 8 * ph.width * ph.height;
    const budget = this.limit.bytes - this.need.fixed;
    const batches: [number, number][] = [];
    for (let start = 0, used = 0, i = 0; i < inputs.length; i++) {
      const cost = this.need.perImage + photoBytes(photos[i]);
      if (i > start && (i - start >= this.maxBatch || used + cost > budget)) {
        batches.push([start, i]);
        [start, used] = [i, 0];
      }
      used += cost;
      if (i === inputs.length - 1) batches.push([start, inputs.length]);
    }
    const out: Explained[] = [];
    for (const [a, b] of batches) out.push(...(await this.explainBatch(inputs.slice(a, b), photos.slice(a, b), o)));
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
        const ups = photos.map(
          (ph, n) =>
            this.backend.run(camUpsample, { map: r.norm }, { h, w, outH: ph.height, outW: ph.width, inH: arch.height, inW: arch.width, offset: geo.offset, stride: geo.stride, mapOffset: n * HW }).out,
        );
        return { probs, r, ups };
      }),
    );
    try {
      const probs = await outs.probs.toArray();
      const u8 = await this.backend.downloadU32(outs.r.u8, N * HW);
      const raw = await this.backend.download(outs.r.raw, N * HW);
      const maps = o.allClasses ? await this.backend.download(outs.r.maps, N * arch.classes * HW) : null;
      assertFiniteOutputs(this.source, probs, raw, maps);
      const results: Explained[] = [];
      for (let n = 0; n < N; n++) {
        const ph = photos[n];
        results.push({
          probs: probs.slice(n * arch.classes, (n + 1) * arch.classes),
          cam: Uint8Array.from(u8.subarray(n * HW, (n + 1) * HW)),
          raw: raw.slice(n * HW, (n + 1) * HW),
          mapWidth: w,
          mapHeight: h,
          upsampled: await this.backend.download(outs.ups[n], ph.width * ph.height),
          allMaps: maps?.slice(n * arch.classes * HW, (n + 1) * arch.classes * HW),
        });
      }
      return results;
    } finally {
      outs.probs.dispose();
      for (const b of [...Object.values(outs.r), ...outs.ups]) this.backend.free(b);
    }
  }
}
