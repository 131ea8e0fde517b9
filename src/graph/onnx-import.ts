/**
 * Reads an ONNX file into a Graph. The bytes are untrusted: every count, dimension and length
 * is checked against the bytes actually present before anything is allocated from it, so the
 * memory used stays a small multiple of the file's size; the schema (src/export/onnx.proto)
 * holds no message that nests itself, so decoding cannot recurse without bound; weights kept
 * in other files (external data) are refused, so nothing outside the model file is ever read.
 * Every problem is one line naming the file.
 */
import { ModelProto } from '../export/onnx-schema.ts';
import { quoteName } from '../io/safetensors-format.ts';
import { GraphError, topologicalOrder, type AttrValue, type Constant, type Graph, type GraphInput, type GraphNode } from './graph.ts';

/** The opsets whose definitions of the supported ops wgcam follows. */
export const OPSETS = { min: 7, max: 21 } as const;
const LIMITS = { nodes: 100_000, tensors: 100_000, rank: 8, dim: 2 ** 31 - 1, attributes: 64 };

const DATA_TYPES: Record<number, { name: string; bytes: number }> = {
  1: { name: 'float32', bytes: 4 },
  2: { name: 'uint8', bytes: 1 },
  3: { name: 'int8', bytes: 1 },
  6: { name: 'int32', bytes: 4 },
  7: { name: 'int64', bytes: 8 },
  9: { name: 'bool', bytes: 1 },
  10: { name: 'float16', bytes: 2 },
  11: { name: 'float64', bytes: 8 },
};

export class OnnxError extends GraphError {}

interface RawTensor {
  dims?: number[];
  data_type?: number;
  name?: string;
  raw_data?: Uint8Array;
  float_data?: number[];
  int32_data?: number[];
  int64_data?: number[];
  double_data?: number[];
  external_data?: unknown[];
  data_location?: number;
}
interface RawAttribute {
  name?: string;
  type?: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  t?: RawTensor;
  floats?: number[];
  ints?: number[];
  strings?: Uint8Array[];
}
interface RawNode {
  input?: string[];
  output?: string[];
  name?: string;
  op_type?: string;
  domain?: string;
  attribute?: RawAttribute[];
}
interface RawValueInfo {
  name?: string;
  type?: { tensor_type?: { elem_type?: number; shape?: { dim?: { dim_value?: number; dim_param?: string }[] } } };
}
interface RawModel {
  opset_import?: { domain?: string; version?: number }[];
  graph?: { node?: RawNode[]; initializer?: RawTensor[]; input?: RawValueInfo[]; output?: RawValueInfo[] };
  metadata_props?: { key?: string; value?: string }[];
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

/** A TensorProto as a Constant; `what` names it in errors. */
export function tensorFromProto(t: RawTensor, what: string): Constant {
  if (t.data_location === 1 || (t.external_data?.length ?? 0) > 0) {
    throw new OnnxError(`${what} keeps its values in another file (external data); wgcam reads weights only from inside the model file: save the model with its weights inside`);
  }
  const dims = (t.dims ?? []).map(Number);
  if (dims.length > LIMITS.rank || !dims.every((d) => Number.isSafeInteger(d) && d >= 0 && d <= LIMITS.dim)) throw new OnnxError(`${what} has invalid dimensions [${dims.join(', ')}]`);
  const type = DATA_TYPES[t.data_type ?? 0];
  if (!type) throw new OnnxError(`${what} has data type ${t.data_type ?? 0}, which wgcam does not read (float32, float16, float64 and integers)`);
  // The count is checked against the bytes present before any array of that size is made.
  let count = 1;
  for (const d of dims) count *= d;
  const raw = t.raw_data && t.raw_data.length ? t.raw_data : null;
  const listed = type.name === 'float32' ? t.float_data : type.name === 'float64' ? t.double_data : type.name === 'int64' ? t.int64_data : t.int32_data;
  const present = raw ? raw.length / type.bytes : (listed?.length ?? 0);
  if (present !== count) throw new OnnxError(`${what} declares ${count} values ([${dims.join(', ')}]) but holds ${present}`);
  const isFloat = type.name.startsWith('float');
  if (!raw) {
    const values = (listed ?? []).map(Number);
    // float16 values arrive as their bit patterns in int32_data.
    return { dims, kind: isFloat ? 'float' : 'int', data: isFloat ? Float32Array.from(type.name === 'float16' ? values.map(halfToFloat) : values) : values };
  }
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  if (isFloat) {
    const out = new Float32Array(count);
    for (let i = 0; i < count; i++) out[i] = type.name === 'float32' ? view.getFloat32(4 * i, true) : type.name === 'float64' ? view.getFloat64(8 * i, true) : halfToFloat(view.getUint16(2 * i, true));
    return { dims, kind: 'float', data: out };
  }
  const ints = new Array<number>(count);
  for (let i = 0; i < count; i++) {
    ints[i] =
      type.name === 'int64' ? Number(view.getBigInt64(8 * i, true)) : type.name === 'int32' ? view.getInt32(4 * i, true) : type.name === 'int8' ? view.getInt8(i) : view.getUint8(i);
  }
  return { dims, kind: 'int', data: ints };
}

function attribute(a: RawAttribute, node: string): [string, AttrValue] {
  const name = a.name ?? '';
  const what = `node ${node}: attribute ${quoteName(name)}`;
  switch (a.type) {
    case 1:
      return [name, { kind: 'float', value: Number(a.f ?? 0) }];
    case 2:
      return [name, { kind: 'int', value: Number(a.i ?? 0) }];
    case 3:
      return [name, { kind: 'string', value: new TextDecoder().decode(a.s ?? new Uint8Array()) }];
    case 4:
      if (!a.t) throw new OnnxError(`${what} holds no tensor`);
      return [name, { kind: 'tensor', value: tensorFromProto(a.t, what) }];
    case 6:
      return [name, { kind: 'floats', value: (a.floats ?? []).map(Number) }];
    case 7:
      return [name, { kind: 'ints', value: (a.ints ?? []).map(Number) }];
    case 5:
    case 10:
      throw new OnnxError(`${what} is a subgraph (If, Loop, Scan): wgcam runs feed-forward classifiers without control flow`);
    default:
      throw new OnnxError(`${what} has type ${a.type ?? 0}, which wgcam does not read`);
  }
}

/** Decodes and checks an ONNX model's bytes; `source` names it in every error. */
export function decodeOnnx(bytes: Uint8Array, source: string): Graph {
  let m: RawModel;
  try {
    const decoded = ModelProto.decode(bytes);
    m = ModelProto.toObject(decoded, { longs: Number, enums: Number, defaults: false, arrays: true }) as RawModel;
  } catch (e) {
    throw new OnnxError(`${source}: not an ONNX model (${(e as Error).message.split('\n')[0]})`);
  }
  try {
    return graphOf(m);
  } catch (e) {
    if (e instanceof GraphError) throw new OnnxError(`${source}: ${e.message}`);
    throw e;
  }
}

function graphOf(m: RawModel): Graph {
  const g = m.graph;
  if (!g || !g.node?.length) throw new OnnxError('holds no graph (not an ONNX model, or an empty one)');
  const main = (m.opset_import ?? []).find((o) => !o.domain || o.domain === 'ai.onnx');
  const opset = Number(main?.version ?? 0);
  if (!(opset >= OPSETS.min && opset <= OPSETS.max)) throw new OnnxError(`uses opset ${opset || 'none'}; wgcam reads opsets ${OPSETS.min} to ${OPSETS.max}`);
  if (g.node.length > LIMITS.nodes || (g.initializer?.length ?? 0) > LIMITS.tensors) throw new OnnxError(`has ${g.node.length} nodes and ${g.initializer?.length ?? 0} initializers (at most ${LIMITS.nodes} each)`);

  const constants = new Map<string, Constant>();
  for (const t of g.initializer ?? []) {
    const name = t.name ?? '';
    if (constants.has(name)) throw new OnnxError(`initializer ${quoteName(name)} is given twice`);
    constants.set(name, tensorFromProto(t, `initializer ${quoteName(name)}`));
  }
  const inputs: GraphInput[] = [];
  for (const v of g.input ?? []) {
    const name = v.name ?? '';
    if (constants.has(name)) continue; // an initializer listed as an input (older exporters)
    const tt = v.type?.tensor_type;
    if (tt?.elem_type !== undefined && tt.elem_type !== 1) throw new OnnxError(`input ${quoteName(name)} is of data type ${tt.elem_type}; wgcam feeds float32 images`);
    const dims = (tt?.shape?.dim ?? []).map((d) => (d.dim_value !== undefined && Number(d.dim_value) > 0 ? Number(d.dim_value) : (d.dim_param ?? '?')));
    if (dims.length > LIMITS.rank || dims.some((d) => typeof d === 'number' && d > LIMITS.dim)) throw new OnnxError(`input ${quoteName(name)} has invalid dimensions`);
    inputs.push({ name, dims });
  }
  if (inputs.length !== 1) throw new OnnxError(`has ${inputs.length} inputs (${inputs.map((i) => quoteName(i.name)).join(', ')}); wgcam runs classifiers of one image input`);
  const outputs = (g.output ?? []).map((o) => o.name ?? '');
  if (outputs.length === 0) throw new OnnxError('declares no output');

  const nodes: GraphNode[] = g.node.map((n, k) => {
    const name = n.name || `${n.op_type ?? 'node'}_${k}`;
    if (n.domain && n.domain !== 'ai.onnx') throw new OnnxError(`node ${quoteName(name)} is an op of domain ${quoteName(n.domain)}; wgcam runs the standard ONNX ops`);
    if ((n.attribute?.length ?? 0) > LIMITS.attributes) throw new OnnxError(`node ${quoteName(name)} has ${n.attribute!.length} attributes`);
    const attrs = new Map<string, AttrValue>();
    for (const a of n.attribute ?? []) {
      const [key, value] = attribute(a, quoteName(name));
      if (attrs.has(key)) throw new OnnxError(`node ${quoteName(name)} sets attribute ${quoteName(key)} twice`);
      attrs.set(key, value);
    }
    return { name, op: n.op_type ?? '', inputs: n.input ?? [], outputs: n.output ?? [], attrs };
  });
  const ordered = topologicalOrder(nodes, [...constants.keys(), ...inputs.map((i) => i.name)]);
  const made = new Set([...constants.keys(), inputs[0].name, ...nodes.flatMap((n) => n.outputs)]);
  for (const o of outputs) if (!made.has(o)) throw new OnnxError(`output ${quoteName(o)} is made by no node`);
  const metadata = new Map((m.metadata_props ?? []).map((p) => [p.key ?? '', p.value ?? '']));
  return { inputs, outputs, nodes: ordered, constants, opset, metadata };
}
