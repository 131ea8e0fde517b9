/**
 * `wgcam eval MODEL.onnx DATA`: an imported classifier on labelled photos (Kaggle layout or
 * class folders), each photo prepared as the model's preprocessing says (no cache: the
 * cache holds photos resized for wgcam's own models), the report and files as for model.bin.
 */
import { detectLayout } from '../data/layout.ts';
import { openGpu } from '../gpu/dawn.ts';
import type { PreprocessOptions } from '../graph/imported-model.ts';
import type { MemoryLimit } from '../nn/memory.ts';
import { printable } from '../util/terminal.ts';
import { bar, Progress } from '../util/progress.ts';
import { evaluate, reportLines } from './metrics.ts';
import { openClassifier } from './open-classifier.ts';
import { ranked } from './predictor.ts';
import { saveEvaluation, type Misclassified } from './run.ts';

export async function evalImported(modelPath: string, dataDir: string, out: string, o: PreprocessOptions & { labels?: string; maxBatch: number; limit: MemoryLimit; overwrite: boolean }): Promise<number> {
  const src = detectLayout(dataDir, 'test');
  if (src.kind === 'idx') throw new Error(`${dataDir}: IDX data holds images already sized for one network; evaluate an ONNX model on photo folders`);
  const progress = new Progress();
  const gpu = await openGpu();
  try {
    const model = await openClassifier(gpu, modelPath, { ...o, warn: (line) => progress.log(`warning: ${line}`) });
    const { classes } = model;
    const toModel = src.classes.map((c) => classes.findIndex((m) => m === c || m.toLowerCase() === c.toLowerCase()));
    const unknown = src.classes.filter((_, c) => toModel[c] < 0);
    if (unknown.length) progress.log(`skipping the images of ${unknown.length} class${unknown.length > 1 ? 'es' : ''} ${modelPath} does not know: ${unknown.slice(0, 5).join(', ')}${unknown.length > 5 ? ', ...' : ''}`);
    const files = src.files.filter((f) => toModel[f.label] >= 0);
    if (files.length === 0) throw new Error(`${dataDir}: none of its classes (${src.classes.slice(0, 5).join(', ')}) is one of ${modelPath}'s (${classes.slice(0, 5).join(', ')}); name them with --labels`);
    progress.log(`eval: ${modelPath} on ${dataDir} (${src.layout} layout), ${files.length} images; preprocessing ${model.preprocessing}`);
    const truth: number[] = [];
    const predicted: number[] = [];
    const misclassified: Misclassified[] = [];
    let unreadable = 0;
    for (let start = 0; start < files.length; start += o.maxBatch) {
      const chunk = files.slice(start, start + o.maxBatch);
      const prepared = await Promise.allSettled(chunk.map((f) => model.prepare(f.path)));
      const ok = chunk.filter((_, i) => prepared[i].status === 'fulfilled');
      const inputs = prepared.flatMap((r) => {
        if (r.status === 'fulfilled') return [r.value];
        unreadable++;
        progress.log(`wgcam: ${printable((r.reason as Error).message)}`);
        return [];
      });
      if (ok.length) {
        const probs = await model.probabilities(inputs);
        ok.forEach((f, k) => {
          const [best] = ranked(probs, k, classes.length);
          const t = toModel[f.label];
          truth.push(t);
          predicted.push(best);
          if (best !== t) misclassified.push({ image: f.path, truth: classes[t], predicted: classes[best], probability: probs[k * classes.length + best] });
        });
      }
      progress.update(`predicting ${bar((start + chunk.length) / files.length)} ${start + chunk.length}/${files.length}`);
    }
    model.dispose();
    if (truth.length === 0) throw new Error(`${dataDir}: none of the ${files.length} photos could be read`);
    misclassified.sort((a, b) => b.probability - a.probability);
    const e = { report: evaluate(classes, truth, predicted), misclassified };
    for (const line of reportLines(e.report)) progress.log(line);
    const saved = await saveEvaluation(out, e, { model: modelPath, data: dataDir, preprocessing: model.preprocessing, unreadable }, `${modelPath} on ${dataDir}`, o.overwrite);
    progress.log(`wrote ${saved.join(', ')}`);
    return unreadable ? 1 : 0;
  } finally {
    gpu.destroy();
  }
}
