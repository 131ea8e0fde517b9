/** The fused class-activation-map kernel and bilinear upsampling (see the WGSL headers for the math). */
import { floats, launch1d, type FloatArray, type KernelDef, type Rng } from './kernel.ts';

export const CAM_MODES = { contrast: 0, class: 1, raw: 2 } as const;
export type CamMode = keyof typeof CAM_MODES;

export interface CamParams {
  N: number;
  K: number;
  J: number;
  HW: number;
  mode: CamMode;
  /** Contrast against the runner-up class, or the mean of all other classes. */
  contrast: 'runner-up' | 'mean';
  /** Class for the class/raw modes; -1 = the predicted one. */
  cls: number;
  /** Raw mode: the value shown as full intensity. */
  rawScale: number;
}

/** Top-2 classes of a row of logits (first index wins ties, as in the kernel). */
export function top2(logits: ArrayLike<number>, row: number, J: number): [number, number] {
  let c1 = 0;
  for (let j = 1; j < J; j++) if (logits[row + j] > logits[row + c1]) c1 = j;
  let c2 = c1 === 0 ? 1 : 0;
  for (let j = 0; j < J; j++) if (j !== c1 && logits[row + j] > logits[row + c2]) c2 = j;
  return [c1, c2];
}

export function camCoefficients(p: CamParams, c1: number, c2: number): number[] {
  return Array.from({ length: p.J }, (_, j) => {
    if (p.mode === 'contrast') {
      if (j === c1) return 1;
      return p.contrast === 'runner-up' ? (j === c2 ? -1 : 0) : -1 / (p.J - 1);
    }
    return j === (p.cls < 0 ? c1 : p.cls) ? 1 : 0;
  });
}

/** CPU reference of cam.wgsl. */
export function camReference(i: { F: FloatArray; W: FloatArray; logits: FloatArray }, p: CamParams) {
  const maps = floats(i.F, p.N * p.J * p.HW);
  const raw = floats(i.F, p.N * p.HW);
  const norm = floats(i.F, p.N * p.HW);
  const u8 = new Float32Array(p.N * p.HW);
  for (let n = 0; n < p.N; n++) {
    const [c1, c2] = top2(i.logits, n * p.J, p.J);
    const coef = camCoefficients(p, c1, c2);
    let hi = -Infinity;
    let lo = Infinity;
    for (let px = 0; px < p.HW; px++) {
      let v = 0;
      for (let j = 0; j < p.J; j++) {
        let m = 0;
        for (let k = 0; k < p.K; k++) m += i.W[j * p.K + k] * i.F[(n * p.K + k) * p.HW + px];
        maps[(n * p.J + j) * p.HW + px] = m;
        v += coef[j] * m;
      }
      raw[n * p.HW + px] = v;
      if (p.mode === 'contrast') hi = Math.max(hi, Math.abs(v));
      else [hi, lo] = [Math.max(hi, v), Math.min(lo, v)];
    }
    for (let px = 0; px < p.HW; px++) {
      const v = raw[n * p.HW + px];
      let t: number;
      if (p.mode === 'contrast') t = hi > 0 ? Math.min(1, Math.max(0, v / hi)) : 0;
      else if (p.mode === 'class') t = hi > lo ? (v - lo) / (hi - lo) : 0;
      else t = Math.min(1, Math.max(0, v / p.rawScale));
      norm[n * p.HW + px] = t;
      u8[n * p.HW + px] = Math.floor(255 * t + 0.5);
    }
  }
  return { maps, raw, norm, u8 };
}

export const cam: KernelDef<CamParams> = {
  name: 'cam',
  inputs: ['F', 'W', 'logits'],
  inputSizes: (p) => ({ F: p.N * p.K * p.HW, W: p.J * p.K, logits: p.N * p.J }),
  outputSizes: (p) => ({ maps: p.N * p.J * p.HW, raw: p.N * p.HW, norm: p.N * p.HW, u8: p.N * p.HW }),
  u32Outputs: ['u8'],
  makeInput: { F: (p, rng: Rng) => Float32Array.from({ length: p.N * p.K * p.HW }, () => Math.max(0, rng() * 2 - 0.5)) },
  reference: (i, p) => camReference(i as { F: FloatArray; W: FloatArray; logits: FloatArray }, p),
  variants: [
    {
      name: 'fused',
      run: (gpu, b, p) =>
        gpu.dispatch({
          // 256 invocations: each image's pixel loops run 4x wider than at 64, which a GPU
          // needs (one workgroup, one compute unit, per image); lavapipe is indifferent.
          pipeline: gpu.pipeline('cam', { WG: 256 }),
          buffers: [b.F, b.W, b.logits, b.maps, b.raw, b.norm, b.u8],
          params: camParams(p),
          workgroups: gpu.grid(p.N),
        }),
    },
  ],
  // Equal within 1/255 of each output's range: one u8 step, a 1/255 change of the normalized map.
  tolerance: 1 / 255 + 1e-6,
  cases: [
    { N: 1, K: 1, J: 2, HW: 1, mode: 'contrast', contrast: 'runner-up', cls: -1, rawScale: 1 },
    { N: 3, K: 5, J: 2, HW: 49, mode: 'contrast', contrast: 'runner-up', cls: -1, rawScale: 1 },
    { N: 2, K: 33, J: 10, HW: 13 * 11, mode: 'contrast', contrast: 'mean', cls: -1, rawScale: 1 },
    { N: 2, K: 7, J: 3, HW: 65, mode: 'class', contrast: 'runner-up', cls: 2, rawScale: 1 },
    { N: 1, K: 256, J: 2, HW: 26 * 26, mode: 'raw', contrast: 'runner-up', cls: -1, rawScale: 0.5 },
  ],
  flops: (p) => 2 * p.N * p.J * p.K * p.HW,
};

/** What a gradient-based CAM differentiates: the class-score coefficients of cam_targets.wgsl. */
export interface CamTargetsParams {
  N: number;
  J: number;
  mode: Exclude<CamMode, 'raw'>;
  contrast: 'runner-up' | 'mean';
  cls: number;
}

export const camTargets: KernelDef<CamTargetsParams> = {
  name: 'cam_targets',
  inputs: ['logits'],
  inputSizes: (p) => ({ logits: p.N * p.J }),
  outputSizes: (p) => ({ coef: p.N * p.J }),
  reference: (i, p) => {
    const coef = floats(i.logits, p.N * p.J);
    const full: CamParams = { ...p, K: 0, HW: 0, rawScale: 1 };
    for (let n = 0; n < p.N; n++) {
      const [c1, c2] = top2(i.logits, n * p.J, p.J);
      coef.set(camCoefficients(full, c1, c2), n * p.J);
    }
    return { coef };
  },
  variants: [
    {
      name: 'per-image',
      run: (gpu, b, p) => {
        const params = { N: p.N, J: p.J, mode: CAM_MODES[p.mode], contrast: p.contrast === 'mean' ? 1 : 0, cls: p.cls };
        gpu.dispatch({ pipeline: gpu.pipeline('cam_targets', { WG: 64 }), buffers: [b.logits, b.coef], params, workgroups: gpu.grid(Math.ceil(p.N / 64)) });
      },
    },
  ],
  tolerance: 1e-6,
  cases: [
    { N: 1, J: 2, mode: 'contrast', contrast: 'runner-up', cls: -1 },
    { N: 70, J: 3, mode: 'contrast', contrast: 'runner-up', cls: -1 },
    { N: 5, J: 10, mode: 'contrast', contrast: 'mean', cls: -1 },
    { N: 4, J: 7, mode: 'class', contrast: 'runner-up', cls: 5 },
    { N: 3, J: 7, mode: 'class', contrast: 'runner-up', cls: -1 },
  ],
};

/** cam.wgsl's Params. */
const camParams = (p: CamParams) => ({ N: p.N, K: p.K, J: p.J, HW: p.HW, mode: CAM_MODES[p.mode], contrast: p.contrast === 'mean' ? 1 : 0, cls: p.cls, rawScale: p.rawScale });

export interface UpsampleParams {
  h: number;
  w: number;
  outH: number;
  outW: number;
  /** The network input size the map's geometry refers to. */
  inH: number;
  inW: number;
  /** Map cell u sits at input pixel offset + stride * u. */
  offset: number;
  stride: number;
  /** Where the map starts in its buffer (one image's map in a batch's). */
  mapOffset?: number;
}

export function upsampleReference(map: ArrayLike<number>, p: UpsampleParams): Float32Array {
  const mapOffset = p.mapOffset ?? 0;
  const out = new Float32Array(p.outH * p.outW);
  const at = (y: number, x: number) => map[mapOffset + y * p.w + x];
  for (let Y = 0; Y < p.outH; Y++) {
    const v = Math.min(p.h - 1, Math.max(0, (((Y + 0.5) * p.inH) / p.outH - 0.5 - p.offset) / p.stride));
    const y0 = Math.floor(v);
    const y1 = Math.min(y0 + 1, p.h - 1);
    const fy = v - y0;
    for (let X = 0; X < p.outW; X++) {
      const u = Math.min(p.w - 1, Math.max(0, (((X + 0.5) * p.inW) / p.outW - 0.5 - p.offset) / p.stride));
      const x0 = Math.floor(u);
      const x1 = Math.min(x0 + 1, p.w - 1);
      const fx = u - x0;
      const top = at(y0, x0) + (at(y0, x1) - at(y0, x0)) * fx;
      const bottom = at(y1, x0) + (at(y1, x1) - at(y1, x0)) * fx;
      out[Y * p.outW + X] = top + (bottom - top) * fy;
    }
  }
  return out;
}

function runUpsample(gpu: Parameters<typeof launch1d>[0], map: GPUBuffer, out: GPUBuffer, p: UpsampleParams): void {
  launch1d(gpu, 'cam_upsample', [map, out], { h: p.h, w: p.w, outH: p.outH, outW: p.outW, mapOffset: p.mapOffset ?? 0, inH: p.inH, inW: p.inW, offset: p.offset, stride: p.stride }, p.outH * p.outW);
}

export const camUpsample: KernelDef<UpsampleParams> = {
  name: 'cam_upsample',
  inputs: ['map'],
  inputSizes: (p) => ({ map: (p.mapOffset ?? 0) + p.h * p.w }),
  outputSizes: (p) => ({ out: p.outH * p.outW }),
  reference: (i, p) => ({ out: upsampleReference(i.map, p) }),
  variants: [{ name: 'bilinear', run: (gpu, b, p) => runUpsample(gpu, b.map, b.out, p) }],
  tolerance: 1e-5,
  cases: [
    { h: 1, w: 1, outH: 5, outW: 3, inH: 3, inW: 3, offset: 1, stride: 1 },
    { h: 7, w: 9, outH: 37, outW: 61, inH: 32, inW: 40, offset: 5.5, stride: 4 },
    { h: 5, w: 3, outH: 9, outW: 11, inH: 12, inW: 8, offset: 2.5, stride: 2, mapOffset: 2 * 5 * 3 },
    { h: 26, w: 26, outH: 300, outW: 451, inH: 224, inW: 224, offset: 14.5, stride: 8 },
  ],
  bytes: (p) => 4 * p.outH * p.outW,
};
