/**
 * One graph type for every network wgcam runs from a file of another tool: nodes with an op,
 * named inputs and outputs and attributes, over named tensors; constants (weights, shape
 * arithmetic) kept apart. The ONNX importer (onnx-import.ts) builds it; plan.ts infers every
 * tensor's shape for a batch and folds what is constant; execute.ts runs it on a backend.
 */

/** A constant: weights (float32) or shape arithmetic (integers, held as numbers). */
export interface Constant {
  dims: number[];
  kind: 'float' | 'int';
  data: Float32Array | number[];
}

export type AttrValue = { kind: 'int'; value: number } | { kind: 'float'; value: number } | { kind: 'ints'; value: number[] } | { kind: 'floats'; value: number[] } | { kind: 'string'; value: string } | { kind: 'tensor'; value: Constant };

export interface GraphNode {
  /** The node's name as the file gives it (or `op_N` where it gives none). */
  name: string;
  op: string;
  /** Tensor names; '' for an optional input left out. */
  inputs: string[];
  outputs: string[];
  attrs: Map<string, AttrValue>;
}

export interface GraphInput {
  name: string;
  /** Declared dimensions; a string is a symbolic one (the batch, usually). */
  dims: (number | string)[];
}

export interface Graph {
  /** The inputs fed at run time (initializers excluded); a classifier has one. */
  inputs: GraphInput[];
  outputs: string[];
  /** In an order where every node comes after the nodes it reads from. */
  nodes: GraphNode[];
  constants: Map<string, Constant>;
  opset: number;
  /** The file's metadata_props (class names may be there). */
  metadata: Map<string, string>;
}

export class GraphError extends Error {}

interface AttrTypes {
  int: number;
  float: number;
  ints: number[];
  floats: number[];
  string: string;
  tensor: Constant;
}

/** An attribute, checked for its kind; `fallback` where the node leaves it out. */
export function attr<K extends keyof AttrTypes>(node: GraphNode, name: string, kind: K, fallback?: AttrTypes[K]): AttrTypes[K] {
  const a = node.attrs.get(name);
  if (a === undefined) {
    if (fallback === undefined) throw new GraphError(`node ${node.name} (${node.op}) lacks its attribute '${name}'`);
    return fallback;
  }
  if (a.kind !== kind) throw new GraphError(`node ${node.name} (${node.op}): attribute '${name}' is ${a.kind}, not ${kind}`);
  return a.value as AttrTypes[K];
}

/**
 * The nodes in an order where each reads only what the graph's inputs, its constants or an
 * earlier node made; refuses a cycle, a tensor made twice and a tensor nobody makes.
 */
export function topologicalOrder(nodes: readonly GraphNode[], available: Iterable<string>): GraphNode[] {
  const producer = new Map<string, GraphNode>();
  const known = new Set(available);
  for (const n of nodes)
    for (const o of n.outputs) {
      if (o === '') continue;
      if (producer.has(o) || known.has(o)) throw new GraphError(`tensor '${o}' is made twice (node ${n.name})`);
      producer.set(o, n);
    }
  const order: GraphNode[] = [];
  const state = new Map<GraphNode, 'visiting' | 'done'>();
  // Iterative depth-first search: a hostile graph a million nodes deep must not overflow the stack.
  for (const root of nodes) {
    if (state.get(root) === 'done') continue;
    const stack: { node: GraphNode; next: number }[] = [{ node: root, next: 0 }];
    state.set(root, 'visiting');
    while (stack.length) {
      const top = stack[stack.length - 1];
      if (top.next < top.node.inputs.length) {
        const name = top.node.inputs[top.next++];
        if (name === '' || known.has(name)) continue;
        const p = producer.get(name);
        if (!p) throw new GraphError(`node ${top.node.name} (${top.node.op}) reads '${name}', which no node, input or initializer makes`);
        const s = state.get(p);
        if (s === 'visiting') throw new GraphError(`the graph has a cycle through node ${p.name}`);
        if (s === 'done') continue;
        state.set(p, 'visiting');
        stack.push({ node: p, next: 0 });
      } else {
        state.set(top.node, 'done');
        order.push(top.node);
        stack.pop();
      }
    }
  }
  return order;
}

export const elementCount = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);

/**
 * The nodes (by index) that `targets` are computed from, whatever order the list is in: the
 * part of a graph that `wgcam train --backbone` keeps up to its cut. `inputsOf` and `outputsOf`
 * read a node's tensor names (the graph's nodes, or an ONNX file's node protos).
 */
export function ancestorNodes<N>(nodes: readonly N[], inputsOf: (n: N) => readonly string[], outputsOf: (n: N) => readonly string[], targets: readonly string[]): Set<number> {
  const producer = new Map<string, number>();
  nodes.forEach((n, i) => outputsOf(n).forEach((o) => o !== '' && producer.set(o, i)));
  const kept = new Set<number>();
  const stack = [...targets];
  while (stack.length) {
    const i = producer.get(stack.pop()!);
    if (i === undefined || kept.has(i)) continue;
    kept.add(i);
    stack.push(...inputsOf(nodes[i]));
  }
  return kept;
}

/** The graph up to tensor `at`: the nodes it is computed from, the constants they read, `at` its one output. */
export function graphUpTo(graph: Graph, at: string): Graph {
  const kept = ancestorNodes(graph.nodes, (n) => n.inputs, (n) => n.outputs, [at]);
  const nodes = graph.nodes.filter((_, i) => kept.has(i));
  const read = new Set(nodes.flatMap((n) => n.inputs));
  const constants = new Map([...graph.constants].filter(([name]) => read.has(name)));
  return { ...graph, nodes, constants, outputs: [at] };
}
