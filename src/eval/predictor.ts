/**
 * Class probabilities for many images, batched on the GPU: no CAM buffers, one readback per
 * batch. Batches are sized by the model's memory estimate (nn/memory.ts), and outputs that
 * are not finite are an error naming the model, as for the CAM.
 */
import { imagesToTensor, softmax } from '../autograd/ops.ts';
import { noGrad } from '../autograd/tape.ts';
import type { Gpu } from '../gpu/runtime.ts';
import { packBytes } from '../kernels/images.ts';
import { imagesThatFit, inferenceNeed, type MemoryLimit } from '../nn/memory.ts';
import { defaultMemoryLimit } from '../nn/machine-memory.ts';
import type { Classifier } from '../nn/model.ts';
import { assertFiniteOutputs } from '../cam/explain.ts';
import { tidy } from '../tensor/tensor.ts';

export class Predictor {
  readonly maxBatch: number;

  constructor(
    gpu: Gpu,
    private readonly model: Classifier,
    private readonly source: string,
    o: { maxBatch?: number; limit?: MemoryLimit } = {},
  ) {
    this.maxBatch = imagesThatFit(source, inferenceNeed(model.arch), o.maxBatch ?? 256, o.limit ?? defaultMemoryLimit(), gpu.maxBindingBytes);
  }

  /** `pixels`: `count` u8 images at the model's input size (HWC), packed; returns [count x classes] probabilities. */
  async probabilities(pixels: Uint8Array, count: number): Promise<Float32Array> {
    const { arch } = this.model;
    const per = arch.inputChannels * arch.height * arch.width;
    const out = new Float32Array(count * arch.classes);
    for (let start = 0; start < count; start += this.maxBatch) {
      const N = Math.min(this.maxBatch, count - start);
      const probs = noGrad(() =>
        tidy(() => {
          const x = imagesToTensor(this.model.backend, packBytes(pixels.subarray(start * per, (start + N) * per)), new Float32Array(N), { N, C: arch.inputChannels, H: arch.height, W: arch.width });
          return softmax(this.model.forward(x));
        }),
      );
      try {
        const p = await probs.toArray();
        assertFiniteOutputs(this.source, p);
        out.set(p, start * arch.classes);
      } finally {
        probs.dispose();
      }
    }
    return out;
  }
}

/** Class indices by descending probability for row `n`. */
export function ranked(probs: Float32Array, n: number, classes: number): number[] {
  const row = probs.subarray(n * classes, (n + 1) * classes);
  return [...row.keys()].sort((a, b) => row[b] - row[a] || a - b);
}
