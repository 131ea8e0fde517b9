// Every backward kernel against central finite differences of its forward, in float64,
// and the whole network's autograd against finite differences of its loss.
import { describe, expect, it } from 'vitest';
import { conv2dForward, conv2dGradInput, conv2dGradWeight } from '../src/kernels/conv2d.ts';
import { relu, reluBackward } from '../src/kernels/elementwise.ts';
import { gap, gapBackward, maxPool2, maxPool2Backward, maxPool2BackwardArgmax, maxPool2ReluArgmax } from '../src/kernels/pooling.ts';
import { dense, denseGradInput, denseGradParams } from '../src/kernels/dense.ts';
import { softmaxXent } from '../src/kernels/loss.ts';
import type { FloatArray } from '../src/kernels/kernel.ts';
import { CpuBackend } from '../src/tensor/cpu-backend.ts';
import { Tensor, tidy } from '../src/tensor/tensor.ts';
import { Classifier } from '../src/nn/model.ts';
import { classScores, softmaxCrossEntropy } from '../src/autograd/ops.ts';
import { backward } from '../src/autograd/tape.ts';
import { Rng } from '../src/util/rng.ts';

type Arrays = Record<string, Float64Array>;
interface OpCase {
  name: string;
  inputs: (rng: Rng) => Arrays;
  /** Forward: the output whose weighted sum is differentiated. */
  forward: (i: Arrays) => FloatArray;
  /** Vector-Jacobian product: gradients of sum(r * forward(i)) for each input. */
  vjp: (i: Arrays, r: Float64Array) => Record<string, FloatArray>;
}

const rand = (rng: Rng, n: number) => Float64Array.from({ length: n }, () => rng.uniform(-1, 1));
const distinct = (rng: Rng, n: number) => rng.shuffle(Array.from({ length: n }, (_, k) => k / n - 0.5)).reduce((a, v, k) => ((a[k] = v), a), new Float64Array(n));

function convCase(s: { N: number; Ci: number; H: number; W: number; Co: number }, withRelu: boolean): OpCase {
  return {
    name: `conv2d ${JSON.stringify(s)} relu=${withRelu}`,
    inputs: (rng) => ({ x: rand(rng, s.N * s.Ci * s.H * s.W), w: rand(rng, s.Co * s.Ci * 9), b: rand(rng, s.Co) }),
    forward: (i) => conv2dForward.reference(i, { ...s, relu: withRelu }).y,
    vjp: (i, r) => {
      const y = conv2dForward.reference(i, { ...s, relu: withRelu }).y;
      const g = withRelu ? reluBackward.reference({ dy: r, y }, { len: y.length }).dx : r;
      const params = conv2dGradWeight.reference({ x: i.x, dy: g }, s);
      return { x: conv2dGradInput.reference({ dy: g, w: i.w }, s).dx, w: params.dw, b: params.db };
    },
  };
}

const cases: OpCase[] = [
  convCase({ N: 2, Ci: 3, H: 5, W: 6, Co: 2 }, false),
  convCase({ N: 1, Ci: 2, H: 3, W: 7, Co: 3 }, true),
  {
    name: 'relu',
    inputs: (rng) => ({ x: rand(rng, 37) }),
    forward: (i) => relu.reference(i, { len: 37 }).y,
    vjp: (i, r) => ({ x: reluBackward.reference({ dy: r, y: relu.reference(i, { len: 37 }).y }, { len: 37 }).dx }),
  },
  {
    name: 'maxpool2 (odd sizes)',
    inputs: (rng) => ({ x: distinct(rng, 2 * 5 * 7) }),
    forward: (i) => maxPool2.reference(i, { NC: 2, H: 5, W: 7 }).y,
    vjp: (i, r) => ({ x: maxPool2Backward.reference({ x: i.x, dy: r }, { NC: 2, H: 5, W: 7 }).dx }),
  },
  {
    // conv2dReluMaxPool's backward: maxpool(relu(x)) through the recorded argmax, ReLU included.
    name: 'maxpool2 of relu through the recorded argmax (odd sizes)',
    inputs: (rng) => ({ x: distinct(rng, 3 * 5 * 7) }),
    forward: (i) => maxPool2.reference({ x: relu.reference(i, { len: 105 }).y }, { NC: 3, H: 5, W: 7 }).y,
    vjp: (i, r) => {
      const argmax = maxPool2ReluArgmax.reference({ x: relu.reference(i, { len: 105 }).y }, { NC: 3, H: 5, W: 7 }).argmax;
      return { x: maxPool2BackwardArgmax.reference({ argmax, dy: r }, { NC: 3, H: 5, W: 7 }).dx };
    },
  },
  {
    name: 'gap',
    inputs: (rng) => ({ x: rand(rng, 3 * 10) }),
    forward: (i) => gap.reference(i, { NC: 3, HW: 10 }).y,
    vjp: (_i, r) => ({ x: gapBackward.reference({ dy: r }, { NC: 3, HW: 10 }).dx }),
  },
  {
    name: 'dense',
    inputs: (rng) => ({ x: rand(rng, 3 * 5), w: rand(rng, 2 * 5), b: rand(rng, 2) }),
    forward: (i) => dense.reference(i, { N: 3, K: 5, J: 2 }).y,
    vjp: (i, r) => {
      const p = { N: 3, K: 5, J: 2 };
      const g = denseGradParams.reference({ x: i.x, dy: r }, p);
      return { x: denseGradInput.reference({ dy: r, w: i.w }, p).dx, w: g.dw, b: g.db };
    },
  },
  {
    name: 'softmax cross-entropy',
    inputs: (rng) => ({ z: rand(rng, 4 * 3).map((v) => 3 * v) }),
    forward: (i) => softmaxXent.reference({ z: i.z, labels: new Float64Array([0, 2, 1, 2]), stats: new Float64Array(4) }, { N: 4, J: 3, scale: 0.25 }).loss,
    vjp: (i, r) => ({ z: softmaxXent.reference({ z: i.z, labels: new Float64Array([0, 2, 1, 2]), stats: new Float64Array(4) }, { N: 4, J: 3, scale: 0.25 }).dz.map((d) => d * r[0]) }),
  },
];

const H = 1e-6;
const TOL = 1e-6;

describe('finite differences (float64)', () => {
  for (const c of cases) {
    it(c.name, () => {
      const rng = new Rng(3);
      const inputs = c.inputs(rng);
      const r = rand(rng, c.forward(inputs).length);
      const objective = () => Array.from(c.forward(inputs)).reduce((acc, v, k) => acc + v * r[k], 0);
      const analytic = c.vjp(inputs, r);
      for (const [name, grad] of Object.entries(analytic)) {
        const x = inputs[name];
        const numeric = new Float64Array(x.length);
        for (let k = 0; k < x.length; k++) {
          const keep = x[k];
          x[k] = keep + H;
          const up = objective();
          x[k] = keep - H;
          const down = objective();
          x[k] = keep;
          numeric[k] = (up - down) / (2 * H);
        }
        const scale = Math.max(1e-3, ...numeric.map(Math.abs));
        const err = Math.max(...numeric.map((v, k) => Math.abs(v - grad[k])));
        expect(err / scale, `d/d${name}`).toBeLessThan(TOL);
      }
    });
  }

  /** The largest difference between `grad` and central differences of `f` over `data` (changed in place and restored), relative to the largest numeric value (at least 1e-3). */
  const gradientError = (data: Float64Array, grad: Float64Array, f: () => number) => {
    const numeric = data.map((keep, k) => {
      data[k] = keep + H;
      const up = f();
      data[k] = keep - H;
      const down = f();
      data[k] = keep;
      return (up - down) / (2 * H);
    });
    return Math.max(...numeric.map((v, k) => Math.abs(v - grad[k]))) / Math.max(1e-3, ...numeric.map(Math.abs));
  };

  it('a whole classifier through autograd (conv, pool, GAP, dense, softmax-CE)', () => {
    const cpu = new CpuBackend({ float64: true });
    const model = new Classifier(cpu, { blocks: 'c4-p-c3', inputChannels: 2, height: 9, width: 8, classes: 3 }, new Rng(5));
    const rng = new Rng(9);
    const x = Tensor.fromArray(cpu, rand(rng, 2 * 2 * 9 * 8), [2, 2, 9, 8]);
    const labels = Tensor.fromArray(cpu, new Float64Array([2, 0]), [2]);
    const stats = Tensor.zeros(cpu, [4]);
    const loss = () => tidy(() => (softmaxCrossEntropy(model.forward(x), labels, stats).storage as Float64Array)[0]);
    tidy(() => backward(softmaxCrossEntropy(model.forward(x), labels, stats)));
    for (const [name, p] of model.parameters()) {
      const data = p.storage as Float64Array;
      const grad = p.grad!.storage as Float64Array;
      expect(data).toBeInstanceOf(Float64Array);
      expect(gradientError(data, grad, loss), name).toBeLessThan(TOL);
    }
  });

  it("a class-score target with respect to a conv layer's activations (the gradient CAMs), parameters frozen", () => {
    const cpu = new CpuBackend({ float64: true });
    const model = new Classifier(cpu, { blocks: 'c4-p-c3-c5', inputChannels: 2, height: 14, width: 13, classes: 3 }, new Rng(6));
    for (const [, p] of model.parameters()) p.requiresGrad = false;
    const rng = new Rng(3);
    const x = Tensor.fromArray(cpu, rand(rng, 2 * 2 * 14 * 13), [2, 2, 14, 13]);
    // Image 0: class 0 against class 1 (the contrast target); image 1: class 2 alone.
    const coefficients = new Float64Array([1, -1, 0, 0, 0, 1]);
    for (const layer of [1, 2, 3]) {
      const A = tidy(() => model.forwardTo(x, layer));
      A.requiresGrad = true;
      // Distinct positive activations: a ReLU's zeros tie in the max-pools after it, where a
      // finite difference is one-sided.
      (A.storage as Float64Array).set(distinct(rng, A.size).map((v) => v + 0.6));
      const score = () =>
        tidy(() => {
          const z = model.forwardFrom(A, layer).logits.storage as Float64Array;
          return z.reduce((s, v, k) => s + coefficients[k] * v, 0);
        });
      tidy(() => backward(classScores(model.forwardFrom(A, layer).logits, Tensor.fromArray(cpu, coefficients, [2, 3]))));
      const data = A.storage as Float64Array;
      const grad = A.grad!.storage as Float64Array;
      expect(gradientError(data, grad, score), `layer ${layer}`).toBeLessThan(TOL);
      for (const [name, p] of model.parameters()) expect(p.grad, name).toBeNull();
    }
  });
});
