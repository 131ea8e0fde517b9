// Gradients through imported graphs (every architecture of test/onnx-graphs.ts): the gradient of
// a random combination of the class scores with respect to the input image and to the last
// CAM-able tensor, run by the backward kernels, agrees with central finite differences of the
// same graph in double precision (relative to the largest gradient, 2e-3), and the GPU agrees
// with the CPU references (1e-4).
import { describe, expect, it } from 'vitest';
import { GraphRunner } from '../src/graph/execute.ts';
import { decodeOnnx } from '../src/graph/onnx-import.ts';
import { CpuBackend } from '../src/tensor/cpu-backend.ts';
import type { GpuBackend } from '../src/tensor/gpu-backend.ts';
import { Rng } from '../src/util/rng.ts';
import { useGpu } from './gpu-fixture.ts';
import { ARCHITECTURES } from './onnx-graphs.ts';

let gpuBackend: GpuBackend;
useGpu((_, b) => (gpuBackend = b));

const relativeWorst = (got: ArrayLike<number>, want: ArrayLike<number>) => {
  let [d, s] = [0, 1e-12];
  for (let i = 0; i < want.length; i++) [d, s] = [Math.max(d, Math.abs(got[i] - want[i])), Math.max(s, Math.abs(want[i]))];
  return d / s;
};

describe('gradients through imported graphs', () => {
  for (const arch of ARCHITECTURES) {
    it(arch.name, async () => {
      const graph = decodeOnnx(arch.build(), arch.name);
      const batch = typeof arch.input[0] === 'number' ? arch.input[0] : 2;
      const cpu = new GraphRunner(new CpuBackend({ float64: true }), graph);
      const gpu = new GraphRunner(gpuBackend, graph);
      const plan = cpu.plan(batch);
      // The class scores before the graph's own Softmax, if it ends with one.
      const last = plan.steps.at(-1)!;
      const from = last.node.op === 'Softmax' ? last.reads[0] : last.outputs[0];
      const J = plan.shapes.get(from)!.at(-1)!;
      const rng = new Rng(5);
      const coef = Float32Array.from({ length: batch * J }, () => rng.next() * 2 - 1);
      const target = (scores: ArrayLike<number>) => Array.from(scores).reduce((s, v, i) => s + v * coef[i], 0);
      const inner = [...plan.steps].reverse().find((s) => s.shapes[0].length === 4 && s.shapes[0][2] * s.shapes[0][3] > 1)!.outputs[0];
      const count = plan.input.shape.reduce((a, b) => a * b, 1);
      const nhwc = plan.input.layout === 'NHWC';
      const input = Float32Array.from({ length: count }, () => (nhwc ? rng.next() * 255 : rng.next() * 2 - 1));
      for (const at of [plan.input.name, inner]) {
        const o = { at, from, seed: () => coef };
        const want = await cpu.gradient(input, batch, o);
        const got = await gpu.gradient(input, batch, o);
        expect(relativeWorst(got.grad, want.grad), `GPU vs CPU at ${at}`).toBeLessThanOrEqual(1e-4);
        // Central differences at 10 positions, the rest of the graph as it is.
        const scale = Array.from(want.grad).reduce((m, v) => Math.max(m, Math.abs(v)), 0);
        expect(scale).toBeGreaterThan(0);
        for (let k = 0; k < 10; k++) {
          const i = Math.floor(rng.next() * want.values.length);
          const h = Math.max(1e-3, Math.abs(want.values[i]) * 1e-3);
          const shifted = (d: number) => {
            const v = want.values.slice();
            v[i] += d;
            return v;
          };
          const run = async (d: number) => target((await cpu.gradient(at === plan.input.name ? shifted(d) : input, batch, { ...o, override: at === plan.input.name ? undefined : { name: at, values: shifted(d) } })).from);
          const numeric = ((await run(h)) - (await run(-h))) / (2 * h);
          expect(Math.abs(numeric - want.grad[i]) / scale, `${at}[${i}]: ${numeric} vs ${want.grad[i]}`).toBeLessThanOrEqual(2e-3);
        }
      }
      cpu.dispose();
      gpu.dispose();
    }, 120_000);
  }
});

// Fine-tuning an imported backbone (wgcam train --backbone --fine-tune) trains its convolutions'
// weights and biases (batch-norm folded in): their gradients, for a random combination of the
// last CAM-able tensor's values, against central differences of the same graph in double
// precision (2e-3 of the largest), and the GPU's against the CPU's (1e-4).
describe("gradients of imported graphs' convolution weights", () => {
  for (const arch of ARCHITECTURES.filter((a) => /ResNet-18|MobileNetV2|DenseNet|EfficientNet-B0|VGG with/.test(a.name))) {
    it(arch.name, async () => {
      const graph = decodeOnnx(arch.build(), arch.name);
      const batch = 2;
      const cpu = new GraphRunner(new CpuBackend({ float64: true }), graph);
      const gpu = new GraphRunner(gpuBackend, graph);
      const plan = cpu.plan(batch);
      const at = [...plan.steps].reverse().find((s) => s.shapes[0].length === 4 && s.shapes[0][2] * s.shapes[0][3] > 1)!.outputs[0];
      const convs = plan.steps.filter((s) => s.params && plan.steps.indexOf(s) < plan.steps.findIndex((t) => t.outputs[0] === at) + 1);
      // The last three convolutions, and the first (whose input gradient nobody needs).
      const trainable = new Set([convs[0], ...convs.slice(-3)]);
      const rng = new Rng(11);
      const count = plan.input.shape.reduce((a, b) => a * b, 1);
      const input = Float32Array.from({ length: count }, () => rng.next() * 2 - 1);
      const size = plan.shapes.get(at)!.reduce((a, b) => a * b, 1);
      const coef = Float64Array.from({ length: size }, () => rng.next() * 2 - 1);
      const target = (v: ArrayLike<number>) => Array.from(v).reduce((s, x, i) => s + x * coef[i], 0);
      const cpuPass = await cpu.trainingPass(input, batch, at, trainable);
      const want = cpuPass.backward(coef);
      cpuPass.release();
      const gpuTrainable = new Set([...trainable].map((s) => gpu.plan(batch).steps[plan.steps.indexOf(s)]));
      const gpuPass = await gpu.trainingPass(input, batch, at, gpuTrainable);
      const got = gpuPass.backward(Float32Array.from(coef));
      gpuPass.release();
      expect(got.size).toBe(2 * trainable.size);
      for (const step of trainable) {
        for (const name of [step.params!.weight, step.params!.bias]) {
          const len = plan.constants.get(name)!.data.length;
          const w = want.get(name) as Float64Array;
          const g = await gpuBackend.download(got.get(name)!, len);
          expect(relativeWorst(g, w), `GPU vs CPU: ${step.node.name} ${name}`).toBeLessThanOrEqual(1e-4);
          const scale = Array.from(w).reduce((m, v) => Math.max(m, Math.abs(v)), 0);
          expect(scale, `${step.node.name} ${name}`).toBeGreaterThan(0);
          const buffer = cpu.constantBuffer(name, batch) as Float64Array;
          for (let k = 0; k < 3; k++) {
            const i = Math.floor(rng.next() * len);
            // Small steps in float64: steps of 1e-3 cross ReLU kinks downstream of the first convolution.
            const h = Math.max(1e-6, Math.abs(buffer[i]) * 1e-6);
            const run = async (d: number) => {
              buffer[i] += d;
              const pass = await cpu.trainingPass(input, batch, at, new Set());
              buffer[i] -= d;
              pass.release();
              return target(pass.values);
            };
            const numeric = ((await run(h)) - (await run(-h))) / (2 * h);
            expect(Math.abs(numeric - w[i]) / scale, `${step.node.name} ${name}[${i}]: ${numeric} vs ${w[i]}`).toBeLessThanOrEqual(2e-3);
          }
        }
      }
      for (const s of [...got.values()]) gpuBackend.free(s);
      cpu.dispose();
      gpu.dispose();
    }, 120_000);
  }
});
