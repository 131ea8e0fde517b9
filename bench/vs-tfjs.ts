/**
 * npm run bench -- --vs tfjs [--size 64|224]
 *
 * Head-to-head with TensorFlow.js 4.22 on the same network, batch and adapter: its
 * WebGPU backend runs on the very Dawn adapter wgcam uses (navigator.gpu injected from
 * `webgpu`), its WASM backend is the CPU reference point. Same figures for all three:
 * conv2d forward / grad-input / grad-weight at N=16, Ci=32, 111x111, Co=64, and a
 * whole training step (forward, backward, SGD with momentum) at --size (default 64).
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { openGpu, createInstance } from '../src/gpu/dawn.ts';
import { quietly } from '../src/gpu/quiet-wait.ts';
import { GpuBackend } from '../src/tensor/gpu-backend.ts';
import { Tensor } from '../src/tensor/tensor.ts';
import { Classifier, DEFAULT_ARCH, parseBlocks, type Arch } from '../src/nn/model.ts';
import { Sgd } from '../src/nn/optim.ts';
import { trainStep, type Batch } from '../src/nn/train-step.ts';
import { conv2dForward, conv2dGradInput, conv2dGradWeight } from '../src/kernels/conv2d.ts';
import { defaultVariant } from '../src/kernels/kernel.ts';
import { randomInputs, releaseAll, stageOnGpu } from '../src/kernels/harness.ts';
import { Rng } from '../src/util/rng.ts';
import { medianMs, runsToFill, sampleMs } from '../src/util/timing.ts';

type Tf = typeof import('@tensorflow/tfjs-core');
const BATCH = 16;
const CONV = { N: BATCH, Ci: 32, H: 111, W: 111, Co: 64 };
const CONV_FLOPS = 2 * CONV.N * CONV.Co * (CONV.H - 2) * (CONV.W - 2) * CONV.Ci * 9;
const TARGET_SAMPLE_MS = 20;
const MAX_RUNS_PER_SAMPLE = 64;

/** Median ms of one `step` after a warm-up (shader compilation, allocation); see src/util/timing.ts. */
async function median(reps: number, step: () => void, finish: () => Promise<void>): Promise<number> {
  await sampleMs(1, step, finish);
  return medianMs(reps, await runsToFill(TARGET_SAMPLE_MS, MAX_RUNS_PER_SAMPLE, step, finish), step, finish);
}

interface Figures {
  fwd: number;
  gradInput: number;
  gradWeight: number;
  stepMs: number;
}

async function ours(size: number, reps: number): Promise<Figures & { onCpu: boolean }> {
  const gpu = await openGpu();
  const backend = new GpuBackend(gpu);
  const time = async (k: typeof conv2dGradInput | typeof conv2dForward, p: object) => {
    const bufs = stageOnGpu(gpu, k as never, randomInputs(k as never, p, new Rng(1).fn), p);
    const variant = defaultVariant(k as never, gpu);
    const ms = await median(reps, () => variant.run(gpu, bufs, p as never), () => gpu.sync());
    releaseAll(gpu, bufs);
    return ms;
  };
  const fwd = await time(conv2dForward, { ...CONV, relu: true });
  const gradInput = await time(conv2dGradInput, CONV);
  const gradWeight = await time(conv2dGradWeight, CONV);
  const arch: Arch = { blocks: DEFAULT_ARCH, inputChannels: 3, height: size, width: size, classes: 2 };
  const model = new Classifier(backend, arch, new Rng(1));
  const opt = new Sgd(backend, model.parameters(), { lr: 0.01, momentum: 0.9 });
  const stats = Tensor.zeros(backend, [4]).keep();
  const rng = new Rng(2);
  const batch: Batch = { pixels: Uint8Array.from({ length: BATCH * size * size * 3 }, () => rng.int(256)), labels: Float32Array.from({ length: BATCH }, (_, i) => i % 2), n: BATCH };
  const stepMs = await median(reps, () => trainStep(model, opt, batch, stats), () => gpu.sync());
  gpu.destroy();
  return { fwd, gradInput, gradWeight, stepMs, onCpu: gpu.onCpu };
}

/** `quiet`: wait for the readback as wgcam waits on a CPU driver (see quiet-wait.ts), so that tfjs-webgpu is not slowed by Dawn's busy polling. */
async function tfjs(tf: Tf, size: number, reps: number, quiet: boolean): Promise<Figures> {
  const x = tf.randomUniform([CONV.N, CONV.H, CONV.W, CONV.Ci]) as import('@tensorflow/tfjs-core').Tensor4D;
  const w = tf.randomUniform([3, 3, CONV.Ci, CONV.Co]) as import('@tensorflow/tfjs-core').Tensor4D;
  const dy = tf.randomUniform([CONV.N, CONV.H - 2, CONV.W - 2, CONV.Co]) as import('@tensorflow/tfjs-core').Tensor4D;
  const attrs = { strides: [1, 1], pad: 'valid', dataFormat: 'NHWC', dimRoundingMode: undefined };
  // Each sample makes the tensor `runs` times and reads the last one back (which waits for all).
  const timed = (make: () => import('@tensorflow/tfjs-core').Tensor) => {
    let made: import('@tensorflow/tfjs-core').Tensor[] = [];
    const finish = async () => {
      const last = made.at(-1)!;
      await (quiet ? quietly(() => last.data()) : last.data());
      tf.dispose(made);
      made = [];
    };
    // A backend without some kernel (tfjs-wasm has no conv backprop) reports NaN for that figure.
    return median(reps, () => void made.push(make()), finish).catch(() => NaN);
  };
  const fwd = await timed(() => tf.conv2d(x, w, 1, 'valid'));
  const gradInput = await timed(() => tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, { ...attrs, inputShape: x.shape } as never) as never);
  const gradWeight = await timed(() => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { ...attrs, filterShape: w.shape } as never) as never);
  tf.dispose([x, w, dy]);

  // The same network: 3x3 valid convs + ReLU, 2x2 pools, GAP, dense -> 2, softmax CE, SGD momentum 0.9.
  const vars: import('@tensorflow/tfjs-core').Variable[] = [];
  let c = 3;
  const layers = parseBlocks(DEFAULT_ARCH).map((b) => {
    if (b.kind === 'pool') return null;
    const k = tf.variable(tf.randomNormal([3, 3, c, b.channels], 0, Math.sqrt(2 / (9 * c))));
    const bias = tf.variable(tf.zeros([b.channels]));
    vars.push(k, bias);
    c = b.channels;
    return { k, bias };
  });
  const fcW = tf.variable(tf.randomNormal([c, 2], 0, 0.1));
  const fcB = tf.variable(tf.zeros([2]));
  vars.push(fcW, fcB);
  const images = tf.randomUniform([BATCH, size, size, 3]) as import('@tensorflow/tfjs-core').Tensor4D;
  const labels = tf.oneHot(tf.tensor1d(Array.from({ length: BATCH }, (_, i) => i % 2), 'int32'), 2);
  const opt = tf.train.momentum(0.01, 0.9);
  const stepMs = await timed(() => {
    const cost = opt.minimize(
      () => {
        let h: import('@tensorflow/tfjs-core').Tensor4D = images;
        for (const l of layers) h = l ? (tf.relu(tf.add(tf.conv2d(h, l.k as never, 1, 'valid'), l.bias)) as import('@tensorflow/tfjs-core').Tensor4D) : tf.maxPool(h, 2, 2, 'valid');
        const logits = tf.add(tf.matMul(tf.mean(h, [1, 2]), fcW), fcB);
        return tf.losses.softmaxCrossEntropy(labels, logits) as import('@tensorflow/tfjs-core').Scalar;
      },
      true,
      vars,
    );
    return cost!;
  });
  tf.dispose([images, labels, ...vars]);
  return { fwd, gradInput, gradWeight, stepMs };
}

export async function vsTfjs(o: { size: number; quick: boolean }): Promise<void> {
  const { size } = o;
  const reps = o.quick ? 1 : 3;
  const instance = createInstance();
  Object.defineProperty(globalThis, 'navigator', { value: { gpu: instance, userAgent: 'node' }, configurable: true });
  // The umbrella package registers the gradients (tfjs-core alone has none) and shares core's engine.
  const tf = (await import('@tensorflow/tfjs')) as unknown as Tf;
  await import('@tensorflow/tfjs-backend-webgpu');
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  const require = createRequire(import.meta.url);
  wasm.setWasmPaths(join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + '/');

  const results: Record<string, Figures> = {};
  console.log(`head-to-head at batch ${BATCH}, conv N=16 Ci=32 111x111 Co=64, train step ${size}x${size} (${DEFAULT_ARCH} -> GAP -> dense 2)`);
  const { onCpu, ...wgcam } = await ours(size, reps);
  results.wgcam = wgcam;
  for (const backend of ['webgpu', 'wasm']) {
    // setBackend answers false (and tfjs keeps the previous backend) when one fails to start.
    if (!(await tf.setBackend(backend)) || tf.getBackend() !== backend) {
      console.log(`tfjs-${backend}: the backend did not start; left out`);
      continue;
    }
    await tf.ready();
    results[`tfjs-${backend}`] = await tfjs(tf, size, reps, backend === 'webgpu' && onCpu);
  }
  const g = (ms: number) => (Number.isNaN(ms) ? '—' : (CONV_FLOPS / (ms / 1000) / 1e9).toFixed(2));
  console.table(
    Object.entries(results).map(([name, r]) => ({
      engine: name,
      'conv fwd GFLOP/s': g(r.fwd),
      'conv grad-input GFLOP/s': g(r.gradInput),
      'conv grad-weight GFLOP/s': g(r.gradWeight),
      [`train step ${size}x${size} ms`]: Number.isNaN(r.stepMs) ? '—' : r.stepMs.toFixed(0),
      'images/s': Number.isNaN(r.stepMs) ? '—' : ((BATCH * 1000) / r.stepMs).toFixed(2),
      'wgcam speed-up (step)': Number.isNaN(r.stepMs) ? '—' : (r.stepMs / results.wgcam.stepMs).toFixed(2),
    })),
  );
}
