/**
 * The differentiable ops, each named for what it computes, with explicit shapes.
 * Forward runs a kernel on the tensors' backend; backward runs the gradient kernels.
 */
import { conv2dForward, conv2dGradInput, conv2dGradWeight, conv2dReluMaxPool as convReluPoolKernel, type ConvShape } from '../kernels/conv2d.ts';
import { relu as reluKernel, reluBackward } from '../kernels/elementwise.ts';
import { gap, gapBackward, maxPool2 as maxPool2Kernel, maxPool2Backward, maxPool2BackwardArgmax } from '../kernels/pooling.ts';
import { dense as denseKernel, denseGradInput, denseGradParams } from '../kernels/dense.ts';
import { softmax as softmaxKernel, softmaxXent } from '../kernels/loss.ts';
import { imagesToTensor as imagesKernel } from '../kernels/images.ts';
import type { Backend } from '../tensor/backend.ts';
import { Tensor, type Shape } from '../tensor/tensor.ts';
import { record, recording } from './tape.ts';

function expectRank(t: Tensor, rank: number, op: string): void {
  if (t.shape.length !== rank) throw new Error(`${op}: expected a rank-${rank} tensor, got [${t.shape}]`);
}

function make(like: Tensor, storage: Tensor['storage'], shape: Shape): Tensor {
  return new Tensor(like.backend, storage, shape);
}

/** 3x3 valid convolution with bias, optionally followed by ReLU: x [N,Ci,H,W], w [Co,Ci,3,3], b [Co] -> [N,Co,H-2,W-2]. */
export function conv2d(x: Tensor, w: Tensor, b: Tensor, opts: { relu: boolean }): Tensor {
  const s = convShape(x, w);
  const y = make(x, x.backend.run(conv2dForward, { x: x.storage, w: w.storage, b: b.storage }, { ...s, relu: opts.relu }).y, [s.N, s.Co, s.H - 2, s.W - 2]);
  return record(y, [x, w, b], (dy) => {
    const g = opts.relu ? make(y, x.backend.run(reluBackward, { dy: dy!.storage, y: y.storage }, { len: y.size }).dx, y.shape) : dy!;
    const grads = convGrads(x, w, b, g, s);
    if (g !== dy) g.dispose();
    return grads;
  });
}

/**
 * conv2d with ReLU, then maxPool2, as one node: the forward records where each maximum lies
 * (the ReLU's mask included) instead of keeping the conv output, and the backward routes
 * the gradient from those positions: no ReLU pass, no pass over the conv output. Same values
 * and gradients as the two ops in a row.
 */
export function conv2dReluMaxPool(x: Tensor, w: Tensor, b: Tensor): Tensor {
  const s = convShape(x, w);
  const [Ho, Wo] = [s.H - 2, s.W - 2];
  if (Ho < 2 || Wo < 2) throw new Error(`maxPool2: a ${Ho}x${Wo} input is smaller than the 2x2 window`);
  const keepArgmax = recording([x, w, b]);
  const out = x.backend.run(convReluPoolKernel, { x: x.storage, w: w.storage, b: b.storage }, { ...s, keepArgmax });
  const pooled = make(x, out.pooled, [s.N, s.Co, Math.floor(Ho / 2), Math.floor(Wo / 2)]);
  if (!keepArgmax) return pooled;
  const argmax = make(x, out.argmax, pooled.shape);
  return record(pooled, [x, w, b], (dp) => {
    const p = { NC: s.N * s.Co, H: Ho, W: Wo };
    const g = make(x, x.backend.run(maxPool2BackwardArgmax, { argmax: argmax.storage, dy: dp!.storage }, p).dx, [s.N, s.Co, Ho, Wo]);
    const grads = convGrads(x, w, b, g, s);
    g.dispose();
    return grads;
  });
}

function convShape(x: Tensor, w: Tensor): ConvShape {
  expectRank(x, 4, 'conv2d');
  const [N, Ci, H, W] = x.shape;
  const [Co, wCi] = w.shape;
  if (wCi !== Ci) throw new Error(`conv2d: input has ${Ci} channels, weights expect ${wCi}`);
  if (H < 3 || W < 3) throw new Error(`conv2d: a ${H}x${W} input is smaller than the 3x3 kernel`);
  return { N, Ci, H, W, Co };
}

/**
 * [dx, dw, db] of a convolution from the gradient g at its (pre-activation) output. Frozen
 * parameters (the gradient-based CAMs differentiate activations only) get none.
 */
function convGrads(x: Tensor, w: Tensor, b: Tensor, g: Tensor, s: ConvShape): (Tensor | null)[] {
  const dx = x.requiresGrad ? make(x, x.backend.run(conv2dGradInput, { dy: g.storage, w: w.storage }, s).dx, x.shape) : null;
  if (!w.requiresGrad && !b.requiresGrad) return [dx, null, null];
  const params = x.backend.run(conv2dGradWeight, { x: x.storage, dy: g.storage }, s);
  return [dx, make(w, params.dw, w.shape), make(b, params.db, b.shape)];
}

export function relu(x: Tensor): Tensor {
  const y = make(x, x.backend.run(reluKernel, { x: x.storage }, { len: x.size }).y, x.shape);
  return record(y, [x], (dy) => [make(x, x.backend.run(reluBackward, { dy: dy!.storage, y: y.storage }, { len: y.size }).dx, x.shape)]);
}

/** 2x2 max-pool, stride 2, floor: [N,C,H,W] -> [N,C,H/2,W/2]. */
export function maxPool2(x: Tensor): Tensor {
  expectRank(x, 4, 'maxPool2');
  const [N, C, H, W] = x.shape;
  if (H < 2 || W < 2) throw new Error(`maxPool2: a ${H}x${W} input is smaller than the 2x2 window`);
  const p = { NC: N * C, H, W };
  const y = make(x, x.backend.run(maxPool2Kernel, { x: x.storage }, p).y, [N, C, Math.floor(H / 2), Math.floor(W / 2)]);
  return record(y, [x], (dy) => [make(x, x.backend.run(maxPool2Backward, { x: x.storage, dy: dy!.storage }, p).dx, x.shape)]);
}

/** Global average pooling: [N,C,H,W] -> [N,C]. */
export function globalAvgPool(x: Tensor): Tensor {
  expectRank(x, 4, 'globalAvgPool');
  const [N, C, H, W] = x.shape;
  const p = { NC: N * C, HW: H * W };
  const y = make(x, x.backend.run(gap, { x: x.storage }, p).y, [N, C]);
  return record(y, [x], (dy) => [make(x, x.backend.run(gapBackward, { dy: dy!.storage }, p).dx, x.shape)]);
}

/** x [N,K] w [J,K] b [J] -> x w^T + b [N,J]. */
export function dense(x: Tensor, w: Tensor, b: Tensor): Tensor {
  expectRank(x, 2, 'dense');
  const [N, K] = x.shape;
  const [J, wK] = w.shape;
  if (wK !== K) throw new Error(`dense: input has ${K} features, weights expect ${wK}`);
  const p = { N, K, J };
  const y = make(x, x.backend.run(denseKernel, { x: x.storage, w: w.storage, b: b.storage }, p).y, [N, J]);
  return record(y, [x, w, b], (dy) => {
    const dx = x.requiresGrad ? make(x, x.backend.run(denseGradInput, { dy: dy!.storage, w: w.storage }, p).dx, x.shape) : null;
    if (!w.requiresGrad && !b.requiresGrad) return [dx, null, null];
    const g = x.backend.run(denseGradParams, { x: x.storage, dy: dy!.storage }, p);
    return [dx, make(w, g.dw, w.shape), make(b, g.db, b.shape)];
  });
}

/** Row-wise softmax of logits [N,J] (no gradient: used for reporting). */
export function softmax(z: Tensor): Tensor {
  expectRank(z, 2, 'softmax');
  const [N, J] = z.shape;
  return make(z, z.backend.run(softmaxKernel, { z: z.storage }, { N, J }).probs, [N, J]);
}

/**
 * Mean softmax cross-entropy of logits [N,J] against labels [N] (class indices as f32).
 * `scale` is 1/N for a plain mean; when a batch is split into micro-batches it is
 * 1/(whole batch) so the summed gradients equal the whole batch's. Adds loss sum,
 * correct count and sample count into `stats` [4] on the device.
 */
export function softmaxCrossEntropy(z: Tensor, labels: Tensor, stats: Tensor, scale = 1 / z.shape[0]): Tensor {
  expectRank(z, 2, 'softmaxCrossEntropy');
  const [N, J] = z.shape;
  if (labels.size !== N) throw new Error(`softmaxCrossEntropy: ${labels.size} labels for ${N} rows`);
  const out = z.backend.run(softmaxXent, { z: z.storage, labels: labels.storage, stats: stats.storage }, { N, J, scale });
  const dz = make(z, out.dz, z.shape);
  const loss = make(z, out.loss, [1]);
  record(loss, [z], () => [dz]);
  if (!loss.node) dz.dispose();
  return loss;
}

/**
 * The start of a backward pass from class scores: a scalar standing for
 * sum_n sum_j coefficients[n,j] * logits[n,j], whose gradient with respect to the logits is
 * `coefficients` [N,J] (one-hot for one class's score; +1/-1 for a class against another),
 * which it takes over. Only its gradient is used: its value is not computed.
 */
export function classScores(logits: Tensor, coefficients: Tensor): Tensor {
  expectRank(logits, 2, 'classScores');
  if (coefficients.size !== logits.size) throw new Error(`classScores: ${coefficients.size} coefficients for logits [${logits.shape}]`);
  const score = make(logits, logits.backend.alloc(1), [1]);
  record(score, [logits], () => [coefficients]);
  return score;
}

/** Cached u8 NHWC pixels (packed four to a u32) to the f32 NCHW input in 0..1, flipping images where flip[n] = 1. */
export function imagesToTensor(backend: Backend, pixels: Uint32Array, flips: Float32Array, shape: { N: number; C: number; H: number; W: number }): Tensor {
  const pix = backend.upload(pixels);
  const flip = backend.upload(flips);
  const y = backend.run(imagesKernel, { pix, flip }, shape).y;
  backend.free(pix);
  backend.free(flip);
  return new Tensor(backend, y, [shape.N, shape.C, shape.H, shape.W]);
}
