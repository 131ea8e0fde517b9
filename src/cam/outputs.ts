/**
 * Writes one image's CAM results: NAME.cam.png (the u8 map at feature resolution, as the
 * seed saved it), NAME.overlay.png (coloured map over the photo at the photo's size, with
 * the box when asked) and NAME.json. Files go only inside the output folder, written to a
 * temporary name and renamed; existing files are kept unless `overwrite`.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import sharp from 'sharp';
import { writeFileAtomic } from '../io/atomic.ts';
import { camBox, peak, type Box } from './box.ts';
import { colormapTable, drawBox, overlay, type ColormapName } from './colormap.ts';
import type { CamMethod, Explained, Photo } from './explain.ts';
import type { FuseMode } from './fuse.ts';
import type { CamMode } from '../kernels/cam.ts';

/** What the numbers of cam.png and the overlay mean, per mode. */
const MAP_VALUES: Record<CamMode, string> = {
  contrast: '(class map - contrast map) / max |that|, clipped to 0..1; cam.png = round(255 * value)',
  class: '(class map - its min) / (its max - its min); cam.png = round(255 * value)',
  raw: 'class map / --raw-max, clipped to 0..1; cam.png = round(255 * value); raw_map holds the unscaled values',
};
const GRADIENT_MAP_VALUES = 'relu(weighted map) / its max (0 where the max is 0); cam.png = round(255 * value); raw_map holds the map before the relu';

/** Maps a feature-map cell (x, y) to the photo pixel at the centre of its receptive field. */
export type CellToPhoto = (x: number, y: number) => [number, number];

export interface OutputOptions {
  outDir: string;
  colormap: ColormapName;
  alpha: number;
  box: boolean;
  json: boolean;
  overwrite: boolean;
  /** The CAM box keeps pixels at or above this share of the map's maximum (the paper: 0.2). */
  boxThreshold: number;
  /** What the map shows (recorded in NAME.json); default: the contrast mode against the runner-up. */
  shows?: { method?: CamMethod; layer?: number | number[] | string; fuse?: FuseMode; flip?: boolean; mode: CamMode; contrast: 'runner-up' | 'mean'; cls: number };
  /** Also write NAME.photo.jpg (the photo as the overlay shows it), for the gallery's photo/overlay toggle. */
  photo?: boolean;
}

export interface CamRecord {
  image: string;
  name: string;
  predictions: { class: string; probability: number }[];
  /** Centre of the map's strongest cell (its receptive field's centre), in photo pixels. */
  peak: [number, number];
  box: Box | null;
  stats: { min: number; max: number; mean: number };
  files: { cam: string; overlay: string; json?: string; photo?: string };
  /** What the map is: its method and layer, its mode, the class shown and what was subtracted (see docs/cam-outputs.md). */
  map: { method: CamMethod; layer?: number | number[] | string; fuse?: FuseMode; flip?: boolean; mode: CamMode; class: string; contrast: string | null; values: string };
  /** The input's class when its name says it (Kaggle's cat.0.jpg, a class folder), else null. */
  truth?: string | null;
  width: number;
  height: number;
}

/**
 * The longest stem: file systems take 255 bytes a name, and a stem gets a suffix of up to 16
 * (`-NNN` to tell equal stems apart, `.overlay.png`) and with --watch a prefix of 3 (`NN-`).
 */
export const MAX_STEM = 200;

/**
 * A file-name stem that stays inside the output folder: no separators, no dot-dot, ASCII
 * only, and short enough that every output name fits. A longer one is cut and ends in a
 * hash of the whole name, so two long names that share a beginning stay apart.
 */
export function safeStem(name: string): string {
  const stem = name.replace(/\.[^.]*$/, '').replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^\.+/, '') || 'image';
  if (stem.length <= MAX_STEM) return stem;
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 12);
  return `${stem.slice(0, MAX_STEM - hash.length - 1)}~${hash}`;
}

async function png(data: Uint8Array, width: number, height: number, channels: 1 | 3): Promise<Buffer> {
  return sharp(data, { raw: { width, height, channels } }).png().toBuffer();
}

export async function writeCamOutputs(image: string, stem: string, r: Explained, photo: Photo, classes: string[], o: OutputOptions, geometry: CellToPhoto): Promise<CamRecord> {
  const files = {
    cam: join(o.outDir, `${stem}.cam.png`),
    overlay: join(o.outDir, `${stem}.overlay.png`),
    ...(o.json ? { json: join(o.outDir, `${stem}.json`) } : {}),
    ...(o.photo ? { photo: join(o.outDir, `${stem}.photo.jpg`) } : {}),
  };
  if (!o.overwrite) {
    const clash = Object.values(files).find((f) => existsSync(f));
    if (clash) throw new Error(`${clash} exists; pass --overwrite to replace it`);
  }
  const order = [...r.probs.keys()].sort((a, b) => r.probs[b] - r.probs[a]);
  const box = camBox(r.upsampled, photo.width, photo.height, o.boxThreshold);
  const img = overlay(photo.data, r.upsampled, colormapTable(o.colormap), o.alpha);
  if (o.box && box) drawBox(img, photo.width, photo.height, box);
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  for (const v of r.raw) [min, max, sum] = [Math.min(min, v), Math.max(max, v), sum + v];
  const shows = o.shows ?? { mode: 'contrast', contrast: 'runner-up', cls: -1 };
  const shown = shows.mode === 'contrast' || shows.cls < 0 ? order[0] : shows.cls;
  const record: CamRecord = {
    image,
    name: stem,
    predictions: order.map((j) => ({ class: classes[j], probability: r.probs[j] })),
    map: {
      method: shows.method ?? 'cam',
      ...(shows.layer !== undefined ? { layer: shows.layer } : {}),
      ...(shows.fuse ? { fuse: shows.fuse } : {}),
      ...(shows.flip ? { flip: true } : {}),
      mode: shows.mode,
      class: classes[shown],
      // A one-class model has nothing to subtract: its contrast map is the class's own.
      contrast: shows.mode !== 'contrast' || classes.length === 1 ? null : shows.contrast === 'mean' ? 'the mean of the other classes' : classes[order[1]],
      values: (shows.method ?? 'cam') === 'cam' ? MAP_VALUES[shows.mode] : GRADIENT_MAP_VALUES,
    },
    peak: geometry(...peak(r.raw, r.mapWidth)),
    box,
    stats: { min, max, mean: sum / r.raw.length },
    files,
    width: photo.width,
    height: photo.height,
  };
  mkdirSync(dirname(files.cam), { recursive: true }); // a mirrored subfolder (bar/0.*)
  writeFileAtomic(files.cam, await png(r.cam, r.mapWidth, r.mapHeight, 1));
  writeFileAtomic(files.overlay, await png(img, photo.width, photo.height, 3));
  if (files.photo) writeFileAtomic(files.photo, await sharp(photo.data, { raw: { width: photo.width, height: photo.height, channels: 3 } }).jpeg({ quality: 85 }).toBuffer());
  if (files.json) {
    const extra = {
      ...(r.allMaps ? { all_class_maps: { classes, width: r.mapWidth, height: r.mapHeight, values: Array.from(r.allMaps) } } : {}),
      ...(r.faithfulness ? { faithfulness: { ...r.faithfulness, target: classes[r.faithfulness.target] } } : {}),
    };
    writeFileAtomic(files.json, JSON.stringify({ ...record, raw_map: { width: r.mapWidth, height: r.mapHeight, values: Array.from(r.raw) }, ...extra }, null, 1));
  }
  return record;
}
