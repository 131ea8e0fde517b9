/**
 * `wgcam export MODEL.onnx OUT.onnx`: an imported classifier written again with what any
 * runtime needs to draw its CAM, as `wgcam export model.bin` writes wgcam's own (docs/onnx.md):
 *
 *   - every node, initializer, input and output of the file as it came (decoded and re-encoded
 *     field for field: nothing is re-derived from wgcam's reading of it);
 *   - output 'wgcam_features': the layer wgcam explains by default (the last map larger than
 *     1x1, as `wgcam info` names it), through an Identity node;
 *   - where that layer is followed by global average pooling and one dense layer, output
 *     'wgcam_class_maps': every class's map, sum_k W[j,k] * features[n,k,h,w], as a 1x1 Conv
 *     with the dense weights (bias-free, as the CAM has none);
 *   - metadata_props: the class names (wgcam.classes, which wgcam reads back), the
 *     preprocessing in words and as JSON (wgcam.preprocess, which wgcam reads back as the
 *     default), the layer and how a map lies on the photo.
 */
import { camHead, resolveLayer } from '../cam/imported-explain.ts';
import { GraphError } from '../graph/graph.ts';
import { describePreprocessing, type ImportedModel } from '../graph/imported-model.ts';
import { planGraph } from '../graph/plan.ts';
import { ModelProto } from './onnx-schema.ts';

const FLOAT = 1;
export const FEATURES = 'wgcam_features';
export const CLASS_MAPS = 'wgcam_class_maps';

interface MutableModel {
  graph: { node: object[]; initializer: object[]; output: { name?: string }[] };
  metadata_props: { key?: string; value?: string }[];
}

/** The file's bytes with the CAM outputs and wgcam's metadata added (see above). */
export function reexportOnnx(bytes: Uint8Array, model: ImportedModel): { bytes: Uint8Array; layer: string; classMaps: boolean } {
  const fixed = model.graph.inputs[0].dims[0];
  const plan = planGraph(model.graph, typeof fixed === 'number' ? fixed : 1);
  const layer = resolveLayer(plan, undefined, model.path);
  const [, K, h, w] = plan.shapes.get(layer)!;
  const taken = new Set([...model.graph.nodes.flatMap((n) => n.outputs), ...model.graph.constants.keys(), model.graph.inputs[0].name]);
  for (const name of [FEATURES, CLASS_MAPS, `${CLASS_MAPS}.weight`]) {
    if (taken.has(name)) throw new GraphError(`${model.path}: already has a tensor named '${name}', which wgcam export adds`);
  }
  const m = ModelProto.decode(bytes) as unknown as MutableModel;
  const batch = typeof fixed === 'number' ? { dim_value: fixed } : { dim_param: 'N' };
  const output = (name: string, dims: number[], doc: string) => ({
    name,
    doc_string: doc,
    type: { tensor_type: { elem_type: FLOAT, shape: { dim: [batch, ...dims.map((d) => ({ dim_value: d }))] } } },
  });
  // Repeated fields a file leaves empty decode as one shared frozen array: new arrays, never push.
  const g = m.graph;
  g.node = [...g.node, { op_type: 'Identity', name: FEATURES, input: [layer], output: [FEATURES] }];
  g.output = [...g.output, output(FEATURES, [K, h, w], `the layer wgcam explains by default ('${layer}'): the CAM reads these`)];
  const head = camHead(plan, layer);
  if (head) {
    const weights = plan.constants.get(head.w)!.data as Float32Array;
    const J = weights.length / K;
    const raw = new Uint8Array(weights.length * 4);
    const view = new DataView(raw.buffer);
    weights.forEach((v, i) => view.setFloat32(i * 4, v, true));
    g.initializer = [...g.initializer, { name: `${CLASS_MAPS}.weight`, data_type: FLOAT, dims: [J, K, 1, 1], raw_data: raw }];
    g.node = [...g.node, { op_type: 'Conv', name: CLASS_MAPS, input: [FEATURES, `${CLASS_MAPS}.weight`], output: [CLASS_MAPS], attribute: [{ name: 'kernel_shape', type: 7, ints: [1, 1] }] }];
    g.output = [...g.output, output(CLASS_MAPS, [J, h, w], "every class's map: sum_k W[j,k] * features[n,k,h,w], W the dense layer after the global average pooling")];
  }
  const { pre } = model;
  const props: Record<string, string> = {
    'wgcam.classes': JSON.stringify(model.classes),
    preprocessing: describePreprocessing(pre),
    'wgcam.preprocess': JSON.stringify({ preset: pre.name, resize: pre.resize, crop: pre.crop[0], mean: pre.mean, std: pre.std }),
    'wgcam.cam_layer': layer,
    cam: head
      ? `class c's map is ${CLASS_MAPS}[n,c]; wgcam shows ${CLASS_MAPS}[n,c1] - ${CLASS_MAPS}[n,c2] (c1, c2: the top two classes) divided by its largest |value|, clipped to 0..1; the map covers the centre crop the model saw`
      : `no global average pooling and one dense layer follow '${layer}': the gradient methods explain it (wgcam cam --method gradcam)`,
  };
  m.metadata_props = [...m.metadata_props.filter((p) => !(p.key !== undefined && p.key in props)), ...Object.entries(props).map(([key, value]) => ({ key, value }))];
  return { bytes: ModelProto.encode(m as never).finish(), layer, classMaps: head !== null };
}
