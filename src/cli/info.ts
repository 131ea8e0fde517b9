/** wgcam info MODEL: what a model file holds: its graph, node by node, with shapes, receptive fields and the layers a CAM can read. */
import { isOnnxPath } from '../eval/open-classifier.ts';
import { mapLayers } from '../cam/imported-explain.ts';
import { loadOnnxFile } from '../graph/imported-files.ts';
import { planGraph, type Plan } from '../graph/plan.ts';
import { loadModelFile } from '../io/model-file.ts';
import { archGraph } from '../graph/arch-graph.ts';
import type { Graph } from '../graph/graph.ts';
import { printable } from '../util/terminal.ts';
import { parse, run, UsageError } from './main.ts';

const HELP = `
Usage: wgcam info MODEL      (or: npm run info -- MODEL)

Lists what MODEL (a wgcam model.bin or an ONNX classifier) computes: each step's op, output
name and shape (one image), its receptive field on the input (window size / stride between
cells), and which outputs a CAM can be drawn from (a map larger than 1x1); then the number of
parameters and the FLOPs of one image. Batch-norms folded into convolutions and fused
activations are shown joined with '+'.

Options:
  -h, --help           this help
`;

const fmt = (n: number) => (n >= 1e9 ? `${(n / 1e9).toFixed(2)} G` : n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} k` : String(n));

run(async () => {
  const { positionals } = parse(process.argv.slice(2), {}, HELP);
  const [path, ...extra] = positionals;
  if (!path || extra.length) throw new UsageError('usage: wgcam info MODEL (see --help)');
  const out = (s: string) => process.stdout.write(printable(s) + '\n');
  let graph: Graph;
  let plan: Plan;
  if (isOnnxPath(path)) {
    graph = loadOnnxFile(path);
    plan = planGraph(graph, typeof graph.inputs[0].dims[0] === 'number' ? graph.inputs[0].dims[0] : 1);
    out(`${path}: ONNX opset ${graph.opset}, input '${plan.input.name}' [${graph.inputs[0].dims.join(', ')}] (${plan.input.layout}), ${graph.nodes.length} nodes, ${plan.steps.length} steps after folding and fusing`);
  } else {
    // wgcam's own network, as the graph its block string builds (the one `wgcam export` writes).
    const m = loadModelFile(path);
    const { arch, classes } = m.meta;
    graph = archGraph(m);
    plan = planGraph(graph, 1);
    out(`${path}: wgcam model ${arch.blocks} -> GAP -> dense ${arch.classes}, input ${arch.inputChannels}x${arch.height}x${arch.width}, classes ${classes.slice(0, 10).join(', ')}${classes.length > 10 ? ', ...' : ''} (cam --layer N: conv N's output, reluN; the last is 'features')`);
  }
  const batch = plan.input.shape[0];
  const explainable = new Set(mapLayers(plan));
  const rows = plan.steps.map((s, i) => {
    const shape = s.shapes[0].slice(1);
    const f = plan.fields.get(s.outputs[0]);
    const cam = explainable.has(s);
    return [String(i + 1), s.describe, s.outputs[0], `[${shape.join(', ')}]`, f ? `${f.size}/${f.jump}` : '', cam ? 'CAM' : ''];
  });
  const head = ['#', 'op', 'output', 'shape', 'field', ''];
  const widths = head.map((h, c) => Math.min(48, Math.max(h.length, ...rows.map((r) => r[c].length))));
  for (const r of [head, ...rows]) out(r.map((cell, c) => cell.slice(0, 48).padEnd(widths[c])).join('  ').trimEnd());
  let params = 0;
  for (const c of graph.constants.values()) if (c.kind === 'float') params += c.data.length;
  const flops = plan.steps.reduce((s, st) => s + st.flops, 0) / batch;
  const last = [...explainable].at(-1);
  out(`parameters ${fmt(params)}, ${fmt(flops)}FLOPs per image; the last CAM-able output: ${last ? `'${last.outputs[0]}' [${last.shapes[0].slice(1).join(', ')}]` : 'none'}`);
  return 0;
});
