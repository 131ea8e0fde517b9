/**
 * npm run bench -- --vs onnxruntime [--size N] [--quick]
 *
 * Inference head-to-head with ONNX Runtime's CPU provider (onnxruntime-node) on the model
 * `wgcam export` writes: the default network with random weights, batch 16 and batch 1, at
 * --size (default 64 and 224). Each figure is the median of samples taken in turns (wgcam,
 * ONNX Runtime, wgcam, ...), so both see the same machine. wgcam's time includes turning the
 * u8 photos into floats and reading the probabilities back; ONNX Runtime is handed floats.
 */
import { mkdtempSync } from 'node:fs';
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
import { GpuBackend } from '../src/tensor/gpu-backend.ts';
import { tidy } from '../src/tensor/tensor.ts';
import { Rng } from '../src/util/rng.ts';
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
