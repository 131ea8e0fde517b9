/**
 * Layers. Parameters are tensors that require gradients; names follow PyTorch's
 * conventions so a saved model maps onto an equivalent PyTorch module.
 */
import { conv2d, dense, globalAvgPool, maxPool2, relu } from '../autograd/ops.ts';
import type { Backend } from '../tensor/backend.ts';
import { Tensor } from '../tensor/tensor.ts';
import type { Rng } from '../util/rng.ts';

export interface Module {
  forward(x: Tensor): Tensor;
  /** [name, tensor] pairs, weights before biases. */
  parameters(): [string, Tensor][];
}

function param(backend: Backend, data: Float32Array, shape: number[]): Tensor {
  const t = Tensor.fromArray(backend, data, shape).keep();
  t.requiresGrad = true;
  return t;
}

/** 3x3 valid convolution with bias and (by default) a fused ReLU. He-normal init. */
export class Conv2d implements Module {
  readonly weight: Tensor;
  readonly bias: Tensor;

  constructor(
    backend: Backend,
    readonly inChannels: number,
    readonly outChannels: number,
    rng: Rng,
    readonly withRelu = true,
  ) {
    const std = Math.sqrt(2 / (inChannels * 9));
    this.weight = param(backend, Float32Array.from({ length: outChannels * inChannels * 9 }, () => std * rng.normal()), [outChannels, inChannels, 3, 3]);
    this.bias = param(backend, new Float32Array(outChannels), [outChannels]);
  }

  forward(x: Tensor): Tensor {
    return conv2d(x, this.weight, this.bias, { relu: this.withRelu });
  }

  parameters(): [string, Tensor][] {
    return [
      ['weight', this.weight],
      ['bias', this.bias],
    ];
  }
}

export class ReLU implements Module {
  forward(x: Tensor): Tensor {
    return relu(x);
  }
  parameters(): [string, Tensor][] {
    return [];
  }
}

export class MaxPool2d implements Module {
  forward(x: Tensor): Tensor {
    return maxPool2(x);
  }
  parameters(): [string, Tensor][] {
    return [];
  }
}

export class GlobalAvgPool implements Module {
  forward(x: Tensor): Tensor {
    return globalAvgPool(x);
  }
  parameters(): [string, Tensor][] {
    return [];
  }
}

/** Fully connected layer, weight [out, in]. Glorot-uniform init. */
export class Dense implements Module {
  readonly weight: Tensor;
  readonly bias: Tensor;

  constructor(backend: Backend, readonly inFeatures: number, readonly outFeatures: number, rng: Rng) {
    const limit = Math.sqrt(6 / (inFeatures + outFeatures));
    this.weight = param(backend, Float32Array.from({ length: outFeatures * inFeatures }, () => rng.uniform(-limit, limit)), [outFeatures, inFeatures]);
    this.bias = param(backend, new Float32Array(outFeatures), [outFeatures]);
  }

  forward(x: Tensor): Tensor {
    return dense(x, this.weight, this.bias);
  }

  parameters(): [string, Tensor][] {
    return [
      ['weight', this.weight],
      ['bias', this.bias],
    ];
  }
}

/** Layers applied in order; parameter names are prefixed with each layer's name. */
export class Sequential implements Module {
  constructor(readonly layers: [string, Module][]) {}

  forward(x: Tensor): Tensor {
    return this.layers.reduce((h, [, layer]) => layer.forward(h), x);
  }

  parameters(): [string, Tensor][] {
    return this.layers.flatMap(([prefix, layer]) => layer.parameters().map(([n, t]): [string, Tensor] => [`${prefix}.${n}`, t]));
  }
}
