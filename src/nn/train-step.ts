/**
 * One optimizer step on a batch of cached u8 images, recorded without any readback.
 * A batch whose activations would not fit the adapter's storage-binding limit is run
 * as micro-batches whose gradients add up (the loss is scaled by 1/whole batch), so
 * the result equals one pass over the whole batch.
 */
import { imagesToTensor, softmaxCrossEntropy } from '../autograd/ops.ts';
import { backward, noGrad } from '../autograd/tape.ts';
import { packBytes } from '../kernels/images.ts';
import { Tensor, tidy } from '../tensor/tensor.ts';
import type { Classifier } from './model.ts';
import type { Optimizer } from './optim.ts';

export interface Batch {
  /** u8 RGB (or gray) pixels, NHWC, `n` images. */
  pixels: Uint8Array;
  labels: Float32Array;
  /** 1 where the image is to be flipped horizontally (augmentation), else 0. */
  flips?: Float32Array;
  n: number;
}

function chunkInput(model: Classifier, b: Batch, start: number, count: number): { x: Tensor; labels: Tensor } {
  const { inputChannels: C, height: H, width: W } = model.arch;
  const per = C * H * W;
  const pix = packBytes(b.pixels.subarray(start * per, (start + count) * per));
  const flips = b.flips ? b.flips.subarray(start, start + count) : new Float32Array(count);
  // Labels first: an upload submits what is recorded so far, so doing both uploads before
  // any kernel keeps the whole step in one command buffer.
  const labels = Tensor.fromArray(model.backend, b.labels.slice(start, start + count), [count]);
  const x = imagesToTensor(model.backend, pix, flips, { N: count, C, H, W });
  return { x, labels };
}

/**
 * The softmax cross-entropy of a batch, one micro-batch at a time: `use` receives each
 * chunk's loss (the mean over `total` images) inside that chunk's tidy() scope.
 */
function chunkLosses(model: Classifier, b: Batch, stats: Tensor, microBatch: number, total: number, use: (loss: Tensor) => void): void {
  for (let start = 0; start < b.n; start += microBatch) {
    const count = Math.min(microBatch, b.n - start);
    tidy(() => {
      const { x, labels } = chunkInput(model, b, start, count);
      use(softmaxCrossEntropy(model.forward(x), labels, stats, 1 / total));
    });
  }
}

/**
 * Forward and backward over a batch, adding into the parameters' gradients. The loss is
 * the mean over `total` images (the whole batch by default; the global batch when
 * several devices each take a share).
 */
export function accumulateGradients(model: Classifier, b: Batch, stats: Tensor, microBatch = b.n, total = b.n): void {
  chunkLosses(model, b, stats, microBatch, total, backward);
}

/** Forward, backward and update for one batch; loss/accuracy go into `stats` on the device. */
export function trainStep(model: Classifier, opt: Optimizer, b: Batch, stats: Tensor, microBatch = b.n): void {
  opt.beginStep();
  accumulateGradients(model, b, stats, microBatch);
  opt.step();
}

/** Loss and accuracy counts for a batch, without gradients. */
export function evalStep(model: Classifier, b: Batch, stats: Tensor, microBatch = b.n): void {
  noGrad(() => chunkLosses(model, b, stats, microBatch, b.n, () => {}));
}

/** Reads and resets the device-side [loss sum, correct, count] accumulator. */
export async function takeStats(stats: Tensor): Promise<{ loss: number; accuracy: number; count: number }> {
  const [lossSum, correct, count] = await stats.toArray();
  stats.backend.write(stats.storage, new Float32Array(4));
  return { loss: count ? lossSum / count : NaN, accuracy: count ? correct / count : NaN, count };
}
