// ONNX files for the import tests, written with protobufjs and the project's own schema
// (src/export/onnx.proto): a small builder, and the classic CNN architectures at small sizes with
// random weights, as torch.onnx.export writes torchvision's (Conv + BatchNormalization + Relu,
// Flatten + Gemm) and as TensorFlow-origin files come (NHWC input, Transpose, Pad, shape
// arithmetic, MatMul + Add, Softmax).
import { OnnxBuilder } from '../src/graph/onnx-builder.ts';

export { OnnxBuilder };

export interface Architecture {
  name: string;
  /** The input's shape (batch first, symbolic where the file leaves it open). */
  input: (number | string)[];
  build(): Uint8Array;
}

const SIZE = 32;
const CLASSES = 10;

function resnet(kind: 'basic' | 'bottleneck' | 'v2'): Uint8Array {
  const b = new OnnxBuilder(13, 3);
  let x = b.input('input', ['batch', 3, SIZE, SIZE]);
  x = b.node('MaxPool', [b.relu(b.bn(b.conv(x, 3, 8, 7, { stride: 2, pad: 3, bias: false }), 8))], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] });
  const block = (x: string, ci: number, co: number, stride: number) => {
    if (kind === 'v2') {
      // Pre-activation (v2): BN -> ReLU -> conv, twice; the add is not followed by a ReLU.
      let y = b.conv(b.relu(b.bn(x, ci)), ci, co, 3, { stride, pad: 1, bias: false });
      y = b.conv(b.relu(b.bn(y, co)), co, co, 3, { pad: 1, bias: false });
      return b.node('Add', [y, stride > 1 || ci !== co ? b.conv(x, ci, co, 1, { stride, bias: false }) : x]);
    }
    const short = stride > 1 || ci !== co ? b.bn(b.conv(x, ci, co, 1, { stride, bias: false }), co) : x;
    let y: string;
    if (kind === 'basic') y = b.bn(b.conv(b.relu(b.bn(b.conv(x, ci, co, 3, { stride, pad: 1, bias: false }), co)), co, co, 3, { pad: 1, bias: false }), co);
    else {
      const mid = co / 4;
      y = b.relu(b.bn(b.conv(x, ci, mid, 1, { bias: false }), mid));
      y = b.relu(b.bn(b.conv(y, mid, mid, 3, { stride, pad: 1, bias: false }), mid));
      y = b.bn(b.conv(y, mid, co, 1, { bias: false }), co);
    }
    return b.relu(b.node('Add', [y, short]));
  };
  const wide = kind === 'bottleneck' ? 32 : 16;
  x = block(x, 8, wide, 1);
  x = block(x, wide, wide * 2, 2);
  if (kind === 'v2') x = b.relu(b.bn(x, wide * 2));
  b.output(b.head(x, wide * 2, CLASSES));
  return b.encode();
}

function mobilenetV2(): Uint8Array {
  const b = new OnnxBuilder(11, 4);
  let x = b.input('input', ['N', 3, SIZE, SIZE]);
  x = b.relu6(b.bn(b.conv(x, 3, 8, 3, { stride: 2, pad: 1, bias: false }), 8));
  const inverted = (x: string, ci: number, co: number, stride: number, t: number) => {
    const h = ci * t;
    let y = b.relu6(b.bn(b.conv(x, ci, h, 1, { bias: false }), h));
    y = b.relu6(b.bn(b.conv(y, h, h, 3, { stride, pad: 1, group: h, bias: false }), h));
    y = b.bn(b.conv(y, h, co, 1, { bias: false }), co);
    return stride === 1 && ci === co ? b.node('Add', [x, y]) : y;
  };
  x = inverted(x, 8, 8, 1, 1);
  x = inverted(x, 8, 12, 2, 6);
  x = inverted(x, 12, 12, 1, 6);
  x = b.relu6(b.bn(b.conv(x, 12, 32, 1, { bias: false }), 32));
  // torchvision: adaptive average pool, then a flatten torch.onnx writes as Shape/Gather/Reshape.
  const pooled = b.node('GlobalAveragePool', [x]);
  const n = b.node('Gather', [b.node('Shape', [pooled]), b.ints([0], [])], { axis: 0 });
  const target = b.node('Concat', [b.node('Unsqueeze', [n], { axes: [0] }), b.ints([-1])], { axis: 0 });
  x = b.node('Reshape', [pooled, target]);
  x = b.node('Dropout', [x], { ratio: { f: 0.2 } });
  b.output(b.gemm(x, 32, CLASSES));
  return b.encode();
}

function vgg(bn: boolean): Uint8Array {
  const b = new OnnxBuilder(13, 5);
  let x = b.input('input', ['batch', 3, SIZE, SIZE]);
  let c = 3;
  for (const [co, convs] of [[8, 1], [16, 2], [16, 2]] as const) {
    for (let i = 0; i < convs; i++) {
      x = b.conv(x, c, co, 3, { pad: 1 });
      x = b.relu(bn ? b.bn(x, co) : x);
      c = co;
    }
    x = b.node('MaxPool', [x], { kernel_shape: [2, 2], strides: [2, 2] });
  }
  x = b.node('Flatten', [x]);
  x = b.node('Dropout', [b.relu(b.gemm(x, 16 * 4 * 4, 24))]);
  b.output(b.gemm(x, 24, CLASSES));
  return b.encode();
}

function squeezenet(version: '1.0' | '1.1'): Uint8Array {
  const b = new OnnxBuilder(12, 6);
  let x = b.input('input', ['batch', 3, SIZE, SIZE]);
  x = b.relu(version === '1.0' ? b.conv(x, 3, 16, 7, { stride: 2 }) : b.conv(x, 3, 16, 3, { stride: 2 }));
  const pool = (x: string) => b.node('MaxPool', [x], { kernel_shape: [3, 3], strides: [2, 2], ceil_mode: 1 });
  const fire = (x: string, ci: number, s: number, e: number) => {
    const sq = b.relu(b.conv(x, ci, s, 1));
    return b.node('Concat', [b.relu(b.conv(sq, s, e, 1)), b.relu(b.conv(sq, s, e, 3, { pad: 1 }))], { axis: 1 });
  };
  x = fire(pool(x), 16, 4, 8);
  x = fire(x, 16, 4, 8);
  x = fire(pool(x), 16, 6, 12);
  x = b.node('Dropout', [x]);
  x = b.relu(b.conv(x, 24, CLASSES, 1));
  x = b.node('GlobalAveragePool', [x]);
  b.output(b.node('Softmax', [b.node('Flatten', [x])], { axis: 1 }));
  return b.encode();
}

function densenet(): Uint8Array {
  const b = new OnnxBuilder(13, 7);
  let x = b.input('input', ['batch', 3, SIZE, SIZE]);
  x = b.node('MaxPool', [b.relu(b.bn(b.conv(x, 3, 8, 7, { stride: 2, pad: 3, bias: false }), 8))], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] });
  let c = 8;
  const growth = 4;
  const denseBlock = (x: string, layers: number) => {
    for (let i = 0; i < layers; i++) {
      let y = b.conv(b.relu(b.bn(x, c)), c, 4 * growth, 1, { bias: false });
      y = b.conv(b.relu(b.bn(y, 4 * growth)), 4 * growth, growth, 3, { pad: 1, bias: false });
      x = b.node('Concat', [x, y], { axis: 1 });
      c += growth;
    }
    return x;
  };
  x = denseBlock(x, 2);
  x = b.node('AveragePool', [b.conv(b.relu(b.bn(x, c)), c, c / 2, 1, { bias: false })], { kernel_shape: [2, 2], strides: [2, 2] });
  c /= 2;
  x = denseBlock(x, 2);
  x = b.relu(b.bn(x, c));
  b.output(b.head(x, c, CLASSES));
  return b.encode();
}

function efficientnetB0(): Uint8Array {
  const b = new OnnxBuilder(13, 8);
  let x = b.input('input', ['batch', 3, SIZE, SIZE]);
  x = b.swish(b.bn(b.conv(x, 3, 8, 3, { stride: 2, pad: 1, bias: false }), 8));
  const mbconv = (x: string, ci: number, co: number, stride: number, t: number) => {
    const h = ci * t;
    let y = t > 1 ? b.swish(b.bn(b.conv(x, ci, h, 1, { bias: false }), h)) : x;
    y = b.swish(b.bn(b.conv(y, h, h, 3, { stride, pad: 1, group: h, bias: false }), h));
    // Squeeze and excite: a per-channel gate from the pooled map.
    const squeezed = Math.max(1, ci / 4);
    const s = b.node('ReduceMean', [y], { axes: [2, 3], keepdims: 1 });
    const gate = b.node('Sigmoid', [b.conv(b.swish(b.conv(s, h, squeezed, 1)), squeezed, h, 1)]);
    y = b.bn(b.conv(b.node('Mul', [y, gate]), h, co, 1, { bias: false }), co);
    return stride === 1 && ci === co ? b.node('Add', [y, x]) : y;
  };
  x = mbconv(x, 8, 8, 1, 1);
  x = mbconv(x, 8, 12, 2, 6);
  x = mbconv(x, 12, 12, 1, 6);
  x = b.swish(b.bn(b.conv(x, 12, 32, 1, { bias: false }), 32));
  b.output(b.head(x, 32, CLASSES));
  return b.encode();
}

/** As TensorFlow-origin converters write EfficientNet-Lite4: NHWC input, Transpose, explicit Pads, ReLU6, MatMul + Add, Softmax. */
function efficientnetLite(): Uint8Array {
  const b = new OnnxBuilder(14, 9);
  let x = b.input('images:0', [1, SIZE, SIZE, 3]);
  x = b.node('Transpose', [x], { perm: [0, 3, 1, 2] });
  // (x - 127) / 128 as the file's own preprocessing.
  x = b.node('Div', [b.node('Sub', [x, b.weight([1], 0, [127])]), b.weight([1], 0, [128])]);
  // SAME padding of a stride-2 conv as TF writes it: an explicit asymmetric Pad first.
  x = b.node('Pad', [x, b.ints([0, 0, 0, 0, 0, 0, 1, 1])], { mode: 'constant' });
  x = b.relu6(b.conv(x, 3, 8, 3, { stride: 2 }));
  const dw = b.relu6(b.conv(x, 8, 8, 3, { group: 8, autoPad: 'SAME_UPPER' }));
  x = b.node('Add', [b.conv(dw, 8, 8, 1), x]);
  x = b.relu6(b.conv(x, 8, 16, 3, { stride: 2, autoPad: 'SAME_UPPER' }));
  x = b.node('LeakyRelu', [b.conv(x, 16, 16, 1)], { alpha: { f: 0.1 } });
  x = b.node('HardSwish', [b.conv(x, 16, 16, 3, { dilation: 2, pad: 2 })]);
  x = b.node('AveragePool', [x], { kernel_shape: [3, 3], strides: [1, 1], pads: [1, 1, 1, 1], count_include_pad: 1 });
  x = b.node('ReduceMean', [x], { axes: [2, 3], keepdims: 0 });
  x = b.node('Add', [b.node('MatMul', [x, b.weight([16, CLASSES], 0.4)]), b.weight([CLASSES], 0.1)]);
  b.output(b.node('Softmax', [x], { axis: -1 }));
  return b.encode();
}

/**
 * One graph of every op whose form changes between opsets 7 and 21, written in the form of
 * `opset`: Pad (pads an attribute before 11, an input after), Clip (bounds attributes before
 * 11), ReduceMean (axes an attribute before 18), Squeeze and Unsqueeze (axes an attribute before
 * 13), Dropout, BatchNormalization, Max/AveragePool, Concat, Reshape, Gemm, Softmax.
 */
export function opsetTour(opset: number): Uint8Array {
  const b = new OnnxBuilder(opset, 12);
  const axes = (x: string, op: string, list: number[], since: number, extra: Record<string, number> = {}) =>
    opset >= since ? b.node(op, [x, b.ints(list)], extra) : b.node(op, [x], { axes: list, ...extra });
  let x = b.input('input', ['batch', 3, 16, 16]);
  x = opset >= 11 ? b.node('Pad', [x, b.ints([0, 0, 1, 1, 0, 0, 1, 1])], { mode: 'constant' }) : b.node('Pad', [x], { mode: 'constant', pads: [0, 0, 1, 1, 0, 0, 1, 1] });
  x = b.relu6(b.bn(b.conv(x, 3, 8, 3, { bias: false }), 8));
  const y = b.node('MaxPool', [x], { kernel_shape: [2, 2], strides: [2, 2] });
  const z = b.node('AveragePool', [y], { kernel_shape: [3, 3], strides: [1, 1], pads: [1, 1, 1, 1], count_include_pad: 1 });
  const pooled = axes(y, 'ReduceMean', [2, 3], 18, { keepdims: 1 });
  const gated = b.node('Mul', [y, b.node('Sigmoid', [b.conv(pooled, 8, 8, 1)])]);
  const back = axes(axes(pooled, 'Squeeze', [2, 3], 13), 'Unsqueeze', [2, 3], 13);
  let c = b.node('Concat', [b.node('Add', [gated, back]), z], { axis: 1 });
  c = b.node('Dropout', [b.node('LeakyRelu', [b.conv(c, 16, 16, 1)], { alpha: { f: 0.2 } })]);
  const flat = b.node('Reshape', [b.node('GlobalAveragePool', [c]), b.ints([0, -1])]);
  b.output(b.node('Softmax', [b.gemm(flat, 16, CLASSES)], { axis: 1 }));
  return b.encode();
}

export const ARCHITECTURES: Architecture[] = [
  { name: 'ResNet-18 (basic blocks)', input: ['batch', 3, SIZE, SIZE], build: () => resnet('basic') },
  { name: 'ResNet-50 (bottlenecks)', input: ['batch', 3, SIZE, SIZE], build: () => resnet('bottleneck') },
  { name: 'ResNet v2 (pre-activation)', input: ['batch', 3, SIZE, SIZE], build: () => resnet('v2') },
  { name: 'MobileNetV2', input: ['N', 3, SIZE, SIZE], build: mobilenetV2 },
  { name: 'VGG', input: ['batch', 3, SIZE, SIZE], build: () => vgg(false) },
  { name: 'VGG with batch-norm', input: ['batch', 3, SIZE, SIZE], build: () => vgg(true) },
  { name: 'SqueezeNet 1.0', input: ['batch', 3, SIZE, SIZE], build: () => squeezenet('1.0') },
  { name: 'SqueezeNet 1.1', input: ['batch', 3, SIZE, SIZE], build: () => squeezenet('1.1') },
  { name: 'DenseNet', input: ['batch', 3, SIZE, SIZE], build: densenet },
  { name: 'EfficientNet-B0', input: ['batch', 3, SIZE, SIZE], build: efficientnetB0 },
  { name: 'EfficientNet-Lite (TF origin, NHWC)', input: [1, SIZE, SIZE, 3], build: efficientnetLite },
];
