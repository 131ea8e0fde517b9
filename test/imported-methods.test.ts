// Every explanation method on every imported architecture (test/onnx-graphs.ts): the GPU kernels
// give the CPU references' maps (raw maps within 1e-4 of their largest magnitude, cam.png within
// one step of 255), at the last map and at an inner one.
import { describe, expect, it } from 'vitest';
import { camHead, explainLayers, scoresOf } from '../src/cam/imported-explain.ts';
import { GraphRunner } from '../src/graph/execute.ts';
import { decodeOnnx } from '../src/graph/onnx-import.ts';
import { preprocessingFor, type ImportedModel } from '../src/graph/imported-model.ts';
import { CpuBackend } from '../src/tensor/cpu-backend.ts';
import type { GpuBackend } from '../src/tensor/gpu-backend.ts';
import { Rng } from '../src/util/rng.ts';
import { useGpu } from './gpu-fixture.ts';
import { ARCHITECTURES } from './onnx-graphs.ts';

let gpuBackend: GpuBackend;
useGpu((_, b) => (gpuBackend = b));

const METHODS = ['cam', 'gradcam', 'gradcam++', 'xgradcam', 'layercam', 'hirescam', 'scorecam'] as const;

describe('every method on every imported architecture: GPU = CPU', () => {
  for (const arch of ARCHITECTURES) {
    it(arch.name, async () => {
      const graph = decodeOnnx(arch.build(), arch.name);
      const nhwc = arch.input[3] === 3;
      const model: ImportedModel = {
        path: arch.name, graph, classes: Array.from({ length: 10 }, (_, j) => `c${j}`), output: graph.outputs[0], probabilities: false,
        channels: 3, height: 32, width: 32, layout: nhwc ? 'NHWC' : 'NCHW', pre: preprocessingFor(32, 32, {}),
      };
      const batch = typeof arch.input[0] === 'number' ? arch.input[0] : 2;
      const [gpu, cpu] = [new GraphRunner(gpuBackend, graph), new GraphRunner(new CpuBackend(), graph)];
      const plan = cpu.plan(batch);
      model.probabilities = plan.steps.at(-1)!.node.op === 'Softmax';
      const scores = scoresOf(plan, model);
      const maps = plan.steps.filter((s) => s.shapes[0].length === 4 && s.shapes[0][2] * s.shapes[0][3] > 1 && plan.fields.has(s.outputs[0]));
      const layers = [maps.at(-1)!.outputs[0], maps[Math.floor(maps.length / 2)].outputs[0]];
      const rng = new Rng(3);
      const items = Array.from({ length: batch }, () => ({ input: Float32Array.from({ length: 3 * 32 * 32 }, () => (nhwc ? rng.next() * 255 : rng.next() * 2 - 1)), photo: { data: new Uint8Array(48 * 40 * 3), width: 48, height: 40 } }));
      let checked = 0;
      for (const layer of layers)
        for (const method of METHODS) {
          const head = method === 'cam' ? camHead(plan, layer) : null;
          if (method === 'cam' && !head) continue;
          const o = { scores, head, method, mode: 'contrast' as const, contrast: 'runner-up' as const, cls: -1, batch, rawScale: 1 };
          const how = { flip: false, fuse: 'max' as const };
          const [g, c] = [await explainLayers(gpu, model, o, items, [layer], layer, how), await explainLayers(cpu, model, o, items, [layer], layer, how)];
          for (let n = 0; n < batch; n++) {
            const scale = Math.max(1e-12, ...Array.from(c[n].raw, Math.abs));
            const worst = Math.max(...Array.from(c[n].raw, (v, i) => Math.abs(v - g[n].raw[i])));
            expect(worst / scale, `${method} at ${layer}`).toBeLessThanOrEqual(1e-4);
            expect(Math.max(...Array.from(c[n].cam, (v, i) => Math.abs(v - g[n].cam[i]))), `${method} at ${layer} cam.png`).toBeLessThanOrEqual(1);
          }
          checked++;
        }
      expect(checked).toBeGreaterThanOrEqual(12);
      gpu.dispose();
      cpu.dispose();
    }, 120_000);
  }
});
