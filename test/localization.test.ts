// The localization scores of `wgcam cam --eval-boxes` on maps whose answers are known by hand:
// the pointing game, box accuracy at the chosen threshold, MaxBoxAcc (the best threshold of
// the sweep for all images, the largest component's box) and MaxBoxAccV2 (IoU 0.3/0.5/0.7,
// the best-matching component's box).
import { describe, expect, it } from 'vitest';
import { camBox, componentBoxes, iou, type Box } from '../src/cam/box.ts';
import { Rng } from '../src/util/rng.ts';
import { boxCurve, scoreBoxes, THRESHOLDS } from '../src/cam/evaluate.ts';
import type { CamRecord } from '../src/cam/outputs.ts';

const W = 40;
const H = 30;

/** A map with `value` inside each box (later boxes win), 0 elsewhere. */
function mapWith(...blobs: [Box, number][]): Float32Array {
  const m = new Float32Array(W * H);
  for (const [[x0, y0, x1, y1], v] of blobs) for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) m[y * W + x] = v;
  return m;
}

const record = (image: string, map: Float32Array, threshold = 0.2): CamRecord => {
  let best = 0;
  map.forEach((v, i) => (v > map[best] ? (best = i) : 0));
  return { image, peak: [best % W, Math.floor(best / W)], box: camBox(map, W, H, threshold) } as unknown as CamRecord;
};

describe('localization scores', () => {
  it('components: every 4-connected region with its box, diagonal neighbours apart', () => {
    const m = mapWith([[2, 2, 6, 5], 1], [[6, 5, 8, 7], 1], [[20, 10, 30, 20], 0.5]);
    expect(componentBoxes(m, W, H, 0.4).map((c) => [c.size, c.box])).toEqual([
      [12, [2, 2, 6, 5]],
      [4, [6, 5, 8, 7]],
      [100, [20, 10, 30, 20]],
    ]);
    expect(componentBoxes(m, W, H, 0.6)).toHaveLength(2);
  });

  it('a map exactly on the true box scores 1 everywhere; one beside it 0', () => {
    const truth: Box = [10, 5, 30, 25];
    const on = mapWith([truth, 1]);
    const off = mapWith([[0, 0, 8, 8], 1]);
    const t = new Map([['on.png', truth], ['off.png', truth]]);
    const s = scoreBoxes([record('on.png', on), record('off.png', off)], t, [boxCurve('on.png', on, W, H, truth), boxCurve('off.png', off, W, H, truth)]);
    expect(s).toMatchObject({ images: 2, pointing: 0.5, boxAccuracy: 0.5, maxBoxAcc: 0.5, maxBoxAccV2: 0.5, maxBoxAccV2ByIou: [0.5, 0.5, 0.5] });
  });

  it('MaxBoxAcc finds the threshold that separates the object from its halo; box accuracy at 0.2 does not', () => {
    // A halo (0.3) twice the object's size around the object (1): at 0.2 the box is the halo's.
    const truth: Box = [15, 10, 25, 20];
    const map = mapWith([[5, 0, 35, 30], 0.3], [truth, 1]);
    const curve = boxCurve('a.png', map, W, H, truth);
    const s = scoreBoxes([record('a.png', map)], new Map([['a.png', truth]]), [curve]);
    expect(s.boxAccuracy).toBe(0);
    expect(s.maxBoxAcc).toBe(1);
    expect(s.maxBoxAccThreshold).toBeGreaterThan(0.3); // the first threshold above the halo
    expect(s.maxBoxAccThreshold).toBeLessThanOrEqual(0.31);
    expect(curve.largest[THRESHOLDS.indexOf(0.2)]).toBeCloseTo((10 * 10) / (30 * 30), 5);
  });

  it('MaxBoxAccV2 counts the best-matching component, MaxBoxAcc only the largest', () => {
    const truth: Box = [30, 20, 38, 28];
    const map = mapWith([[0, 0, 20, 20], 1], [truth, 1]); // a larger decoy, and the object
    const s = scoreBoxes([record('a.png', map)], new Map([['a.png', truth]]), [boxCurve('a.png', map, W, H, truth)]);
    expect(s.maxBoxAcc).toBe(0);
    expect(s.maxBoxAccV2).toBe(1);
  });

  it('IoU 0.3 / 0.5 / 0.7 each count where the best box reaches them', () => {
    const truth: Box = [0, 0, 20, 20];
    const map = mapWith([[0, 0, 20, 12], 1]); // IoU 0.6 with the truth
    const s = scoreBoxes([record('a.png', map)], new Map([['a.png', truth]]), [boxCurve('a.png', map, W, H, truth)]);
    expect(s.maxBoxAccV2ByIou).toEqual([1, 1, 0]);
    expect(s.maxBoxAccV2).toBeCloseTo(2 / 3, 10);
  });

  it('the one-pass curves equal a flood fill at every threshold (random maps, ties included)', () => {
    const rng = new Rng(4);
    for (let round = 0; round < 20; round++) {
      // Coarse values make ties between components and plateaus at thresholds.
      const map = Float32Array.from({ length: W * H }, () => Math.floor(rng.next() * 12) / 11);
      const truth: Box = [rng.int(20), rng.int(15), 20 + rng.int(20), 15 + rng.int(15)];
      const curve = boxCurve('r.png', map, W, H, truth);
      THRESHOLDS.forEach((t, i) => {
        const comps = componentBoxes(map, W, H, t * 1, true);
        let big: { size: number; box: Box } | null = null;
        for (const c of comps) if (!big || c.size > big.size) big = c;
        expect(curve.largest[i], `round ${round} threshold ${t}`).toBeCloseTo(big ? iou(big.box, truth) : 0, 6);
        expect(curve.best[i]).toBeCloseTo(Math.max(0, ...comps.map((c) => iou(c.box, truth))), 6);
      });
    }
  });
});
