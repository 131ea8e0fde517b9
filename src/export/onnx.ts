/**
 * A wgcam model as a standard ONNX file (opset 13): the model's graph (graph/arch-graph.ts:
 * the convolutions and pools, GAP, the dense layer, softmax, and `features` and `class_maps`
 * as outputs too, so that any runtime can draw the CAM; docs/onnx.md), encoded with
 * protobufjs from the schema subset in onnx.proto. The input is the photo already prepared:
 * resized to H x W ignoring the aspect ratio, bytes / 255, NCHW; how is stated in the model's
 * metadata_props.
 */
import { cellGeometry } from '../cam/geometry.ts';
import { archGraph } from '../graph/arch-graph.ts';
import type { AttrValue, Graph } from '../graph/graph.ts';
import { planGraph } from '../graph/plan.ts';
import type { LoadedModel } from '../io/model-file.ts';
import { ModelProto } from './onnx-schema.ts';

export const ONNX_OPSET = 13;
/** The IR version that goes with opset 13. */
const IR_VERSION = 7;
const FLOAT = 1;
const INT64 = 7;
const ATTRIBUTE = { INT: 2, INTS: 7 } as const;


type Attribute = { name: string; type: number; i?: number; ints?: number[] };
type Node = { op_type: string; name: string; input: string[]; output: string[]; attribute?: Attribute[] };

const ints = (name: string, values: number[]): Attribute => ({ name, type: ATTRIBUTE.INTS, ints: values });
const int = (name: string, value: number): Attribute => ({ name, type: ATTRIBUTE.INT, i: value });

function tensorType(dims: (number | string)[]) {
  return {
    tensor_type: {
      elem_type: FLOAT,
      shape: { dim: dims.map((d) => (typeof d === 'string' ? { dim_param: d } : { dim_value: d })) },
    },
  };
}

/** How wgcam turns a photo into the input tensor, for whoever runs the exported model. */
export function preprocessingProps(model: LoadedModel): Record<string, string> {
  const { arch, classes, input } = model.meta;
  return {
    'wgcam.classes': JSON.stringify(classes),
    'wgcam.input': JSON.stringify(input),
    'wgcam.arch': arch.blocks,
    preprocessing:
      `decode with EXIF rotation to sRGB without alpha${input.channels === 1 ? ', then to gray (luminance)' : ''}; ` +
      `resize to ${input.width}x${input.height} ignoring the aspect ratio; divide the bytes by 255; ` +
      `layout NCHW (${input.channels === 1 ? 'one gray channel' : 'R, G, B'})`,
    cam: "class c's map is class_maps[n,c]; wgcam shows class_maps[n,c1] - class_maps[n,c2] (c1, c2: the top two classes) divided by its largest |value|, clipped to 0..1; docs/onnx.md in wgcam has the alignment with the photo",
    'wgcam.cell_geometry': JSON.stringify(cellGeometry(arch.blocks)),
  };
}

/** The ONNX ModelProto of a loaded (validated) wgcam model, as bytes: its graph (graph/arch-graph.ts), encoded. */
export function encodeOnnx(model: LoadedModel, producerVersion: string): Uint8Array {
  const graph = archGraph(model, preprocessingProps(model));
  return encodeGraph(graph, {
    producerVersion,
    docString: `wgcam CAM classifier ${model.meta.arch.blocks}, ${model.meta.classes.length} classes`,
    outputDocs: {
      features: 'the last conv layer after its ReLU: the CAM reads these',
      class_maps: "every class's map: sum_k fc.weight[j,k] * features[n,k,h,w]",
    },
  });
}

function attribute(name: string, a: AttrValue): Attribute {
  switch (a.kind) {
    case 'int':
      return int(name, a.value);
    case 'ints':
      return ints(name, a.value);
    default:
      throw new Error(`attribute ${name}: a ${a.kind} attribute is not written (the graphs wgcam builds have none)`);
  }
}

/**
 * A graph as an ONNX ModelProto (opset 13): its nodes, constants as initializers (float32 or
 * int64), its metadata, and each output's shape from shape inference with the batch as 'N'.
 */
export function encodeGraph(graph: Graph, o: { producerVersion: string; docString: string; outputDocs?: Record<string, string> }): Uint8Array {
  const shapes = planGraph(graph, 1).shapes;
  const withBatch = (name: string) => ['N', ...shapes.get(name)!.slice(1)];
  const initializer = [...graph.constants].map(([name, c]) => ({
    name,
    data_type: c.kind === 'float' ? FLOAT : INT64,
    dims: c.dims,
    raw_data: c.kind === 'float' ? littleEndianBytes(c.data as Float32Array) : int64Bytes(c.data as number[]),
  }));
  const message = ModelProto.fromObject({
    ir_version: IR_VERSION,
    producer_name: 'wgcam',
    producer_version: o.producerVersion,
    model_version: 1,
    doc_string: o.docString,
    opset_import: [{ domain: '', version: graph.opset }],
    metadata_props: [...graph.metadata].map(([key, value]) => ({ key, value })),
    graph: {
      name: 'wgcam',
      node: graph.nodes.map((n): Node => {
        const attrs = [...n.attrs].map(([name, a]) => attribute(name, a));
        return { op_type: n.op, name: n.name, input: n.inputs, output: n.outputs, ...(attrs.length ? { attribute: attrs } : {}) };
      }),
      initializer,
      input: graph.inputs.map((i) => ({ name: i.name, type: tensorType(i.dims) })),
      output: graph.outputs.map((name) => ({ name, type: tensorType(withBatch(name)), ...(o.outputDocs?.[name] ? { doc_string: o.outputDocs[name] } : {}) })),
    },
  });
  return ModelProto.encode(message).finish();
}

function int64Bytes(values: number[]): Uint8Array {
  const out = new Uint8Array(values.length * 8);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => view.setBigInt64(i * 8, BigInt(v), true));
  return out;
}

/** float32 values as little-endian bytes (ONNX's raw_data), whatever this machine's order. */
function littleEndianBytes(data: Float32Array): Uint8Array {
  const out = new Uint8Array(data.length * 4);
  const view = new DataView(out.buffer);
  data.forEach((v, i) => view.setFloat32(i * 4, v, true));
  return out;
}
