/**
 * The built-in sample data: photos-like images with one object each, in a known box.
 * Each class is a shape (a disc, a cross, ...) at a random position, size and colour,
 * on a random smooth textured background, so a network must look at the object (not
 * the background or the brightness) to tell the classes apart, and the CAM can be
 * scored against the true box.
 */
import { Rng } from '../util/rng.ts';

export const SHAPES = ['disc', 'cross', 'hbar', 'vbar', 'square', 'ring'] as const;
export type ShapeName = (typeof SHAPES)[number];

export interface Sample {
  /** RGB bytes, row-major HWC. */
  pixels: Uint8Array;
  /** The object's bounding box in pixels: [x0, y0, x1, y1), x1/y1 exclusive. */
  box: [number, number, number, number];
}

function inside(shape: ShapeName, u: number, v: number): boolean {
  // u, v in [-1, 1] relative to the object's box.
  switch (shape) {
    case 'disc':
      return u * u + v * v <= 1;
    case 'ring': {
      const r = u * u + v * v;
      return r <= 1 && r >= 0.4;
    }
    case 'cross':
      return Math.abs(u) <= 0.28 || Math.abs(v) <= 0.28;
    case 'hbar':
      return Math.abs(v) <= 0.3;
    case 'vbar':
      return Math.abs(u) <= 0.3;
    case 'square':
      return true;
  }
}

/** A harder set: objects of a wider range of sizes, and distractors that belong to no class. */
export interface SampleStyle {
  /** The object's side as a share of the image, drawn uniformly (default 0.25..0.5). */
  objectScale?: [number, number];
  /** Distractors: small squares and bars (no class's shape) in other colours (default 0). */
  clutter?: number;
}

/** Draws one sample of `shape` on a size x size canvas. */
export function drawSample(rng: Rng, shape: ShapeName, size: number, style: SampleStyle = {}): Sample {
  const px = new Uint8Array(size * size * 3);
  // Background: a base colour plus a few low-frequency waves and fine noise.
  const base = [rng.uniform(40, 200), rng.uniform(40, 200), rng.uniform(40, 200)];
  const waves = Array.from({ length: 3 }, () => ({ fx: rng.uniform(0.5, 3), fy: rng.uniform(0.5, 3), ph: rng.uniform(0, 6.3), amp: rng.uniform(10, 35) }));
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++) {
      let t = 0;
      for (const w of waves) t += w.amp * Math.sin((w.fx * x + w.fy * y) * (6.283 / size) + w.ph);
      for (let c = 0; c < 3; c++) px[(y * size + x) * 3 + c] = clamp(base[c] + t * (c === 1 ? 0.8 : 1) + rng.uniform(-12, 12));
    }
  // Distractors first, so that the object is drawn over them.
  for (let d = 0; d < (style.clutter ?? 0); d++) {
    const [w, h] = rng.int(2) ? [Math.round(size * rng.uniform(0.06, 0.12)), Math.round(size * rng.uniform(0.06, 0.12))] : [Math.round(size * rng.uniform(0.15, 0.3)), Math.max(2, Math.round(size * 0.05))];
    const [dx, dy] = [rng.int(size - w + 1), rng.int(size - h + 1)];
    const tone = [rng.uniform(0, 255), rng.uniform(0, 255), rng.uniform(0, 255)];
    for (let y = dy; y < dy + h; y++) for (let x = dx; x < dx + w; x++) for (let c = 0; c < 3; c++) px[(y * size + x) * 3 + c] = clamp(tone[c]);
  }
  // Object: 25%..50% of the image (or objectScale), fully inside it, in a colour far from the background.
  const [smallest, largest] = style.objectScale ?? [0.25, 0.5];
  const side = Math.max(3, Math.round(size * rng.uniform(smallest, largest)));
  const x0 = rng.int(size - side + 1);
  const y0 = rng.int(size - side + 1);
  const color = base.map((b) => (b > 128 ? rng.uniform(0, 60) : rng.uniform(195, 255)));
  for (let y = y0; y < y0 + side; y++)
    for (let x = x0; x < x0 + side; x++) {
      const u = ((x + 0.5 - x0) / side) * 2 - 1;
      const v = ((y + 0.5 - y0) / side) * 2 - 1;
      if (!inside(shape, u, v)) continue;
      for (let c = 0; c < 3; c++) px[(y * size + x) * 3 + c] = clamp(color[c] + rng.uniform(-10, 10));
    }
  return { pixels: px, box: [x0, y0, x0 + side, y0 + side] };
}

function clamp(v: number): number {
  return Math.max(0, Math.min(255, Math.round(v)));
}

/** `count` samples alternating over `shapes`, as one packed u8 NHWC array with labels and boxes. */
export function makeDataset(seed: number, shapes: readonly ShapeName[], count: number, size: number) {
  const rng = new Rng(seed);
  const pixels = new Uint8Array(count * size * size * 3);
  const labels = new Float32Array(count);
  const boxes: Sample['box'][] = [];
  for (let i = 0; i < count; i++) {
    const label = i % shapes.length;
    const s = drawSample(rng, shapes[label], size);
    pixels.set(s.pixels, i * size * size * 3);
    labels[i] = label;
    boxes.push(s.box);
  }
  return { pixels, labels, boxes, size };
}
