/**
 * The model `wgcam train --backbone` writes: one ONNX file with the backbone up to the cut
 * (its nodes, initializers and input as the file has them, decoded and re-encoded field for
 * field; everything after the cut left out) and the trained head after it:
 *
 *   cut -> [Conv 3x3 pad 1 -> Relu] -> GlobalAveragePool -> Flatten -> Gemm -> wgcam_logits
 *
 * a CAM-ready classifier that every wgcam command (predict, eval, cam with every method,
 * export, web) and any ONNX runtime reads. Its metadata carries the class names and the
 * preprocessing (read back by wgcam as the defaults) and where it came from.
 */
import { GraphError, ancestorNodes } from '../graph/graph.ts';
import { describePreprocessing, type Preprocessing } from '../graph/imported-model.ts';
import { ModelProto } from './onnx-schema.ts';

const FLOAT = 1;
const INTS = 7;
const INT = 2;
export const LOGITS = 'wgcam_logits';
const NAMES = ['wgcam_head_conv', 'wgcam_head_conv.weight', 'wgcam_head_conv.bias', 'wgcam_head_features', 'wgcam_head_pooled', 'wgcam_head_flat', 'wgcam_fc.weight', 'wgcam_fc.bias', LOGITS];

/** A fine-tuned convolution of the backbone: its weights and bias with any batch-norm after it folded in. */
export interface TunedConv {
  /** The Conv node's first output (before a folded batch-norm). */
  output: string;
  /** The folded batch-norm's output, when there was one: the rewritten Conv makes it, the batch-norm node goes. */
  batchNormOutput?: string;
  /** [Co, Ci/G, KH, KW]. */
  dims: number[];
  weight: Float32Array;
  bias: Float32Array;
}

export interface HeadWeights {
  /** The CAM paper's extra 3x3 convolution (padding 1, ReLU): [M, K, 3, 3] and [M]. */
  conv?: { weight: Float32Array; bias: Float32Array; channels: number };
  /** The dense layer after the global average pooling: [J, M or K] and [J]. */
  fc: { weight: Float32Array; bias: Float32Array };
}

interface ProtoNode {
  op_type?: string;
  input?: string[];
  output?: string[];
}
interface ProtoTensor {
  name?: string;
  dims?: number[];
  data_type?: number;
  raw_data?: Uint8Array;
  float_data?: number[];
}
interface MutableModel {
  producer_name?: string;
  producer_version?: string;
  graph: {
    node: ProtoNode[];
    initializer: ProtoTensor[];
    input: { name?: string }[];
    output: object[];
    value_info: { name?: string }[];
  };
  metadata_props: { key?: string; value?: string }[];
}

const raw = (values: Float32Array) => {
  const bytes = new Uint8Array(values.length * 4);
  const view = new DataView(bytes.buffer);
  values.forEach((v, i) => view.setFloat32(i * 4, v, true));
  return bytes;
};

/** Writes transfer models of one backbone cut at one tensor: the backbone's part decoded and pruned once. */
export class TransferOnnxWriter {
  private readonly base: Uint8Array;
  /** The first outputs of the kept Conv nodes (the convolutions fine-tuning may rewrite). */
  private readonly convs: Set<string>;

  constructor(
    backbone: Uint8Array,
    private readonly cut: string,
    private readonly image: string,
    source: string,
  ) {
    const m = ModelProto.decode(backbone) as unknown as MutableModel;
    const g = m.graph;
    const everyName = new Set([...g.node.flatMap((n) => [...(n.input ?? []), ...(n.output ?? [])]), ...g.initializer.map((i) => i.name)]);
    for (const name of NAMES) if (everyName.has(name)) throw new GraphError(`${source}: already has a tensor named '${name}', which the transfer head adds`);
    const kept = ancestorNodes(g.node, (n) => n.input ?? [], (n) => n.output ?? [], [cut]);
    g.node = g.node.filter((_, i) => kept.has(i));
    const read = new Set(g.node.flatMap((n) => n.input ?? []));
    const made = new Set(g.node.flatMap((n) => n.output ?? []));
    g.initializer = g.initializer.filter((t) => read.has(t.name ?? ''));
    // Older opsets list initializers among the inputs too: keep those still read, and the image.
    g.input = g.input.filter((i) => i.name === image || read.has(i.name ?? ''));
    g.value_info = g.value_info.filter((v) => made.has(v.name ?? ''));
    g.output = [];
    this.convs = new Set(g.node.flatMap((n) => (n.op_type === 'Conv' && n.output?.[0] ? [n.output[0]] : [])));
    m.metadata_props = [];
    this.base = ModelProto.encode(m as never).finish();
  }

  /** Why the convolution making `output` cannot be written back fine-tuned (it is not a Conv node of the file), or null. */
  whyNotTunable(output: string): string | null {
    return this.convs.has(output) ? null : 'not a Conv node of the file';
  }

  /** The whole model as bytes: the pruned backbone (fine-tuned convolutions rewritten), the head with these weights, the metadata. */
  write(head: HeadWeights, o: { classes: string[]; pre: Preprocessing; batch: number | null; about: Record<string, unknown>; tuned?: TunedConv[] }): Uint8Array {
    const m = ModelProto.decode(this.base) as unknown as MutableModel;
    const g = m.graph;
    for (const t of o.tuned ?? []) this.rewrite(g, t);
    const J = o.classes.length;
    const nodes: object[] = [];
    const initializers: object[] = [];
    let features = this.cut;
    if (head.conv) {
      const { weight, bias, channels } = head.conv;
      initializers.push({ name: 'wgcam_head_conv.weight', data_type: FLOAT, dims: [channels, weight.length / (channels * 9), 3, 3], raw_data: raw(weight) });
      initializers.push({ name: 'wgcam_head_conv.bias', data_type: FLOAT, dims: [channels], raw_data: raw(bias) });
      nodes.push({
        op_type: 'Conv',
        name: 'wgcam_head_conv',
        input: [features, 'wgcam_head_conv.weight', 'wgcam_head_conv.bias'],
        output: ['wgcam_head_conv'],
        attribute: [
          { name: 'kernel_shape', type: INTS, ints: [3, 3] },
          { name: 'pads', type: INTS, ints: [1, 1, 1, 1] },
        ],
      });
      nodes.push({ op_type: 'Relu', name: 'wgcam_head_relu', input: ['wgcam_head_conv'], output: ['wgcam_head_features'] });
      features = 'wgcam_head_features';
    }
    const K = head.fc.weight.length / J;
    initializers.push({ name: 'wgcam_fc.weight', data_type: FLOAT, dims: [J, K], raw_data: raw(head.fc.weight) });
    initializers.push({ name: 'wgcam_fc.bias', data_type: FLOAT, dims: [J], raw_data: raw(head.fc.bias) });
    nodes.push({ op_type: 'GlobalAveragePool', name: 'wgcam_head_gap', input: [features], output: ['wgcam_head_pooled'] });
    nodes.push({ op_type: 'Flatten', name: 'wgcam_head_flatten', input: ['wgcam_head_pooled'], output: ['wgcam_head_flat'], attribute: [{ name: 'axis', type: INT, i: 1 }] });
    nodes.push({
      op_type: 'Gemm',
      name: 'wgcam_fc',
      input: ['wgcam_head_flat', 'wgcam_fc.weight', 'wgcam_fc.bias'],
      output: [LOGITS],
      attribute: [{ name: 'transB', type: INT, i: 1 }],
    });
    g.node = [...g.node, ...nodes];
    g.initializer = [...g.initializer, ...initializers];
    if (o.tuned?.length) {
      // What only the rewritten convolutions read (their old weights, Identity nodes of shared ones) goes.
      const kept = ancestorNodes(g.node, (n) => n.input ?? [], (n) => n.output ?? [], [LOGITS]);
      g.node = g.node.filter((_, i) => kept.has(i));
      const read = new Set(g.node.flatMap((n) => n.input ?? []));
      g.initializer = g.initializer.filter((t) => read.has(t.name ?? ''));
      g.input = g.input.filter((i) => i.name === this.image || read.has(i.name ?? ''));
    }
    const batch = o.batch === null ? { dim_param: 'N' } : { dim_value: o.batch };
    g.output = [{ name: LOGITS, doc_string: 'class scores (before softmax)', type: { tensor_type: { elem_type: FLOAT, shape: { dim: [batch, { dim_value: J }] } } } }];
    m.producer_name = 'wgcam';
    const { pre } = o;
    const props: Record<string, string> = {
      'wgcam.classes': JSON.stringify(o.classes),
      preprocessing: describePreprocessing(pre),
      'wgcam.preprocess': JSON.stringify({ preset: pre.name, resize: pre.resize, crop: pre.crop[0], mean: pre.mean, std: pre.std }),
      'wgcam.transfer': JSON.stringify(o.about),
    };
    m.metadata_props = Object.entries(props).map(([key, value]) => ({ key, value }));
    return ModelProto.encode(m as never).finish();
  }

  /**
   * A fine-tuned Conv reads new initializers of its own (the file's may be shared, or made by
   * Identity nodes where torch.onnx.export merged equal parameters); the batch-norm it absorbed
   * is taken out.
   */
  private rewrite(g: MutableModel['graph'], t: TunedConv): void {
    const conv = g.node.find((n) => n.op_type === 'Conv' && n.output?.[0] === t.output);
    if (!conv) throw new GraphError(`the convolution making '${t.output}' is not a Conv node of the file`);
    const [w, b] = [`${t.output}.wgcam_weight`, `${t.output}.wgcam_bias`];
    const tensor = (name: string, dims: number[], values: Float32Array) => ({ name, dims, data_type: FLOAT, raw_data: raw(values) });
    g.initializer = [...g.initializer, tensor(w, t.dims, t.weight), tensor(b, [t.bias.length], t.bias)];
    conv.input = [conv.input![0], w, b];
    if (t.batchNormOutput) {
      g.node = g.node.filter((n) => !(n.op_type === 'BatchNormalization' && n.output?.[0] === t.batchNormOutput));
      conv.output = [t.batchNormOutput];
    }
  }
}
