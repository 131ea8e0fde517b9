/** The masked copies of a batch for the faithfulness metrics (see wgsl/mask_images.wgsl). */
import { floats, launch1d, type FloatArray, type KernelDef, type Rng } from './kernel.ts';

export const MASK_MODES = { map: 0, delete: 1, insert: 2 } as const;
export type MaskMode = keyof typeof MASK_MODES;

export interface MaskParams {
  N: number;
  C: number;
  HW: number;
  mode: MaskMode;
  /** How many of the most salient pixels are removed (delete) or kept (insert). */
  k: number;
}

export function maskImagesReference(i: { x: FloatArray; E: FloatArray; rank: FloatArray }, p: MaskParams): FloatArray {
  const y = floats(i.x, p.N * p.C * p.HW);
  for (let n = 0; n < p.N; n++) {
    for (let c = 0; c < p.C; c++) {
      for (let px = 0; px < p.HW; px++) {
        const at = n * p.HW + px;
        const v = i.x[(n * p.C + c) * p.HW + px];
        const salient = i.rank[at] < p.k;
        y[(n * p.C + c) * p.HW + px] = p.mode === 'map' ? v * i.E[at] : p.mode === 'delete' ? (salient ? 0 : v) : salient ? v : 0;
      }
    }
  }
  return y;
}

/** A permutation of 0..HW-1 per image, as f32: what the ranks of a map look like. */
function ranks(p: MaskParams, rng: Rng): Float32Array {
  const out = new Float32Array(p.N * p.HW);
  for (let n = 0; n < p.N; n++) {
    const order = Array.from({ length: p.HW }, (_, i) => i);
    for (let i = p.HW - 1; i > 0; i--) {
      const j = Math.floor(((rng() + 1) / 2) * (i + 1)) % (i + 1);
      [order[i], order[j]] = [order[j], order[i]];
    }
    order.forEach((r, i) => (out[n * p.HW + i] = r));
  }
  return out;
}

export const maskImages: KernelDef<MaskParams> = {
  name: 'mask_images',
  inputs: ['x', 'E', 'rank'],
  inputSizes: (p) => ({ x: p.N * p.C * p.HW, E: p.N * p.HW, rank: p.N * p.HW }),
  outputSizes: (p) => ({ y: p.N * p.C * p.HW }),
  makeInput: {
    E: (p, rng) => Float32Array.from({ length: p.N * p.HW }, () => (rng() + 1) / 2),
    rank: ranks,
  },
  reference: (i, p) => ({ y: maskImagesReference(i as { x: FloatArray; E: FloatArray; rank: FloatArray }, p) }),
  variants: [
    {
      name: 'per-value',
      run: (gpu, b, p) => launch1d(gpu, 'mask_images', [b.x, b.E, b.rank, b.y], { N: p.N, C: p.C, HW: p.HW, mode: MASK_MODES[p.mode], k: p.k }, p.N * p.C * p.HW),
    },
  ],
  tolerance: 1e-6,
  cases: [
    { N: 1, C: 1, HW: 1, mode: 'map', k: 0 },
    { N: 3, C: 3, HW: 37, mode: 'map', k: 0 },
    { N: 2, C: 3, HW: 50, mode: 'delete', k: 17 },
    { N: 2, C: 1, HW: 50, mode: 'delete', k: 50 },
    { N: 3, C: 3, HW: 61, mode: 'insert', k: 1 },
    { N: 1, C: 3, HW: 61, mode: 'insert', k: 0 },
  ],
  bytes: (p) => 4 * (2 * p.N * p.C * p.HW + 2 * p.N * p.HW),
};
