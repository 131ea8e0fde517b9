/**
 * Reverse-mode autograd. Each op that gets an input needing a gradient attaches a
 * GradNode to its output: the inputs, and a function from the output's gradient to
 * the inputs' gradients. backward() walks the graph from a scalar loss in reverse
 * topological order; leaves (parameters) accumulate into `.grad`, so several
 * micro-batches can add up before one optimizer step.
 */
import { addInto } from '../kernels/elementwise.ts';
import { Tensor } from '../tensor/tensor.ts';

export interface GradNode {
  inputs: readonly Tensor[];
  /** `dy` is null for the loss itself (whose seed gradient is 1). Returns one gradient (or null) per input. */
  backward(dy: Tensor | null): (Tensor | null)[];
}

let gradEnabled = true;

/** Runs `fn` without recording gradients (inference, validation). */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/** Whether an op on these inputs records a backward (so must keep what it needs). */
export function recording(inputs: readonly Tensor[]): boolean {
  return gradEnabled && inputs.some((t) => t.requiresGrad);
}

/** Attaches the backward function to `out` if any input needs a gradient. */
export function record(out: Tensor, inputs: readonly Tensor[], backward: GradNode['backward']): Tensor {
  if (recording(inputs)) {
    out.requiresGrad = true;
    out.node = { inputs, backward };
  }
  return out;
}

/** acc += g, then frees g. */
function addInPlace(acc: Tensor, g: Tensor): void {
  acc.backend.run(addInto, { acc: acc.storage, v: g.storage }, { len: acc.size });
  g.dispose();
}

/** Adds `g` into a leaf's `.grad` (taking ownership of `g`); the gradient outlives any tidy() scope. */
export function accumulate(t: Tensor, g: Tensor): void {
  if (t.grad) addInPlace(t.grad, g);
  else t.grad = g.keep();
}

export function backward(loss: Tensor): void {
  if (loss.size !== 1) throw new Error(`backward() needs a scalar loss, got shape [${loss.shape}]`);
  if (!loss.node) throw new Error('backward(): the loss does not depend on anything that requires a gradient');
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  const visit = (t: Tensor) => {
    if (seen.has(t) || !t.node) return;
    seen.add(t);
    t.node.inputs.forEach(visit);
    order.push(t);
  };
  visit(loss);
  // Gradients of intermediate tensors, freed as soon as their node has run.
  const grads = new Map<Tensor, Tensor>();
  for (let i = order.length - 1; i >= 0; i--) {
    const t = order[i];
    const dy = t === loss ? null : grads.get(t);
    if (t !== loss && !dy) continue; // nothing flowed into it
    const dxs = t.node!.backward(dy ?? null);
    dy?.dispose();
    grads.delete(t);
    t.node!.inputs.forEach((input, k) => {
      const g = dxs[k];
      if (!g) return;
      if (!input.requiresGrad) return g.dispose();
      if (input.node) {
        const prev = grads.get(input);
        if (prev) addInPlace(prev, g);
        else grads.set(input, g);
      } else {
        accumulate(input, g);
      }
    });
  }
}
