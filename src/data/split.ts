/** Stratified, seeded train/validation split: each class keeps the same share in both. */
import { Rng } from '../util/rng.ts';
import { append } from '../util/arrays.ts';

export function stratifiedSplit(labels: ArrayLike<number>, valFraction: number, seed: number): { train: number[]; val: number[] } {
  const byClass = new Map<number, number[]>();
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i];
    if (!byClass.has(l)) byClass.set(l, []);
    byClass.get(l)!.push(i);
  }
  const rng = new Rng(seed);
  const train: number[] = [];
  const val: number[] = [];
  for (const cls of [...byClass.keys()].sort((a, b) => a - b)) {
    const items = rng.shuffle(byClass.get(cls)!);
    const nVal = valFraction > 0 && items.length > 1 ? Math.max(1, Math.round(items.length * valFraction)) : 0;
    append(val, items.slice(0, nVal));
    append(train, items.slice(nVal));
  }
  return { train: train.sort((a, b) => a - b), val: val.sort((a, b) => a - b) };
}
