/** Cached u8 RGB images (NHWC) to the f32 NCHW network input, /255, with optional flips. */
import { launch1d, type KernelDef, type Rng } from './kernel.ts';

export interface ImagesParams {
  N: number;
  C: number;
  H: number;
  W: number;
}

/** Packs bytes four to a u32, little-endian, as the kernel reads them. */
export function packBytes(bytes: Uint8Array): Uint32Array {
  const words = new Uint32Array(Math.ceil(bytes.length / 4));
  new Uint8Array(words.buffer).set(bytes);
  return words;
}

export const imagesToTensor: KernelDef<ImagesParams> = {
  name: 'images_to_tensor',
  inputs: ['pix', 'flip'],
  inputSizes: (p) => ({ pix: Math.ceil((p.N * p.H * p.W * p.C) / 4), flip: p.N }),
  outputSizes: (p) => ({ y: p.N * p.C * p.H * p.W }),
  makeInput: {
    pix: (p, rng: Rng) => packBytes(Uint8Array.from({ length: p.N * p.H * p.W * p.C }, () => Math.floor(rng() * 256))),
    flip: (p, rng: Rng) => Float32Array.from({ length: p.N }, () => (rng() < 0.5 ? 1 : 0)),
  },
  reference: (i, p) => {
    const bytes = new Uint8Array(i.pix.buffer, i.pix.byteOffset, p.N * p.H * p.W * p.C);
    const y = new Float32Array(p.N * p.C * p.H * p.W);
    for (let n = 0; n < p.N; n++)
      for (let c = 0; c < p.C; c++)
        for (let h = 0; h < p.H; h++)
          for (let w = 0; w < p.W; w++) {
            const sx = i.flip[n] ? p.W - 1 - w : w;
            y[((n * p.C + c) * p.H + h) * p.W + w] = bytes[((n * p.H + h) * p.W + sx) * p.C + c] / 255;
          }
    return { y };
  },
  variants: [
    { name: 'per-output', run: (gpu, b, p) => launch1d(gpu, 'images_to_tensor', [b.pix, b.flip, b.y], { N: p.N, C: p.C, H: p.H, W: p.W }, p.N * p.C * p.H * p.W) },
    {
      name: 'per-word',
      run: (gpu, b, p) => launch1d(gpu, 'images_to_tensor_words', [b.pix, b.flip, b.y], { N: p.N, C: p.C, H: p.H, W: p.W }, Math.ceil((p.N * p.C * p.H * p.W) / 4)),
    },
  ],
  tolerance: 1e-6,
  cases: [
    { N: 1, C: 1, H: 1, W: 1 },
    { N: 3, C: 3, H: 7, W: 5 },
    { N: 2, C: 3, H: 33, W: 31 },
    { N: 5, C: 3, H: 3, W: 3 }, // 27-byte images: words straddle images
    { N: 2, C: 1, H: 1, W: 5 },
  ],
  bytes: (p) => 5 * p.N * p.C * p.H * p.W,
};
