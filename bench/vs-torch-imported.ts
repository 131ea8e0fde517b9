/**
 * The imported-graph half of `npm run bench -- --vs torch`: torchvision's ResNet-18,
 * MobileNetV2 and VGG-16 (random weights) exported by torch.onnx.export in the PyTorch worker,
 * loaded by wgcam from that file, and run on the batch the worker runs:
 *   - the forward pass (224x224, batch 16; --quick: batch 4, no VGG-16);
 *   - Grad-CAM at pytorch-grad-cam's usual layer (ResNet: layer4; MobileNetV2: its last conv
 *     block; wgcam's default layer is the same tensor): the forward pass, the backward pass of
 *     each image's top class score to the layer only, and the maps. PyTorch does the least it
 *     can (the layer's output a leaf, no parameter gradients; bench/torch_peer.py).
 * Samples in turns. Before timing, both answers are compared: the logits (largest difference
 * over the largest magnitude) and the Grad-CAM maps (each divided by its maximum, largest
 * difference). Score-CAM's cost per image follows from the forward pass: one masked forward
 * pass per channel of the layer, for a batch at a time.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveLayer } from '../src/cam/imported-explain.ts';
import { openGpu } from '../src/gpu/dawn.ts';
import { chooseGraphConvs } from '../src/graph/conv-choices.ts';
import { GraphRunner } from '../src/graph/execute.ts';
import { loadOnnxFile } from '../src/graph/imported-files.ts';
import { planGraph } from '../src/graph/plan.ts';
import type { FloatArray } from '../src/kernels/kernel.ts';
import { gradCam } from '../src/kernels/gradcam.ts';
import { ConvChoiceCache } from '../src/nn/conv-choice-cache.ts';
import { GpuBackend } from '../src/tensor/gpu-backend.ts';
import { median, sampleMs } from '../src/util/timing.ts';
import { pythonWithTorch, torchPeer } from './vs-torch.ts';

const MODELS = [
  { name: 'resnet18', shown: 'ResNet-18', gradcam: true },
  { name: 'mobilenet_v2', shown: 'MobileNetV2', gradcam: true },
  { name: 'vgg16', shown: 'VGG-16', gradcam: false },
];

/** Each row's top score, as the Grad-CAM target (one-hot seed of the scores). */
function topClassSeed(scores: FloatArray, N: number): Float32Array {
  const J = scores.length / N;
  const seed = new Float32Array(scores.length);
  for (let n = 0; n < N; n++) {
    let best = 0;
    for (let j = 1; j < J; j++) if (scores[n * J + j] > scores[n * J + best]) best = j;
    seed[n * J + best] = 1;
  }
  return seed;
}

/** Largest difference of per-image maps, each divided by its own maximum. */
function mapDifference(a: ArrayLike<number>, b: ArrayLike<number>, N: number): number {
  const HW = a.length / N;
  let worst = 0;
  for (let n = 0; n < N; n++) {
    let [ta, tb] = [1e-30, 1e-30];
    for (let i = 0; i < HW; i++) [ta, tb] = [Math.max(ta, a[n * HW + i]), Math.max(tb, b[n * HW + i])];
    for (let i = 0; i < HW; i++) worst = Math.max(worst, Math.abs(a[n * HW + i] / ta - b[n * HW + i] / tb));
  }
  return worst;
}

export async function vsTorchImported(o: { quick: boolean }): Promise<void> {
  const python = pythonWithTorch();
  if (!python) return; // vsTorch has said what to install
  const samples = o.quick ? 1 : 3;
  const wanted = o.quick ? 4 : 16;
  const peer = torchPeer(python);
  const gpu = await openGpu();
  const backend = new GpuBackend(gpu);
  const dir = mkdtempSync(join(tmpdir(), 'wgcam-vs-torch-imported-'));
  let device = gpu.onCpu ? 'cpu' : 'cuda';
  const rows: string[] = [];
  try {
    for (const m of MODELS.filter((m) => !o.quick || m.name !== 'vgg16')) {
      const onnx = join(dir, `${m.name}.onnx`);
      const inputFile = join(dir, `${m.name}.input`);
      const ask = (batch: number, on: string) => peer.ask({ op: 'torchvision', name: m.name, batch, size: 224, onnx, input: inputFile, device: on });
      let setup;
      try {
        setup = await ask(1, device);
      } catch (e) {
        if (device === 'cpu') throw e;
        device = 'cpu';
        setup = await ask(1, device);
      }
      // The batch: as asked, or as many images as the largest tensor lets one buffer hold (VGG-16's first convs: 12.8 MB an image).
      const largest = Math.max(...[...planGraph(loadOnnxFile(onnx), 1).shapes.values()].map((s) => 4 * s.reduce((a, b) => a * b, 1)));
      const batch = Math.min(wanted, Math.floor(backend.maxBindingBytes / largest));
      // Exported again at that batch, with new random weights: the file is read after this.
      setup = await ask(batch, device);
      if (!rows.length) console.log(`\nImported graphs vs PyTorch ${setup.torch} (${setup.device}): torchvision models (random weights) exported by torch.onnx.export, 224x224, batch ${wanted} or as many as one buffer holds; wgcam on ${gpu.adapterName}; medians of ${samples}, samples in turns\n`);
      const x = new Float32Array(readFileSync(inputFile).buffer.slice(0));
      const graph = loadOnnxFile(onnx);
      const { innerConv } = await chooseGraphConvs(gpu, graph, batch, { cache: new ConvChoiceCache() });
      const runner = new GraphRunner(backend, graph, { innerConv });
      const plan = runner.plan(batch);
      const scores = graph.outputs[0];
      const layer = resolveLayer(plan, undefined, onnx);
      const [, K, h, w] = plan.shapes.get(layer)!;
      let logits: FloatArray = new Float32Array();
      let maps: Float32Array = new Float32Array();
      const forward = async () => {
        logits = (await runner.run(x, batch, [scores])).get(scores)!;
      };
      const gradcam = async () => {
        const g = await runner.gradient(x, batch, { at: layer, from: scores, seed: (s) => topClassSeed(s, batch) });
        const [A, G] = [backend.upload(g.values), backend.upload(g.grad)];
        const out = backend.run(gradCam, { A, G }, { N: batch, K, HW: h * w, method: 'gradcam' as const });
        maps = await backend.download(out.raw, batch * h * w);
        for (const s of [A, G, out.weights, out.raw, out.norm, out.u8]) backend.free(s);
      };
      await forward(); // warm-up, and the answers compared
      if (m.gradcam) await gradcam();
      const check = (await peer.ask({ op: 'check' })) as unknown as { logits: number[]; maps: number[] };
      let [diff, scale] = [0, 1e-12];
      check.logits.forEach((v, i) => ([diff, scale] = [Math.max(diff, Math.abs(v - logits[i])), Math.max(scale, Math.abs(v))]));
      const figures: [string, () => Promise<void>, 'forward' | 'gradcam', string][] = [[`${m.shown} forward`, forward, 'forward', `logits ${(diff / scale).toExponential(1)}`]];
      if (m.gradcam) figures.push([`${m.shown} Grad-CAM`, gradcam, 'gradcam', `maps ${mapDifference(maps, check.maps, batch).toExponential(1)}`]);
      for (const [name, ours, op, agreement] of figures) {
        await peer.ask({ op });
        const [a, b]: number[][] = [[], []];
        for (let s = 0; s < samples; s++) {
          a.push(await sampleMs(1, () => void 0, ours));
          b.push((await peer.ask({ op })).ms as number);
        }
        const [ma, mb] = [median(a), median(b)];
        rows.push([`${name} (${batch})`.padEnd(30), ma.toFixed(0).padStart(10), mb.toFixed(0).padStart(12), `${(mb / ma).toFixed(2)}x`.padStart(18), agreement.padStart(22)].join(''));
        if (op === 'forward') {
          // What `wgcam train --backbone` computes once per photo: the forward pass up to the cut (all but the head).
          rows.push(`${''.padEnd(30)}feature extraction: ${((1000 * batch) / ma).toFixed(1)} images/s on wgcam, ${((1000 * batch) / mb).toFixed(1)} on PyTorch`);
        }
        if (op === 'forward' && m.gradcam) {
          rows.push(`${''.padEnd(30)}Score-CAM at ${layer} (${K} channels): ${K} masked forward passes of the batch, about ${((K * ma) / batch / 1000).toFixed(1)} s per image on wgcam`);
        }
      }
      runner.dispose();
    }
    console.log(['figure (batch)'.padEnd(30), 'wgcam ms'.padStart(10), 'PyTorch ms'.padStart(12), 'wgcam speed / PT'.padStart(18), 'agreement'.padStart(22)].join(''));
    for (const r of rows) console.log(r);
  } finally {
    peer.close();
    gpu.destroy();
    rmSync(dir, { recursive: true, force: true }); // VGG-16's file alone is 553 MB
  }
}
