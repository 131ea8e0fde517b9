/** wgcam eval model.bin DATA [options] */
import { prepareDataset } from '../data/dataset.ts';
import { openGpu } from '../gpu/dawn.ts';
import { buildModel, loadModelFile } from '../io/model-file.ts';
import { GpuBackend } from '../tensor/gpu-backend.ts';
import { evaluateImages, evaluationTargets, saveEvaluation } from '../eval/run.ts';
import { reportLines } from '../eval/metrics.ts';
import { Predictor } from '../eval/predictor.ts';
import { bar, Progress } from '../util/progress.ts';
import { int, memoryLimit, parse, run, UsageError } from './main.ts';
import { isOnnxPath } from '../eval/open-classifier.ts';
import { evalImported } from '../eval/imported.ts';
import { PREPROCESS_HELP, PREPROCESS_OPTIONS, preprocessOptions } from './preprocess-options.ts';

const HELP = `
Usage: wgcam eval MODEL DATA [options]      (or: npm run eval -- ...)

Scores a model on labelled images: accuracy, per-class precision, recall and F1, and the
confusion matrix, printed and saved into --out as eval.json and confusion.svg.

DATA is any labelled layout training reads: Kaggle (DATA/train/cat.0.jpg), one folder per
class, or IDX files (the test pair t10k-images-idx3-ubyte + t10k-labels-idx1-ubyte when
present, else the training pair). Images of classes the model does not know are skipped.
MODEL is a wgcam model (model.bin) or an ONNX classifier (photo folders; --labels names its
classes, matched to the folders' by name).

Options:
  --out DIR            where eval.json and confusion.svg go (default: eval-out)
  --batch N            images per forward pass at most (default 256; fewer where memory needs)
  --cache DIR          where decoded images are cached (default: beside the photos)
  --max-memory SIZE    the memory cap for the model's estimate (default: half of this machine's)
  --overwrite          replace an earlier eval.json / confusion.svg
${PREPROCESS_HELP}
  -h, --help           this help
`;

run(async () => {
  const { values: v, positionals } = parse(
    process.argv.slice(2),
    { out: { type: 'string' }, batch: { type: 'string' }, cache: { type: 'string' }, 'max-memory': { type: 'string' }, overwrite: { type: 'boolean' }, ...PREPROCESS_OPTIONS },
    HELP,
  );
  const [modelPath, dataDir, extra] = positionals;
  if (!modelPath || !dataDir || extra !== undefined) throw new UsageError('usage: wgcam eval MODEL DATA (see --help)');
  const onnx = isOnnxPath(modelPath);
  const pre = preprocessOptions(v, onnx);
  const out = v.out ?? 'eval-out';
  if (onnx) {
    if (v.cache !== undefined) throw new UsageError('--cache is for wgcam models: an ONNX model reads each photo as its preprocessing says');
    evaluationTargets(out, Boolean(v.overwrite));
    return evalImported(modelPath, dataDir, out, { ...pre, maxBatch: int('batch', v.batch, 32), limit: memoryLimit(v['max-memory']), overwrite: Boolean(v.overwrite) });
  }
  const loaded = loadModelFile(modelPath);
  evaluationTargets(out, Boolean(v.overwrite)); // before minutes of work, not after
  const { arch, classes } = loaded.meta;
  const progress = new Progress();
  const opts = { size: arch.height, cacheDir: v.cache, onProgress: (n: number, total: number) => progress.update(`preparing images ${bar(n / total)} ${n}/${total}`) };
  const data = await prepareDataset(dataDir, { ...opts, idxSplit: 'test' }).catch(() => prepareDataset(dataDir, opts));
  try {
    if (data.height !== arch.height || data.width !== arch.width || data.channels !== arch.inputChannels) {
      throw new UsageError(`${dataDir}: ${data.width}x${data.height}x${data.channels} images, but ${modelPath} takes ${arch.width}x${arch.height}x${arch.inputChannels}`);
    }
    const byName = (c: string) => classes.findIndex((m) => m === c || m.toLowerCase() === c.toLowerCase());
    const toModel = data.classes.map(byName);
    const unknown = data.classes.filter((_, c) => toModel[c] < 0);
    if (unknown.length) progress.log(`skipping the images of ${unknown.length} class${unknown.length > 1 ? 'es' : ''} ${modelPath} does not know: ${unknown.slice(0, 5).join(', ')}${unknown.length > 5 ? ', ...' : ''}`);
    const indices = [...data.labels.keys()].filter((i) => toModel[data.labels[i]] >= 0);
    if (indices.length === 0) throw new UsageError(`${dataDir}: none of its classes (${data.classes.slice(0, 5).join(', ')}) is one of ${modelPath}'s (${classes.slice(0, 5).join(', ')})`);
    progress.log(`eval: ${modelPath} on ${dataDir} (${data.layout} layout), ${indices.length} images`);
    const gpu = await openGpu();
    try {
      const model = buildModel(new GpuBackend(gpu), loaded);
      const predictor = new Predictor(gpu, model, modelPath, { maxBatch: int('batch', v.batch, 256), limit: memoryLimit(v['max-memory']) });
      const e = await evaluateImages(predictor, classes, data, indices, toModel, (n) => progress.update(`predicting ${bar(n / indices.length)} ${n}/${indices.length}`));
      for (const line of reportLines(e.report)) progress.log(line);
      const saved = await saveEvaluation(out, e, { model: modelPath, data: dataDir }, `${modelPath} on ${dataDir}`, Boolean(v.overwrite));
      progress.log(`wrote ${saved.join(', ')}`);
      model.dispose();
    } finally {
      gpu.destroy();
    }
  } finally {
    data.close();
  }
});
