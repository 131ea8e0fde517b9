/**
 * Classification metrics from true and predicted class indices: the confusion matrix
 * (rows = true class, columns = predicted), accuracy, and per class precision, recall,
 * F1 and support, as scikit-learn's classification_report defines them (a class never
 * predicted has precision 0; one never present has recall 0 and support 0).
 */
import { maxOf } from '../util/arrays.ts';

export interface ClassReport {
  class: string;
  precision: number;
  recall: number;
  f1: number;
  support: number;
}

export interface EvalReport {
  classes: string[];
  images: number;
  accuracy: number;
  /** confusion[t][p]: images of true class t predicted as p. */
  confusion: number[][];
  perClass: ClassReport[];
  macroF1: number;
}

export function evaluate(classes: string[], truth: ArrayLike<number>, predicted: ArrayLike<number>): EvalReport {
  const J = classes.length;
  const confusion = Array.from({ length: J }, () => new Array<number>(J).fill(0));
  for (let i = 0; i < truth.length; i++) confusion[truth[i]][predicted[i]]++;
  const correct = classes.reduce((s, _, j) => s + confusion[j][j], 0);
  const perClass = classes.map((name, j) => {
    const support = confusion[j].reduce((a, b) => a + b, 0);
    const predictedAs = confusion.reduce((s, row) => s + row[j], 0);
    const precision = predictedAs ? confusion[j][j] / predictedAs : 0;
    const recall = support ? confusion[j][j] / support : 0;
    const f1 = precision + recall ? (2 * precision * recall) / (precision + recall) : 0;
    return { class: name, precision, recall, f1, support };
  });
  const present = perClass.filter((c) => c.support > 0);
  return {
    classes,
    images: truth.length,
    accuracy: truth.length ? correct / truth.length : NaN,
    confusion,
    perClass,
    macroF1: present.length ? present.reduce((s, c) => s + c.f1, 0) / present.length : NaN,
  };
}

/** The report as the lines a terminal shows: accuracy, a per-class table, the confusion matrix. */
export function reportLines(r: EvalReport, maxClasses = 30): string[] {
  const pct = (v: number) => `${(100 * v).toFixed(1)}%`;
  const name = (s: string) => (s.length > 16 ? `${s.slice(0, 15)}~` : s);
  const width = Math.max(5, ...r.classes.map((c) => name(c).length));
  const lines = [`accuracy ${pct(r.accuracy)} over ${r.images} images, macro F1 ${r.macroF1.toFixed(3)}`];
  lines.push(`${'class'.padEnd(width)}  precision  recall     F1  support`);
  for (const c of r.perClass) lines.push(`${name(c.class).padEnd(width)}  ${pct(c.precision).padStart(9)}  ${pct(c.recall).padStart(6)}  ${c.f1.toFixed(3).padStart(5)}  ${String(c.support).padStart(7)}`);
  if (r.classes.length <= maxClasses) {
    const labels = r.classes.map((c, t) => `${t} ${name(c)}`);
    const labelWidth = maxOf(labels.map((l) => l.length));
    const cell = Math.max(5, maxOf(r.confusion.flat().map((v) => String(v).length + 1)));
    lines.push('confusion (rows: true class, columns: predicted)');
    lines.push(`${''.padEnd(labelWidth)}${r.classes.map((_, j) => String(j).padStart(cell)).join('')}`);
    r.confusion.forEach((row, t) => lines.push(`${labels[t].padEnd(labelWidth)}${row.map((v) => String(v).padStart(cell)).join('')}`));
  } else {
    lines.push(`confusion matrix: ${r.classes.length} classes, see the saved JSON and picture`);
  }
  return lines;
}
