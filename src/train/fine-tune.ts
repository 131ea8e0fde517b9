/**
 * The fine-tuning phase of `wgcam train --backbone ... --fine-tune LAYERS`: the named
 * convolutions of the cut backbone train with the head, through wgcam's backward kernels
 * (GraphRunner.trainingPass). A convolution trains as the plan runs it: its weights and bias
 * with any batch-norm after it folded in (the batch-norm's statistics stay frozen, as
 * fine-tuning usually keeps them), so the written model has that Conv rewritten and the
 * batch-norm taken out (onnx-transfer.ts).
 */
import type { GraphRunner } from '../graph/execute.ts';
import { GraphError } from '../graph/graph.ts';
import type { Plan, Step } from '../graph/plan.ts';
import type { TunedConv } from '../export/onnx-transfer.ts';
import { addInto } from '../kernels/elementwise.ts';
import type { Backend, Storage } from '../tensor/backend.ts';
import { Tensor } from '../tensor/tensor.ts';

/**
 * The steps (indices into the plan) that `spec` names, all convolutions before the cut:
 * `last:N` (the last N convolutions), `from:LAYER` (every convolution from that one to the cut),
 * or LAYER,LAYER,... (node or output names, or step numbers, as `wgcam info` lists them).
 */
export function resolveFineTune(plan: Plan, spec: string, source: string, whyNot: (s: Step) => string | null): number[] {
  const convs = plan.steps.flatMap((s, i) => (s.params ? [i] : []));
  const find = (name: string) => {
    const i = /^\d+$/.test(name) ? Number(name) - 1 : plan.steps.findIndex((s) => s.outputs[0] === name || s.node.name === name || s.node.outputs[0] === name);
    if (!(i >= 0 && i < plan.steps.length)) throw new GraphError(`--fine-tune ${spec}: '${name}' is no step, node or output of ${source} before the cut (wgcam info ${source} lists them)`);
    return i;
  };
  let chosen: number[];
  const last = /^last:(\d+)$/.exec(spec);
  if (last) {
    const n = Number(last[1]);
    if (!(n >= 1 && n <= convs.length)) throw new GraphError(`--fine-tune ${spec}: the backbone up to the cut has ${convs.length} convolutions (use last:1 to last:${convs.length})`);
    chosen = convs.slice(-n);
  } else if (spec.startsWith('from:')) {
    const from = find(spec.slice(5));
    chosen = convs.filter((i) => i >= from);
    if (!chosen.length) throw new GraphError(`--fine-tune ${spec}: no convolution from there to the cut`);
  } else {
    chosen = [...new Set(spec.split(',').map((n) => find(n.trim())))].sort((a, b) => a - b);
    for (const i of chosen) if (!plan.steps[i].params) throw new GraphError(`--fine-tune ${spec}: step ${i + 1} (${plan.steps[i].describe}) has no weights wgcam trains (convolutions only)`);
  }
  for (const i of chosen) {
    const why = whyNot(plan.steps[i]);
    if (why) throw new GraphError(`--fine-tune ${spec}: step ${i + 1} (${plan.steps[i].node.name}): ${why}`);
  }
  return chosen;
}

/** The chosen convolutions' parameters as tensors over the runner's own weight buffers (updated in place by the optimizer). */
export class BackboneTuner {
  private readonly params: { name: string; constant: string; tensor: Tensor }[] = [];

  constructor(
    private readonly backend: Backend,
    private readonly runner: GraphRunner,
    private readonly steps: number[],
    batch: number,
  ) {
    const plan = runner.plan(batch);
    for (const i of steps) {
      const step = plan.steps[i];
      for (const [part, constant] of [['weight', step.params!.weight], ['bias', step.params!.bias]] as const) {
        const dims = plan.constants.get(constant)!.dims;
        this.params.push({ name: `backbone.${step.node.name}.${part}`, constant, tensor: new Tensor(backend, runner.constantBuffer(constant, batch), dims).keep() });
      }
    }
  }

  parameters(): [string, Tensor][] {
    return this.params.map((p) => [p.name, p.tensor]);
  }

  /** The steps to train in the plan for `batch` (the same positions in every batch's plan). */
  trainable(batch: number): Set<Step> {
    const plan = this.runner.plan(batch);
    return new Set(this.steps.map((i) => plan.steps[i]));
  }

  /** Adds a backward pass's gradients (by constant name) into the parameters' `.grad`. */
  accumulate(grads: Map<string, Storage>): void {
    for (const p of this.params) {
      const g = grads.get(p.constant);
      if (!g) throw new GraphError(`no gradient reached the backbone's ${p.name}`);
      if (p.tensor.grad) {
        this.backend.run(addInto, { acc: p.tensor.grad.storage, v: g }, { len: p.tensor.size });
        this.backend.free(g);
      } else p.tensor.grad = new Tensor(this.backend, g, p.tensor.shape).keep();
    }
  }

  /** Writes saved values into the parameters (a resumed run). */
  load(values: Map<string, Float32Array>, source: string): void {
    for (const p of this.params) {
      const v = values.get(p.name);
      if (!v || v.length !== p.tensor.size) throw new GraphError(`${source}: lacks the fine-tuned backbone's '${p.name}' or has the wrong size`);
      this.backend.write(p.tensor.storage, v);
    }
  }

  /** The convolutions as the written model needs them. */
  async tuned(batch: number): Promise<TunedConv[]> {
    const plan = this.runner.plan(batch);
    const out: TunedConv[] = [];
    for (const i of this.steps) {
      const step = plan.steps[i];
      const [w, b] = this.params.filter((p) => p.constant === step.params!.weight || p.constant === step.params!.bias);
      out.push({ output: step.node.outputs[0], batchNormOutput: step.params!.foldedBatchNorm?.outputs[0], dims: [...w.tensor.shape], weight: await w.tensor.toArray(), bias: await b.tensor.toArray() });
    }
    return out;
  }
}
