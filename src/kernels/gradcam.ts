/** The gradient-weighted CAM family in one fused kernel (see wgsl/gradcam.wgsl for the math). */
import { floats, type FloatArray, type KernelDef, type Rng } from './kernel.ts';

/** The methods, in the kernel's numbering. */
export const GRADIENT_METHODS = { gradcam: 0, 'gradcam++': 1, xgradcam: 2, layercam: 3, hirescam: 4 } as const;
export type GradientMethod = keyof typeof GRADIENT_METHODS;

export interface GradCamParams {
  N: number;
  K: number;
  HW: number;
  method: GradientMethod;
}

/** pytorch-grad-cam's epsilons (grad_cam_plusplus.py: 1e-6 since 2021; xgrad_cam.py: 1e-7); tested by value. */
export const EPS_PLUSPLUS = 1e-6;
export const EPS_XGRAD = 1e-7;

/** CPU reference of gradcam.wgsl. */
export function gradCamReference(i: { A: FloatArray; G: FloatArray }, p: GradCamParams) {
  const m = GRADIENT_METHODS[p.method];
  const weights = floats(i.A, p.N * p.K);
  const raw = floats(i.A, p.N * p.HW);
  const norm = floats(i.A, p.N * p.HW);
  const u8 = new Float32Array(p.N * p.HW);
  for (let n = 0; n < p.N; n++) {
    if (m < 3) {
      for (let k = 0; k < p.K; k++) {
        const base = (n * p.K + k) * p.HW;
        let S = 0;
        for (let px = 0; px < p.HW; px++) S += i.A[base + px];
        let w = 0;
        for (let px = 0; px < p.HW; px++) {
          const g = i.G[base + px];
          if (m === 0) w += g;
          // relu(g) * alpha: 0 wherever g <= 0, so alpha (which can be 0/0 there) is never formed.
          else if (m === 1) w += g > 0 ? (g * g * g) / (2 * g * g + S * g * g * g + EPS_PLUSPLUS) : 0;
          else w += g * i.A[base + px];
        }
        weights[n * p.K + k] = m === 0 ? w / p.HW : m === 2 ? w / (S + EPS_XGRAD) : w;
      }
    }
    let top = 0;
    for (let px = 0; px < p.HW; px++) {
      let v = 0;
      for (let k = 0; k < p.K; k++) {
        const at = (n * p.K + k) * p.HW + px;
        v += m < 3 ? weights[n * p.K + k] * i.A[at] : (m === 3 ? Math.max(i.G[at], 0) : i.G[at]) * i.A[at];
      }
      raw[n * p.HW + px] = v;
      top = Math.max(top, v);
    }
    for (let px = 0; px < p.HW; px++) {
      const t = top > 0 ? Math.max(raw[n * p.HW + px], 0) / top : 0;
      norm[n * p.HW + px] = t;
      u8[n * p.HW + px] = Math.floor(255 * t + 0.5);
    }
  }
  return { weights, raw, norm, u8 };
}

const cases = (method: GradientMethod): GradCamParams[] => [
  { N: 1, K: 1, HW: 1, method },
  { N: 3, K: 5, HW: 49, method },
  { N: 2, K: 33, HW: 13 * 11, method },
  { N: 1, K: 256, HW: 26 * 26, method },
];

export const gradCam: KernelDef<GradCamParams> = {
  name: 'gradcam',
  inputs: ['A', 'G'],
  inputSizes: (p) => ({ A: p.N * p.K * p.HW, G: p.N * p.K * p.HW }),
  outputSizes: (p) => ({ weights: p.N * p.K, raw: p.N * p.HW, norm: p.N * p.HW, u8: p.N * p.HW }),
  u32Outputs: ['u8'],
  // Activations after a ReLU: non-negative, a third of them zero.
  makeInput: { A: (p, rng: Rng) => Float32Array.from({ length: p.N * p.K * p.HW }, () => Math.max(0, rng() * 1.5 - 0.5)) },
  reference: (i, p) => gradCamReference(i as { A: FloatArray; G: FloatArray }, p),
  variants: [
    {
      name: 'fused',
      run: (gpu, b, p) =>
        gpu.dispatch({
          pipeline: gpu.pipeline('gradcam', { WG: 256 }),
          buffers: [b.A, b.G, b.weights, b.raw, b.norm, b.u8],
          params: { N: p.N, K: p.K, HW: p.HW, method: GRADIENT_METHODS[p.method] },
          workgroups: [p.N],
        }),
    },
  ],
  // One u8 step (1/255 of the normalized map); the weights and raw maps are sums over up to
  // 676 pixels and 256 channels in float32, well inside it.
  tolerance: 1 / 255 + 1e-6,
  cases: (Object.keys(GRADIENT_METHODS) as GradientMethod[]).flatMap(cases),
  flops: (p) => 4 * p.N * p.K * p.HW,
};
