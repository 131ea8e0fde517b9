/**
 * Full-size classic CNNs as ONNX files, with random weights (no pretrained weights can be
 * downloaded here), for the bench's imported-graph figures: torchvision's ResNet-18,
 * MobileNetV2 and VGG-16 layer for layer, at 224x224, 1,000 classes.
 */
import { OnnxBuilder } from '../src/graph/onnx-builder.ts';

const CLASSES = 1000;

export function resnet18(): Uint8Array {
  const b = new OnnxBuilder(13, 18);
  let x = b.input('input', ['batch', 3, 224, 224]);
  x = b.node('MaxPool', [b.relu(b.bn(b.conv(x, 3, 64, 7, { stride: 2, pad: 3, bias: false }), 64))], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] });
  let c = 64;
  for (const [co, stride] of [[64, 1], [128, 2], [256, 2], [512, 2]]) {
    for (let i = 0; i < 2; i++) {
      const s = i === 0 ? stride : 1;
      const short = s > 1 || c !== co ? b.bn(b.conv(x, c, co, 1, { stride: s, bias: false }), co) : x;
      const y = b.bn(b.conv(b.relu(b.bn(b.conv(x, c, co, 3, { stride: s, pad: 1, bias: false }), co)), co, co, 3, { pad: 1, bias: false }), co);
      x = b.relu(b.node('Add', [y, short]));
      c = co;
    }
  }
  b.output(b.head(x, 512, CLASSES));
  return b.encode();
}

export function mobilenetV2(): Uint8Array {
  const b = new OnnxBuilder(13, 2);
  let x = b.input('input', ['batch', 3, 224, 224]);
  x = b.relu6(b.bn(b.conv(x, 3, 32, 3, { stride: 2, pad: 1, bias: false }), 32));
  let c = 32;
  const table = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1]];
  for (const [t, co, n, s] of table) {
    for (let i = 0; i < n; i++) {
      const stride = i === 0 ? s : 1;
      const h = c * t;
      let y = t > 1 ? b.relu6(b.bn(b.conv(x, c, h, 1, { bias: false }), h)) : x;
      y = b.relu6(b.bn(b.conv(y, h, h, 3, { stride, pad: 1, group: h, bias: false }), h));
      y = b.bn(b.conv(y, h, co, 1, { bias: false }), co);
      x = stride === 1 && c === co ? b.node('Add', [x, y]) : y;
      c = co;
    }
  }
  x = b.relu6(b.bn(b.conv(x, c, 1280, 1, { bias: false }), 1280));
  b.output(b.head(x, 1280, CLASSES));
  return b.encode();
}

export function vgg16(): Uint8Array {
  const b = new OnnxBuilder(13, 16);
  let x = b.input('input', ['batch', 3, 224, 224]);
  let c = 3;
  for (const [co, n] of [[64, 2], [128, 2], [256, 3], [512, 3], [512, 3]]) {
    for (let i = 0; i < n; i++) {
      x = b.relu(b.conv(x, c, co, 3, { pad: 1 }));
      c = co;
    }
    x = b.node('MaxPool', [x], { kernel_shape: [2, 2], strides: [2, 2] });
  }
  x = b.node('Flatten', [x]);
  x = b.node('Dropout', [b.relu(b.gemm(x, 512 * 7 * 7, 4096))]);
  x = b.node('Dropout', [b.relu(b.gemm(x, 4096, 4096))]);
  b.output(b.gemm(x, 4096, CLASSES));
  return b.encode();
}

export const IMPORTED_MODELS = { 'ResNet-18': resnet18, MobileNetV2: mobilenetV2, 'VGG-16': vgg16 } as const;
