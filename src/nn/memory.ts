/**
 * How much memory a model needs, worked out from its architecture before anything is
 * allocated, so that a small file describing a huge network is refused with the figures
 * instead of exhausting the machine. The estimates are upper bounds of what the GPU
 * backend allocates (on a CPU driver such as lavapipe, GPU buffers are host memory):
 *  - inference keeps the input, two adjacent activations at a time (the forward frees each
 *    one once the next is computed), the last conv features and the CAM buffers;
 *  - a training step keeps every activation for the backward pass (counted at the conv
 *    output's full size even where the pool is fused), the gradient of the current layer
 *    and the one below it, and per parameter its gradient, the optimizer's slots and the
 *    grad-weight partial sums.
 * Every figure is in bytes.
 */
import type { Arch } from './model.ts';
import { featureShapes, parseBlocks } from './model.ts';
import { fmtBytes } from '../gpu/pool.ts';
import { maxOf } from '../util/arrays.ts';

export class MemoryLimitError extends Error {}

/** Element counts of the input and of every block's output, for one image. */
function activationCounts(arch: Arch): number[] {
  return [arch.inputChannels * arch.height * arch.width, ...featureShapes(arch).map(([c, h, w]) => c * h * w)];
}

export function parameterCount(arch: Arch): number {
  let c = arch.inputChannels;
  let n = 0;
  for (const b of parseBlocks(arch.blocks)) {
    if (b.kind !== 'conv') continue;
    n += b.channels * c * 9 + b.channels;
    c = b.channels;
  }
  return n + arch.classes * c + arch.classes;
}

export interface MemoryNeed {
  /** Independent of the batch (weights, and for training their gradients and optimizer state). */
  fixed: number;
  /** Added by each image of a (micro-)batch. */
  perImage: number;
  /** The largest single buffer one image needs (it must fit the adapter's binding limit). */
  largestBuffer: number;
}

export function inferenceNeed(arch: Arch): MemoryNeed {
  const a = activationCounts(arch);
  let adjacent = 0;
  for (let i = 1; i < a.length; i++) adjacent = Math.max(adjacent, a[i - 1] + a[i]);
  const [, h, w] = featureShapes(arch).at(-1)!;
  const cam = arch.classes * h * w + 3 * h * w + 3 * arch.classes; // class maps, raw/norm/u8, logits/probs
  const inputBytes = a[0] + 4 * a[0]; // u8 pixels packed, and as f32
  return { fixed: 4 * parameterCount(arch), perImage: inputBytes + 4 * (adjacent + a.at(-1)! + cam), largestBuffer: 4 * Math.max(maxOf(a), arch.classes * h * w) };
}

export function trainingNeed(arch: Arch, optimizerSlots: number): MemoryNeed {
  const a = activationCounts(arch);
  let adjacent = 0;
  for (let i = 1; i < a.length; i++) adjacent = Math.max(adjacent, a[i - 1] + a[i]);
  const kept = a.reduce((s, v) => s + v, 0) * 2; // outputs, and the pools' argmax indices
  const params = parameterCount(arch);
  return { fixed: 4 * params * (2 + optimizerSlots + 2), perImage: a[0] + 4 * (kept + adjacent), largestBuffer: 4 * maxOf(a) };
}

export const bytesFor = (need: MemoryNeed, images: number) => need.fixed + need.perImage * images;

export interface MemoryLimit {
  bytes: number;
  /** Where the figure came from, for messages. */
  source: string;
}

/** Parses a size: bytes, or a number with K, M, G, T (powers of 1024; "GB", "GiB" alike). */
export function parseByteSize(text: string): number | null {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$/i.exec(text);
  if (!m) return null;
  const scale = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 }[m[2].toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  const bytes = Math.floor(Number(m[1]) * scale);
  return bytes > 0 && Number.isSafeInteger(bytes) ? bytes : null;
}

/**
 * The most images per (micro-)batch within the memory cap and the adapter's binding limit,
 * up to `wanted`; throws a MemoryLimitError naming `what` when not even one image fits.
 */
export function imagesThatFit(what: string, need: MemoryNeed, wanted: number, limit: MemoryLimit, maxBindingBytes: number, copies = 1): number {
  if (need.largestBuffer > maxBindingBytes) {
    throw new MemoryLimitError(`${what}: one image needs a ${fmtBytes(need.largestBuffer)} buffer, over this adapter's maxStorageBufferBindingSize of ${fmtBytes(maxBindingBytes)}; use smaller images or a smaller network`);
  }
  const byBinding = Math.floor(maxBindingBytes / Math.max(4, need.largestBuffer));
  const byMemory = Math.floor((limit.bytes / copies - need.fixed) / need.perImage);
  if (byMemory < 1) {
    const one = copies * bytesFor(need, 1);
    throw new MemoryLimitError(
      `${what}: needs an estimated ${fmtBytes(one)}${copies > 1 ? ` on ${copies} devices` : ''} for one image (${fmtBytes(copies * need.fixed)} weights and state + ${fmtBytes(copies * need.perImage)} per image), over the memory limit of ${fmtBytes(limit.bytes)} (${limit.source})`,
    );
  }
  return Math.max(1, Math.min(wanted, byBinding, byMemory));
}
