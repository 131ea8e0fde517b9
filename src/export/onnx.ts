/**
 * A wgcam model as a standard ONNX graph (opset 13), encoded with protobufjs from the schema
 * subset in onnx.proto:
 *
 *   image [N,C,H,W] -> (Conv 3x3 valid -> Relu | MaxPool 2x2/2)... -> features [N,K,h,w]
 *   -> GlobalAveragePool -> Flatten -> Gemm (fc.weight^T, fc.bias) -> logits [N,J]
 *   -> Softmax(axis 1) -> probabilities [N,J]
 *
 * `features` (the last conv after its ReLU) and `class_maps` (every class's map,
 * class_maps[n,j,h,w] = sum_k fc.weight[j,k] * features[n,k,h,w]: a 1x1 Conv with fc.weight)
 * are outputs too, so that any runtime can draw the CAM (docs/onnx.md). The input is the
 * photo already prepared: resized to H x W ignoring the aspect ratio, bytes / 255, NCHW; how is
 * stated in the model's metadata_props.
 */
import { cellGeometry } from '../cam/geometry.ts';
import { featureShapes, parseBlocks } from '../nn/model.ts';
import { expectedParams, type LoadedModel } from '../io/model-file.ts';
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

/** The ONNX ModelProto of a loaded (validated) wgcam model, as bytes. */
export function encodeOnnx(model: LoadedModel, producerVersion: string): Uint8Array {
  const { arch } = model.meta;
  const shapes = featureShapes(arch);
  const [K, h, w] = shapes[shapes.length - 1];
  const nodes: Node[] = [];
  const blocks = parseBlocks(arch.blocks);
  let x = 'image';
  let conv = 0;
  let pool = 0;
  blocks.forEach((b, i) => {
    if (b.kind === 'pool') {
      pool++;
      nodes.push({ op_type: 'MaxPool', name: `pool${pool}`, input: [x], output: [`pool${pool}`], attribute: [ints('kernel_shape', [2, 2]), ints('strides', [2, 2])] });
      x = `pool${pool}`;
      return;
    }
    conv++;
    const last = i === blocks.length - 1;
    nodes.push({
      op_type: 'Conv',
      name: `conv${conv}`,
      input: [x, `conv${conv}.weight`, `conv${conv}.bias`],
      output: [`conv${conv}`],
      attribute: [ints('kernel_shape', [3, 3]), ints('pads', [0, 0, 0, 0]), ints('strides', [1, 1])],
    });
    x = last ? 'features' : `relu${conv}`;
    nodes.push({ op_type: 'Relu', name: `relu${conv}`, input: [`conv${conv}`], output: [x] });
  });
  nodes.push(
    { op_type: 'GlobalAveragePool', name: 'gap', input: ['features'], output: ['gap'] },
    { op_type: 'Flatten', name: 'flatten', input: ['gap'], output: ['pooled'], attribute: [int('axis', 1)] },
    { op_type: 'Gemm', name: 'fc', input: ['pooled', 'fc.weight', 'fc.bias'], output: ['logits'], attribute: [int('transB', 1)] },
    { op_type: 'Softmax', name: 'softmax', input: ['logits'], output: ['probabilities'], attribute: [int('axis', 1)] },
    // fc.weight [J, K] as a 1x1 convolution kernel [J, K, 1, 1] over the features.
    { op_type: 'Reshape', name: 'fc_as_1x1', input: ['fc.weight', 'class_maps.kernel_shape'], output: ['fc.weight_1x1'] },
    { op_type: 'Conv', name: 'class_maps', input: ['features', 'fc.weight_1x1'], output: ['class_maps'], attribute: [ints('kernel_shape', [1, 1])] },
  );
  const initializer = expectedParams(arch).map(([name, dims]) => ({
    name,
    data_type: FLOAT,
    dims,
    raw_data: littleEndianBytes(model.weights.get(name)!),
  }));
  initializer.push({ name: 'class_maps.kernel_shape', data_type: INT64, dims: [4], raw_data: int64Bytes([arch.classes, K, 1, 1]) });
  const message = ModelProto.fromObject({
    ir_version: IR_VERSION,
    producer_name: 'wgcam',
    producer_version: producerVersion,
    model_version: 1,
    doc_string: `wgcam CAM classifier ${arch.blocks}, ${model.meta.classes.length} classes`,
    opset_import: [{ domain: '', version: ONNX_OPSET }],
    metadata_props: Object.entries(preprocessingProps(model)).map(([key, value]) => ({ key, value })),
    graph: {
      name: 'wgcam',
      node: nodes,
      initializer,
      input: [{ name: 'image', type: tensorType(['N', arch.inputChannels, arch.height, arch.width]) }],
      output: [
        { name: 'probabilities', type: tensorType(['N', arch.classes]) },
        { name: 'logits', type: tensorType(['N', arch.classes]) },
        { name: 'features', type: tensorType(['N', K, h, w]), doc_string: 'the last conv layer after its ReLU: the CAM reads these' },
        { name: 'class_maps', type: tensorType(['N', arch.classes, h, w]), doc_string: "every class's map: sum_k fc.weight[j,k] * features[n,k,h,w]" },
      ],
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
