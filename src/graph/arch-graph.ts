/**
 * wgcam's own networks in the graph type every imported network has: the block grammar
 * (`c32-p-c64-...`, nn/model.ts) is one way of building a graph.
 *
 *   image [N,C,H,W] -> (Conv 3x3 valid -> Relu | MaxPool 2x2/2)... -> features [N,K,h,w]
 *   -> GlobalAveragePool -> Flatten -> Gemm (fc.weight^T, fc.bias) -> logits [N,J]
 *   -> Softmax(axis 1) -> probabilities [N,J]
 *
 * plus `class_maps` [N,J,h,w] (fc.weight as a 1x1 convolution over the features: every
 * class's CAM), so that any runtime can draw the maps. Tensor and node names are the model
 * file's parameter names (conv1.weight, ..., fc.bias) and the exported ONNX file's.
 */
import type { LoadedModel } from '../io/model-format.ts';
import { expectedParams } from '../io/model-format.ts';
import { featureShapes, parseBlocks, type Arch } from '../nn/model.ts';
import type { AttrValue, Constant, Graph, GraphNode } from './graph.ts';

const ints = (value: number[]): AttrValue => ({ kind: 'ints', value });
const int = (value: number): AttrValue => ({ kind: 'int', value });

function node(op: string, name: string, inputs: string[], outputs: string[], attrs: Record<string, AttrValue> = {}): GraphNode {
  return { op, name, inputs, outputs, attrs: new Map(Object.entries(attrs)) };
}

/** The graph's nodes for an architecture (weights apart). */
function archNodes(arch: Arch): GraphNode[] {
  const nodes: GraphNode[] = [];
  const blocks = parseBlocks(arch.blocks);
  let x = 'image';
  let conv = 0;
  let pool = 0;
  blocks.forEach((b, i) => {
    if (b.kind === 'pool') {
      pool++;
      nodes.push(node('MaxPool', `pool${pool}`, [x], [`pool${pool}`], { kernel_shape: ints([2, 2]), strides: ints([2, 2]) }));
      x = `pool${pool}`;
      return;
    }
    conv++;
    nodes.push(node('Conv', `conv${conv}`, [x, `conv${conv}.weight`, `conv${conv}.bias`], [`conv${conv}`], { kernel_shape: ints([3, 3]), pads: ints([0, 0, 0, 0]), strides: ints([1, 1]) }));
    x = i === blocks.length - 1 ? 'features' : `relu${conv}`;
    nodes.push(node('Relu', `relu${conv}`, [`conv${conv}`], [x]));
  });
  nodes.push(
    node('GlobalAveragePool', 'gap', ['features'], ['gap']),
    node('Flatten', 'flatten', ['gap'], ['pooled'], { axis: int(1) }),
    node('Gemm', 'fc', ['pooled', 'fc.weight', 'fc.bias'], ['logits'], { transB: int(1) }),
    node('Softmax', 'softmax', ['logits'], ['probabilities'], { axis: int(1) }),
    // fc.weight [J, K] as a 1x1 convolution kernel [J, K, 1, 1] over the features.
    node('Reshape', 'fc_as_1x1', ['fc.weight', 'class_maps.kernel_shape'], ['fc.weight_1x1']),
    node('Conv', 'class_maps', ['features', 'fc.weight_1x1'], ['class_maps'], { kernel_shape: ints([1, 1]) }),
  );
  return nodes;
}

/** A loaded (validated) wgcam model as a graph; `metadata` becomes the graph's (the exporter's preprocessing notes). */
export function archGraph(model: LoadedModel, metadata: Record<string, string> = {}): Graph {
  const { arch } = model.meta;
  const [K] = featureShapes(arch).at(-1)!;
  const constants = new Map<string, Constant>(expectedParams(arch).map(([name, dims]) => [name, { dims, kind: 'float', data: model.weights.get(name)! }]));
  constants.set('class_maps.kernel_shape', { dims: [4], kind: 'int', data: [arch.classes, K, 1, 1] });
  return {
    inputs: [{ name: 'image', dims: ['N', arch.inputChannels, arch.height, arch.width] }],
    outputs: ['probabilities', 'logits', 'features', 'class_maps'],
    nodes: archNodes(arch),
    constants,
    opset: 13,
    metadata: new Map(Object.entries(metadata)),
  };
}
