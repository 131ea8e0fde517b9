/**
 * npm run bench -- --vs onnxruntime [--size N] [--quick]
 *
 * Inference head-to-head with ONNX Runtime's CPU provider (onnxruntime-node) on the model
 * `wgcam export` writes: the default network with random weights, batch 16 and batch 1, at
 * --size (default 64 and 224). Each figure is the median of samples taken in turns (wgcam,
 * ONNX Runtime, wgcam, ...), so both see the same machine. wgcam's time includes turning the
 * u8 photos into floats and reading the probabilities back; ONNX Runtime is handed floats.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { imagesToTensor, softmax } from '../src/autograd/ops.ts';
import { noGrad } from '../src/autograd/tape.ts';
import { encodeOnnx } from '../src/export/onnx.ts';
import { openGpu } from '../src/gpu/dawn.ts';
import { buildModel, loadModelFile, saveModel } from '../src/io/model-file.ts';
import { packBytes } from '../src/kernels/images.ts';
import { Classifier, DEFAULT_ARCH, type Arch } from '../src/nn/model.ts';
import { CpuBackend } from '../src/tensor/cpu-backend.ts';
import { ConvChoiceCache } from '../src/nn/conv-choice-cache.ts';
import { GpuBackend } from '../src/tensor/gpu-backend.ts';
import { tidy } from '../src/tensor/tensor.ts';
import { Rng } from '../src/util/rng.ts';
import { chooseGraphConvs } from '../src/graph/conv-choices.ts';
import { GraphRunner } from '../src/graph/execute.ts';
import { planGraph } from '../src/graph/plan.ts';
import { loadOnnxFile } from '../src/graph/imported-files.ts';
import { IMPORTED_MODELS } from './imported-models.ts';
import { median, sampleMs } from '../src/util/timing.ts';

type Ort = typeof import('onnxruntime-node');

async function loadOrt(): Promise<Ort | null> {
  try {
    return await import('onnxruntime-node');
  } catch {
    return null;
  }
}


export async function vsOnnxRuntime(o: { sizes: number[]; quick: boolean }): Promise<void> {
  const ort = await loadOrt();
  if (!ort) {
    console.log('\n--vs onnxruntime needs onnxruntime-node: npm install onnxruntime-node (in this repository: npm run setup)');
    return;
  }
  const samples = o.quick ? 3 : 9;
  const gpu = await openGpu();
  const backend = new GpuBackend(gpu);
  const dir = mkdtempSync(join(tmpdir(), 'wgcam-vs-ort-'));
  console.log(`\nInference vs ONNX Runtime ${ort.env.versions?.node ?? ''} (CPU provider, ${availableParallelism()} threads) on the exported default network (${DEFAULT_ARCH}); wgcam on ${gpu.adapterName}`);
  console.log('median ms per batch, samples taken in turns\n');
  console.log(['size', 'batch', 'wgcam ms', 'ONNX Runtime ms', 'wgcam speed / ORT'].map((h, i) => (i < 2 ? h.padEnd(6) : h.padStart(i === 4 ? 19 : 16))).join(''));
  try {
    for (const size of o.sizes) {
      const arch: Arch = { blocks: DEFAULT_ARCH, inputChannels: 3, height: size, width: size, classes: 2 };
      const path = join(dir, `model-${size}.bin`);
      await saveModel(path, new Classifier(new CpuBackend(), arch, new Rng(size)), { arch, classes: ['a', 'b'], input: { height: size, width: size, channels: 3, resize: 'fill', scale: '1/255' } });
      const loaded = loadModelFile(path);
      const model = buildModel(backend, loaded);
      const session = await ort.InferenceSession.create(encodeOnnx(loaded, 'bench'), { executionMode: 'sequential', graphOptimizationLevel: 'all' });
      for (const N of [16, 1]) {
        const rng = new Rng(N);
        const pixels = Uint8Array.from({ length: N * size * size * 3 }, () => rng.int(256));
        const floats = Float32Array.from(pixels, (v) => v / 255); // layout does not matter for timing
        const image = new ort.Tensor('float32', floats, [N, 3, size, size]);
        let probs: ReturnType<typeof softmax> | null = null;
        const wgcamStep = () => {
          probs = noGrad(() =>
            tidy(() => {
              const x = imagesToTensor(backend, packBytes(pixels), new Float32Array(N), { N, C: 3, H: size, W: size });
              return softmax(model.forward(x));
            }),
          );
        };
        const wgcamFinish = async () => {
          await probs!.toArray();
          probs!.dispose();
        };
        let ortRun: Promise<unknown> = Promise.resolve();
        const ortStep = () => {
          ortRun = session.run({ image });
        };
        const ortFinish = async () => {
          await ortRun;
        };
        await sampleMs(1, wgcamStep, wgcamFinish); // warm-up: pipelines, buffers, ORT's arenas
        await sampleMs(1, ortStep, ortFinish);
        const [ours, theirs]: number[][] = [[], []];
        for (let s = 0; s < samples; s++) {
          ours.push(await sampleMs(1, wgcamStep, wgcamFinish));
          theirs.push(await sampleMs(1, ortStep, ortFinish));
        }
        const [a, b] = [median(ours), median(theirs)];
        console.log([String(size).padEnd(6), String(N).padEnd(6), a.toFixed(1).padStart(16), b.toFixed(1).padStart(16), `${(b / a).toFixed(2)}x`.padStart(19)].join(''));
      }
      await session.release();
      model.dispose();
    }
  } finally {
    gpu.destroy();
  }
}

/**
 * Imported graphs: the forward pass of full-size ResNet-18, MobileNetV2 and VGG-16 (random
 * weights, 224x224, batch 16; --quick: batch 4, ResNet-18 and MobileNetV2) by wgcam's graph
 * engine against ONNX Runtime on the same file, samples in turns; the outputs are compared
 * first (largest difference over the largest magnitude).
 */
export async function vsOnnxRuntimeImported(o: { quick: boolean }): Promise<void> {
  const ort = await loadOrt();
  if (!ort) return;
  const samples = o.quick ? 1 : 3;
  const wanted = o.quick ? 4 : 16;
  const gpu = await openGpu();
  const backend = new GpuBackend(gpu);
  const dir = mkdtempSync(join(tmpdir(), 'wgcam-vs-ort-imported-'));
  console.log(`\nImported graphs (random weights, 224x224, batch ${wanted} or the most this adapter binds): wgcam's graph engine on ${gpu.adapterName} vs ONNX Runtime (CPU provider)`);
  console.log('median ms per batch, samples taken in turns\n');
  console.log("(images/s: also the feature extraction of 'wgcam train --backbone', whose cut keeps all but the head's last layers)\n");
  console.log(['model', 'batch', 'GFLOP', 'wgcam ms', 'ONNX Runtime ms', 'wgcam speed / ORT', 'max diff', 'wgcam img/s', 'ORT img/s'].map((h, i) => (i === 0 ? h.padEnd(13) : h.padStart(i === 1 ? 6 : 18))).join(''));
  try {
    const models = Object.entries(IMPORTED_MODELS).filter(([name]) => !o.quick || name !== 'VGG-16');
    for (const [name, build] of models) {
      const path = join(dir, `${name}.onnx`);
      writeFileSync(path, build());
      const graph = loadOnnxFile(path);
      // The largest tensor of one image sets how many fit one buffer (VGG-16's first convs: 12.8 MB).
      const largest = Math.max(...[...planGraph(graph, 1).shapes.values()].map((s) => 4 * s.reduce((a, b) => a * b, 1)));
      const N = Math.min(wanted, Math.floor(backend.maxBindingBytes / largest));
      // The 3x3 convolutions' kernels as the commands choose them (timed once, remembered).
      const { innerConv } = await chooseGraphConvs(gpu, graph, N, { cache: new ConvChoiceCache() });
      const runner = new GraphRunner(backend, graph, { innerConv });
      const plan = runner.plan(N);
      const gflop = plan.steps.reduce((s, st) => s + st.flops, 0) / 1e9;
      const session = await ort.InferenceSession.create(path, { executionMode: 'sequential', graphOptimizationLevel: 'all' });
      const rng = new Rng(7);
      const x = Float32Array.from({ length: N * 3 * 224 * 224 }, () => rng.next() * 2 - 1);
      const feed = { [graph.inputs[0].name]: new ort.Tensor('float32', x, [N, 3, 224, 224]) };
      let ours: Float32Array = new Float32Array();
      let theirs: Float32Array = new Float32Array();
      const wgcamRun = async () => {
        ours = (await runner.run(x, N)).get(graph.outputs[0])!;
      };
      const ortRun = async () => {
        theirs = (await session.run(feed))[graph.outputs[0]].data as Float32Array;
      };
      await wgcamRun(); // warm-up: pipelines, weights uploaded, ORT's arenas
      await ortRun();
      let [diff, scale] = [0, 1e-12];
      theirs.forEach((v, i) => ([diff, scale] = [Math.max(diff, Math.abs(v - ours[i])), Math.max(scale, Math.abs(v))]));
      const [a, b]: number[][] = [[], []];
      for (let s = 0; s < samples; s++) {
        a.push(await sampleMs(1, () => void 0, wgcamRun));
        b.push(await sampleMs(1, () => void 0, ortRun));
      }
      const [ma, mb] = [median(a), median(b)];
      console.log([name.padEnd(13), String(N).padStart(6), gflop.toFixed(1).padStart(18), ma.toFixed(0).padStart(18), mb.toFixed(0).padStart(18), `${(mb / ma).toFixed(2)}x`.padStart(18), (diff / scale).toExponential(1).padStart(18), ((1000 * N) / ma).toFixed(1).padStart(18), ((1000 * N) / mb).toFixed(1).padStart(18)].join(''));
      runner.dispose();
      await session.release();
    }
  } finally {
    gpu.destroy();
    rmSync(dir, { recursive: true, force: true }); // VGG-16's file alone is 553 MB
  }
}
