/**
 * Evaluation: a model's predictions over labelled images, the report (eval/metrics.ts), and
 * the files that keep it: OUT/eval.json (every figure, the confusion matrix, the
 * misclassified images) and OUT/confusion.svg.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ImageSet } from '../data/dataset.ts';
import { writeFileAtomic } from '../io/atomic.ts';
import { refuseToReplace, whyNotAFolder } from '../io/input-path.ts';
import { confusionSvg } from './confusion-plot.ts';
import { evaluate, type EvalReport } from './metrics.ts';
import { type Predictor, ranked } from './predictor.ts';

export interface Misclassified {
  image: string;
  truth: string;
  predicted: string;
  probability: number;
}

export interface Evaluation {
  report: EvalReport;
  misclassified: Misclassified[];
}

/** Images per read from the image set (the predictor splits further by memory). */
const CHUNK = 256;

/**
 * Predicts `indices` of `data` and scores them against their labels; `toModel[c]` is the
 * model's class index of the data's class c.
 */
export async function evaluateImages(predictor: Predictor, modelClasses: string[], data: ImageSet, indices: number[], toModel: number[], onProgress?: (done: number) => void): Promise<Evaluation> {
  const truth: number[] = [];
  const predicted: number[] = [];
  const misclassified: Misclassified[] = [];
  const J = modelClasses.length;
  for (let start = 0; start < indices.length; start += CHUNK) {
    const chunk = indices.slice(start, start + CHUNK);
    const probs = await predictor.probabilities(data.read(chunk), chunk.length);
    chunk.forEach((i, k) => {
      const [best] = ranked(probs, k, J);
      const t = toModel[data.labels[i]];
      truth.push(t);
      predicted.push(best);
      if (best !== t) misclassified.push({ image: data.names[i], truth: modelClasses[t], predicted: modelClasses[best], probability: probs[k * J + best] });
    });
    onProgress?.(Math.min(indices.length, start + CHUNK));
  }
  misclassified.sort((a, b) => b.probability - a.probability);
  return { report: evaluate(modelClasses, truth, predicted), misclassified };
}

export const EVAL_FILES = ['eval.json', 'confusion.svg'];

/**
 * The paths of eval.json and confusion.svg in `out`, once it is sure they can be written
 * there: `out` a folder (or absent), each file absent, or (with `overwrite`) a regular file.
 * Called before any work, and again before writing.
 */
export function evaluationTargets(out: string, overwrite: boolean): string[] {
  const why = existsSync(out) ? whyNotAFolder(out) : null;
  if (why) throw new Error(`--out ${out}: ${why}`);
  const paths = EVAL_FILES.map((f) => join(out, f));
  refuseToReplace(paths);
  const clash = overwrite ? undefined : paths.find((p) => existsSync(p));
  if (clash) throw new Error(`${clash} exists; pass --overwrite to replace it, or pick another --out`);
  return paths;
}

/** Writes eval.json and confusion.svg into `out` (replacing them only with `overwrite`). */
export async function saveEvaluation(out: string, e: Evaluation, about: Record<string, unknown>, title: string, overwrite: boolean): Promise<string[]> {
  const paths = evaluationTargets(out, overwrite);
  mkdirSync(out, { recursive: true });
  const json = { ...about, ...e.report, misclassified: e.misclassified.slice(0, 1000), misclassifiedCount: e.misclassified.length };
  writeFileAtomic(paths[0], JSON.stringify(json, null, 1));
  writeFileAtomic(paths[1], await confusionSvg(e.report, title));
  return paths;
}
