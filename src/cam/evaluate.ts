/**
 * Localization scores against known boxes:
 *  - pointing game: the map's peak falls inside the true box;
 *  - box accuracy: the CAM box (the largest component at the chosen threshold) overlaps the
 *    true box with IoU >= 0.5;
 *  - MaxBoxAcc (Choe et al., CVPR 2020): box accuracy at the best of the thresholds
 *    0, 0.01, ..., 0.99 of the map's maximum (pixels strictly above it, as their reference
 *    code binarizes), the same threshold for every image;
 *  - MaxBoxAccV2 (same paper): for IoU 0.3, 0.5 and 0.7, the best threshold's share of images
 *    where some component's box (the best-matching one) reaches the IoU; their mean.
 */
import { basename } from 'node:path';
import { iou, mapMax, type Box } from './box.ts';
import type { CamRecord } from './outputs.ts';

/** The threshold sweep: 0 to 0.99 of the map's maximum, step 0.01. */
export const THRESHOLDS = Array.from({ length: 100 }, (_, i) => i / 100);
const V2_IOUS = [0.3, 0.5, 0.7] as const;

export interface BoxScores {
  images: number;
  pointing: number;
  boxAccuracy: number;
  maxBoxAcc: number;
  /** The threshold (share of each map's maximum) at which MaxBoxAcc is reached. */
  maxBoxAccThreshold: number;
  maxBoxAccV2: number;
  /** MaxBoxAccV2's three terms, at IoU 0.3, 0.5 and 0.7. */
  maxBoxAccV2ByIou: [number, number, number];
}

/** One image's IoUs over the sweep: of the largest component's box, and of the best-matching component's. */
export interface BoxCurve {
  image: string;
  largest: Float32Array;
  best: Float32Array;
}

/**
 * The curves of one map (at the photo's size, as the overlay) against its true box, for every
 * threshold in one pass: pixels join in descending order of value and union-find merges their
 * components (box, size, first pixel in scan order), so at each threshold, from the highest
 * down, the components of the pixels above it are at hand. Same result as `componentBoxes` at
 * each threshold (the largest component: ties go to the first in scan order), in O(P log P)
 * instead of 100 flood fills.
 */
export function boxCurve(image: string, map: Float32Array, width: number, height: number, truth: Box): BoxCurve {
  const largest = new Float32Array(THRESHOLDS.length);
  const best = new Float32Array(THRESHOLDS.length);
  const max = mapMax(map);
  if (!(max > 0)) return { image, largest, best };
  const order = Uint32Array.from(map.keys()).sort((a, b) => map[b] - map[a] || a - b);
  const parent = new Int32Array(map.length).fill(-1);
  const [x0, y0, x1, y1, size, first] = [0, 1, 2, 3, 4, 5].map(() => new Int32Array(map.length));
  const roots = new Set<number>();
  const find = (p: number): number => {
    while (parent[p] !== p) p = parent[p] = parent[parent[p]];
    return p;
  };
  const union = (a: number, b: number) => {
    [a, b] = [find(a), find(b)];
    if (a === b) return;
    if (size[a] < size[b]) [a, b] = [b, a];
    parent[b] = a;
    roots.delete(b);
    size[a] += size[b];
    [x0[a], y0[a], x1[a], y1[a], first[a]] = [Math.min(x0[a], x0[b]), Math.min(y0[a], y0[b]), Math.max(x1[a], x1[b]), Math.max(y1[a], y1[b]), Math.min(first[a], first[b])];
  };
  let added = 0;
  for (let i = THRESHOLDS.length - 1; i >= 0; i--) {
    const cut = THRESHOLDS[i] * max;
    for (; added < order.length && map[order[added]] > cut; added++) {
      const p = order[added];
      const [x, y] = [p % width, Math.floor(p / width)];
      parent[p] = p;
      [x0[p], y0[p], x1[p], y1[p], size[p], first[p]] = [x, y, x + 1, y + 1, 1, p];
      roots.add(p);
      if (x > 0 && parent[p - 1] >= 0) union(p, p - 1);
      if (x < width - 1 && parent[p + 1] >= 0) union(p, p + 1);
      if (y > 0 && parent[p - width] >= 0) union(p, p - width);
      if (y < height - 1 && parent[p + width] >= 0) union(p, p + width);
    }
    let big = -1;
    for (const r of roots) {
      const overlap = iou([x0[r], y0[r], x1[r], y1[r]], truth);
      best[i] = Math.max(best[i], overlap);
      if (big < 0 || size[r] > size[big] || (size[r] === size[big] && first[r] < first[big])) big = r;
    }
    largest[i] = big < 0 ? 0 : iou([x0[big], y0[big], x1[big], y1[big]], truth);
  }
  return { image, largest, best };
}

/** `truth` maps image file names (without folders) to boxes in photo pixels; `curves` come from boxCurve. */
export function scoreBoxes(records: CamRecord[], truth: Map<string, Box>, curves: BoxCurve[]): BoxScores {
  let n = 0;
  let hits = 0;
  let good = 0;
  for (const r of records) {
    const t = truth.get(basename(r.image));
    if (!t) continue;
    n++;
    const [x, y] = r.peak;
    if (x >= t[0] && x < t[2] && y >= t[1] && y < t[3]) hits++;
    if (r.box && iou(r.box, t) >= 0.5) good++;
  }
  const share = (pick: (c: BoxCurve, i: number) => boolean) => THRESHOLDS.map((_, i) => (curves.length ? curves.filter((c) => pick(c, i)).length / curves.length : NaN));
  const v1 = share((c, i) => c.largest[i] >= 0.5);
  const best = v1.reduce((b, v, i) => (v > v1[b] ? i : b), 0);
  const v2 = V2_IOUS.map((delta) => Math.max(...share((c, i) => c.best[i] >= delta))) as [number, number, number];
  return {
    images: n,
    pointing: n ? hits / n : NaN,
    boxAccuracy: n ? good / n : NaN,
    maxBoxAcc: v1[best],
    maxBoxAccThreshold: THRESHOLDS[best],
    maxBoxAccV2: (v2[0] + v2[1] + v2[2]) / 3,
    maxBoxAccV2ByIou: v2,
  };
}
