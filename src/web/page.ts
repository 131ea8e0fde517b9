/**
 * The page `wgcam web` serves: drop photos (or another model file) on it and it shows the
 * predicted class and the CAM overlay, computed in this browser by the CLI's own modules and
 * WGSL kernels: on WebGPU where the browser gives an adapter, else on the CPU references (the
 * same code the tests hold the kernels to). Nothing is sent anywhere: the page's Content
 * Security Policy forbids every connection.
 *
 * For tests and scripts, `window.wgcam` holds `ready` (resolves once the model is loaded),
 * `engine`, `results` (per photo: probabilities, the u8 map) and `idle()`.
 */
import sources from 'wgcam:wgsl-sources';
import { colormapTable, overlay } from '../cam/colormap.ts';
import { Explainer, type CamOptions } from '../cam/explain.ts';
import { Gpu } from '../gpu/runtime.ts';
import { buildModel, modelFromSafetensors, type LoadedModel } from '../io/model-format.ts';
import { parseSafetensors } from '../io/safetensors-format.ts';
import type { Classifier } from '../nn/model.ts';
import type { Backend } from '../tensor/backend.ts';
import { CpuBackend } from '../tensor/cpu-backend.ts';
import { GpuBackend } from '../tensor/gpu-backend.ts';
import { loadPhoto } from './photo.ts';

interface PhotoResult {
  name: string;
  error?: string;
  predicted?: string;
  probabilities?: number[];
  /** The map at feature resolution, 0..255, as NAME.cam.png holds it. */
  cam?: number[];
  mapWidth?: number;
  mapHeight?: number;
}

const CAM: CamOptions = { mode: 'contrast', contrast: 'runner-up', cls: -1, rawScale: 1, allClasses: false };
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
};
(window as unknown as { wgcam: typeof page }).wgcam = page;

let backend: Backend;
let current: { loaded: LoadedModel; model: Classifier; explainer: Explainer } | null = null;
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

function useModel(bytes: Uint8Array, name: string): void {
  const loaded = modelFromSafetensors(parseSafetensors(bytes, name), name);
  const model = buildModel(backend, loaded);
  // The browser reports its memory in GiB, at most 8: half of it, as the CLI takes half of the machine's.
  const deviceGiB = (navigator as Navigator & { deviceMemory?: number }).deviceMemory ?? 4;
  const explainer = new Explainer(backend, model, { source: name, limit: { bytes: (deviceGiB * GIB) / 2, source: `half of the ${deviceGiB} GiB this browser reports` } });
  current?.model.dispose();
  current = { loaded, model, explainer };
  page.modelName = name;
  page.modelError = '';
  const { arch, classes, input } = loaded.meta;
  $('model').textContent = `${name}: ${arch.blocks}, ${input.width}x${input.height} ${input.channels === 1 ? 'gray' : 'RGB'}, ${classes.length} classes (${classes.slice(0, 8).join(', ')}${classes.length > 8 ? ', ...' : ''})`;
  showError('');
}

function showError(message: string): void {
  $('error').textContent = message;
  $('error').hidden = message === '';
}

async function explainPhoto(file: File): Promise<void> {
  const result: PhotoResult = { name: file.name };
  const card = document.createElement('figure');
  const caption = document.createElement('figcaption');
  card.append(caption);
  $('results').append(card);
  caption.textContent = `${file.name}: working...`;
  try {
    if (!current) throw new Error('no model loaded');
    const { loaded, explainer } = current;
    const { photo, input } = await loadPhoto(file, loaded.meta.input);
    const [r] = await explainer.explain([input], [photo], CAM);
    if (r.error) throw new Error(r.error);
    const classes = loaded.meta.classes;
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

const isModelFile = (f: File) => /\.(bin|safetensors)$/i.test(f.name);

/** Model files load first (the last one wins), then the photos are explained one after another. */
function take(files: File[]): void {
  const models = files.filter(isModelFile);
  const photos = files.filter((f) => !isModelFile(f));
  queue = queue.then(async () => {
    for (const m of models) {
      try {
        useModel(new Uint8Array(await m.arrayBuffer()), m.name);
      } catch (e) {
        page.modelError = (e as Error).message;
        showError(`${page.modelError} (still using ${page.modelName || 'no model'})`);
      }
    }
    for (const f of photos) await explainPhoto(f);
  });
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

page.ready = (async () => {
  drawLegend();
  await chooseBackend();
  const embedded = $('wgcam-model');
  try {
    useModel(base64Bytes(embedded.textContent ?? ''), embedded.dataset.name ?? 'model.bin');
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
