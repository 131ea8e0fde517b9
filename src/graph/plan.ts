/**
 * A graph planned for a batch size: every tensor's shape inferred, shape arithmetic folded
 * (fold.ts), batch-norms folded into the convolutions before them, activations and zero Pads
 * fused into them, and one step per remaining node naming the kernel it runs. Also each
 * tensor's receptive field (where a map cell sits on the input) and each step's FLOPs, which
 * `wgcam info` lists and the CAM alignment reads. Anything wgcam cannot run is one line naming
 * the op, the node and what is supported.
 */
import { channelSum } from '../kernels/conv2d.ts';
import { conv2dGeneral, conv2dGeneralGradInput, conv2dGeneralGradWeight, convOutputSize, type ConvActivation, type GeneralConvParams } from '../kernels/conv-general.ts';
import { dense, denseGradInput } from '../kernels/dense.ts';
import { addInto } from '../kernels/elementwise.ts';
import {
  broadcastBinary, broadcastShapes, channelAffine, copyBlocks, MAX_RANK, pool2d, pool2dBackward, poolOutputSize, reduceToShape, transpose, unary, unaryBackward,
  type BinaryOp, type Pool2dParams, type UnaryOp,
} from '../kernels/graph-ops.ts';
import { softmax } from '../kernels/loss.ts';
import { gap, gapBackward } from '../kernels/pooling.ts';
import type { Backend, Storage } from '../tensor/backend.ts';
import { axesOf, fold, FOLDABLE, reshapeDims, squeezeDims, unsqueezeDims } from './fold.ts';
import { attr, elementCount, GraphError, type Constant, type Graph, type GraphNode } from './graph.ts';

/** Where a tensor's cells sit on the input: cell u's window is centred at `start + jump * u` and `size` wide (input pixels). */
export interface ReceptiveField {
  size: number;
  jump: number;
  start: number;
}

export interface RunContext {
  backend: Backend;
  /** A runtime tensor's buffer. */
  get(name: string): Storage;
  /** A constant, uploaded once (kept for the life of the executor). */
  weight(name: string): Storage;
}

export interface Step {
  node: GraphNode;
  /** Runtime tensors read (constants excluded). */
  reads: string[];
  outputs: string[];
  shapes: number[][];
  /** Output 0 is input 0's buffer under a new shape (Reshape, Flatten, Dropout, ...). */
  alias?: boolean;
  run?(ctx: RunContext): Storage[];
  /**
   * The gradients of the runtime tensors it reads (null where none flows: integer inputs,
   * tensors the caller does not need), from `dy`, the gradient at output 0; `ctx.get` reads the
   * forward values of its inputs and output. Absent for aliases (the gradient passes through).
   */
  backward?(ctx: RunContext, dy: Storage, need: readonly boolean[], paramGrads?: Map<string, Storage>): (Storage | null)[];
  /**
   * The constants a step can train (a convolution's weights [Co, Ci/G, KH, KW] and bias [Co],
   * batch-norm folded in) and the node that follows it when a batch-norm was folded. With
   * `paramGrads`, backward() also puts their gradients there under these names.
   */
  params?: { weight: string; bias: string; foldedBatchNorm?: GraphNode };
  flops: number;
  /** A dense step's weights [J, K] and bias (constant names): the CAM reads a GAP + dense head's. */
  dense?: { w: string; b: string };
  /** A convolution's parameters (graph/conv-choices.ts picks its inner kernel by them). */
  conv?: GeneralConvParams;
  /** What the step runs, for `wgcam info` (fusions included). */
  describe: string;
}

export interface Plan {
  input: { name: string; shape: number[]; layout: 'NCHW' | 'NHWC' };
  steps: Step[];
  shapes: Map<string, number[]>;
  fields: Map<string, ReceptiveField>;
  /** Constants: the file's, folded ones and those the fusions derived (folded conv weights). */
  constants: Map<string, Constant>;
  outputs: string[];
}

/** WebGPU's guaranteed largest storage binding (bytes): larger weight matrices run in blocks. */
export const MAX_BINDING = 2 ** 27;

/** The ops wgcam runs (beside the shape arithmetic it folds), for the error that names them. */
export const SUPPORTED_OPS = [
  'Conv', 'BatchNormalization', 'Relu', 'Clip', 'LeakyRelu', 'Sigmoid', 'HardSigmoid', 'HardSwish', 'Add', 'Sub', 'Mul', 'Div', 'Concat',
  'MaxPool', 'AveragePool', 'GlobalAveragePool', 'GlobalMaxPool', 'ReduceMean', 'Flatten', 'Reshape', 'Squeeze', 'Unsqueeze', 'Gemm', 'MatMul',
  'Softmax', 'Dropout', 'Identity', 'Transpose', 'Pad',
] as const;

const f32 = (c: Constant): Float32Array => (c.data instanceof Float32Array ? c.data : Float32Array.from(c.data));

/** Spatial padding [top, left, bottom, right] of a Conv or pool, auto_pad included. */
function spatialPads(node: GraphNode, H: number, W: number, k: [number, number], s: [number, number], d: [number, number]): [number, number, number, number] {
  const auto = node.attrs.has('auto_pad') ? attr(node, 'auto_pad', 'string') : 'NOTSET';
  if (auto === 'VALID') return [0, 0, 0, 0];
  if (auto === 'SAME_UPPER' || auto === 'SAME_LOWER') {
    const total = (size: number, i: number) => Math.max((Math.ceil(size / s[i]) - 1) * s[i] + (k[i] - 1) * d[i] + 1 - size, 0);
    const [th, tw] = [total(H, 0), total(W, 1)];
    const small = (t: number) => Math.floor(t / 2);
    return auto === 'SAME_UPPER' ? [small(th), small(tw), th - small(th), tw - small(tw)] : [th - small(th), tw - small(tw), small(th), small(tw)];
  }
  if (auto !== 'NOTSET') throw new GraphError(`node ${node.name} (${node.op}): auto_pad ${auto} (use NOTSET, SAME_UPPER, SAME_LOWER or VALID)`);
  const pads = node.attrs.has('pads') ? attr(node, 'pads', 'ints') : [0, 0, 0, 0];
  if (pads.length !== 4 || pads.some((p) => !(Number.isInteger(p) && p >= 0 && p < 1 << 16))) throw new GraphError(`node ${node.name} (${node.op}): pads [${pads}] (four non-negative numbers for a 2-D window)`);
  return [pads[0], pads[1], pads[2], pads[3]];
}

function pair(node: GraphNode, name: string, fallback: number): [number, number] {
  const v = node.attrs.has(name) ? attr(node, name, 'ints') : [fallback, fallback];
  if (v.length !== 2 || v.some((x) => !(Number.isInteger(x) && x >= 1 && x < 1 << 16))) throw new GraphError(`node ${node.name} (${node.op}): ${name} [${v}] (two whole numbers >= 1 for a 2-D window)`);
  return [v[0], v[1]];
}

/** The field of a window op's output from its input's. */
function windowField(f: ReceptiveField, k: [number, number], s: [number, number], d: [number, number], pads: readonly number[]): ReceptiveField {
  // Rows and columns get the same treatment; the fields kept here are the rows' (square maps in practice).
  return { size: f.size + (k[0] - 1) * d[0] * f.jump, jump: f.jump * s[0], start: f.start + (((k[0] - 1) * d[0]) / 2 - pads[0]) * f.jump };
}

export interface PlanOptions {
  /** The largest buffer a weight matrix may take (default WebGPU's guaranteed 128 MiB; the tests lower it). */
  maxBinding?: number;
  /** The inner kernel a convolution runs where there is a choice (graph/conv-choices.ts); default the kernel's default. */
  innerConv?: (p: GeneralConvParams) => string | undefined;
}

export function planGraph(graph: Graph, batch: number, o: PlanOptions = {}): Plan {
  const maxBinding = o.maxBinding ?? MAX_BINDING;
  const input = graph.inputs[0];
  const dims = input.dims.map((d, i) => (i === 0 ? (typeof d === 'number' ? d : batch) : d));
  if (dims.length !== 4 || dims.some((d) => typeof d !== 'number')) throw new GraphError(`input '${input.name}' has dimensions [${input.dims.join(', ')}]; wgcam needs an image input of four known dimensions (N, C, H, W or N, H, W, C)`);
  const shape = dims as number[];
  if (typeof input.dims[0] === 'number' && input.dims[0] !== batch) throw new GraphError(`input '${input.name}' takes batches of exactly ${input.dims[0]}`);
  const layout = shape[3] <= 4 && shape[1] > 4 ? 'NHWC' : 'NCHW';

  const constants = new Map(graph.constants);
  const shapes = new Map<string, number[]>([[input.name, shape]]);
  const fields = new Map<string, ReceptiveField>();
  fields.set(input.name, { size: 1, jump: 1, start: 0 });
  const consumers = new Map<string, GraphNode[]>();
  for (const n of graph.nodes) for (const i of n.inputs) if (i) consumers.set(i, [...(consumers.get(i) ?? []), n]);
  const isOutput = new Set(graph.outputs);
  /** The single node reading `name`, if exactly one does and it is no graph output. */
  const soleConsumer = (name: string): GraphNode | undefined => {
    const c = consumers.get(name);
    return c && c.length === 1 && !isOutput.has(name) ? c[0] : undefined;
  };
  const skipped = new Set<GraphNode>();
  const steps: Step[] = [];
  const constOf = (name: string) => (name ? constants.get(name) : undefined);
  const shapeOf = (name: string): number[] => {
    const s = shapes.get(name) ?? constants.get(name)?.dims;
    if (!s) throw new GraphError(`the shape of '${name}' is not known`);
    return s;
  };
  let derived = 0;
  const addConstant = (c: Constant) => {
    const name = `wgcam:const${derived++}`;
    constants.set(name, c);
    return name;
  };

  const foldNode = (node: GraphNode, ins: (Constant | undefined)[]) => {
    const out = fold(node, ins, (n) => shapes.get(n));
    node.outputs.forEach((o, i) => o && out[i] && constants.set(o, out[i]));
  };
  // Constants made from constants first: a fused step reads its consumers' constant inputs
  // ahead (a Clip's bounds after a conv), which torch.onnx.export makes by Constant nodes
  // placed after that conv.
  const folded = new Set<GraphNode>();
  for (const node of graph.nodes) {
    if (!FOLDABLE.has(node.op) || node.op === 'Shape' || node.op === 'Pad') continue;
    const ins = node.inputs.map(constOf);
    if (node.inputs.every((n, i) => !n || ins[i])) {
      foldNode(node, ins);
      folded.add(node);
    }
  }
  for (const node of graph.nodes) {
    if (skipped.has(node) || folded.has(node)) continue;
    const ins = node.inputs.map(constOf);
    const allConstant = node.inputs.every((n, i) => !n || ins[i]);
    if (FOLDABLE.has(node.op) && (allConstant || node.op === 'Shape') && node.op !== 'Pad') {
      foldNode(node, ins);
      continue;
    }
    const step = planNode(node);
    steps.push(step);
    step.outputs.forEach((o, i) => shapes.set(o, step.shapes[i]));
  }

  function planNode(node: GraphNode): Step {
    const x = node.inputs[0];
    const xs = x ? shapeOf(x) : [];
    const field = x ? fields.get(x) : undefined;
    const same = (op: string, extra: Partial<Step> = {}): Step => ({ node, reads: [x], outputs: [node.outputs[0]], shapes: [xs], flops: 0, describe: op, ...extra });
    const withField = (step: Step, f?: ReceptiveField) => {
      if (f) fields.set(step.outputs[0], f);
      return step;
    };
    const needConst = (i: number, what: string): Constant => {
      const c = constOf(node.inputs[i]);
      if (!c) throw new GraphError(`node ${node.name} (${node.op}): its ${what} must be a constant (an initializer), not computed at run time`);
      return c;
    };
    switch (node.op) {
      case 'Conv':
        return withField(...convStep(node, xs, field));
      case 'BatchNormalization': {
        if (xs.length < 2) throw new GraphError(`node ${node.name} (BatchNormalization) on a rank-${xs.length} tensor`);
        const [scale, shift] = bnAffine(node, needConst);
        const [sName, tName] = [addConstant(scale), addConstant(shift)];
        const C = xs[1];
        const HW = elementCount(xs.slice(2));
        const zero = addConstant({ dims: [C], kind: 'float', data: new Float32Array(C) });
        return withField(
          same('BatchNormalization (per-channel affine)', {
            run: (c) => [c.backend.run(channelAffine, { x: c.get(x), scale: c.weight(sName), shift: c.weight(tName) }, { N: xs[0], C, HW }).y],
            backward: (c, dy) => [c.backend.run(channelAffine, { x: dy, scale: c.weight(sName), shift: c.weight(zero) }, { N: xs[0], C, HW }).y],
          }),
          field,
        );
      }
      case 'Relu':
      case 'LeakyRelu':
      case 'Sigmoid':
      case 'HardSigmoid':
      case 'HardSwish':
      case 'Clip': {
        const [op, a, b] = unaryOf(node, needConst);
        const len = elementCount(xs);
        return withField(
          same(node.op, {
            run: (c) => [c.backend.run(unary, { x: c.get(x) }, { len, op, a, b }).y],
            backward: (c, dy) => [c.backend.run(unaryBackward, { x: c.get(x), y: c.get(node.outputs[0]), dy }, { len, op, a, b }).dx],
          }),
          field,
        );
      }
      case 'Cast':
        if (![1, 10, 11].includes(attr(node, 'to', 'int'))) throw new GraphError(`node ${node.name} (Cast): to type ${attr(node, 'to', 'int')} at run time; wgcam's tensors are float32`);
        return withField(same('Cast (float, no-op)', { alias: true }), field);
      case 'Dropout':
      case 'Identity':
        if (node.outputs.length > 1 && node.outputs[1] && consumers.has(node.outputs[1])) throw new GraphError(`node ${node.name} (Dropout): its mask output is read; wgcam runs inference, where there is no mask`);
        return withField(same(node.op, { alias: true, outputs: [node.outputs[0]] }), field);
      case 'Flatten':
      case 'Reshape':
      case 'Squeeze':
      case 'Unsqueeze': {
        let out: number[];
        if (node.op === 'Flatten') {
          const axis = node.attrs.has('axis') ? attr(node, 'axis', 'int') : 1;
          const a = axis < 0 ? axis + xs.length : axis;
          out = [elementCount(xs.slice(0, a)), elementCount(xs.slice(a))];
        } else if (node.op === 'Reshape') {
          out = reshapeDims(xs, Array.from(needConst(1, 'target shape').data), node.attrs.has('allowzero') && attr(node, 'allowzero', 'int') === 1, node);
        } else {
          const axes = axesOf(node, constOf(node.inputs[1]));
          out = node.op === 'Squeeze' ? squeezeDims(xs, axes, node) : unsqueezeDims(xs, axes ?? [], node);
        }
        return same(node.op, { alias: true, shapes: [out] });
      }
      case 'Add':
      case 'Sub':
      case 'Mul':
      case 'Div': {
        const [a, b] = node.inputs;
        const [as, bs] = [shapeOf(a), shapeOf(b)];
        const out = broadcastShapes(as, bs);
        if (!out) throw new GraphError(`node ${node.name} (${node.op}): shapes [${as}] and [${bs}] do not broadcast`);
        if (out.length > MAX_RANK) throw new GraphError(`node ${node.name} (${node.op}): rank ${out.length} (at most ${MAX_RANK})`);
        const pad = (s: number[]) => [...Array(out.length - s.length).fill(1), ...s];
        const op = node.op.toLowerCase() as BinaryOp;
        const operand = (name: string) => (c: RunContext) => (constOf(name) ? c.weight(name) : c.get(name));
        const [ga, gb] = [operand(a), operand(b)];
        const f = [a, b].map((n) => fields.get(n)).filter((v): v is ReceptiveField => !!v).sort((p, q) => q.size - p.size)[0];
        const reads = [a, b].filter((n) => !constOf(n));
        // A ReLU right after it (a residual block's add) runs in the same pass.
        const next = soleConsumer(node.outputs[0]);
        const relu = next?.op === 'Relu' && next.inputs[0] === node.outputs[0];
        if (relu) skipped.add(next!);
        const output = relu ? next!.outputs[0] : node.outputs[0];
        const minusOne = addConstant({ dims: [], kind: 'float', data: Float32Array.of(-1) });
        /** The gradient of operand `which` (0: a, 1: b), reduced to its shape; always a fresh buffer. */
        const gradOf = (c: RunContext, dy: Storage, which: 0 | 1): Storage => {
          const mine = which === 0 ? pad(as) : pad(bs);
          const other = which === 0 ? { s: gb(c), shape: pad(bs) } : { s: ga(c), shape: pad(as) };
          const ones = out.map(() => 1);
          let g: Storage;
          if (op === 'add' || (op === 'sub' && which === 0)) {
            g = c.backend.alloc(elementCount(out));
            c.backend.copyInto(dy, g, elementCount(out), 0);
          } else if (op === 'sub') g = c.backend.run(broadcastBinary, { a: dy, b: c.weight(minusOne) }, { op: 'mul' as BinaryOp, shape: out, a: out, b: ones }).y;
          else if (op === 'mul') g = c.backend.run(broadcastBinary, { a: dy, b: other.s }, { op: 'mul' as BinaryOp, shape: out, a: out, b: other.shape }).y;
          else if (which === 0) g = c.backend.run(broadcastBinary, { a: dy, b: other.s }, { op: 'div' as BinaryOp, shape: out, a: out, b: other.shape }).y;
          else throw new GraphError(`node ${node.name} (Div): no gradient through a divisor computed at run time`);
          if (mine.join() === out.join()) return g;
          const r = c.backend.run(reduceToShape, { x: g }, { shape: out, to: mine }).y;
          c.backend.free(g);
          return r;
        };
        return withField(
          {
            node,
            reads,
            outputs: [output],
            shapes: [out],
            flops: elementCount(out),
            describe: relu ? `${node.op} + Relu` : node.op,
            run: (c) => [c.backend.run(broadcastBinary, { a: ga(c), b: gb(c) }, { op, shape: out, a: pad(as), b: pad(bs), relu }).y],
            backward: (c, dy, need) => {
              const y = c.get(output);
              const g = relu ? c.backend.run(unaryBackward, { x: y, y, dy }, { len: elementCount(out), op: 'relu' }).dx : dy;
              const grads = reads.map((r, i) => (need[i] ? gradOf(c, g, r === a && (i === 0 || a !== b) ? 0 : 1) : null));
              if (g !== dy) c.backend.free(g);
              return grads;
            },
          },
          f,
        );
      }
      case 'Concat': {
        const parts = node.inputs.filter((n) => n);
        const ranks = parts.map(shapeOf);
        const axis0 = attr(node, 'axis', 'int');
        const axis = axis0 < 0 ? axis0 + xs.length : axis0;
        if (!(axis >= 0 && axis < xs.length) || ranks.some((s) => s.length !== xs.length || s.some((d, i) => i !== axis && d !== xs[i]))) throw new GraphError(`node ${node.name} (Concat): shapes ${ranks.map((s) => `[${s}]`).join(' ')} do not join along axis ${axis0}`);
        const out = [...xs];
        out[axis] = ranks.reduce((s, r) => s + r[axis], 0);
        const outer = elementCount(xs.slice(0, axis));
        const dstStride = elementCount(out.slice(axis));
        const f = parts.map((n) => fields.get(n)).filter((v): v is ReceptiveField => !!v).sort((p, q) => q.size - p.size)[0];
        return withField(
          {
            node,
            reads: parts.filter((n) => !constOf(n)),
            outputs: [node.outputs[0]],
            shapes: [out],
            flops: 0,
            describe: 'Concat',
            run: (c) => {
              const y = c.backend.alloc(elementCount(out));
              let offset = 0;
              parts.forEach((n, i) => {
                const inner = elementCount(ranks[i].slice(axis));
                c.backend.run(copyBlocks, { src: constOf(n) ? c.weight(n) : c.get(n), dst: y }, { outer, inner, srcStride: inner, srcOffset: 0, dstStride, dstOffset: offset, dstLen: elementCount(out) });
                offset += inner;
              });
              return [y];
            },
            backward: (c, dy, need) => {
              const reads = parts.filter((n) => !constOf(n));
              let offset = 0;
              const byName = new Map<string, Storage>();
              parts.forEach((n, i) => {
                const inner = elementCount(ranks[i].slice(axis));
                if (!constOf(n) && need[reads.indexOf(n)] && !byName.has(n)) {
                  const g = c.backend.alloc(elementCount(ranks[i]));
                  c.backend.run(copyBlocks, { src: dy, dst: g }, { outer, inner, srcStride: dstStride, srcOffset: offset, dstStride: inner, dstOffset: 0, dstLen: elementCount(ranks[i]) });
                  byName.set(n, g);
                }
                offset += inner;
              });
              return reads.map((n) => byName.get(n) ?? null);
            },
          },
          f,
        );
      }
      case 'MaxPool':
      case 'AveragePool':
      case 'GlobalMaxPool': {
        if (xs.length !== 4) throw new GraphError(`node ${node.name} (${node.op}): wgcam pools 2-D maps (rank 4), not rank ${xs.length}`);
        if (node.outputs.length > 1 && node.outputs[1] && consumers.has(node.outputs[1])) throw new GraphError(`node ${node.name} (MaxPool): its indices output is read, which wgcam does not compute`);
        const global = node.op === 'GlobalMaxPool';
        const k: [number, number] = global ? [xs[2], xs[3]] : pair(node, 'kernel_shape', 0);
        const s = global ? ([1, 1] as [number, number]) : pair(node, 'strides', 1);
        const d = global || node.op === 'AveragePool' ? ([1, 1] as [number, number]) : pair(node, 'dilations', 1);
        const pads = global ? ([0, 0, 0, 0] as [number, number, number, number]) : spatialPads(node, xs[2], xs[3], k, s, d);
        const p: Pool2dParams = {
          NC: xs[0] * xs[1], H: xs[2], W: xs[3], KH: k[0], KW: k[1], SH: s[0], SW: s[1], PT: pads[0], PL: pads[1], PB: pads[2], PR: pads[3], DH: d[0], DW: d[1],
          mode: node.op === 'AveragePool' ? 'average' : 'max',
          countPad: node.op === 'AveragePool' && node.attrs.has('count_include_pad') && attr(node, 'count_include_pad', 'int') === 1,
          ceil: !global && node.attrs.has('ceil_mode') && attr(node, 'ceil_mode', 'int') === 1,
        };
        const [Ho, Wo] = poolOutputSize(p);
        if (!(Ho >= 1 && Wo >= 1)) throw new GraphError(`node ${node.name} (${node.op}): a ${k[0]}x${k[1]} window does not fit a ${xs[2]}x${xs[3]} map`);
        return withField(
          same(`${node.op} ${k[0]}x${k[1]}/${s[0]}`, {
            shapes: [[xs[0], xs[1], Ho, Wo]],
            flops: xs[0] * xs[1] * Ho * Wo * k[0] * k[1],
            run: (c) => [c.backend.run(pool2d, { x: c.get(x) }, p).y],
            backward: (c, dy) => [c.backend.run(pool2dBackward, { x: c.get(x), dy }, p).dx],
            outputs: [node.outputs[0]],
          }),
          field && windowField(field, k, s, d, pads),
        );
      }
      case 'GlobalAveragePool':
      case 'ReduceMean': {
        if (xs.length !== 4) throw new GraphError(`node ${node.name} (${node.op}): on a rank-${xs.length} tensor; wgcam averages the spatial dimensions of NCHW maps`);
        let keep = true;
        if (node.op === 'ReduceMean') {
          const axes = (axesOf(node, constOf(node.inputs[1])) ?? []).map((a) => (a < 0 ? a + 4 : a)).sort();
          if (axes.join() !== '2,3') throw new GraphError(`node ${node.name} (ReduceMean) over axes [${axes}]; wgcam averages over H and W (axes 2, 3)`);
          keep = !node.attrs.has('keepdims') || attr(node, 'keepdims', 'int') === 1;
        }
        const out = keep ? [xs[0], xs[1], 1, 1] : [xs[0], xs[1]];
        const g = { NC: xs[0] * xs[1], HW: xs[2] * xs[3] };
        return same(`${node.op} (global average)`, {
          shapes: [out],
          flops: elementCount(xs),
          run: (c) => [c.backend.run(gap, { x: c.get(x) }, g).y],
          backward: (c, dy) => [c.backend.run(gapBackward, { dy }, g).dx],
        });
      }
      case 'Gemm':
      case 'MatMul':
        return denseStep(node, xs, needConst);
      case 'Softmax': {
        const axis0 = node.attrs.has('axis') ? attr(node, 'axis', 'int') : graph.opset >= 13 ? -1 : 1;
        const axis = axis0 < 0 ? axis0 + xs.length : axis0;
        // Before opset 13 Softmax flattens from `axis` on; from 13 it runs along `axis` alone.
        const rows = elementCount(xs.slice(0, axis));
        const J = elementCount(xs.slice(axis));
        if (graph.opset >= 13 && axis !== xs.length - 1) throw new GraphError(`node ${node.name} (Softmax) along axis ${axis0} of [${xs}]; wgcam takes the softmax along the last axis`);
        return same('Softmax', { run: (c) => [c.backend.run(softmax, { z: c.get(x) }, { N: rows, J }).probs] });
      }
      case 'Transpose': {
        const perm = node.attrs.has('perm') ? attr(node, 'perm', 'ints') : xs.map((_, i) => xs.length - 1 - i);
        if (perm.length !== xs.length || new Set(perm).size !== perm.length || perm.some((p) => !(p >= 0 && p < xs.length))) throw new GraphError(`node ${node.name} (Transpose): perm [${perm}] for a rank-${xs.length} tensor`);
        if (xs.length > MAX_RANK) throw new GraphError(`node ${node.name} (Transpose): rank ${xs.length} (at most ${MAX_RANK})`);
        const out = perm.map((p) => xs[p]);
        // An NHWC image turned NCHW keeps its pixel grid.
        const inverse = perm.map((_, i) => perm.indexOf(i));
        return withField(
          same('Transpose', {
            shapes: [out],
            run: (c) => [c.backend.run(transpose, { x: c.get(x) }, { shape: xs, perm }).y],
            backward: (c, dy) => [c.backend.run(transpose, { x: dy }, { shape: out, perm: inverse }).y],
          }),
          field,
        );
      }
      case 'Pad': {
        const pads = padsOf(node, needConst, xs.length);
        if (xs.length !== 4 || pads.some((p, i) => p !== 0 && i % 4 < 2) || pads.some((p) => p < 0)) throw new GraphError(`node ${node.name} (Pad): pads [${pads}]; wgcam pads the H and W of NCHW maps with zeros`);
        // Zero padding is a depthwise 1x1 convolution with weight 1 and the pads.
        const C = xs[1];
        const wName = addConstant({ dims: [C, 1, 1, 1], kind: 'float', data: new Float32Array(C).fill(1) });
        const bName = addConstant({ dims: [C], kind: 'float', data: new Float32Array(C) });
        const p: GeneralConvParams = { N: xs[0], Ci: C, H: xs[2], W: xs[3], Co: C, KH: 1, KW: 1, SH: 1, SW: 1, PT: pads[2], PL: pads[3], PB: pads[6], PR: pads[7], DH: 1, DW: 1, G: C, act: 'none' };
        const [Ho, Wo] = convOutputSize(p);
        return withField(
          same('Pad (zeros)', {
            shapes: [[xs[0], C, Ho, Wo]],
            run: (c) => [c.backend.run(conv2dGeneral, { x: c.get(x), w: c.weight(wName), b: c.weight(bName) }, p).y],
            backward: (c, dy) => [c.backend.run(conv2dGeneralGradInput, { dz: dy, w: c.weight(wName) }, p).dx],
          }),
          field && { ...field, start: field.start - pads[2] * field.jump },
        );
      }
      default:
        throw new GraphError(
          `node ${node.name}: op ${node.op} is not supported (wgcam runs ${SUPPORTED_OPS.join(', ')}, and folds shape arithmetic: ${[...FOLDABLE].filter((o) => !(SUPPORTED_OPS as readonly string[]).includes(o)).join(', ')})`,
        );
    }
  }

  function padsOf(node: GraphNode, needConst: (i: number, what: string) => Constant, rank: number): number[] {
    const mode = node.attrs.has('mode') ? attr(node, 'mode', 'string') : 'constant';
    if (mode !== 'constant') throw new GraphError(`node ${node.name} (Pad): mode ${mode}; wgcam pads with zeros (constant mode)`);
    const pads = node.attrs.has('pads') ? attr(node, 'pads', 'ints') : Array.from(needConst(1, 'pads').data);
    const value = node.attrs.has('value') ? attr(node, 'value', 'float') : node.inputs[2] ? Number(needConst(2, 'value').data[0] ?? 0) : 0;
    if (value !== 0 || pads.length !== 2 * rank) throw new GraphError(`node ${node.name} (Pad): pads [${pads}] with value ${value}; wgcam pads with zeros`);
    return pads;
  }

  /** A Conv, with a BatchNormalization, an activation and a zero Pad around it folded in. */
  function convStep(node: GraphNode, xs: number[], field: ReceptiveField | undefined): [Step, ReceptiveField | undefined] {
    if (xs.length !== 4) throw new GraphError(`node ${node.name} (Conv): on a rank-${xs.length} tensor; wgcam runs 2-D convolutions (rank 4)`);
    const w = constants.get(node.inputs[1]);
    if (!w || w.kind !== 'float' || w.dims.length !== 4) throw new GraphError(`node ${node.name} (Conv): its weights must be a constant 4-D float tensor`);
    const G = node.attrs.has('group') ? attr(node, 'group', 'int') : 1;
    const [Co, Cig, KH, KW] = w.dims;
    const Ci = xs[1];
    if (!(G >= 1 && Ci % G === 0 && Co % G === 0 && Cig === Ci / G)) throw new GraphError(`node ${node.name} (Conv): weights [${w.dims}] with group ${G} do not fit an input of ${Ci} channels`);
    if (node.attrs.has('kernel_shape') && attr(node, 'kernel_shape', 'ints').join() !== `${KH},${KW}`) throw new GraphError(`node ${node.name} (Conv): kernel_shape disagrees with the weights [${w.dims}]`);
    const s = pair(node, 'strides', 1);
    const d = pair(node, 'dilations', 1);
    const pads = spatialPads(node, xs[2], xs[3], [KH, KW], s, d);
    const bias = node.inputs[2] ? constants.get(node.inputs[2]) : undefined;
    if (node.inputs[2] && (!bias || bias.data.length !== Co)) throw new GraphError(`node ${node.name} (Conv): its bias must be a constant of ${Co} values`);
    let weights = f32(w);
    let b = bias ? Float32Array.from(bias.data) : new Float32Array(Co);
    const describe = [`Conv ${KH}x${KW}/${s[0]}${G > 1 ? (G === Ci && G === Co ? ' depthwise' : ` groups ${G}`) : ''}`];
    let out = node.outputs[0];
    let act: ConvActivation = 'none';
    let lo: number | undefined;
    let hi: number | undefined;
    // Batch-norm after the conv: scale each output channel's weights and bias.
    let next = soleConsumer(out);
    let foldedBatchNorm: GraphNode | undefined;
    if (next?.op === 'BatchNormalization' && next.inputs[0] === out) {
      const bn = next;
      foldedBatchNorm = bn;
      const [scale, shift] = bnAffine(bn, (i, what) => {
        const c = constants.get(bn.inputs[i]);
        if (!c) throw new GraphError(`node ${bn.name} (BatchNormalization): its ${what} must be a constant`);
        return c;
      });
      if (scale.data.length !== Co) throw new GraphError(`node ${bn.name} (BatchNormalization): ${scale.data.length} channels after a conv of ${Co}`);
      weights = weights.map((v, i) => v * (scale.data[Math.floor(i / (Cig * KH * KW))] as number));
      b = b.map((v, c) => v * (scale.data[c] as number) + (shift.data[c] as number));
      skipped.add(bn);
      out = bn.outputs[0];
      describe.push('BatchNormalization (folded)');
      next = soleConsumer(out);
    }
    if (next && next.inputs[0] === out && (next.op === 'Relu' || next.op === 'Clip')) {
      const [op, a, bb] = unaryOf(next, (i, what) => {
        const c = constants.get(next!.inputs[i]);
        if (!c) throw new GraphError(`node ${next!.name} (Clip): its ${what} must be a constant`);
        return c;
      });
      act = op === 'relu' ? 'relu' : 'clip';
      [lo, hi] = [a, bb];
      skipped.add(next);
      out = next.outputs[0];
      describe.push(next.op === 'Clip' ? `Clip ${a}..${bb}` : 'Relu');
    }
    const wName = addConstant({ dims: w.dims, kind: 'float', data: weights });
    const bName = addConstant({ dims: [Co], kind: 'float', data: b });
    const p: GeneralConvParams = { N: xs[0], Ci, H: xs[2], W: xs[3], Co, KH, KW, SH: s[0], SW: s[1], PT: pads[0], PL: pads[1], PB: pads[2], PR: pads[3], DH: d[0], DW: d[1], G, act, lo, hi };
    const inner = o.innerConv?.(p);
    if (inner !== undefined) p.inner = inner;
    const [Ho, Wo] = convOutputSize(p);
    if (!(Ho >= 1 && Wo >= 1)) throw new GraphError(`node ${node.name} (Conv): a ${KH}x${KW} window does not fit a ${xs[2]}x${xs[3]} map`);
    const x = node.inputs[0];
    const step: Step = {
      node,
      reads: [x],
      outputs: [out],
      shapes: [[xs[0], Co, Ho, Wo]],
      flops: 2 * xs[0] * Co * Ho * Wo * Cig * KH * KW,
      describe: describe.join(' + '),
      conv: p,
      params: { weight: wName, bias: bName, foldedBatchNorm },
      run: (c) => [c.backend.run(conv2dGeneral, { x: c.get(x), w: c.weight(wName), b: c.weight(bName) }, p).y],
      backward: (c, dy, need, paramGrads) => {
        // Through the fused activation first (relu and clip read the output alone).
        const y = c.get(out);
        const len = elementCount(step.shapes[0]);
        const dz = act === 'none' ? dy : c.backend.run(unaryBackward, { x: y, y, dy }, { len, op: act, a: lo, b: hi }).dx;
        const dx = need[0] === false ? null : c.backend.run(conv2dGeneralGradInput, { dz, w: c.weight(wName) }, p).dx;
        if (paramGrads) {
          paramGrads.set(wName, c.backend.run(conv2dGeneralGradWeight, { x: c.get(x), dz }, p).dw);
          paramGrads.set(bName, c.backend.run(channelSum, { v: dz }, { N: p.N, C: Co, HW: Ho * Wo }).out);
        }
        if (dz !== dy) c.backend.free(dz);
        return [dx];
      },
    };
    return [step, field && windowField(field, [KH, KW], s, d, pads)];
  }

  function denseStep(node: GraphNode, xs: number[], needConst: (i: number, what: string) => Constant): Step {
    if (xs.length !== 2) throw new GraphError(`node ${node.name} (${node.op}): input of shape [${xs}]; wgcam's dense layers take [N, K] (a Flatten before it)`);
    const B = needConst(1, 'weight matrix');
    if (B.dims.length !== 2) throw new GraphError(`node ${node.name} (${node.op}): weights of shape [${B.dims}]`);
    const gemm = node.op === 'Gemm';
    if (gemm && node.attrs.has('transA') && attr(node, 'transA', 'int') === 1) throw new GraphError(`node ${node.name} (Gemm): transA = 1 (wgcam multiplies [N, K] inputs)`);
    const transB = gemm && node.attrs.has('transB') && attr(node, 'transB', 'int') === 1;
    const alpha = gemm && node.attrs.has('alpha') ? attr(node, 'alpha', 'float') : 1;
    const beta = gemm && node.attrs.has('beta') ? attr(node, 'beta', 'float') : 1;
    const [K, J] = transB ? [B.dims[1], B.dims[0]] : B.dims;
    if (K !== xs[1]) throw new GraphError(`node ${node.name} (${node.op}): weights [${B.dims}] do not take ${xs[1]} inputs`);
    // dense wants w [J, K]: transpose a [K, J] matrix once, here.
    const bw = f32(B);
    const w = new Float32Array(J * K);
    for (let j = 0; j < J; j++) for (let k = 0; k < K; k++) w[j * K + k] = alpha * (transB ? bw[j * K + k] : bw[k * J + j]);
    const C = gemm && node.inputs[2] ? needConst(2, 'bias') : undefined;
    if (C && C.data.length !== J && C.data.length !== 1) throw new GraphError(`node ${node.name} (Gemm): bias of ${C.data.length} values for ${J} outputs`);
    const b = Float32Array.from({ length: J }, (_, j) => (C ? beta * Number(C.data[C.data.length === 1 ? 0 : j]) : 0));
    const [wName, bName] = [addConstant({ dims: [J, K], kind: 'float', data: w }), addConstant({ dims: [J], kind: 'float', data: b })];
    const x = node.inputs[0];
    const N = xs[0];
    // A weight matrix over WebGPU's guaranteed binding size (VGG-16's first dense layer: 392 MiB)
    // runs in blocks of output rows, each block's weights a buffer of its own.
    const rows = Math.max(1, Math.floor(maxBinding / (4 * K)));
    const blocks = Array.from({ length: Math.ceil(J / rows) }, (_, i) => {
      const [j0, Jb] = [i * rows, Math.min(rows, J - i * rows)];
      return { j0, Jb, w: J <= rows ? wName : addConstant({ dims: [Jb, K], kind: 'float', data: w.subarray(j0 * K, (j0 + Jb) * K) }), b: J <= rows ? bName : addConstant({ dims: [Jb], kind: 'float', data: b.subarray(j0, j0 + Jb) }) };
    });
    const step: Step = {
      node,
      reads: [x],
      outputs: [node.outputs[0]],
      shapes: [[N, J]],
      flops: 2 * N * K * J,
      describe: `${node.op} ${K} -> ${J}${blocks.length > 1 ? ` (${blocks.length} blocks)` : ''}`,
      dense: { w: wName, b: bName },
      run: (c) => {
        if (blocks.length === 1) return [c.backend.run(dense, { x: c.get(x), w: c.weight(wName), b: c.weight(bName) }, { N, K, J }).y];
        const y = c.backend.alloc(N * J);
        for (const blk of blocks) {
          const part = c.backend.run(dense, { x: c.get(x), w: c.weight(blk.w), b: c.weight(blk.b) }, { N, K, J: blk.Jb }).y;
          c.backend.run(copyBlocks, { src: part, dst: y }, { outer: N, inner: blk.Jb, srcStride: blk.Jb, srcOffset: 0, dstStride: J, dstOffset: blk.j0, dstLen: N * J });
          c.backend.free(part);
        }
        return [y];
      },
      backward: (c, dy) => {
        if (blocks.length === 1) return [c.backend.run(denseGradInput, { dy, w: c.weight(wName) }, { N, K, J }).dx];
        let dx: Storage | null = null;
        for (const blk of blocks) {
          const dyPart = c.backend.alloc(N * blk.Jb);
          c.backend.run(copyBlocks, { src: dy, dst: dyPart }, { outer: N, inner: blk.Jb, srcStride: J, srcOffset: blk.j0, dstStride: blk.Jb, dstOffset: 0, dstLen: N * blk.Jb });
          const g = c.backend.run(denseGradInput, { dy: dyPart, w: c.weight(blk.w) }, { N, K, J: blk.Jb }).dx;
          c.backend.free(dyPart);
          if (!dx) dx = g;
          else {
            c.backend.run(addInto, { acc: dx, v: g }, { len: N * K });
            c.backend.free(g);
          }
        }
        return [dx];
      },
    };
    return step;
  }

  return { input: { name: input.name, shape, layout }, steps, shapes, fields, constants, outputs: graph.outputs };
}

/** BatchNormalization at inference as scale and shift per channel. */
function bnAffine(node: GraphNode, needConst: (i: number, what: string) => Constant): [Constant, Constant] {
  if (node.attrs.has('training_mode') && attr(node, 'training_mode', 'int') === 1) throw new GraphError(`node ${node.name} (BatchNormalization): training_mode = 1; wgcam runs a trained graph`);
  const eps = node.attrs.has('epsilon') ? attr(node, 'epsilon', 'float') : 1e-5;
  const [gamma, beta, mean, variance] = [needConst(1, 'scale'), needConst(2, 'bias'), needConst(3, 'mean'), needConst(4, 'variance')].map(f32);
  const C = gamma.length;
  if ([beta, mean, variance].some((a) => a.length !== C)) throw new GraphError(`node ${node.name} (BatchNormalization): parameters of different lengths`);
  const scale = gamma.map((g, c) => g / Math.sqrt(variance[c] + eps));
  const shift = beta.map((b, c) => b - mean[c] * scale[c]);
  return [
    { dims: [C], kind: 'float', data: scale },
    { dims: [C], kind: 'float', data: shift },
  ];
}

/** An activation node as the unary kernel's op and parameters. */
function unaryOf(node: GraphNode, needConst: (i: number, what: string) => Constant): [UnaryOp, number | undefined, number | undefined] {
  switch (node.op) {
    case 'Relu':
      return ['relu', undefined, undefined];
    case 'LeakyRelu':
      return ['leakyRelu', node.attrs.has('alpha') ? attr(node, 'alpha', 'float') : 0.01, undefined];
    case 'Sigmoid':
      return ['sigmoid', undefined, undefined];
    case 'HardSigmoid':
    case 'HardSwish': {
      const alpha = node.attrs.has('alpha') ? attr(node, 'alpha', 'float') : node.op === 'HardSwish' ? 1 / 6 : 0.2;
      const beta = node.attrs.has('beta') ? attr(node, 'beta', 'float') : 0.5;
      return [node.op === 'HardSwish' ? 'hardSwish' : 'hardSigmoid', alpha, beta];
    }
    case 'Clip': {
      // Before opset 11 the bounds are attributes, after it optional constant inputs.
      const bound = (attrName: string, i: number, fallback: number) =>
        node.attrs.has(attrName) ? attr(node, attrName, 'float') : node.inputs[i] ? Number(needConst(i, `${attrName} bound`).data[0]) : fallback;
      return ['clip', bound('min', 1, -3.4028234663852886e38), bound('max', 2, 3.4028234663852886e38)];
    }
    default:
      throw new GraphError(`node ${node.name}: ${node.op} is not an activation`);
  }
}
