/**
 * `wgcam cam MODEL.onnx`: the explanation methods (imported-explain.ts) on an imported graph
 * over a list of photos, with the outputs, metrics and gallery of `wgcam cam MODEL.bin`.
 */
import { basename } from 'node:path';
import { openGpu } from '../gpu/dawn.ts';
import { chooseGraphConvs } from '../graph/conv-choices.ts';
import { GraphRunner } from '../graph/execute.ts';
import { GraphError } from '../graph/graph.ts';
import { importedInput, loadImportedModel } from '../graph/imported-files.ts';
import { fittingBatch, inputOnPhoto, type ImportedModel, type PreprocessOptions } from '../graph/imported-model.ts';
import { planGraph, type ReceptiveField } from '../graph/plan.ts';
import { ConvChoiceCache } from '../nn/conv-choice-cache.ts';
import { defaultMemoryLimit } from '../nn/machine-memory.ts';
import { GpuBackend } from '../tensor/gpu-backend.ts';
import { StopRequest, stopWords } from '../util/stop.ts';
import { printable } from '../util/terminal.ts';
import { boxCurve, type BoxCurve } from './evaluate.ts';
import type { Photo } from './explain.ts';
import type { Faithfulness } from './faithfulness.ts';
import { camHead, explainLayers, importedFaithfulness, mapSize, resolveLayer, scoresOf } from './imported-explain.ts';
import { writeCamOutputs, type CamRecord, type CellToPhoto, type OutputOptions } from './outputs.ts';
import { loadPhoto } from './photos.ts';
import { REPORT_NAME, writeReport } from './report.ts';
import { checkOutputNames, classFromPath, planJob, reportBoxScores, reportFaithfulness, takeOutFolder, type CamJob, type CamJobResult } from './run.ts';

export interface ImportedCamJob extends CamJob {
  /** The layers as `wgcam info` names them: output names, node names or step numbers (several are fused). */
  layerNames?: string[];
  preprocess: PreprocessOptions & { labels?: string };
}

export async function runImportedCam(job: ImportedCamJob): Promise<CamJobResult> {
  const print = job.print ?? ((s) => process.stdout.write(printable(s) + '\n'));
  const warn = job.warn ?? ((s) => process.stderr.write(`wgcam: ${printable(s)}\n`));
  const stop = job.stop ?? new StopRequest();
  const method = job.method ?? 'cam';
  const limit = job.memoryLimit ?? defaultMemoryLimit();
  const model = loadImportedModel(job.model, { ...job.preprocess, limit });
  const fixedBatch = typeof model.graph.inputs[0].dims[0] === 'number' ? model.graph.inputs[0].dims[0] : undefined;
  const batch = fixedBatch ?? job.batch;
  // The batch the memory allows is worked out once the GPU is open (its largest buffer).
  const probe = planGraph(model.graph, batch);
  const layers = [...new Set((job.layerNames ?? [undefined]).map((name) => resolveLayer(probe, name, job.model)))];
  if (layers.length > 1 && method === 'cam') throw new GraphError(`--layer ${job.layerNames!.join(',')}: the cam method reads one layer; fuse layers with another method (gradcam, gradcam++, xgradcam, layercam, hirescam, scorecam)`);
  // Fused maps are drawn on the finest layer's grid.
  const layer = layers.reduce((best, l) => (mapSize(probe, l) > mapSize(probe, best) ? l : best));
  const scores = scoresOf(probe, model);
  const head = method === 'cam' ? camHead(probe, layer) : null;
  if (method === 'cam' && !head) {
    throw new GraphError(`--method cam needs global average pooling and one dense layer right after the layer (${layer} is not followed by them in ${job.model}); use gradcam, gradcam++, xgradcam, layercam, hirescam or scorecam`);
  }
  let cls = -1;
  if (job.className !== undefined) {
    if (job.mode === 'contrast') throw new GraphError(`--class ${job.className}: the contrast mode always shows the predicted class; use --mode class`);
    cls = model.classes.findIndex((c) => c.toLowerCase() === job.className!.toLowerCase());
    if (cls < 0 && /^\d+$/.test(job.className) && Number(job.className) < model.classes.length) cls = Number(job.className);
    if (cls < 0) throw new GraphError(`--class ${job.className}: not one of the model's ${model.classes.length} classes`);
  }
  const planned = planJob(job, warn);
  if ('nothing' in planned) return planned.nothing;
  const { truth, files, stems } = planned;
  let { failed } = planned;
  const where = layers.map((l) => `'${l}' [${probe.shapes.get(l)!.slice(1)}]`).join(' + ');
  warn(`${job.model}: preprocessing ${describe(model)}; ${method} at ${where}${layers.length > 1 ? ` fused by ${job.fuse ?? 'max'}` : ''}${job.flip ? ', with flips' : ''}`);

  const gpu = await openGpu();
  const backend = new GpuBackend(gpu);
  let runner: GraphRunner | undefined;
  let unlock = () => {};
  const records: CamRecord[] = [];
  const curves: BoxCurve[] = [];
  const faithful: Faithfulness[] = [];
  let stopped = false;
  try {
    const step = fittingBatch(model, job.batch, limit, backend.maxBindingBytes);
    // The 3x3 convolutions' kernels, timed once per adapter and batch (remembered after).
    const { innerConv } = await chooseGraphConvs(gpu, model.graph, fixedBatch ?? Math.min(step, files.length), { cache: new ConvChoiceCache(), warn });
    runner = new GraphRunner(backend, model.graph, { innerConv });
    unlock = takeOutFolder(job, warn);
    checkOutputNames(job, stems);
    const output: OutputOptions = {
      outDir: job.outDir, colormap: job.colormap, alpha: job.alpha, box: job.box, json: job.json, overwrite: true, boxThreshold: job.boxThreshold ?? 0.2, photo: job.report,
      shows: { method, layer: layers.length > 1 ? layers.join(',') : layer, fuse: layers.length > 1 ? (job.fuse ?? 'max') : undefined, flip: job.flip || undefined, mode: job.mode, contrast: job.contrast, cls },
    };
    const field = runner.plan(batch).fields.get(layer) ?? { size: 1, jump: 1, start: 0 };
    for (let b = 0; b < files.length; b += step) {
      if (stop.requested) {
        stopped = true;
        warn(`${stopWords(stop.reason!)}: stopped after ${records.length} of ${files.length} images; the files written so far are complete`);
        break;
      }
      const chunk = files.slice(b, b + step);
      const loaded = await Promise.allSettled(chunk.map(async (f) => ({ input: await importedInput(f, model), photo: (await loadPhoto(f, { height: model.height, width: model.width, channels: 3, resize: 'fill', scale: '1/255' })).photo })));
      const ok: { file: string; stem: string; input: Float32Array; photo: Photo }[] = [];
      loaded.forEach((r, i) => {
        if (r.status === 'fulfilled') ok.push({ file: chunk[i], stem: stems[b + i], ...r.value });
        else {
          failed++;
          warn((r.reason as Error).message);
        }
      });
      if (!ok.length) continue;
      const options = { scores, head, method, mode: job.mode, contrast: job.contrast, cls, batch: fixedBatch ?? ok.length, rawScale: job.rawScale, allClasses: job.allClasses };
      const results = await explainLayers(runner, model, options, ok, layers, layer, { flip: Boolean(job.flip), fuse: job.fuse ?? 'max' });
      if (job.metrics) {
        const usable = results.map((r, i) => (r.error ? -1 : i)).filter((i) => i >= 0);
        const scored = await importedFaithfulness(runner, model, scores, fixedBatch, usable.map((i) => ok[i].input), usable.map((i) => results[i].inputMap!), usable.map((i) => results[i].probs));
        usable.forEach((i, k) => {
          results[i].faithfulness = scored[k];
          faithful.push(scored[k]);
        });
      }
      for (let i = 0; i < ok.length; i++) {
        try {
          if (results[i].error) throw new Error(results[i].error);
          const ph = ok[i].photo;
          const rec = await writeCamOutputs(ok[i].file, ok[i].stem, results[i], ph, model.classes, output, cellToPhotoOf(model, field, ph));
          rec.truth = classFromPath(ok[i].file, model.classes);
          const known = truth?.get(basename(ok[i].file));
          if (known) curves.push(boxCurve(ok[i].file, results[i].upsampled, ph.width, ph.height, known));
          records.push(rec);
          const preds = rec.predictions.slice(0, 3).map((p) => `${p.class} ${(100 * p.probability).toFixed(1)}%`).join('  ');
          print(`${ok[i].file}  ${preds}${job.box && rec.box ? `  box ${rec.box.join(',')}` : ''}`);
        } catch (e) {
          failed++;
          warn(`${ok[i].file}: ${(e as Error).message}`);
        }
      }
    }
    const result: CamJobResult = { records, failed, stopped };
    if (faithful.length) reportFaithfulness(result, faithful, print);
    if (truth) reportBoxScores(result, truth, curves, job.boxThreshold ?? 0.2, print, warn);
    if (job.report && records.length) {
      result.reportPath = writeReport(job.outDir, records, `wgcam: ${basename(job.model)}`, { colormap: job.colormap, mode: `${method} at ${layer}` });
      print(`gallery: ${result.reportPath}`);
    } else if (job.report) warn(`no gallery written (${REPORT_NAME}): no image was explained`);
    return result;
  } finally {
    runner?.dispose();
    gpu.destroy();
    unlock();
  }
}

function describe(model: ImportedModel): string {
  const p = model.pre;
  return `${p.name}${p.resize === null ? '' : `, shorter side ${p.resize}, centre crop ${p.crop[1]}x${p.crop[0]}`}`;
}

/** Photo pixel at the centre of map cell (x, y): the receptive field's centre on the input, then the input's place on the photo. */
function cellToPhotoOf(model: ImportedModel, f: ReceptiveField, photo: Photo): CellToPhoto {
  const box = inputOnPhoto(model.pre, photo.width, photo.height);
  const axis = (u: number, origin: number, span: number, inSize: number, outSize: number) => Math.min(outSize - 1, Math.max(0, Math.round(origin + ((f.start + f.jump * u + 0.5) * span) / inSize - 0.5)));
  return (x, y) => [axis(x, box.left, box.width, model.width, photo.width), axis(y, box.top, box.height, model.height, photo.height)];
}
