/**
 * Localization scores against known boxes: the pointing game (the map's peak falls inside
 * the true box) and box accuracy (the CAM box overlaps the true box with IoU >= 0.5).
 */
import { basename } from 'node:path';
import { iou, type Box } from './box.ts';
import type { CamRecord } from './outputs.ts';

export interface BoxScores {
  images: number;
  pointing: number;
  boxAccuracy: number;
}

/** `truth` maps image file names (without folders) to boxes in photo pixels. */
export function scoreBoxes(records: CamRecord[], truth: Map<string, Box>): BoxScores {
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
  return { images: n, pointing: n ? hits / n : NaN, boxAccuracy: n ? good / n : NaN };
}
