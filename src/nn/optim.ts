/**
 * Optimizers: the update runs on the device, in place. Hyper-parameters live in a
 * small tensor rewritten each step, so a changing learning rate (or Adam's step count)
 * never creates a new pipeline or uniform. step() consumes and frees the gradients.
 */
import { adam, sgd } from '../kernels/optim.ts';
import type { Backend } from '../tensor/backend.ts';
import { Tensor } from '../tensor/tensor.ts';

export interface OptimizerState {
  kind: 'sgd' | 'adam';
  step: number;
  /** Per-parameter state tensors by name (e.g. "conv1.weight.momentum"). */
  tensors: [string, Tensor][];
}

export interface Optimizer {
  lr: number;
  readonly steps: number;
  /**
   * Uploads this step's hyper-parameters. Called before the step's forward pass, so the
   * upload (which must precede the commands that read it) does not split the step's
   * recorded work into extra command buffers.
   */
  beginStep(): void;
  /** Records the update from the accumulated gradients and frees them. */
  step(): void;
  state(): OptimizerState;
  /** Restores state saved by state() (same parameters, same order). */
  load(step: number, tensors: Map<string, Float32Array>): void;
  dispose(): void;
}

function zerosLike(backend: Backend, t: Tensor): Tensor {
  return Tensor.zeros(backend, t.shape).keep();
}

abstract class BaseOptimizer implements Optimizer {
  steps = 0;
  protected hyper: Tensor;
  protected slots: Tensor[][];

  constructor(
    protected backend: Backend,
    protected params: [string, Tensor][],
    public lr: number,
    protected slotNames: string[],
  ) {
    this.hyper = Tensor.zeros(backend, [8]).keep();
    this.slots = params.map(([, p]) => slotNames.map(() => zerosLike(backend, p)));
  }

  protected abstract hyperValues(): number[];
  protected abstract update(p: Tensor, g: Tensor, slots: Tensor[]): void;
  abstract readonly kind: 'sgd' | 'adam';

  private begun = false;

  beginStep(): void {
    this.steps++;
    this.begun = true;
    const values = new Float32Array(8);
    values.set(this.hyperValues());
    this.backend.write(this.hyper.storage, values);
  }

  step(): void {
    if (!this.begun) this.beginStep();
    this.begun = false;
    this.params.forEach(([, p], i) => {
      if (!p.grad) return;
      this.update(p, p.grad, this.slots[i]);
      p.grad.dispose();
      p.grad = null;
    });
  }

  state(): OptimizerState {
    return {
      kind: this.kind,
      step: this.steps,
      tensors: this.params.flatMap(([name], i) => this.slotNames.map((s, k): [string, Tensor] => [`${name}.${s}`, this.slots[i][k]])),
    };
  }

  load(step: number, tensors: Map<string, Float32Array>): void {
    this.steps = step;
    this.params.forEach(([name], i) =>
      this.slotNames.forEach((s, k) => {
        const data = tensors.get(`${name}.${s}`);
        if (!data || data.length !== this.slots[i][k].size) throw new Error(`optimizer state is missing or has the wrong size for ${name}.${s}`);
        this.backend.write(this.slots[i][k].storage, data);
      }),
    );
  }

  dispose(): void {
    this.hyper.dispose();
    this.slots.flat().forEach((t) => t.dispose());
  }
}

export class Sgd extends BaseOptimizer {
  readonly kind = 'sgd';

  private readonly momentum: number;
  private readonly weightDecay: number;

  constructor(backend: Backend, params: [string, Tensor][], o: { lr: number; momentum?: number; weightDecay?: number }) {
    super(backend, params, o.lr, ['momentum']);
    this.momentum = o.momentum ?? 0.9;
    this.weightDecay = o.weightDecay ?? 0;
  }

  protected hyperValues(): number[] {
    return [this.lr, this.momentum, this.weightDecay];
  }

  protected update(p: Tensor, g: Tensor, [v]: Tensor[]): void {
    this.backend.run(sgd, { w: p.storage, v: v.storage, g: g.storage, hyper: this.hyper.storage }, { len: p.size });
  }
}

export class Adam extends BaseOptimizer {
  readonly kind = 'adam';

  private readonly beta1: number;
  private readonly beta2: number;
  private readonly eps: number;
  private readonly weightDecay: number;

  constructor(backend: Backend, params: [string, Tensor][], o: { lr: number; beta1?: number; beta2?: number; eps?: number; weightDecay?: number }) {
    super(backend, params, o.lr, ['exp_avg', 'exp_avg_sq']);
    this.beta1 = o.beta1 ?? 0.9;
    this.beta2 = o.beta2 ?? 0.999;
    this.eps = o.eps ?? 1e-8;
    this.weightDecay = o.weightDecay ?? 0;
  }

  protected hyperValues(): number[] {
    const t = this.steps;
    return [this.lr, this.beta1, this.beta2, this.eps, this.weightDecay, 1 - this.beta1 ** t, 1 - this.beta2 ** t];
  }

  protected update(p: Tensor, g: Tensor, [m, v]: Tensor[]): void {
    this.backend.run(adam, { w: p.storage, m: m.storage, v: v.storage, g: g.storage, hyper: this.hyper.storage }, { len: p.size });
  }
}

/** The optimizer a training run names (`--optimizer`), with PyTorch's defaults for the rest. */
export function makeOptimizer(kind: 'sgd' | 'adam', backend: Backend, params: [string, Tensor][], o: { lr: number; weightDecay: number }): Optimizer {
  return kind === 'adam' ? new Adam(backend, params, o) : new Sgd(backend, params, o);
}
