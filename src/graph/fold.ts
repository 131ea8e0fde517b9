/**
 * Constant folding: the shape arithmetic that TensorFlow- and PyTorch-origin files carry
 * (Shape -> Gather -> Unsqueeze -> Concat -> Reshape, ...) evaluated on the CPU once the input's
 * shape is known, so that only real tensor work reaches the GPU. Values are small integer or
 * float arrays; every op here reads Constants and returns Constants.
 */
import { GraphError, attr, elementCount, type Constant, type GraphNode } from './graph.ts';

const ints = (dims: number[], data: number[]): Constant => ({ dims, kind: 'int', data });
const values = (c: Constant): number[] => Array.from(c.data);
/** Folded values are arithmetic on shapes: refuse anything large (a hostile ConstantOfShape). */
const MAX_FOLDED = 1 << 24;

function strides(dims: readonly number[]): number[] {
  const s = new Array<number>(dims.length);
  let k = 1;
  for (let d = dims.length - 1; d >= 0; d--) {
    s[d] = k;
    k *= dims[d];
  }
  return s;
}

const axisOf = (axis: number, rank: number, node: GraphNode): number => {
  const a = axis < 0 ? axis + rank : axis;
  if (!(a >= 0 && a < rank)) throw new GraphError(`node ${node.name} (${node.op}): axis ${axis} outside a rank-${rank} tensor`);
  return a;
};

function make(kind: Constant['kind'], dims: number[], data: number[]): Constant {
  if (elementCount(dims) > MAX_FOLDED) throw new GraphError(`a constant of ${elementCount(dims)} values is too large to fold`);
  return { dims, kind, data: kind === 'float' ? Float32Array.from(data) : data };
}

/** numpy broadcasting of two constants under `f`. */
function broadcast(a: Constant, b: Constant, f: (x: number, y: number) => number, kind: Constant['kind']): Constant {
  const rank = Math.max(a.dims.length, b.dims.length);
  const da = [...Array(rank - a.dims.length).fill(1), ...a.dims];
  const db = [...Array(rank - b.dims.length).fill(1), ...b.dims];
  const dims = da.map((x, i) => {
    if (x !== db[i] && x !== 1 && db[i] !== 1) throw new GraphError(`shapes [${a.dims}] and [${b.dims}] do not broadcast`);
    return Math.max(x, db[i]);
  });
  const [sa, sb] = [strides(da), strides(db)];
  const out = new Array<number>(elementCount(dims));
  const so = strides(dims);
  for (let k = 0; k < out.length; k++) {
    let [ia, ib] = [0, 0];
    for (let d = 0; d < rank; d++) {
      const c = Math.floor(k / so[d]) % dims[d];
      if (da[d] !== 1) ia += c * sa[d];
      if (db[d] !== 1) ib += c * sb[d];
    }
    out[k] = f(a.data[ia], b.data[ib]);
  }
  return make(kind, dims, out);
}

/** ONNX Slice on a constant (starts, ends, axes, steps as ONNX clamps them). */
export function sliceRange(size: number, start: number, end: number, step: number): number[] {
  const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
  let s = start < 0 ? start + size : start;
  let e = end < 0 ? end + size : end;
  if (step > 0) [s, e] = [clamp(s, 0, size), clamp(e, 0, size)];
  else [s, e] = [clamp(s, 0, size - 1), clamp(e, -1, size - 1)];
  const out: number[] = [];
  for (let i = s; step > 0 ? i < e : i > e; i += step) out.push(i);
  return out;
}

/** Reshape's target dims: 0 copies the input's dim (unless allowzero), one -1 is inferred. */
export function reshapeDims(input: readonly number[], shape: readonly number[], allowZero: boolean, node: GraphNode): number[] {
  const dims = shape.map((d, i) => (d === 0 && !allowZero ? input[i] : d));
  const known = dims.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
  const unknown = dims.filter((d) => d === -1).length;
  const total = elementCount(input);
  if (unknown > 1 || dims.some((d) => d < -1 || d === undefined)) throw new GraphError(`node ${node.name} (Reshape): invalid target shape [${shape}]`);
  if (unknown === 1) {
    if (known === 0 || total % known !== 0) throw new GraphError(`node ${node.name} (Reshape): cannot reshape [${input}] to [${shape}]`);
    dims[dims.indexOf(-1)] = total / known;
  }
  if (elementCount(dims) !== total) throw new GraphError(`node ${node.name} (Reshape): cannot reshape [${input}] (${total} values) to [${dims}]`);
  return dims;
}

/** The axes of Squeeze/Unsqueeze/ReduceMean: an attribute before opset 13 (18 for reductions), an input after. */
export function axesOf(node: GraphNode, input: Constant | undefined): number[] | undefined {
  if (node.attrs.has('axes')) return attr(node, 'axes', 'ints');
  return input ? values(input) : undefined;
}

export function unsqueezeDims(dims: readonly number[], axes: readonly number[], node: GraphNode): number[] {
  const rank = dims.length + axes.length;
  const at = new Set(axes.map((a) => axisOf(a, rank, node)));
  const out: number[] = [];
  let k = 0;
  for (let d = 0; d < rank; d++) out.push(at.has(d) ? 1 : dims[k++]);
  return out;
}

export function squeezeDims(dims: readonly number[], axes: readonly number[] | undefined, node: GraphNode): number[] {
  const at = axes ? new Set(axes.map((a) => axisOf(a, dims.length, node))) : null;
  return dims.filter((d, i) => (at ? !at.has(i) : d !== 1));
}

/** Ops that fold when every input they read is constant. */
export const FOLDABLE = new Set(['Shape', 'Gather', 'Cast', 'Ceil', 'Floor', 'Div', 'Sub', 'Mul', 'Add', 'Unsqueeze', 'Squeeze', 'Concat', 'ConstantOfShape', 'Slice', 'Reshape', 'Transpose', 'Constant', 'Identity', 'Flatten', 'Sqrt', 'Neg', 'Pow', 'Range', 'Min', 'Max']);

/**
 * The outputs of `node` computed from constant inputs; `shapeOf` gives a runtime tensor's
 * shape (Shape reads only that).
 */
export function fold(node: GraphNode, inputs: (Constant | undefined)[], shapeOf: (name: string) => number[] | undefined): Constant[] {
  const need = (i: number): Constant => {
    const c = inputs[i];
    if (!c) throw new GraphError(`node ${node.name} (${node.op}): input ${i + 1} is not constant`);
    return c;
  };
  const kindOf = (...cs: Constant[]) => (cs.some((c) => c.kind === 'float') ? 'float' : 'int');
  switch (node.op) {
    case 'Constant': {
      const a = node.attrs.get('value') ?? node.attrs.get('value_float') ?? node.attrs.get('value_int') ?? node.attrs.get('value_ints') ?? node.attrs.get('value_floats');
      if (!a) throw new GraphError(`node ${node.name} (Constant) holds no value wgcam reads`);
      if (a.kind === 'tensor') return [a.value];
      if (a.kind === 'float' || a.kind === 'int') return [make(a.kind, [], [a.value])];
      if (a.kind === 'ints') return [make('int', [a.value.length], a.value)];
      if (a.kind === 'floats') return [make('float', [a.value.length], a.value)];
      throw new GraphError(`node ${node.name} (Constant) holds a ${a.kind}`);
    }
    case 'Shape': {
      const dims = shapeOf(node.inputs[0]) ?? inputs[0]?.dims;
      if (!dims) throw new GraphError(`node ${node.name} (Shape): the shape of '${node.inputs[0]}' is not known`);
      const start = node.attrs.has('start') ? attr(node, 'start', 'int') : 0;
      const end = node.attrs.has('end') ? attr(node, 'end', 'int') : dims.length;
      const s = sliceRange(dims.length, start, end, 1);
      return [ints([s.length], s.map((i) => dims[i]))];
    }
    case 'Identity':
    case 'Cast': {
      const c = need(0);
      const to = node.op === 'Cast' ? attr(node, 'to', 'int') : 0;
      if (node.op === 'Cast' && (to === 1 || to === 10 || to === 11)) return [make('float', c.dims, values(c))];
      if (node.op === 'Cast') return [make('int', c.dims, values(c).map(Math.trunc))];
      return [c];
    }
    case 'Ceil':
    case 'Floor':
    case 'Sqrt':
    case 'Neg': {
      const c = need(0);
      const f = { Ceil: Math.ceil, Floor: Math.floor, Sqrt: Math.sqrt, Neg: (v: number) => -v }[node.op];
      return [make(c.kind, c.dims, values(c).map(f))];
    }
    case 'Add':
    case 'Sub':
    case 'Mul':
    case 'Div':
    case 'Pow':
    case 'Min':
    case 'Max': {
      const [a, b] = [need(0), need(1)];
      const kind = kindOf(a, b);
      const f = {
        Add: (x: number, y: number) => x + y,
        Sub: (x: number, y: number) => x - y,
        Mul: (x: number, y: number) => x * y,
        Div: (x: number, y: number) => (kind === 'int' ? Math.trunc(x / y) : x / y),
        Pow: (x: number, y: number) => x ** y,
        Min: Math.min,
        Max: Math.max,
      }[node.op];
      return [broadcast(a, b, f, kind)];
    }
    case 'Gather': {
      const [data, idx] = [need(0), need(1)];
      const axis = axisOf(node.attrs.has('axis') ? attr(node, 'axis', 'int') : 0, data.dims.length, node);
      const outer = elementCount(data.dims.slice(0, axis));
      const inner = elementCount(data.dims.slice(axis + 1));
      const size = data.dims[axis];
      const out: number[] = [];
      for (let o = 0; o < outer; o++)
        for (const raw of values(idx)) {
          const i = raw < 0 ? raw + size : raw;
          if (!(i >= 0 && i < size)) throw new GraphError(`node ${node.name} (Gather): index ${raw} outside ${size}`);
          for (let j = 0; j < inner; j++) out.push(data.data[(o * size + i) * inner + j]);
        }
      return [make(data.kind, [...data.dims.slice(0, axis), ...idx.dims, ...data.dims.slice(axis + 1)], out)];
    }
    case 'Unsqueeze':
    case 'Squeeze': {
      const c = need(0);
      const axes = axesOf(node, inputs[1]);
      if (node.op === 'Unsqueeze' && !axes) throw new GraphError(`node ${node.name} (Unsqueeze) gives no axes`);
      return [{ ...c, dims: node.op === 'Unsqueeze' ? unsqueezeDims(c.dims, axes!, node) : squeezeDims(c.dims, axes, node) }];
    }
    case 'Reshape': {
      const c = need(0);
      return [{ ...c, dims: reshapeDims(c.dims, values(need(1)), node.attrs.has('allowzero') && attr(node, 'allowzero', 'int') === 1, node) }];
    }
    case 'Flatten': {
      const c = need(0);
      const axis = node.attrs.has('axis') ? attr(node, 'axis', 'int') : 1;
      const a = axis < 0 ? axis + c.dims.length : axis;
      return [{ ...c, dims: [elementCount(c.dims.slice(0, a)), elementCount(c.dims.slice(a))] }];
    }
    case 'Concat': {
      const cs = inputs.map((_, i) => need(i));
      const axis = axisOf(attr(node, 'axis', 'int'), cs[0].dims.length, node);
      const outer = elementCount(cs[0].dims.slice(0, axis));
      const out: number[] = [];
      for (let o = 0; o < outer; o++)
        for (const c of cs) {
          const block = elementCount(c.dims.slice(axis));
          for (let j = 0; j < block; j++) out.push(c.data[o * block + j]);
        }
      const dims = [...cs[0].dims];
      dims[axis] = cs.reduce((s, c) => s + c.dims[axis], 0);
      return [make(kindOf(...cs), dims, out)];
    }
    case 'ConstantOfShape': {
      const dims = values(need(0));
      const v = node.attrs.get('value');
      const fill = v?.kind === 'tensor' ? v.value : make('float', [1], [0]);
      return [make(fill.kind, dims, new Array(elementCount(dims)).fill(fill.data[0] ?? 0))];
    }
    case 'Range': {
      const [start, limit, delta] = [need(0), need(1), need(2)].map((c) => c.data[0]);
      const n = Math.max(Math.ceil((limit - start) / delta), 0);
      if (!Number.isFinite(n) || n > MAX_FOLDED) throw new GraphError(`node ${node.name} (Range): ${n} values`);
      return [make(kindOf(need(0)), [n], Array.from({ length: n }, (_, i) => start + i * delta))];
    }
    case 'Slice': {
      const c = need(0);
      const fromAttr = node.attrs.has('starts');
      const starts = fromAttr ? attr(node, 'starts', 'ints') : values(need(1));
      const ends = fromAttr ? attr(node, 'ends', 'ints') : values(need(2));
      const axes = (fromAttr ? (node.attrs.has('axes') ? attr(node, 'axes', 'ints') : undefined) : inputs[3] && values(inputs[3])) ?? starts.map((_, i) => i);
      const steps = (!fromAttr && inputs[4] && values(inputs[4])) || starts.map(() => 1);
      const picks = c.dims.map((d) => Array.from({ length: d }, (_, i) => i));
      axes.forEach((a, k) => (picks[axisOf(a, c.dims.length, node)] = sliceRange(c.dims[axisOf(a, c.dims.length, node)], starts[k], ends[k], steps[k])));
      const dims = picks.map((p) => p.length);
      const st = strides(c.dims);
      const so = strides(dims);
      const out = new Array<number>(elementCount(dims));
      for (let k = 0; k < out.length; k++) {
        let at = 0;
        for (let d = 0; d < dims.length; d++) at += picks[d][Math.floor(k / so[d]) % dims[d]] * st[d];
        out[k] = c.data[at];
      }
      return [make(c.kind, dims, out)];
    }
    case 'Transpose': {
      const c = need(0);
      const perm = node.attrs.has('perm') ? attr(node, 'perm', 'ints') : c.dims.map((_, i) => c.dims.length - 1 - i);
      const dims = perm.map((p) => c.dims[p]);
      const st = strides(c.dims);
      const so = strides(dims);
      const out = new Array<number>(elementCount(dims));
      for (let k = 0; k < out.length; k++) {
        let at = 0;
        for (let d = 0; d < dims.length; d++) at += (Math.floor(k / so[d]) % dims[d]) * st[perm[d]];
        out[k] = c.data[at];
      }
      return [make(c.kind, dims, out)];
    }
    default:
      throw new GraphError(`node ${node.name}: ${node.op} is not folded`);
  }
}
