/**
 * Faithfulness of explanations: does the network's confidence follow the map?
 *  - Average Drop / Increase in Confidence (Chattopadhay et al. 2018): the target class's
 *    probability on the image multiplied by its normalized map (O) against the original (Y):
 *    drop = max(0, Y - O) / Y; increase when O > Y.
 *  - Deletion / Insertion (Petsiuk et al. 2018): the pixels are removed from the image (set to
 *    0, black), or inserted into a black image, in the map's descending order, in `steps`
 *    equal steps; the AUC is the mean of the target probability over the curve (trapezoids).
 *    Deletion: lower is better; insertion: higher.
 * Every altered copy of a batch is made on the GPU (mask_images.wgsl) and classified as a batch;
 * only the probabilities are read back.
 */
import { imagesToTensor, softmax } from '../autograd/ops.ts';
import { noGrad } from '../autograd/tape.ts';
import { packBytes } from '../kernels/images.ts';
import { maskImages, type MaskMode } from '../kernels/mask.ts';
import type { Classifier } from '../nn/model.ts';
import type { Backend } from '../tensor/backend.ts';
import { Tensor, tidy } from '../tensor/tensor.ts';
import { indexOfMax } from '../util/arrays.ts';

export interface Faithfulness {
  /** The target class (the predicted one) and its probability on the image. */
  target: number;
  probability: number;
  /** max(0, Y - O) / Y, O on the image times its map. */
  drop: number;
  increase: boolean;
  /** The target's probability after each deletion / insertion step (steps + 1 values). */
  deletion: number[];
  insertion: number[];
  deletionAuc: number;
  insertionAuc: number;
}

export const DEFAULT_STEPS = 16;

/** Each pixel's place in the map's descending order (ties: the earlier pixel first). */
export function saliencyRanks(map: Float32Array): Float32Array {
  const order = Uint32Array.from(map.keys()).sort((a, b) => map[b] - map[a] || a - b);
  const rank = new Float32Array(map.length);
  order.forEach((p, i) => (rank[p] = i));
  return rank;
}

/** The area under a curve sampled at evenly spaced points, as a share of its width. */
export const meanByTrapezoids = (ys: number[]) => (ys.reduce((s, y) => s + y, 0) - (ys[0] + ys[ys.length - 1]) / 2) / (ys.length - 1);

/**
 * The scores from `classify(mode, k)`: the [N x classes] probabilities of the batch altered as
 * mask_images alters it (the map multiplied in; the k most salient pixels removed; only they
 * kept), whatever runs the model. `probs`: the probabilities on the images themselves.
 */
export async function faithfulnessOf(probs: Float32Array[], HW: number, classify: (mode: MaskMode, k: number) => Promise<Float32Array>, steps = DEFAULT_STEPS): Promise<Faithfulness[]> {
  const targets = probs.map((p) => indexOfMax(p));
  const J = probs[0].length;
  const targetProbabilities = async (mode: MaskMode, k: number): Promise<number[]> => {
    const all = await classify(mode, k);
    return targets.map((t, n) => all[n * J + t]);
  };
  const masked = await targetProbabilities('map', 0);
  const ks = Array.from({ length: steps + 1 }, (_, s) => Math.round((s * HW) / steps));
  const deletion: number[][] = [];
  const insertion: number[][] = [];
  for (const k of ks) deletion.push(await targetProbabilities('delete', k));
  for (const k of ks) insertion.push(await targetProbabilities('insert', k));
  return targets.map((target, n) => {
    const Y = probs[n][target];
    const del = deletion.map((row) => row[n]);
    const ins = insertion.map((row) => row[n]);
    return {
      target,
      probability: Y,
      drop: Math.max(0, Y - masked[n]) / Y,
      increase: masked[n] > Y,
      deletion: del,
      insertion: ins,
      deletionAuc: meanByTrapezoids(del),
      insertionAuc: meanByTrapezoids(ins),
    };
  });
}

/**
 * `inputs`: u8 HWC images at the model's size; `maps`: their normalized maps (0..1) at the same
 * size; `probs`: the model's probabilities on each image. The target is each image's predicted class.
 */
export async function faithfulness(backend: Backend, model: Classifier, inputs: Uint8Array[], maps: Float32Array[], probs: Float32Array[], steps = DEFAULT_STEPS): Promise<Faithfulness[]> {
  const { arch } = model;
  const N = inputs.length;
  const HW = arch.height * arch.width;
  const per = arch.inputChannels * HW;
  const pixels = new Uint8Array(N * per);
  inputs.forEach((img, i) => pixels.set(img, i * per));
  const E = new Float32Array(N * HW);
  const rank = new Float32Array(N * HW);
  maps.forEach((m, n) => {
    E.set(m, n * HW);
    rank.set(saliencyRanks(m), n * HW);
  });
  const [x, e, r] = noGrad(() => [
    imagesToTensor(backend, packBytes(pixels), new Float32Array(N), { N, C: arch.inputChannels, H: arch.height, W: arch.width }).keep(),
    Tensor.fromArray(backend, E, [N, HW]).keep(),
    Tensor.fromArray(backend, rank, [N, HW]).keep(),
  ]);
  /** The class probabilities on the batch altered by `mode` with `k` pixels. */
  const classify = async (mode: MaskMode, k: number): Promise<Float32Array> => {
    const p = noGrad(() =>
      tidy(() => {
        const y = backend.run(maskImages, { x: x.storage, E: e.storage, rank: r.storage }, { N, C: arch.inputChannels, HW, mode, k }).y;
        return softmax(model.forward(new Tensor(backend, y, x.shape)));
      }),
    );
    const all = await p.toArray();
    p.dispose();
    return all;
  };
  try {
    return await faithfulnessOf(probs, HW, classify, steps);
  } finally {
    for (const t of [x, e, r]) t.dispose();
  }
}
