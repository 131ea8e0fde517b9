/**
 * wgcam bench [--quick] [--filter NAME] [--json FILE] [--size 64|224]
 * wgcam bench --verify [--filter NAME]
 *
 * Driven by the kernel registry the tests use: every GPU variant of every kernel, at
 * the real layer shapes of the default model (batch 16), is first validated against
 * the CPU reference, then timed with benny (waiting for the GPU each time; pipelines
 * are compiled in a warm-up that is reported apart). A sample runs the kernel as many times
 * as fill ~TARGET_SAMPLE_MS before it waits, so that on a real GPU the figure is the
 * kernel's time rather than one submit-and-wait round trip. Prints median/min/max ms,
 * GFLOP/s (or GB/s) and the ratio to the baseline variant; then whole-model figures.
 * --verify runs only the checks of the kernel tests (every variant on each kernel's awkward
 * shapes against the CPU reference), for a machine where the test suite is not installed.
 */
import { writeFileSync } from 'node:fs';
import b from 'benny';
import sharp from 'sharp';
import type { Gpu } from '../src/gpu/runtime.ts';
import { openGpu } from '../src/gpu/dawn.ts';
import { kernels } from '../src/kernels/registry.ts';
import { multiplyAddPeak, type PeakParams } from '../src/kernels/peak.ts';
import { appliesTo, defaultVariant, isSupported, toleranceAt, type AnyKernel } from '../src/kernels/kernel.ts';
import { outputErrors, randomInputs, releaseAll, runReference, stageOnGpu, runOnGpu, validate } from '../src/kernels/harness.ts';
import { GpuBackend } from '../src/tensor/gpu-backend.ts';
import { Tensor } from '../src/tensor/tensor.ts';
import { Classifier, DEFAULT_ARCH, featureShapes, parseBlocks, type Arch } from '../src/nn/model.ts';
import { Sgd } from '../src/nn/optim.ts';
import { evalStep, trainStep, type Batch } from '../src/nn/train-step.ts';
import { Explainer } from '../src/cam/explain.ts';
import { loadPhoto } from '../src/cam/photos.ts';
import { drawSample } from '../src/data/synthetic.ts';
import { Rng } from '../src/util/rng.ts';
import { createReplicas, destroyReplicas, parallelStep } from '../src/train/data-parallel.ts';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { median, medianMs, runsToFill, sampleMs } from '../src/util/timing.ts';
import { describeChoices, measureConvChoices, recorded } from '../src/nn/conv-choice.ts';
import { fail, int, parse, run, UsageError } from '../src/cli/main.ts';
import { defaultMemoryLimit } from '../src/nn/machine-memory.ts';

/** The smallest image side the default network takes (every conv needs a 3x3 input). */
const SMALLEST_SIZE = Array.from({ length: 512 }, (_, i) => i + 3).find((s) => {
  try {
    return featureShapes({ blocks: DEFAULT_ARCH, inputChannels: 3, height: s, width: s, classes: 2 });
  } catch {
    return false;
  }
})!;

const HELP = `
Usage: wgcam bench [options]      (or: npm run bench -- [options])

Validates every GPU variant of every kernel against its CPU reference, then times them at
the default model's layer shapes (batch 16), then the whole model (train step, inference,
CAM). About 13 minutes on a 2-core machine without a GPU; --quick takes a few.

Options:
  --quick          one image size (64) and one sample per figure
  --filter NAME    only kernels whose name contains NAME ("model": the whole-model figures)
  --size N         the model's image side for the shapes (default 64 and 224; at least
                   ${SMALLEST_SIZE}, the default network's smallest input)
  --json FILE      also write every figure to FILE
  --verify         only the kernel checks (every variant on awkward shapes), no timing
  --vs tfjs        head-to-head with TensorFlow.js (WebGPU and WASM) on the same adapter
  --vs onnxruntime inference against ONNX Runtime's CPU provider on the exported model
  --vs torch       training step and inference against PyTorch on the CPU (python3-torch), then
                   torchvision's ResNet-18, MobileNetV2, VGG-16 exported to ONNX: forward, Grad-CAM
  -h, --help       this help
`;
/** The options, checked before anything is set up (a typo must not cost a 13-minute run). */
function options() {
  const { values: o, positionals } = parse(
    process.argv.slice(2),
    { quick: { type: 'boolean' }, filter: { type: 'string' }, size: { type: 'string' }, json: { type: 'string' }, verify: { type: 'boolean' }, vs: { type: 'string' } },
    HELP,
  );
  if (positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}' (see --help)`);
  if (o.vs !== undefined && o.vs !== 'tfjs' && o.vs !== 'onnxruntime' && o.vs !== 'torch') throw new UsageError(`--vs ${o.vs}: the peers to compare with are tfjs, onnxruntime and torch`);
  const quick = Boolean(o.quick);
  return { ...o, quick, sizes: o.size !== undefined ? [int('size', o.size, 0, SMALLEST_SIZE)] : quick ? [64] : [64, 224] };
}
let opts: ReturnType<typeof options>;
try {
  opts = options();
} catch (e) {
  fail(e);
}
const { quick, filter, json: jsonOut, sizes: SIZES } = opts;
const BATCH = 16;
/** The CPU reference is timed only where one run costs less than this many flops. */
const CPU_REFERENCE_LIMIT = 3e8;
/** Validation runs the CPU reference at the bench shape up to this cost, else at batch 1. */
const VALIDATE_LIMIT = 4e9;
/** A timed sample repeats the kernel up to this long before waiting for the GPU (1 run on lavapipe's slow kernels). */
const TARGET_SAMPLE_MS = 20;
const MAX_RUNS_PER_SAMPLE = 256;
/** Whole-model samples: long enough that a GPU's steps outweigh one wait and a stray GC pause. */
const MODEL_SAMPLE_MS = 200;
/**
 * The targets on lavapipe at the reference layer, for each kernel's fastest validated variant
 * (the one a per-layer choice would take): the Winograd issue's 70 effective GFLOP/s for
 * forward and grad-input, the bench issue's 30 for grad-weight (no Winograd variant).
 */
const CPU_CONV_TARGET = { shape: 'N16 32->64 111x111', gflops: { conv2d_forward: 70, conv2d_grad_input: 70, conv2d_grad_weight: 30 } as Record<string, number> };
/** multiply_add_peak's shape on a CPU driver: ~1 GFLOP, tens of ms on lavapipe. */
const PEAK: PeakParams = { count: 16384, rounds: 2048 };

interface Row {
  kernel: string;
  shape: string;
  variant: string;
  medianMs: number;
  minMs: number;
  maxMs: number;
  rate: string;
  /** GFLOP/s or GB/s; 0 for a kernel without a work count. */
  gRate: number;
  ratio: number;
  runsPerSample: number;
  maxError: number | null;
  /** On a CPU driver, at the target's shape: the driver's plain multiply-add GFLOP/s right after this suite. */
  yardstick?: number;
}
const rows: Row[] = [];
const failures: string[] = [];
const wholeModel: Record<string, number | string>[] = [];

/** The layer shapes of the default model at `size`, for each kernel that has a shape. */
function shapesFor(k: AnyKernel, size: number, onCpu: boolean): { label: string; p: object }[] {
  const arch: Arch = { blocks: DEFAULT_ARCH, inputChannels: 3, height: size, width: size, classes: 2 };
  const feats = featureShapes(arch);
  const blocks = parseBlocks(DEFAULT_ARCH);
  const convs: { N: number; Ci: number; H: number; W: number; Co: number; pooled: boolean }[] = [];
  const pools: { NC: number; H: number; W: number }[] = [];
  let prev = [3, size, size];
  blocks.forEach((blk, i) => {
    if (blk.kind === 'conv') convs.push({ N: BATCH, Ci: prev[0], H: prev[1], W: prev[2], Co: feats[i][0], pooled: blocks[i + 1]?.kind === 'pool' });
    else pools.push({ NC: BATCH * prev[0], H: prev[1], W: prev[2] });
    prev = feats[i];
  });
  const [K, h, w] = feats.at(-1)!;
  // On a CPU driver, sizes over 100 time only the second conv layer (at 224 the issue's
  // reference layer: N=16, Ci=32, 111x111, Co=64) and the head: every layer's naive variant
  // would take minutes there.
  const pick = <T,>(xs: T[]) => (onCpu && size > 100 ? xs.slice(1, 2) : xs);
  const conv = pick(convs).map(({ pooled, ...c }) => ({ label: `N${c.N} ${c.Ci}->${c.Co} ${c.H}x${c.W}`, p: c, pooled }));
  switch (k.name) {
    case 'conv2d_forward':
      return conv.map((c) => ({ ...c, p: { ...c.p, relu: true } }));
    case 'conv2d_relu_maxpool':
      return conv.filter((c) => c.pooled).map((c) => ({ ...c, p: { ...c.p, keepArgmax: true } }));
    case 'conv2d_grad_input':
    case 'conv2d_grad_weight':
      return conv;
    case 'channel_sum': {
      const c = pick(convs)[0];
      return [{ label: `N${BATCH} C${c.Co} ${c.H - 2}x${c.W - 2}`, p: { N: BATCH, C: c.Co, HW: (c.H - 2) * (c.W - 2) } }];
    }
    case 'maxpool2':
    case 'maxpool2_backward':
    case 'maxpool2_relu_argmax':
    case 'maxpool2_backward_argmax':
      return pick(pools).map((p) => ({ label: `NC${p.NC} ${p.H}x${p.W}`, p }));
    case 'relu':
    case 'relu_backward':
    case 'add_into': {
      const c = pick(convs)[0];
      const len = BATCH * c.Co * (c.H - 2) * (c.W - 2);
      return [{ label: `${len} elements`, p: { len } }];
    }
    case 'gap':
    case 'gap_backward':
      return [{ label: `N${BATCH} C${K} ${h}x${w}`, p: { NC: BATCH * K, HW: h * w } }];
    case 'dense':
    case 'dense_grad_input':
    case 'dense_grad_params':
      return [{ label: `N${BATCH} ${K}->2`, p: { N: BATCH, K, J: 2 } }];
    case 'softmax':
      return [{ label: `N${BATCH} J2`, p: { N: BATCH, J: 2 } }];
    case 'softmax_xent':
      return [{ label: `N${BATCH} J2`, p: { N: BATCH, J: 2, scale: 1 / BATCH } }];
    case 'sgd':
    case 'adam': {
      const len = feats.reduce((a, [c], i) => a + (blocks[i].kind === 'conv' ? c * 9 * (i ? feats[i - 1][0] : 3) + c : 0), 0);
      return [{ label: `${len} parameters`, p: { len } }];
    }
    case 'images_to_tensor':
      return [{ label: `N${BATCH} 3x${size}x${size}`, p: { N: BATCH, C: 3, H: size, W: size } }];
    case 'cam':
      return [{ label: `N${BATCH} K${K} ${h}x${w} J2`, p: { N: BATCH, K, J: 2, HW: h * w, mode: 'contrast', contrast: 'runner-up', cls: -1, rawScale: 1 } }];
    case 'cam_upsample':
      return [{ label: `${h}x${w} -> 480x640`, p: { h, w, outH: 480, outW: 640, inH: size, inW: size, offset: 18.5, stride: 8 } }];
    case 'conv2d_general':
      // Imported graphs' convolutions at 224x224 (once, whatever --size): ResNet-18's 3x3 layers
      // (the target's shapes), its stem and a strided 3x3; MobileNetV2's 1x1 and depthwise ones.
      return size === SIZES[0] ? IMPORTED_CONVS : [];
    default:
      return [];
  }
}

const resnet3x3 = (c: number, hw: number) => ({ label: `ResNet-18 3x3 N${BATCH} ${c}->${c} ${hw}x${hw}`, p: { N: BATCH, Ci: c, Co: c, H: hw, W: hw, KH: 3, KW: 3, SH: 1, SW: 1, PT: 1, PL: 1, PB: 1, PR: 1, DH: 1, DW: 1, G: 1, act: 'relu' } });
const RESNET_3X3 = [[64, 56], [128, 28], [256, 14], [512, 7]].map(([c, hw]) => resnet3x3(c, hw));
const IMPORTED_CONVS = [
  ...RESNET_3X3,
  // padded-3x3 with each Winograd kernel inside (what a graph's measured choice runs there).
  ...RESNET_3X3.flatMap(({ label, p }) => ['winograd4', 'winograd6'].map((inner) => ({ label: `${label}, inner ${inner}`, p: { ...p, inner } }))),
  { label: `ResNet-18 stem 7x7/2 N${BATCH} 3->64 224x224`, p: { N: BATCH, Ci: 3, Co: 64, H: 224, W: 224, KH: 7, KW: 7, SH: 2, SW: 2, PT: 3, PL: 3, PB: 3, PR: 3, DH: 1, DW: 1, G: 1, act: 'relu' } },
  { label: `ResNet-18 3x3/2 N${BATCH} 64->128 56x56`, p: { N: BATCH, Ci: 64, Co: 128, H: 56, W: 56, KH: 3, KW: 3, SH: 2, SW: 2, PT: 1, PL: 1, PB: 1, PR: 1, DH: 1, DW: 1, G: 1, act: 'relu' } },
  { label: `MobileNetV2 1x1 N${BATCH} 24->144 56x56`, p: { N: BATCH, Ci: 24, Co: 144, H: 56, W: 56, KH: 1, KW: 1, SH: 1, SW: 1, PT: 0, PL: 0, PB: 0, PR: 0, DH: 1, DW: 1, G: 1, act: 'clip', lo: 0, hi: 6 } },
  { label: `MobileNetV2 depthwise 3x3 N${BATCH} 144 56x56`, p: { N: BATCH, Ci: 144, Co: 144, H: 56, W: 56, KH: 3, KW: 3, SH: 1, SW: 1, PT: 1, PL: 1, PB: 1, PR: 1, DH: 1, DW: 1, G: 144, act: 'clip', lo: 0, hi: 6 } },
];
/** The issue's target on a CPU driver: the general convolution at ResNet-18's 3x3 shapes. */
const GENERAL_CONV_TARGET = 40;

const caseOptions = quick ? { minSamples: 2, maxTime: 0.5, delay: 0 } : { minSamples: 3, maxTime: 3, delay: 0 };

async function benchKernel(gpu: Gpu, k: AnyKernel, label: string, p: object): Promise<void> {
  const rng = new Rng(1).fn;
  const work = k.flops?.(p) ?? k.bytes?.(p) ?? 0;
  const unit = k.flops ? 'GFLOP/s' : 'GB/s';
  // Validate each variant first (at batch 1 when the reference would take too long).
  const vp = work > VALIDATE_LIMIT && 'N' in p ? { ...p, N: 1 } : p;
  const vin = randomInputs(k, vp, rng);
  const want = runReference(k, vin, vp);
  const errors = new Map<string, number>();
  // Specialised variants (a 1x1 or depthwise convolution) are timed where they apply.
  // A case naming padded-3x3's inner kernel times that variant only.
  const inner = (p as { inner?: string }).inner;
  const supported = k.variants.filter((v) => isSupported(v, gpu) && appliesTo(v, p) && (!inner || v.name === 'padded-3x3'));
  const skipped = k.variants.filter((v) => !isSupported(v, gpu)).map((v) => v.name);
  if (skipped.length) console.log(`  (${k.name}: ${skipped.join(', ')} not supported by this device, left out)`);
  for (const v of supported) {
    const got = await runOnGpu(gpu, k, v, vin, vp);
    const err = Math.max(...Object.values(outputErrors(k, got, want, vin, vp)));
    errors.set(v.name, err);
    if (!(err <= toleranceAt(k, vp, v))) {
      // A wrong kernel is not timed; the run goes on and exits non-zero.
      failures.push(`${k.name}/${v.name} at ${label}: error ${err} over tolerance ${toleranceAt(k, vp, v)}`);
      console.error(`  FAILED validation: ${failures.at(-1)}`);
      process.exitCode = 1;
    }
  }
  const variants = supported.filter((v) => errors.get(v.name)! <= toleranceAt(k, vp, v));
  if (!variants.length) return;
  const inputs = randomInputs(k, p, rng);
  const bufs = stageOnGpu(gpu, k, inputs, p);
  const t0 = performance.now();
  for (const v of variants) v.run(gpu, bufs, p); // compiles every pipeline
  await gpu.sync();
  const warmMs = performance.now() - t0;
  const runs = new Map<string, number>();
  for (const v of variants) runs.set(v.name, await runsToFill(TARGET_SAMPLE_MS, MAX_RUNS_PER_SAMPLE, () => v.run(gpu, bufs, p), () => gpu.sync()));
  const cases = variants.map((v) =>
    b.add(
      v.name,
      async () => {
        for (let i = runs.get(v.name)!; i > 0; i--) v.run(gpu, bufs, p);
        await gpu.sync();
      },
      caseOptions,
    ),
  );
  if (work < CPU_REFERENCE_LIMIT) cases.push(b.add('cpu-reference', () => void runReference(k, inputs, p), caseOptions));
  const summary = await b.suite(`${k.name} ${label}`, ...cases, b.cycle(() => ''));
  releaseAll(gpu, bufs);
  // The yardstick is taken just after the suite, on the same host load.
  const yardstick = gpu.onCpu && k.name in CPU_CONV_TARGET.gflops && label.startsWith(CPU_CONV_TARGET.shape) ? await multiplyAddRate(gpu) : undefined;
  const perRun = (r: (typeof summary.results)[number]) => 1000 / (runs.get(r.name) ?? 1);
  const base = summary.results[0].details.median * perRun(summary.results[0]);
  for (const r of summary.results) {
    const med = r.details.median * perRun(r);
    rows.push({
      kernel: k.name,
      shape: label,
      variant: r.name,
      medianMs: med,
      minMs: r.details.min * perRun(r),
      maxMs: r.details.max * perRun(r),
      rate: work ? `${(work / (med / 1000) / 1e9).toFixed(2)} ${unit}` : '',
      gRate: work / (med / 1000) / 1e9,
      ratio: base / med,
      runsPerSample: runs.get(r.name) ?? 1,
      maxError: errors.get(r.name) ?? null,
      yardstick,
    });
  }
  console.log(`  (warm-up incl. pipeline compilation: ${warmMs.toFixed(0)} ms)`);
}

/**
 * The driver's plain multiply-add rate now, in GFLOP/s (median of 5 runs of
 * multiply_add_peak, validated first). On a CPU driver it moves with the host's load (from
 * ~45 down to ~20 on the 2-core machine of the README); a kernel's rate over it is the part
 * the kernel controls.
 */
async function multiplyAddRate(gpu: Gpu): Promise<number | undefined> {
  const k = multiplyAddPeak;
  const v = k.variants[0];
  const check = k.cases.at(-1)!;
  const errors = await validate(gpu, k, v, check, new Rng(5).fn);
  if (!Object.values(errors).every((e) => e <= toleranceAt(k, check))) {
    failures.push(`${k.name}/${v.name}: over tolerance, not timed`);
    process.exitCode = 1;
    return undefined;
  }
  const bufs = stageOnGpu(gpu, k, randomInputs(k, PEAK, new Rng(5).fn), PEAK);
  const run = () => v.run(gpu, bufs, PEAK);
  const sync = () => gpu.sync();
  await sampleMs(1, run, sync); // warm-up
  const ms = await medianMs(5, 1, run, sync);
  releaseAll(gpu, bufs);
  return k.flops!(PEAK) / (ms / 1000) / 1e9;
}

function syntheticBatch(size: number, n: number): Batch {
  const rng = new Rng(3);
  const pixels = new Uint8Array(n * size * size * 3);
  for (let i = 0; i < n; i++) pixels.set(drawSample(rng, i % 2 ? 'disc' : 'cross', size).pixels, i * size * size * 3);
  return { pixels, labels: Float32Array.from({ length: n }, (_, i) => i % 2), n };
}

async function benchModel(gpu: Gpu, size: number): Promise<void> {
  const backend = new GpuBackend(gpu);
  const arch: Arch = { blocks: DEFAULT_ARCH, inputChannels: 3, height: size, width: size, classes: 2 };
  const model = new Classifier(backend, arch, new Rng(1));
  const opt = new Sgd(backend, model.parameters(), { lr: 0.01 });
  const stats = Tensor.zeros(backend, [4]).keep();
  const batch = syntheticBatch(size, BATCH);
  // Warm-up: both paths compile their own pipelines (inference pools without the argmax).
  trainStep(model, opt, batch, stats);
  evalStep(model, batch, stats);
  await gpu.sync();
  const before = { ...gpu.counters };
  trainStep(model, opt, batch, stats);
  await gpu.sync();
  const dispatches = gpu.counters.dispatches - before.dispatches;
  const submits = gpu.counters.submits - before.submits;
  // The direct kernels, then the per-layer choice a training run would measure, samples in turns.
  const measured = await measureConvChoices(gpu, arch, BATCH);
  console.log(`  ${size}x${size} kernels chosen by measurement: ${describeChoices(measured)}`);
  const kernelsOf = { direct: [], chosen: recorded(measured) };
  const ms: Record<string, number[]> = {};
  const sync = () => gpu.sync();
  for (const [what, run] of [
    ['train step', () => trainStep(model, opt, batch, stats)],
    ['inference', () => evalStep(model, batch, stats)],
  ] as const) {
    const runs: Record<string, number> = {};
    for (const [k, choices] of Object.entries(kernelsOf)) {
      backend.useConvChoices(choices);
      await sampleMs(1, run, sync); // the chosen kernels' pipelines
      runs[k] = await runsToFill(MODEL_SAMPLE_MS, MAX_RUNS_PER_SAMPLE, run, sync);
    }
    for (let s = 0; s < (quick ? 1 : 3); s++) {
      for (const [k, choices] of Object.entries(kernelsOf)) {
        backend.useConvChoices(choices);
        (ms[`${what} ${k}`] ??= []).push(await sampleMs(runs[k], run, sync));
      }
    }
  }
  backend.useConvChoices([]);
  const [trainMs, inferMs] = [median(ms['train step direct']), median(ms['inference direct'])];
  const [trainChosen, inferChosen] = [median(ms['train step chosen']), median(ms['inference chosen'])];
  wholeModel.push({ what: `train step ${size}x${size}, batch ${BATCH}`, ms: trainMs, images_per_s: (BATCH * 1000) / trainMs, dispatches_per_step: dispatches, command_buffers_per_step: submits });
  wholeModel.push({ what: `train step ${size}x${size}, batch ${BATCH}, per-layer kernel choice`, ms: trainChosen, images_per_s: (BATCH * 1000) / trainChosen, vs_direct: `${(trainMs / trainChosen).toFixed(2)}x` });
  wholeModel.push({ what: `inference ${size}x${size}, batch ${BATCH}`, ms: inferMs, images_per_s: (BATCH * 1000) / inferMs });
  wholeModel.push({ what: `inference ${size}x${size}, batch ${BATCH}, per-layer kernel choice`, ms: inferChosen, images_per_s: (BATCH * 1000) / inferChosen, vs_direct: `${(inferMs / inferChosen).toFixed(2)}x` });
  if (size === 224) await benchCamLatency(gpu, backend, model);
  else await benchDataParallel(arch, batch);
  stats.dispose();
  opt.dispose();
  model.dispose();
}

/** Images/s of a data-parallel step on 2 logical devices (same adapter) vs 1. */
async function benchDataParallel(arch: Arch, batch: Batch): Promise<void> {
  for (const devices of [1, 2]) {
    const replicas = await createReplicas(devices, (backend) => {
      const model = new Classifier(backend, arch, new Rng(1));
      return { model, opt: new Sgd(backend, model.parameters(), { lr: 0.01 }) };
    });
    await parallelStep(replicas, batch, batch.n);
    const reps = quick ? 2 : 4;
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) await parallelStep(replicas, batch, batch.n);
    await Promise.all(replicas.map((r) => r.gpu.sync()));
    const ms = (performance.now() - t0) / reps;
    wholeModel.push({ what: `data-parallel train step ${arch.width}x${arch.height}, batch ${batch.n}, ${devices} device(s)`, ms, images_per_s: (batch.n * 1000) / ms });
    destroyReplicas(replicas);
  }
}

/** One 224x224 photo end to end: decode, forward, CAM, upsample, PNG; and the CAM kernel's share. */
async function benchCamLatency(gpu: Gpu, backend: GpuBackend, model: Classifier): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'wgcam-bench-'));
  const path = join(dir, 'photo.jpg');
  const s = drawSample(new Rng(9), 'disc', 224);
  await sharp(s.pixels, { raw: { width: 224, height: 224, channels: 3 } }).jpeg().toFile(path);
  const input = { height: 224, width: 224, channels: 3, resize: 'fill' as const, scale: '1/255' as const };
  const explainer = new Explainer(backend, model, { limit: defaultMemoryLimit() });
  const opts = { mode: 'contrast' as const, contrast: 'runner-up' as const, cls: -1, rawScale: 1, allClasses: false };
  const once = async () => {
    const { photo, input: px } = await loadPhoto(path, input);
    const [r] = await explainer.explain([px], [photo], opts);
    await sharp(r.cam, { raw: { width: r.mapWidth, height: r.mapHeight, channels: 1 } }).png().toBuffer();
  };
  await once();
  const reps = 3;
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) await once();
  const total = (performance.now() - t0) / reps;
  const k = kernels.find((k) => k.name === 'cam')!;
  const [K, h, w] = featureShapes(model.arch).at(-1)!;
  const p = { N: 1, K, J: 2, HW: h * w, mode: 'contrast', contrast: 'runner-up', cls: -1, rawScale: 1 };
  const bufs = stageOnGpu(gpu, k, randomInputs(k, p, new Rng(2).fn), p);
  const runCam = () => k.variants[0].run(gpu, bufs, p);
  const sync = () => gpu.sync();
  await sampleMs(1, runCam, sync); // warm-up
  const camMs = await sampleMs(await runsToFill(TARGET_SAMPLE_MS, MAX_RUNS_PER_SAMPLE, runCam, sync), runCam, sync);
  releaseAll(gpu, bufs);
  wholeModel.push({ what: 'CAM end to end, one 224x224 photo (decode, forward, CAM, upsample, PNG)', ms: total, cam_kernel_ms: camMs, cam_kernel_share: `${((100 * camMs) / total).toFixed(1)}%` });
}

/** The lavapipe targets, for the conv kernels this run timed at the reference layer. */
function reportCpuTarget(gpu: Gpu): void {
  const lines = Object.entries(CPU_CONV_TARGET.gflops).flatMap(([name, gflops]) => {
    const timed = rows.filter((r) => r.kernel === name && r.shape.startsWith(CPU_CONV_TARGET.shape) && r.variant !== 'cpu-reference');
    if (!timed.length) return [];
    const best = timed.reduce((a, b) => (b.gRate > a.gRate ? b : a));
    const byDefault = timed.find((r) => r.variant === defaultVariant(kernels.find((k) => k.name === name)!, gpu).name)!;
    const yardstick = best.yardstick ? ` (${multiplyAddPeak.name} just after: ${best.yardstick.toFixed(1)} GFLOP/s, this kernel ${(best.gRate / best.yardstick).toFixed(2)}x of it)` : '';
    const other = best === byDefault ? '' : `; the default, ${byDefault.variant}: ${byDefault.gRate.toFixed(1)}`;
    return [`  ${name} >= ${gflops}: fastest ${best.variant} ${best.gRate.toFixed(1)} GFLOP/s, ${best.gRate >= gflops ? 'met' : 'NOT met'}${other}${yardstick}`];
  });
  if (lines.length) console.log(`Targets on a CPU driver at ${CPU_CONV_TARGET.shape}, Co=64 (effective GFLOP/s: direct-convolution FLOPs / time):\n${lines.join('\n')}\n`);
  // Imported graphs: the default (specialised) variant at ResNet-18's 3x3 shapes.
  // Stride 1 and 2; a shape's rows with each inner kernel count as one shape.
  const general = rows.filter((r) => r.kernel === 'conv2d_general' && r.shape.startsWith('ResNet-18 3x3') && r.variant !== 'cpu-reference');
  const shapeOf = (r: Row) => r.shape.replace(/, inner \w+/, '');
  const shapes = [...new Set(general.map(shapeOf))];
  if (shapes.length) {
    const best = shapes.map((s) => general.filter((r) => shapeOf(r) === s).reduce((a, b) => (b.gRate > a.gRate ? b : a)));
    const worst = best.reduce((a, b) => (b.gRate < a.gRate ? b : a));
    const innerOf = (r: Row) => /, inner (\w+)/.exec(r.shape)?.[1];
    const named = (r: Row) => `${shapeOf(r).slice('ResNet-18 '.length)} ${r.variant}${innerOf(r) ? ` (${innerOf(r)})` : ''} ${r.gRate.toFixed(1)}`;
    console.log(`Target on a CPU driver, conv2d_general at ResNet-18's 3x3 shapes >= ${GENERAL_CONV_TARGET} GFLOP/s: ${best.map(named).join('; ')} -> ${worst.gRate >= GENERAL_CONV_TARGET ? 'met' : 'NOT met'} (slowest ${worst.gRate.toFixed(1)})\n`);
  }
}

/** Every supported variant on every awkward case of every kernel; exits 1 if any is over tolerance. */
async function verify(gpu: Gpu): Promise<void> {
  let checked = 0;
  for (const k of kernels) {
    if (filter && !k.name.includes(filter)) continue;
    for (const v of k.variants) {
      if (!isSupported(v, gpu)) {
        console.log(`${k.name}/${v.name}: not supported by this device, not checked`);
        continue;
      }
      let worst = 0;
      for (const p of k.cases) {
        const errors = await validate(gpu, k, v, p, new Rng(7).fn);
        for (const [name, err] of Object.entries(errors)) {
          checked++;
          if (!(err <= toleranceAt(k, p))) failures.push(`${k.name}/${v.name} ${JSON.stringify(p)}: ${name} relative error ${err} over ${toleranceAt(k, p)}`);
          else worst = Math.max(worst, err);
        }
      }
      console.log(`${k.name}/${v.name}: ${k.cases.length} cases, worst passing relative error ${worst.toExponential(1)}`);
    }
  }
  for (const f of failures) console.log(`FAIL ${f}`);
  console.log(`verify: ${checked - failures.length} of ${checked} outputs within tolerance`);
  if (failures.length) process.exitCode = 1;
}

async function main(): Promise<void> {
  const gpu = await openGpu();
  if (opts.verify) {
    console.log(`wgcam kernel check on ${gpu.adapterName}\n`);
    try {
      await verify(gpu);
    } finally {
      gpu.destroy();
    }
    return;
  }
  console.log(`wgcam bench on ${gpu.adapterName}${quick ? ' (quick)' : ''}\n`);
  try {
    for (const size of SIZES) {
      for (const k of kernels) {
        if (filter && !k.name.includes(filter)) continue;
        for (const { label, p } of shapesFor(k, size, gpu.onCpu)) await benchKernel(gpu, k, `${label} (${size}px model)`, p);
      }
    }
    if (!filter || 'model'.includes(filter)) for (const size of SIZES) await benchModel(gpu, size);
  } finally {
    gpu.destroy();
  }
  const ms = (v: number) => (v >= 100 ? v.toFixed(0) : v.toPrecision(3));
  if (rows.length) {
    console.log('\nKernels (median of the samples; ratio = speed relative to the first, baseline variant):');
    console.table(
      rows.map((r) => ({
        kernel: r.kernel,
        shape: r.shape,
        variant: r.variant,
        'median ms': ms(r.medianMs),
        'min ms': ms(r.minMs),
        'max ms': ms(r.maxMs),
        rate: r.rate,
        'x baseline': r.ratio.toFixed(2),
        'runs/sample': r.runsPerSample,
        'max rel err': r.maxError === null ? '' : r.maxError.toExponential(1),
      })),
    );
  }
  if (gpu.onCpu) reportCpuTarget(gpu);
  if (wholeModel.length) {
    console.log('Whole model (default architecture):');
    console.table(wholeModel.map((m) => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, typeof v === 'number' ? Number(v.toPrecision(4)) : v]))));
  }
  for (const f of failures) console.log(`FAILED validation, not timed: ${f}`);
  if (jsonOut) {
    writeFileSync(jsonOut, JSON.stringify({ date: new Date().toISOString(), quick, kernels: rows, model: wholeModel, failures }, null, 2));
    console.log(`saved ${jsonOut}`);
  }
}

run(async () => {
  if (opts.vs === 'tfjs') await (await import('./vs-tfjs.ts')).vsTfjs({ size: opts.size === undefined ? 64 : SIZES[0], quick });
  else if (opts.vs === 'onnxruntime') {
    const peer = await import('./vs-onnxruntime.ts');
    await peer.vsOnnxRuntime({ sizes: opts.size === undefined ? [64, 224] : SIZES, quick });
    await peer.vsOnnxRuntimeImported({ quick });
  }
  else if (opts.vs === 'torch') {
    await (await import('./vs-torch.ts')).vsTorch({ sizes: opts.size === undefined ? [64, 224] : SIZES, quick });
    await (await import('./vs-torch-imported.ts')).vsTorchImported({ quick });
  }
  else await main();
  return process.exitCode === undefined ? 0 : Number(process.exitCode);
});
