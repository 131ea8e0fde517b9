/**
 * The head `wgcam train --backbone` trains on a frozen backbone's features: global average
 * pooling and one dense layer (CAM-ready), or the CAM paper's VGG16-GAP head (Zhou et al.
 * 2016): a 3x3 convolution (padding 1) with ReLU first. The features come padded by one cell
 * (see `headInput`), so the convolution runs as wgcam's 3x3 valid kernel and its output keeps
 * the cut's size.
 */
import { globalAvgPool } from '../autograd/ops.ts';
import { Conv2d, Dense } from '../nn/layers.ts';
import type { Backend } from '../tensor/backend.ts';
import type { Tensor } from '../tensor/tensor.ts';
import type { Rng } from '../util/rng.ts';
import type { HeadWeights } from '../export/onnx-transfer.ts';

/** 'gap', or 'conv:N-gap' (the extra convolution's N channels). */
export interface HeadSpec {
  conv: number | null;
}

export class HeadSpecError extends Error {}

export function parseHead(spec: string): HeadSpec {
  if (spec === 'gap') return { conv: null };
  const m = /^conv:(\d+)-gap$/.exec(spec);
  const n = m ? Number(m[1]) : NaN;
  if (!(Number.isSafeInteger(n) && n >= 1 && n <= 8192)) throw new HeadSpecError(`--head ${spec}: use gap, or conv:N-gap (a 3x3 convolution of N channels, 1 to 8192, then gap), e.g. conv:1024-gap`);
  return { conv: n };
}

export const describeHead = (h: HeadSpec, classes: number) => `${h.conv ? `conv 3x3 ${h.conv} + ReLU -> ` : ''}GAP -> dense ${classes}`;

export class TransferHead {
  readonly conv: Conv2d | null;
  readonly fc: Dense;

  constructor(
    backend: Backend,
    readonly channels: number,
    classes: number,
    readonly spec: HeadSpec,
    rng: Rng,
  ) {
    this.conv = spec.conv ? new Conv2d(backend, channels, spec.conv, rng) : null;
    this.fc = new Dense(backend, spec.conv ?? channels, classes, rng);
  }

  /** Logits [N, classes] from `headInput`'s features. */
  forward(x: Tensor): Tensor {
    return this.fc.forward(globalAvgPool(this.conv ? this.conv.forward(x) : x));
  }

  /** Named parameters, in a fixed order (checkpoints and the optimizer's state use the names). */
  parameters(): [string, Tensor][] {
    const named = (prefix: string, l: Conv2d | Dense) => l.parameters().map(([n, t]): [string, Tensor] => [`${prefix}.${n}`, t]);
    return [...(this.conv ? named('head_conv', this.conv) : []), ...named('fc', this.fc)];
  }

  async weights(): Promise<HeadWeights> {
    const fc = { weight: await this.fc.weight.toArray(), bias: await this.fc.bias.toArray() };
    if (!this.conv) return { fc };
    return { conv: { weight: await this.conv.weight.toArray(), bias: await this.conv.bias.toArray(), channels: this.spec.conv! }, fc };
  }

  dispose(): void {
    for (const [, t] of this.parameters()) t.dispose();
  }
}

/** The head's input from `n` records of [K, h, w] features: as they are, or zero-padded by one cell for the convolution. */
export function headInput(spec: HeadSpec, features: Float32Array, n: number, [K, h, w]: readonly number[]): { data: Float32Array; shape: number[] } {
  if (!spec.conv) return { data: features, shape: [n, K, h, w] };
  const [H, W] = [h + 2, w + 2];
  const out = new Float32Array(n * K * H * W);
  for (let p = 0; p < n * K; p++)
    for (let y = 0; y < h; y++) out.set(features.subarray((p * h + y) * w, (p * h + y + 1) * w), (p * H + y + 1) * W + 1);
  return { data: out, shape: [n, K, H, W] };
}

/** The gradient at the features from the gradient at `headInput`'s output: the padding's cells dropped. */
export function headInputGrad(spec: HeadSpec, grad: Float32Array, n: number, [K, h, w]: readonly number[]): Float32Array {
  if (!spec.conv) return grad;
  const [H, W] = [h + 2, w + 2];
  const out = new Float32Array(n * K * h * w);
  for (let p = 0; p < n * K; p++)
    for (let y = 0; y < h; y++) out.set(grad.subarray((p * H + y + 1) * W + 1, (p * H + y + 1) * W + 1 + w), (p * h + y) * w);
  return out;
}
