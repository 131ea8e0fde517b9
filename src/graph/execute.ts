/**
 * Runs a planned graph on a backend (the GPU, or the CPU references): constants uploaded once
 * per runner, each runtime tensor freed after the last step that reads it, aliases (Reshape,
 * Flatten, Dropout) sharing their input's buffer. One readback at the end for the tensors asked for.
 */
import { addInto } from '../kernels/elementwise.ts';
import type { FloatArray } from '../kernels/kernel.ts';
import type { Backend, Storage } from '../tensor/backend.ts';
import { elementCount, GraphError, type Graph } from './graph.ts';
import { planGraph, type Plan, type PlanOptions, type RunContext, type Step } from './plan.ts';

/** The tensors computed from any of `roots` (the roots included). */
function dependents(plan: Plan, roots: readonly string[]): Set<string> {
  const dependent = new Set(roots);
  for (const step of plan.steps) if (step.reads.some((r) => dependent.has(r))) step.outputs.forEach((out) => dependent.add(out));
  return dependent;
}

export class GraphRunner {
  private readonly plans = new Map<number, Plan>();
  private readonly weights = new Map<string, Storage>();

  constructor(
    readonly backend: Backend,
    readonly graph: Graph,
    private readonly o: PlanOptions = {},
  ) {}

  /** The plan for batches of `batch` images (made once per batch size). */
  plan(batch: number): Plan {
    let p = this.plans.get(batch);
    if (!p) {
      p = planGraph(this.graph, batch, this.o);
      this.plans.set(batch, p);
    }
    return p;
  }

  /**
   * Runs `batch` images (`input` in the graph's own layout) and reads back `wanted` tensors
   * (default: the graph's outputs), by name.
   */
  async run(input: Float32Array, batch: number, wanted: readonly string[] = this.graph.outputs): Promise<Map<string, Float32Array>> {
    const plan = this.plan(batch);
    if (input.length !== elementCount(plan.input.shape)) throw new GraphError(`input of ${input.length} values for shape [${plan.input.shape}]`);
    const keep = new Set(wanted);
    for (const w of wanted) if (!plan.shapes.has(w) && !plan.constants.has(w)) throw new GraphError(`no tensor '${w}' in the graph`);
    // The step after which each tensor is read no more.
    const lastUse = new Map<string, number>();
    plan.steps.forEach((s, i) => s.reads.forEach((r) => lastUse.set(r, i)));
    const values = new Map<string, Storage>();
    const holders = new Map<Storage, number>();
    const hold = (name: string, s: Storage) => {
      values.set(name, s);
      holders.set(s, (holders.get(s) ?? 0) + 1);
    };
    const drop = (name: string) => {
      const s = values.get(name)!;
      values.delete(name);
      const left = holders.get(s)! - 1;
      if (left > 0) holders.set(s, left);
      else {
        holders.delete(s);
        this.backend.free(s);
      }
    };
    const ctx = this.context(plan, values);
    hold(plan.input.name, this.backend.upload(input));
    try {
      plan.steps.forEach((step, i) => {
        const outs = step.alias ? [ctx.get(step.reads[0])] : step.run!(ctx);
        step.outputs.forEach((o, k) => hold(o, outs[k]));
        for (const r of step.reads) if (lastUse.get(r) === i && !keep.has(r)) drop(r);
        // Outputs nobody reads and nobody asked for.
        for (const o of step.outputs) if (!lastUse.has(o) && !keep.has(o)) drop(o);
      });
      const out = new Map<string, Float32Array>();
      for (const w of wanted) {
        const c = plan.constants.get(w);
        out.set(w, values.has(w) ? await this.backend.download(values.get(w)!, elementCount(plan.shapes.get(w)!)) : Float32Array.from(c!.data));
      }
      return out;
    } finally {
      for (const name of [...values.keys()]) drop(name);
    }
  }

  /**
   * The gradient of a scalar target with respect to tensor `at` (an inner tensor, or the input):
   * a forward pass keeping every tensor, `seed` turns the values of tensor `from` into the
   * target's gradient there (e.g. one-hot coefficients over the logits), then the steps between
   * `from` and `at` run backward on the same backend. Returns `at`'s values and gradient and
   * `from`'s values. `override` replaces a tensor's values as it is made (finite differences).
   */
  async gradient(
    input: FloatArray,
    batch: number,
    o: { at: string; from: string; seed: (fromValues: FloatArray) => FloatArray; override?: { name: string; values: FloatArray } },
  ): Promise<{ values: FloatArray; grad: FloatArray; from: FloatArray }> {
    const plan = this.plan(batch);
    const { values, ctx, release } = this.forward(plan, input, o.override);
    const grads = new Map<string, Storage>();
    try {
      const fromValues = await this.read(ctx.get(o.from), elementCount(plan.shapes.get(o.from)!));
      grads.set(o.from, this.backend.upload(o.seed(fromValues)));
      // Only tensors that depend on `at` need a gradient.
      const dependent = dependents(plan, [o.at]);
      if (!dependent.has(o.from)) throw new GraphError(`'${o.at}' does not lead to '${o.from}' (a branch the class scores do not read): pick another layer`);
      this.backward(plan, ctx, grads, dependent, o.at);
      const g = grads.get(o.at);
      if (!g) throw new GraphError(`no gradient reached '${o.at}'`);
      const size = elementCount(plan.shapes.get(o.at)!);
      return { values: await this.read(values.get(o.at)!, size), grad: await this.read(g, size), from: fromValues };
    } finally {
      for (const g of grads.values()) this.backend.free(g);
      release();
    }
  }

  /**
   * For training the parameters of some steps (`trainable`, convolutions: step.params): a
   * forward pass of `batch` images keeping every tensor; `at`'s values; `backward(grad)`, given
   * the loss's gradient at `at`, runs the steps between the trainable ones and `at` backward and
   * returns their parameters' gradients by constant name (the caller frees them); `release()`
   * frees the forward pass's tensors.
   */
  async trainingPass(input: FloatArray, batch: number, at: string, trainable: ReadonlySet<Step>): Promise<{ values: FloatArray; backward(grad: FloatArray): Map<string, Storage>; release(): void }> {
    const plan = this.plan(batch);
    const { ctx, release } = this.forward(plan, input);
    const values = await this.read(ctx.get(at), elementCount(plan.shapes.get(at)!));
    const dependent = dependents(plan, plan.steps.filter((s) => trainable.has(s)).map((s) => s.outputs[0]));
    return {
      values,
      backward: (grad) => {
        const grads = new Map([[at, this.backend.upload(grad)]]);
        const paramGrads = new Map<string, Storage>();
        try {
          this.backward(plan, ctx, grads, dependent, undefined, { trainable, grads: paramGrads });
        } finally {
          for (const g of grads.values()) this.backend.free(g);
        }
        return paramGrads;
      },
      release,
    };
  }

  /**
   * Runs the plan's steps backward from the gradients in `grads` (tensor name -> buffer, updated
   * in place), through the tensors in `dependent`, down to `stopAt`; the trainable steps also
   * put their parameters' gradients into `params.grads`.
   */
  private backward(plan: Plan, ctx: RunContext, grads: Map<string, Storage>, dependent: ReadonlySet<string>, stopAt?: string, params?: { trainable: ReadonlySet<Step>; grads: Map<string, Storage> }): void {
    const addGrad = (name: string, g: Storage) => {
      const had = grads.get(name);
      if (!had) grads.set(name, g);
      else {
        this.backend.run(addInto, { acc: had, v: g }, { len: elementCount(plan.shapes.get(name)!) });
        this.backend.free(g);
      }
    };
    for (let i = plan.steps.length - 1; i >= 0; i--) {
      const step = plan.steps[i];
      const dy = grads.get(step.outputs[0]);
      if (!dy || step.outputs[0] === stopAt || !dependent.has(step.outputs[0])) continue;
      grads.delete(step.outputs[0]);
      const need = step.reads.map((r) => dependent.has(r));
      if (step.alias) addGrad(step.reads[0], dy);
      else {
        if (!step.backward) throw new GraphError(`node ${step.node.name} (${step.node.op}): wgcam has no gradient through it; pick a layer after it`);
        const gs = step.backward(ctx, dy, need, params?.trainable.has(step) ? params.grads : undefined);
        this.backend.free(dy);
        gs.forEach((g, k) => g && (need[k] ? addGrad(step.reads[k], g) : this.backend.free(g)));
      }
    }
  }

  /** A constant of the plan for `batch` (folded weights included), uploaded once. */
  constantBuffer(name: string, batch: number): Storage {
    return this.context(this.plan(batch), new Map()).weight(name);
  }

  /** A buffer's values: the CPU backend's in its own precision (float64 in the gradient checks). */
  private async read(s: Storage, len: number): Promise<FloatArray> {
    return this.backend.kind === 'cpu' ? (s as FloatArray).slice(0, len) : this.backend.download(s, len);
  }

  /** A forward pass that keeps every tensor (for a backward pass); `release` frees them. */
  private forward(plan: Plan, input: FloatArray, override?: { name: string; values: FloatArray }) {
    const values = new Map<string, Storage>();
    const owned = new Set<Storage>();
    const ctx = this.context(plan, values);
    const put = (name: string, s: Storage) => {
      if (override?.name === name) {
        s = this.backend.upload(override.values);
        owned.add(s);
      }
      values.set(name, s);
      owned.add(s);
    };
    put(plan.input.name, this.backend.upload(input));
    for (const step of plan.steps) {
      const outs = step.alias ? [ctx.get(step.reads[0])] : step.run!(ctx);
      step.outputs.forEach((o, k) => put(o, outs[k]));
    }
    return { values, ctx, release: () => owned.forEach((s) => this.backend.free(s)) };
  }

  private context(plan: Plan, values: Map<string, Storage>): RunContext {
    return {
      backend: this.backend,
      get: (name) => {
        const s = values.get(name);
        if (!s) throw new GraphError(`tensor '${name}' is read before it is made`);
        return s;
      },
      weight: (name) => {
        let s = this.weights.get(name);
        if (!s) {
          const c = plan.constants.get(name);
          if (!c) throw new GraphError(`no constant '${name}'`);
          s = this.backend.upload(c.data instanceof Float32Array ? c.data : Float32Array.from(c.data));
          this.weights.set(name, s);
        }
        return s;
      },
    };
  }

  dispose(): void {
    for (const s of this.weights.values()) this.backend.free(s);
    this.weights.clear();
  }
}
