/**
 * Which 3x3 kernel each padded 3x3 convolution of an imported graph runs (the `padded-3x3`
 * variant runs one of wgcam's 3x3 kernels, the direct ones or Winograd, reading zeros past the
 * edge where the padding is 1 all round, else on a padded copy), chosen
 * as wgcam's own training chooses: timed once per adapter, shape and batch (nn/conv-choice.ts),
 * then remembered in the conv-choice cache (nn/conv-choice-cache.ts), so the same command on
 * the same machine runs the same kernels. On lavapipe Winograd F(4x4) makes ResNet-18's forward
 * pass about 1.5x faster (docs/performance.md).
 */
import type { Gpu } from '../gpu/runtime.ts';
import { convShapeKey } from '../kernels/conv-choice-key.ts';
import { conv2dForward } from '../kernels/conv2d.ts';
import { paddedInnerShape, type GeneralConvParams } from '../kernels/conv-general.ts';
import type { ConvChoiceCache } from '../nn/conv-choice-cache.ts';
import { timeVariants, type MeasuredChoice } from '../nn/conv-choice.ts';
import { Rng } from '../util/rng.ts';
import type { Graph } from './graph.ts';
import { planGraph } from './plan.ts';

export interface GraphConvChoices {
  /** For planGraph's `innerConv`: the variant a convolution's padded 3x3 kernel runs. */
  innerConv: (p: GeneralConvParams) => string | undefined;
  /** How many convolution shapes were timed now (not remembered). */
  timed: number;
}

/**
 * Times (or recalls from `cache`) the inner kernel of each distinct padded 3x3 convolution of
 * `graph` at `batch`. `warn` hears one line before any timing, and one if the cache cannot be
 * written (the choices still hold for this run).
 */
export async function chooseGraphConvs(
  gpu: Gpu,
  graph: Graph,
  batch: number,
  o: { cache?: ConvChoiceCache; warn?: (line: string) => void } = {},
): Promise<GraphConvChoices> {
  // A graph whose batch is fixed runs at that batch only.
  const fixed = graph.inputs[0].dims[0];
  if (typeof fixed === 'number') batch = fixed;
  const shapes = new Map<string, NonNullable<ReturnType<typeof paddedInnerShape>>>();
  for (const step of planGraph(graph, batch).steps) {
    const inner = step.conv && paddedInnerShape(gpu, step.conv);
    if (inner) shapes.set(convShapeKey(inner), inner);
  }
  const remembered = new Map([...shapes.keys()].map((key) => [key, o.cache?.lookup(gpu, conv2dForward.name, key, batch)]));
  const untimed = [...remembered.values()].filter((r) => !r).length;
  if (untimed) o.warn?.(`timing the 3x3 kernels of ${untimed} convolution shape${untimed > 1 ? 's' : ''} at batch ${batch} once for this adapter${o.cache ? ` (kept in ${o.cache.path})` : ''}`);
  const rng = new Rng(1).fn;
  const chosen = new Map<string, string>();
  const timed: MeasuredChoice[] = [];
  for (const [key, shape] of shapes) {
    const before = remembered.get(key);
    const choice = before ?? (await timeVariants(gpu, conv2dForward, shape, rng));
    if (!before) timed.push({ kernel: conv2dForward.name, shape: key, layer: 0, role: 'forward', ...choice });
    chosen.set(key, choice.variant);
  }
  if (timed.length && o.cache) {
    try {
      o.cache.store(gpu, batch, timed);
    } catch (e) {
      o.warn?.(`could not keep the measured conv kernels for later runs (${(e as Error).message}); the next run times them again`);
    }
  }
  return {
    innerConv: (p) => {
      const inner = paddedInnerShape(gpu, p);
      return inner ? chosen.get(convShapeKey(inner)) : undefined;
    },
    timed: timed.length,
  };
}
