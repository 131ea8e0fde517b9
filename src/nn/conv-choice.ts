/**
 * Which variant each convolution of a training run uses, chosen by measured time: once per
 * adapter and layer shape when a run starts, then kept in every checkpoint, so that --resume
 * runs the very kernels the run started with (bit-exact, like the seed). Candidates: each
 * kernel's default and the variants that run only by such a choice (Winograd).
 */
import type { Gpu } from '../gpu/runtime.ts';
import { conv2dForward, conv2dGradInput, conv2dReluMaxPool, type ConvShape } from '../kernels/conv2d.ts';
import { CHOOSABLE_KERNELS, convShapeKey, type ConvChoice } from '../kernels/conv-choice-key.ts';
import { randomInputs, releaseAll, stageOnGpu } from '../kernels/harness.ts';
import { defaultVariant, isSupported, type AnyKernel, type GpuVariant } from '../kernels/kernel.ts';
import { Rng } from '../util/rng.ts';
import { median, sampleMs } from '../util/timing.ts';
import { featureShapes, parseBlocks, type Arch } from './model.ts';

/** One convolution a training step runs: the conv layer (1-based), the kernel and its parameters. */
export interface StepConv {
  layer: number;
  kernel: AnyKernel;
  params: ConvShape & { relu?: boolean; keepArgmax?: boolean };
  /** How the choice reads in a log line. */
  role: 'forward' | 'grad-input';
}

/** The choosable convolutions of one training step of `arch` at `batch` images, each shape once. */
export function stepConvs(arch: Arch, batch: number): StepConv[] {
  const blocks = parseBlocks(arch.blocks);
  const shapes = featureShapes(arch);
  const out: StepConv[] = [];
  let layer = 0;
  blocks.forEach((b, i) => {
    if (b.kind !== 'conv') return;
    layer++;
    const [Ci, H, W] = i === 0 ? [arch.inputChannels, arch.height, arch.width] : shapes[i - 1];
    const s: ConvShape = { N: batch, Ci, H, W, Co: b.channels };
    const pooled = blocks[i + 1]?.kind === 'pool';
    out.push(pooled ? { layer, kernel: conv2dReluMaxPool, params: { ...s, keepArgmax: true }, role: 'forward' } : { layer, kernel: conv2dForward, params: { ...s, relu: true }, role: 'forward' });
    // The first layer's input is the image: no gradient flows to it.
    if (layer > 1) out.push({ layer, kernel: conv2dGradInput, params: s, role: 'grad-input' });
  });
  const seen = new Set<string>();
  return out.filter((c) => {
    const key = `${c.kernel.name} ${convShapeKey(c.params)}`;
    return !seen.has(key) && seen.add(key);
  });
}

/** The variants worth timing for a kernel on this device: its default, then the choice-only ones. */
export function candidates(k: AnyKernel, gpu: Gpu): GpuVariant<unknown>[] {
  return [defaultVariant(k, gpu), ...k.variants.filter((v) => v.byMeasuredChoice && isSupported(v, gpu))];
}

/** A measured choice with the times behind it (ms per run, by variant). */
export interface MeasuredChoice extends ConvChoice {
  layer: number;
  role: StepConv['role'];
  ms: Record<string, number>;
  /** Taken from an earlier measurement on this adapter (nn/conv-choice-cache.ts), not timed now. */
  remembered?: boolean;
}

/** An earlier measurement of a convolution (kernel name, shape key) at a batch size, if there is one. */
export type RememberedChoice = (kernel: string, shape: string, batch: number) => Pick<MeasuredChoice, 'variant' | 'ms'> | undefined;

/** Samples per variant, taken in turns (the host's load drifts: compare within one round). */
const ROUNDS = 3;
/** Leave the default only for a clear win: timings on a CPU driver swing by 10% and more. */
const MARGIN = 0.93;

/**
 * Times every candidate of one convolution (random inputs of its real shape, the default
 * first, samples in turns) and picks the fastest; the default stays unless clearly beaten.
 */
export async function timeVariants(gpu: Gpu, kernel: AnyKernel, params: unknown, rng: () => number): Promise<Pick<MeasuredChoice, 'variant' | 'ms'>> {
  const variants = candidates(kernel, gpu);
  const ms: Record<string, number[]> = Object.fromEntries(variants.map((v) => [v.name, []]));
  if (variants.length > 1) {
    const bufs = stageOnGpu(gpu, kernel, randomInputs(kernel, params, rng), params);
    const sync = () => gpu.sync();
    for (const v of variants) await sampleMs(1, () => v.run(gpu, bufs, params), sync); // compile, allocate
    for (let r = 0; r < ROUNDS; r++) for (const v of variants) ms[v.name].push(await sampleMs(1, () => v.run(gpu, bufs, params), sync));
    releaseAll(gpu, bufs);
  }
  const typical = Object.fromEntries(Object.entries(ms).map(([name, t]) => [name, median(t) ?? NaN]));
  const base = variants[0].name;
  const fastest = variants.reduce((best, v) => (typical[v.name] < typical[best.name] ? v : best), variants[0]);
  return { variant: typical[fastest.name] < MARGIN * typical[base] ? fastest.name : base, ms: typical };
}

/**
 * Times every candidate of every convolution of a training step (timeVariants); `onProgress`
 * hears each one done. Convolutions that `remembered` knows are not timed again.
 */
export async function measureConvChoices(gpu: Gpu, arch: Arch, batch: number, onProgress?: (done: number, total: number) => void, remembered?: RememberedChoice): Promise<MeasuredChoice[]> {
  const convs = stepConvs(arch, batch);
  const rng = new Rng(1).fn;
  const out: MeasuredChoice[] = [];
  for (const [i, c] of convs.entries()) {
    const shape = convShapeKey(c.params);
    const before = remembered?.(c.kernel.name, shape, batch);
    out.push({ layer: c.layer, role: c.role, kernel: c.kernel.name, shape, ...(before ?? (await timeVariants(gpu, c.kernel, c.params, rng))), ...(before ? { remembered: true } : {}) });
    onProgress?.(i + 1, convs.length);
  }
  return out;
}

/** Every convolution of a step on `variant` where the device runs it, else on its default. */
export function fixedChoices(gpu: Gpu, arch: Arch, variant: string): ConvChoice[] {
  return stepConvs(arch, 1).map((c) => {
    const v = c.kernel.variants.find((x) => x.name === variant);
    return { kernel: c.kernel.name, shape: convShapeKey(c.params), variant: v && isSupported(v, gpu) ? variant : defaultVariant(c.kernel, gpu).name };
  });
}

/**
 * The choices that leave their kernel's default on this device, as sorted lines
 * "kernel shape variant": two sets of choices run the same kernels where these agree.
 */
export function departures(choices: readonly ConvChoice[], gpu: Gpu): string[] {
  return choices
    .filter((c) => {
      const k = CHOOSABLE_KERNELS.find((x) => x.name === c.kernel);
      return !k || c.variant !== defaultVariant(k, gpu).name;
    })
    .map((c) => `${c.kernel} ${c.shape} ${c.variant}`)
    .sort();
}

/** The choices as a checkpoint keeps them. */
export const recorded = (choices: readonly ConvChoice[]): ConvChoice[] => choices.map(({ kernel, shape, variant }) => ({ kernel, shape, variant }));

/**
 * Checks recorded choices against this device: those it cannot run (a checkpoint from an
 * adapter with subgroups resumed on one without) are dropped, and named in the result.
 */
export function usableChoices(choices: readonly ConvChoice[], gpu: Gpu): { usable: ConvChoice[]; dropped: ConvChoice[] } {
  const usable: ConvChoice[] = [];
  const dropped: ConvChoice[] = [];
  for (const c of choices) {
    const v = CHOOSABLE_KERNELS.find((k) => k.name === c.kernel)?.variants.find((x) => x.name === c.variant);
    (v && isSupported(v, gpu) ? usable : dropped).push(c);
  }
  return { usable, dropped };
}

/** One line: each layer's choice, with the time against the default where it is not the default. */
export function describeChoices(choices: readonly MeasuredChoice[]): string {
  const byLayer = new Map<number, string[]>();
  for (const c of choices) {
    const base = Object.keys(c.ms)[0];
    const gain = c.variant === base || !(c.ms[c.variant] >= 0 && c.ms[base] >= 0) ? '' : ` ${c.ms[c.variant].toFixed(1)} vs ${c.ms[base].toFixed(1)} ms`;
    byLayer.set(c.layer, [...(byLayer.get(c.layer) ?? []), `${c.role} ${c.variant}${gain}`]);
  }
  return [...byLayer].map(([layer, parts]) => `conv${layer} ${parts.join(', ')}`).join('; ');
}
