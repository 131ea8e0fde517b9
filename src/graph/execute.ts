/**
 * Runs a planned graph on a backend (the GPU, or the CPU references): constants uploaded once
 * per runner, each runtime tensor freed after the last step that reads it, aliases (Reshape,
 * Flatten, Dropout) sharing their input's buffer. One readback at the end for the tensors asked for.
 */
import type { Backend, Storage } from '../tensor/backend.ts';
import { elementCount, GraphError, type Graph } from './graph.ts';
import { planGraph, type Plan, type RunContext } from './plan.ts';

export class GraphRunner {
  private readonly plans = new Map<number, Plan>();
  private readonly weights = new Map<string, Storage>();

  constructor(
    readonly backend: Backend,
    readonly graph: Graph,
  ) {}

  /** The plan for batches of `batch` images (made once per batch size). */
  plan(batch: number): Plan {
    let p = this.plans.get(batch);
    if (!p) {
      p = planGraph(this.graph, batch);
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
    const ctx: RunContext = {
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

  dispose(): void {
    for (const s of this.weights.values()) this.backend.free(s);
    this.weights.clear();
  }
}
