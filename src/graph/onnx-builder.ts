/**
 * Writes ONNX files from code: a small graph builder over protobufjs and the project's schema
 * (src/export/onnx.proto), with the layers as torch.onnx.export writes torchvision's (Conv +
 * BatchNormalization + Relu, Flatten + Gemm). The tests build their architectures with it and
 * the bench its full-size ResNet-18, MobileNetV2 and VGG-16, with random weights.
 */
import { ModelProto } from '../export/onnx-schema.ts';
import { Rng } from '../util/rng.ts';

/** An attribute value: a whole number is INT, `{ f }` FLOAT, an array INTS, `{ fs }` FLOATS, a string STRING, `{ scalar }` a float TENSOR of no dims. */
type Attr = number | number[] | string | { f: number } | { fs: number[] } | { scalar: number };

function attribute(name: string, v: Attr) {
  if (typeof v === 'number') return { name, type: 2, i: v };
  if (typeof v === 'string') return { name, type: 3, s: Buffer.from(v) };
  if (Array.isArray(v)) return { name, type: 7, ints: v };
  if ('f' in v) return { name, type: 1, f: v.f };
  if ('scalar' in v) return { name, type: 4, t: { dims: [], data_type: 1, float_data: [v.scalar] } };
  return { name, type: 6, floats: v.fs };
}

export class OnnxBuilder {
  readonly nodes: object[] = [];
  readonly initializers: object[] = [];
  readonly inputs: object[] = [];
  readonly outputs: object[] = [];
  private n = 0;
  private readonly rng: Rng;

  constructor(
    readonly opset = 13,
    seed = 1,
  ) {
    this.rng = new Rng(seed);
  }

  input(name: string, dims: (number | string)[]): string {
    this.inputs.push({ name, type: { tensor_type: { elem_type: 1, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })) } } } });
    return name;
  }

  output(name: string): void {
    this.outputs.push({ name, type: { tensor_type: { elem_type: 1 } } });
  }

  /** A float initializer (given values, or random in [-scale, scale)). */
  weight(dims: number[], scale = 0.5, values?: number[]): string {
    const name = `w${this.n++}`;
    const count = dims.reduce((a, b) => a * b, 1);
    const data = values ? Float32Array.from(values) : new Float32Array(count);
    if (!values) for (let i = 0; i < count; i++) data[i] = (this.rng.next() * 2 - 1) * scale;
    this.initializers.push({ name, dims, data_type: 1, raw_data: Buffer.from(data.buffer) });
    return name;
  }

  /** An int64 initializer. */
  ints(values: number[], dims = [values.length]): string {
    const name = `i${this.n++}`;
    this.initializers.push({ name, dims, data_type: 7, raw_data: Buffer.from(BigInt64Array.from(values.map(BigInt)).buffer) });
    return name;
  }

  node(op: string, inputs: string[], attrs: Record<string, Attr> = {}, outputs = 1): string {
    const names = Array.from({ length: outputs }, () => `t${this.n++}`);
    this.nodes.push({ op_type: op, name: `${op}_${this.n}`, input: inputs, output: names, attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)) });
    return names[0];
  }

  // ---- layers, as torchvision exports them ----

  conv(x: string, ci: number, co: number, k: number, o: { stride?: number; pad?: number; group?: number; bias?: boolean; dilation?: number; autoPad?: string } = {}): string {
    const attrs: Record<string, Attr> = { kernel_shape: [k, k], strides: [o.stride ?? 1, o.stride ?? 1] };
    if (o.autoPad) attrs.auto_pad = o.autoPad;
    else attrs.pads = Array(4).fill(o.pad ?? 0);
    if (o.group) attrs.group = o.group;
    if (o.dilation) attrs.dilations = [o.dilation, o.dilation];
    const w = this.weight([co, ci / (o.group ?? 1), k, k], Math.sqrt(3 / ((ci / (o.group ?? 1)) * k * k)));
    return this.node('Conv', o.bias === false ? [x, w] : [x, w, this.weight([co], 0.1)], attrs);
  }

  bn(x: string, c: number): string {
    const gamma = this.weight([c], 0, Array.from({ length: c }, () => 0.5 + this.rng.next()));
    const beta = this.weight([c], 0.2);
    const mean = this.weight([c], 0.2);
    const variance = this.weight([c], 0, Array.from({ length: c }, () => 0.5 + this.rng.next()));
    return this.node('BatchNormalization', [x, gamma, beta, mean, variance], { epsilon: { f: 1e-5 } });
  }

  relu(x: string): string {
    return this.node('Relu', [x]);
  }

  /** Clip(0, 6); from opset 11 its bounds made by Constant nodes after the layer before it, as torch.onnx.export writes them. */
  relu6(x: string): string {
    if (this.opset < 11) return this.node('Clip', [x], { min: { f: 0 }, max: { f: 6 } });
    return this.node('Clip', [x, this.node('Constant', [], { value: { scalar: 0 } }), this.node('Constant', [], { value: { scalar: 6 } })]);
  }

  swish(x: string): string {
    return this.node('Mul', [x, this.node('Sigmoid', [x])]);
  }

  gemm(x: string, k: number, j: number): string {
    return this.node('Gemm', [x, this.weight([j, k], Math.sqrt(3 / k)), this.weight([j], 0.1)], { transB: 1 });
  }

  head(x: string, c: number, classes: number): string {
    return this.gemm(this.node('Flatten', [this.node('GlobalAveragePool', [x])]), c, classes);
  }

  encode(): Uint8Array {
    const model = {
      ir_version: this.opset >= 13 ? 7 : 6,
      producer_name: 'wgcam tests',
      opset_import: [{ domain: '', version: this.opset }],
      graph: { name: 'g', node: this.nodes, initializer: this.initializers, input: this.inputs, output: this.outputs },
    };
    const err = ModelProto.verify(model);
    if (err) throw new Error(err);
    return ModelProto.encode(ModelProto.fromObject(model)).finish();
  }
}

