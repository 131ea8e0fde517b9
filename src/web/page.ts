/**
 * The page `wgcam web` serves: drop photos (or another model file: a wgcam model or an ONNX
 * classifier) on it and it shows the predicted class and the map of the chosen method, layer
 * and class, computed in this browser by the CLI's own modules and WGSL kernels: on WebGPU
 * where the browser gives an adapter, else on the CPU references (the same code the tests hold
 * the kernels to). Nothing is sent anywhere: the page's Content Security Policy forbids every
 * connection.
 *
 * For tests and scripts, `window.wgcam` holds `ready` (resolves once the model is loaded),
 * `engine`, `results` (per photo: probabilities, the u8 map), `idle()` and `choose()` (set the
 * method, layer, class or preprocessing as the pickers do, and explain the photos again).
 */
import sources from 'wgcam:wgsl-sources';
import { colormapTable, overlay } from '../cam/colormap.ts';
import { Explainer, type CamMethod, type Explained, type Photo } from '../cam/explain.ts';
import { camHead, explainLayers, mapLayers, resolveLayer, scoresOf } from '../cam/imported-explain.ts';
import { Gpu } from '../gpu/runtime.ts';
import { GraphRunner } from '../graph/execute.ts';
import { describePreprocessing, importedModelOf, PRESETS, type ImportedModel, type PreprocessOptions } from '../graph/imported-model.ts';
import { decodeOnnx } from '../graph/onnx-import.ts';
import { buildModel, modelFromSafetensors } from '../io/model-format.ts';
import { parseSafetensors } from '../io/safetensors-format.ts';
import type { Backend } from '../tensor/backend.ts';
import { CpuBackend } from '../tensor/cpu-backend.ts';
import { GpuBackend } from '../tensor/gpu-backend.ts';
import { decodePhoto, importedModelInput, ownModelInput } from './photo.ts';

interface PhotoResult {
  name: string;
  error?: string;
  predicted?: string;
  probabilities?: number[];
  /** The map at feature resolution, 0..255, as NAME.cam.png holds it. */
  cam?: number[];
  mapWidth?: number;
  mapHeight?: number;
  method?: CamMethod;
  layer?: string;
}

/** What the pickers say: the method, the layer (a conv number or a tensor name), the class (-1: the predicted one against the runner-up). */
interface Choice {
  method: CamMethod;
  layer: string;
  cls: number;
}

/** A loaded model of either kind, as the page uses it. */
interface PageModel {
  name: string;
  about: string;
  classes: string[];
  layers: { value: string; label: string }[];
  lastLayer: string;
  /** The preprocessing, for an imported model (its own line on the page). */
  preprocessing?: string;
  explain(photo: Photo, choice: Choice): Promise<Explained>;
  dispose(): void;
}

/** The preprocessing `wgcam web` was given for an imported model (its --preprocess, --mean, ...) and its --labels. */
interface PageConfig {
  preprocess?: PreprocessOptions;
  labels?: string[];
}

const METHODS: CamMethod[] = ['cam', 'gradcam', 'gradcam++', 'xgradcam', 'layercam', 'hirescam', 'scorecam'];
const GIB = 2 ** 30;
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

const page = {
  engine: '',
  modelName: '',
  modelError: '',
  results: [] as PhotoResult[],
  ready: null as Promise<void> | null,
  /** Resolves when every photo dropped so far is explained. */
  idle: () => queue,
  /** Sets pickers (any of them) as a person would, then explains the photos again; resolves when done. */
  choose: (c: Partial<Choice> & { preprocess?: string }) => {
    if (c.preprocess !== undefined) $<HTMLSelectElement>('preprocess').value = c.preprocess;
    if (c.method !== undefined) $<HTMLSelectElement>('method').value = c.method;
    if (c.layer !== undefined) $<HTMLSelectElement>('layer').value = c.layer;
    if (c.cls !== undefined) $<HTMLSelectElement>('class').value = String(c.cls);
    if (c.preprocess !== undefined) queue = queue.then(() => reloadImported());
    explainAgain();
    return queue;
  },
};
(window as unknown as { wgcam: typeof page }).wgcam = page;

let backend: Backend;
let config: PageConfig = {};
let current: PageModel | null = null;
/** The last imported model's bytes, to load again with another preprocessing. */
let importedBytes: { bytes: Uint8Array; name: string } | null = null;
let photos: File[] = [];
let queue: Promise<void> = Promise.resolve();

/** WebGPU when the browser gives an adapter (and `?engine=cpu` does not ask otherwise), else the CPU. */
async function chooseBackend(): Promise<void> {
  const why = await (async () => {
    if (new URLSearchParams(location.search).get('engine') === 'cpu') return 'asked for with ?engine=cpu';
    if (!navigator.gpu) return 'this browser has no WebGPU';
    const adapter = await navigator.gpu.requestAdapter({ powerPreference: 'high-performance' }).catch(() => null);
    if (!adapter) return 'this browser offers no WebGPU adapter';
    try {
      const gpu = await Gpu.fromAdapter(adapter, { source: (kernel) => sources[kernel] });
      backend = new GpuBackend(gpu);
      page.engine = `WebGPU (${gpu.adapterName === 'unnamed adapter' ? (adapter.info.isFallbackAdapter ? 'a software adapter' : 'the browser\'s adapter') : gpu.adapterName})`;
      return null;
    } catch (e) {
      return `WebGPU failed to start (${(e as Error).message})`;
    }
  })();
  if (why !== null) {
    backend = new CpuBackend();
    page.engine = `the CPU: wgcam's reference kernels in JavaScript, slower (${why})`;
  }
  $('engine').textContent = page.engine;
}

/** A wgcam model file (model.bin, safetensors): its Explainer, at any conv layer. */
function ownModel(bytes: Uint8Array, name: string): PageModel {
  const loaded = modelFromSafetensors(parseSafetensors(bytes, name), name);
  const model = buildModel(backend, loaded);
  // The browser reports its memory in GiB, at most 8: half of it, as the CLI takes half of the machine's.
  const deviceGiB = (navigator as Navigator & { deviceMemory?: number }).deviceMemory ?? 4;
  const explainer = new Explainer(backend, model, { source: name, limit: { bytes: (deviceGiB * GIB) / 2, source: `half of the ${deviceGiB} GiB this browser reports` } });
  const { arch, classes, input } = loaded.meta;
  const convs = Array.from({ length: model.convCount }, (_, i) => String(i + 1));
  return {
    name,
    about: `${arch.blocks}, ${input.width}x${input.height} ${input.channels === 1 ? 'gray' : 'RGB'}, ${classes.length} classes (${listOf(classes)})`,
    classes,
    layers: convs.map((c) => ({ value: c, label: `conv ${c}` })),
    lastLayer: convs.at(-1)!,
    explain: async (photo, c) => {
      const [r] = await explainer.explain([ownModelInput(photo, input)], [photo], {
        method: c.method, layer: Number(c.layer), mode: c.cls < 0 ? 'contrast' : 'class', contrast: 'runner-up', cls: c.cls, rawScale: 1, allClasses: false,
      });
      return r;
    },
    dispose: () => model.dispose(),
  };
}

/** An ONNX classifier: its graph on wgcam's kernels, every map the class scores are computed from a layer. */
function importedModel(bytes: Uint8Array, name: string, preprocess: PreprocessOptions): PageModel {
  const model: ImportedModel = importedModelOf(decodeOnnx(bytes, name), name, { ...preprocess, labels: config.labels && { names: config.labels, source: `the labels given to wgcam web` } });
  const runner = new GraphRunner(backend, model.graph);
  const fixed = model.graph.inputs[0].dims[0];
  const batch = typeof fixed === 'number' ? fixed : 1;
  const plan = runner.plan(batch);
  const scores = scoresOf(plan, model);
  const layers = mapLayers(plan).map((s) => ({ value: s.outputs[0], label: `${s.node.name} (${s.node.op}) ${s.shapes[0].slice(1).join('x')}` }));
  return {
    name,
    about: `ONNX graph of ${model.graph.nodes.length} nodes, ${model.width}x${model.height} ${model.channels === 1 ? 'gray' : 'RGB'} ${model.layout}, ${model.classes.length} classes (${listOf(model.classes)})`,
    classes: model.classes,
    layers,
    lastLayer: resolveLayer(plan, undefined, name),
    preprocessing: describePreprocessing(model.pre),
    explain: async (photo, c) => {
      const head = c.method === 'cam' ? camHead(plan, c.layer) : null;
      if (c.method === 'cam' && !head) throw new Error(`the cam method needs global average pooling and one dense layer right after the layer; pick another layer or method`);
      const options = { scores, head, method: c.method, mode: c.cls < 0 ? ('contrast' as const) : ('class' as const), contrast: 'runner-up' as const, cls: c.cls, batch, rawScale: 1 };
      const [r] = await explainLayers(runner, model, options, [{ input: importedModelInput(photo, model), photo }], [c.layer], c.layer, { flip: false, fuse: 'max' });
      return r;
    },
    dispose: () => runner.dispose(),
  };
}

const listOf = (classes: string[]) => `${classes.slice(0, 8).join(', ')}${classes.length > 8 ? ', ...' : ''}`;

/** The preprocessing the picker says: what `wgcam web` was told, or a preset. */
function preprocessChosen(): PreprocessOptions {
  const v = $<HTMLSelectElement>('preprocess').value;
  return v === 'given' ? (config.preprocess ?? {}) : { preset: v };
}

function useModel(bytes: Uint8Array, name: string): void {
  const onnx = /\.onnx$/i.test(name);
  const next = onnx ? importedModel(bytes, name, preprocessChosen()) : ownModel(bytes, name);
  current?.dispose();
  current = next;
  importedBytes = onnx ? { bytes, name } : null;
  page.modelName = name;
  page.modelError = '';
  $('model').textContent = `${name}: ${next.about}`;
  $('preprocessing-row').hidden = !onnx;
  $('preprocessing').textContent = next.preprocessing ?? '';
  fillPickers(next);
  showError('');
}

/** Another preprocessing for the imported model: the same bytes loaded again. */
function reloadImported(): void {
  if (!importedBytes) return;
  try {
    useModel(importedBytes.bytes, importedBytes.name);
  } catch (e) {
    showError((e as Error).message);
  }
}

function fillPickers(m: PageModel): void {
  const fill = (id: string, options: { value: string; label: string }[], selected: string) => {
    const select = $<HTMLSelectElement>(id);
    select.replaceChildren(...options.map((o) => Object.assign(document.createElement('option'), { value: o.value, textContent: o.label })));
    select.value = selected;
  };
  fill('layer', m.layers, m.lastLayer);
  fill('class', [{ value: '-1', label: 'predicted, against the runner-up' }, ...m.classes.map((c, j) => ({ value: String(j), label: c }))], '-1');
}

function choice(): Choice {
  return { method: $<HTMLSelectElement>('method').value as CamMethod, layer: $<HTMLSelectElement>('layer').value, cls: Number($<HTMLSelectElement>('class').value) };
}

function showError(message: string): void {
  $('error').textContent = message;
  $('error').hidden = message === '';
}

function describeChoice(c: Choice, m: PageModel): string {
  const target = c.cls < 0 ? 'evidence for the predicted class over the runner-up' : `evidence for ${m.classes[c.cls]}`;
  return `${c.method} at ${m.layers.find((l) => l.value === c.layer)?.label ?? c.layer}: ${target}`;
}

async function explainPhoto(file: File, c: Choice): Promise<void> {
  const result: PhotoResult = { name: file.name, method: c.method, layer: c.layer };
  const card = document.createElement('figure');
  const caption = document.createElement('figcaption');
  card.append(caption);
  $('results').append(card);
  caption.textContent = `${file.name}: working...`;
  try {
    if (!current) throw new Error('no model loaded');
    const photo = await decodePhoto(file);
    const r = await current.explain(photo, c);
    if (r.error) throw new Error(r.error);
    const classes = current.classes;
    const order = [...r.probs.keys()].sort((a, b) => r.probs[b] - r.probs[a]);
    Object.assign(result, { predicted: classes[order[0]], probabilities: Array.from(r.probs), cam: Array.from(r.cam), mapWidth: r.mapWidth, mapHeight: r.mapHeight });
    card.prepend(photoCanvas(photo.data, overlay(photo.data, r.upsampled, colormapTable('jet'), 0.5), photo.width, photo.height));
    caption.textContent = '';
    const best = document.createElement('strong');
    best.textContent = `${classes[order[0]]} ${(100 * r.probs[order[0]]).toFixed(1)}%`;
    caption.append(best, ` ${order.slice(1, 3).map((j) => `${classes[j]} ${(100 * r.probs[j]).toFixed(1)}%`).join('  ')}`, document.createElement('br'), file.name);
  } catch (e) {
    result.error = (e as Error).message;
    card.classList.add('failed');
    caption.textContent = result.error;
  }
  page.results.push(result);
}

/** The overlay; a click shows the photo itself, another the overlay again. */
function photoCanvas(photoRgb: Uint8Array, overlayRgb: Uint8Array, width: number, height: number): HTMLCanvasElement {
  const canvas = document.createElement('canvas');
  [canvas.width, canvas.height] = [width, height];
  const ctx = canvas.getContext('2d')!;
  const image = (rgb: Uint8Array) => {
    const img = ctx.createImageData(width, height);
    for (let p = 0; p < width * height; p++) img.data.set([rgb[p * 3], rgb[p * 3 + 1], rgb[p * 3 + 2], 255], p * 4);
    return img;
  };
  const [withMap, without] = [image(overlayRgb), image(photoRgb)];
  let showingMap = true;
  ctx.putImageData(withMap, 0, 0);
  canvas.title = 'click: photo / overlay';
  canvas.addEventListener('click', () => ctx.putImageData((showingMap = !showingMap) ? withMap : without, 0, 0));
  return canvas;
}

const isModelFile = (f: File) => /\.(bin|safetensors|onnx)$/i.test(f.name);

/** Model files load first (the last one wins, and the photos so far are explained by it again), then new photos. */
function take(files: File[]): void {
  const models = files.filter(isModelFile);
  const added = files.filter((f) => !isModelFile(f));
  queue = queue.then(async () => {
    let loaded = false;
    for (const m of models) {
      try {
        useModel(new Uint8Array(await m.arrayBuffer()), m.name);
        loaded = true;
      } catch (e) {
        page.modelError = (e as Error).message;
        showError(`${page.modelError} (still using ${page.modelName || 'no model'})`);
      }
    }
    if (loaded) await explainAll();
    photos.push(...added);
    for (const f of added) await explainPhoto(f, choice());
  });
}

/** Every photo so far, explained again as the pickers now say. */
async function explainAll(): Promise<void> {
  $('results').replaceChildren();
  page.results = [];
  const c = choice();
  if (current) $('legend-text').textContent = describeChoice(c, current);
  for (const f of photos) await explainPhoto(f, c);
}

function explainAgain(): void {
  queue = queue.then(explainAll);
}

function base64Bytes(text: string): Uint8Array {
  const binary = atob(text.trim());
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

function drawLegend(): void {
  const canvas = $<HTMLCanvasElement>('legend');
  const ctx = canvas.getContext('2d')!;
  const lut = colormapTable('jet');
  for (let x = 0; x < canvas.width; x++) {
    const i = Math.round((255 * x) / (canvas.width - 1)) * 3;
    ctx.fillStyle = `rgb(${lut[i]},${lut[i + 1]},${lut[i + 2]})`;
    ctx.fillRect(x, 0, 1, canvas.height);
  }
}

function setUpPickers(): void {
  const methods = $<HTMLSelectElement>('method');
  methods.replaceChildren(...METHODS.map((m) => Object.assign(document.createElement('option'), { value: m, textContent: m })));
  const given = config.preprocess;
  const presets = [
    ...(given && (given.mean || given.std || given.resize !== undefined) ? [{ value: 'given', label: 'as wgcam web was told' }] : []),
    ...PRESETS.map((p) => ({ value: p, label: p })),
  ];
  const pre = $<HTMLSelectElement>('preprocess');
  pre.replaceChildren(...presets.map((o) => Object.assign(document.createElement('option'), { value: o.value, textContent: o.label })));
  pre.value = presets[0].value === 'given' ? 'given' : (given?.preset ?? 'unit');
  pre.addEventListener('change', () => {
    queue = queue.then(() => reloadImported());
    explainAgain();
  });
  for (const id of ['method', 'layer', 'class']) $(id).addEventListener('change', explainAgain);
}

page.ready = (async () => {
  drawLegend();
  await chooseBackend();
  const embedded = $('wgcam-model');
  try {
    config = JSON.parse($('wgcam-config').textContent || '{}') as PageConfig;
    setUpPickers();
    useModel(base64Bytes(embedded.textContent ?? ''), embedded.dataset.name ?? 'model.bin');
    $('legend-text').textContent = describeChoice(choice(), current!);
  } catch (e) {
    page.modelError = (e as Error).message;
    showError(page.modelError);
  }
  const picker = $<HTMLInputElement>('files');
  picker.addEventListener('change', () => {
    take([...(picker.files ?? [])]);
    picker.value = '';
  });
  // The whole page takes drops: a file dropped beside the box must not replace the page.
  const zone = $('drop');
  document.addEventListener('dragover', (e) => {
    e.preventDefault();
    zone.classList.add('over');
  });
  document.addEventListener('dragleave', () => zone.classList.remove('over'));
  document.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    take([...(e.dataTransfer?.files ?? [])]);
  });
})();
