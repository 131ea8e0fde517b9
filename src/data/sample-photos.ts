/**
 * Writes the built-in sample set as JPEG photos in the Kaggle layout
 * (DIR/train/disc.0.jpg, DIR/train/cross.0.jpg, ...) with DIR/boxes.json giving each
 * object's box in that photo's pixels. Photos vary in size so resizing and the CAM's
 * alignment are exercised. Deterministic for a given seed and count.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { writeFileAtomic } from '../io/atomic.ts';
import { Rng } from '../util/rng.ts';
import { drawSample, type SampleStyle, type ShapeName } from './synthetic.ts';

export interface SampleSetSpec {
  dir: string;
  shapes: ShapeName[];
  perClass: number;
  seed: number;
  minSize: number;
  maxSize: number;
  /** Harder photos: wider object sizes, distractors (docs/cam-methods.md's second set). */
  style?: SampleStyle;
}

export async function writeSamplePhotos(spec: SampleSetSpec, onProgress?: (done: number, total: number) => void): Promise<{ created: boolean }> {
  const marker = join(spec.dir, 'sample-set.json');
  const wanted = JSON.stringify(spec);
  if (existsSync(marker) && readFileSync(marker, 'utf8') === wanted) return { created: false };
  const trainDir = join(spec.dir, 'train');
  mkdirSync(trainDir, { recursive: true });
  const rng = new Rng(spec.seed);
  const boxes: Record<string, [number, number, number, number]> = {};
  const total = spec.perClass * spec.shapes.length;
  let done = 0;
  const jobs: Promise<void>[] = [];
  for (let i = 0; i < spec.perClass; i++) {
    for (const shape of spec.shapes) {
      const size = spec.minSize + rng.int(spec.maxSize - spec.minSize + 1);
      const s = drawSample(rng, shape, size, spec.style);
      const name = `${shape}.${i}.jpg`;
      boxes[name] = s.box;
      jobs.push(
        sharp(s.pixels, { raw: { width: size, height: size, channels: 3 } })
          .jpeg({ quality: 90 })
          .toBuffer()
          .then((buf) => {
            writeFileAtomic(join(trainDir, name), buf);
            onProgress?.(++done, total);
          }),
      );
      if (jobs.length >= 64) await Promise.all(jobs.splice(0));
    }
  }
  await Promise.all(jobs);
  writeFileAtomic(join(spec.dir, 'boxes.json'), JSON.stringify(boxes));
  writeFileAtomic(marker, wanted);
  return { created: true };
}
