/**
 * The CAM-ready classifier: 3x3 valid convs (+ReLU) and 2x2 max-pools, then global
 * average pooling, then one dense layer straight to the classes. Described by a
 * JSON-serializable Arch that the model file stores.
 *
 * Arch strings: blocks separated by '-', `cN` = conv with N output channels + ReLU,
 * `p` = 2x2 max-pool; GAP and the dense layer are always appended.
 * Example (the default): "c32-p-c64-p-c128-p-c256".
 */
import type { Backend } from '../tensor/backend.ts';
import type { Tensor } from '../tensor/tensor.ts';
import type { Rng } from '../util/rng.ts';
import { conv2dReluMaxPool } from '../autograd/ops.ts';
import { Conv2d, Dense, GlobalAvgPool, MaxPool2d, Sequential } from './layers.ts';

export const DEFAULT_ARCH = 'c32-p-c64-p-c128-p-c256';

export interface Arch {
  /** Compact block string, e.g. "c32-p-c64-p-c128-p-c256". */
  blocks: string;
  inputChannels: number;
  height: number;
  width: number;
  classes: number;
}

export type Block = { kind: 'conv'; channels: number } | { kind: 'pool' };

/** An arch string as the model file stores it: lower case, no spaces ("C32 - p" is "c32-p"). */
export const normalizeBlocks = (spec: string) => spec.split('-').map((s) => s.trim().toLowerCase()).join('-');

export function parseBlocks(spec: string): Block[] {
  const parts = normalizeBlocks(spec).split('-');
  if (parts.length === 0 || parts[0] === '') throw new Error(`arch '${spec}': empty`);
  const blocks = parts.map((b): Block => {
    if (b === 'p') return { kind: 'pool' };
    const m = /^c(\d+)$/.exec(b);
    if (!m || +m[1] < 1 || +m[1] > 4096) throw new Error(`arch '${spec}': '${b}' is neither cN (conv, 1 <= N <= 4096) nor p (pool)`);
    return { kind: 'conv', channels: +m[1] };
  });
  if (!blocks.some((b) => b.kind === 'conv')) throw new Error(`arch '${spec}': needs at least one conv block`);
  if (blocks[blocks.length - 1].kind !== 'conv') throw new Error(`arch '${spec}': must end with a conv block (CAM reads the last conv features)`);
  return blocks;
}

/** The blocks up to and including conv layer `conv` (1-based): "c32-p-c64-p-c128", 2 -> "c32-p-c64". */
export function blocksThroughConv(blocks: string, conv: number): string {
  const parts = normalizeBlocks(blocks).split('-');
  let seen = 0;
  const end = parts.findIndex((b) => b !== 'p' && ++seen === conv);
  if (end < 0) throw new Error(`conv layer ${conv}: '${blocks}' has conv layers 1..${seen}`);
  return parts.slice(0, end + 1).join('-');
}

/** Shape [C,H,W] after each block, or an error naming the block where the image becomes too small. */
export function featureShapes(arch: Arch): [number, number, number][] {
  let [c, h, w] = [arch.inputChannels, arch.height, arch.width];
  return parseBlocks(arch.blocks).map((b, i) => {
    if (b.kind === 'conv') {
      if (h < 3 || w < 3) throw new Error(`arch '${arch.blocks}': a ${arch.width}x${arch.height} input is only ${w}x${h} at block ${i + 1}, too small for a 3x3 conv`);
      [c, h, w] = [b.channels, h - 2, w - 2];
    } else {
      if (h < 2 || w < 2) throw new Error(`arch '${arch.blocks}': a ${arch.width}x${arch.height} input is only ${w}x${h} at block ${i + 1}, too small for a 2x2 pool`);
      [h, w] = [Math.floor(h / 2), Math.floor(w / 2)];
    }
    return [c, h, w];
  });
}

export class Classifier {
  /** Everything up to the last conv: its output is the CAM's feature map F[k,h,w]. */
  readonly features: Sequential;
  readonly gap = new GlobalAvgPool();
  readonly fc: Dense;

  constructor(
    readonly backend: Backend,
    readonly arch: Arch,
    rng: Rng,
  ) {
    const shapes = featureShapes(arch);
    let c = arch.inputChannels;
    let convs = 0;
    let pools = 0;
    const layers = parseBlocks(arch.blocks).map((b): [string, Conv2d | MaxPool2d] => {
      if (b.kind === 'pool') return [`pool${++pools}`, new MaxPool2d()];
      const conv = new Conv2d(backend, c, b.channels, rng);
      c = b.channels;
      return [`conv${++convs}`, conv];
    });
    this.features = new Sequential(layers);
    this.fc = new Dense(backend, shapes[shapes.length - 1][0], arch.classes, rng);
  }

  /** logits [N,classes] and the last conv features [N,K,h,w]. */
  forwardWithFeatures(x: Tensor): { logits: Tensor; features: Tensor } {
    const features = this.forwardFeatures(x);
    return { logits: this.fc.forward(this.gap.forward(features)), features };
  }

  forward(x: Tensor): Tensor {
    return this.forwardWithFeatures(x).logits;
  }

  /** The feature layers in order, each conv with ReLU and the pool after it as one fused op. */
  private forwardFeatures(x: Tensor): Tensor {
    return this.runLayers(x, 0, this.features.layers.length);
  }

  /** The output of conv layer `conv` (1-based) after its ReLU, before any pool: [N,K,h,w]. */
  forwardTo(x: Tensor, conv: number): Tensor {
    return this.runLayers(x, 0, this.convLayerIndex(conv) + 1);
  }

  /** The rest of the network from conv layer `conv`'s output `a` (what forwardTo gave). */
  forwardFrom(a: Tensor, conv: number): { logits: Tensor; features: Tensor } {
    const features = this.runLayers(a, this.convLayerIndex(conv) + 1, this.features.layers.length);
    return { logits: this.fc.forward(this.gap.forward(features)), features };
  }

  /** How many conv layers the network has. */
  get convCount(): number {
    return this.features.layers.filter(([, l]) => l instanceof Conv2d).length;
  }

  private convLayerIndex(conv: number): number {
    let seen = 0;
    const i = this.features.layers.findIndex(([, l]) => l instanceof Conv2d && ++seen === conv);
    if (i < 0) throw new Error(`conv layer ${conv}: the network has conv layers 1..${this.convCount}`);
    return i;
  }

  /**
   * Feature layers [from, to) on h; a conv with ReLU and the pool after it (both in range) run
   * as one fused op.
   */
  private runLayers(x: Tensor, from: number, to: number): Tensor {
    const layers = this.features.layers.map(([, layer]) => layer);
    let h = x;
    for (let i = from; i < to; i++) {
      const layer = layers[i];
      const input = h;
      if (layer instanceof Conv2d && layer.withRelu && i + 1 < to && layers[i + 1] instanceof MaxPool2d) {
        h = conv2dReluMaxPool(h, layer.weight, layer.bias);
        i++;
      } else {
        h = layer.forward(h);
      }
      // Without a backward pass nothing needs an intermediate activation once the next one
      // exists: freeing it keeps inference at two activations, however deep the network.
      if (input !== x && !h.node) input.dispose();
    }
    return h;
  }

  /** Named parameters in file order: conv1.weight, conv1.bias, ..., fc.weight, fc.bias. */
  parameters(): [string, Tensor][] {
    return [
      ...this.features.layers.flatMap(([name, layer]) => layer.parameters().map(([n, t]): [string, Tensor] => [`${name}.${n}`, t])),
      ...this.fc.parameters().map(([n, t]): [string, Tensor] => [`fc.${n}`, t]),
    ];
  }

  dispose(): void {
    for (const [, t] of this.parameters()) t.dispose();
  }
}

/**
 * The default architecture for an input size: the default blocks, cut after the last
 * conv that still leaves a map of at least 3x3 (so 28x28 IDX digits get
 * c32-p-c64-p-c128 instead of an error).
 */
export function defaultArchFor(inputChannels: number, height: number, width: number): string {
  const blocks = DEFAULT_ARCH.split('-');
  for (let n = blocks.length; n > 0; n--) {
    if (!blocks[n - 1].startsWith('c')) continue;
    const spec = blocks.slice(0, n).join('-');
    try {
      const [, h, w] = featureShapes({ blocks: spec, inputChannels, height, width, classes: 2 }).at(-1)!;
      if (h >= 3 && w >= 3) return spec;
    } catch {
      // too small: try a shorter one
    }
  }
  return blocks[0];
}
