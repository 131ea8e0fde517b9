/**
 * A frozen backbone's features of every training photo, computed once on the GPU and kept on
 * disk beside the image cache (`wgcam train --backbone`): epochs of the head then read them
 * instead of running the backbone. One record per image and, with flips, one more for its
 * mirror image: record 2i is image i, 2i+1 its mirror (without flips record i is image i).
 * The file's name carries a key of everything the values depend on (the backbone's bytes, the
 * cut, the preprocessing, the images, the flips), so a changed input never reads stale values.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { ImageSet } from '../data/dataset.ts';
import { DataError } from '../data/layout.ts';
import type { GraphRunner } from '../graph/execute.ts';
import { inputFromPixels, type ImportedModel } from '../graph/imported-model.ts';
import { removeStaleTemporaries, temporaryPath } from '../io/atomic.ts';
import { refuseToReplace } from '../io/input-path.ts';
import { bar, formatDuration, type Progress } from '../util/progress.ts';
import { forgetOnExit, removeOnExit, StopError, type StopRequest } from '../util/stop.ts';

const FORMAT_VERSION = 1;

export interface FeatureCache {
  path: string;
  /** Values per record: K * h * w. */
  per: number;
  flips: boolean;
  /** 'built' now, or 'reused' from an earlier run. */
  state: 'built' | 'reused';
  /** The features of image `i` (mirrored where `flipped`), packed in order. */
  read(images: readonly number[], flipped?: ArrayLike<number>): Float32Array;
  close(): void;
}

export interface FeatureJob {
  data: ImageSet;
  /** The backbone cut at the layer, its input conventions (layout, channels, preprocessing). */
  model: ImportedModel;
  runner: GraphRunner;
  cut: string;
  /** [K, h, w] of the cut. */
  shape: [number, number, number];
  /** sha256 of the backbone file's bytes. */
  backboneHash: string;
  flips: boolean;
  batch: number;
  progress: Progress;
  stop: StopRequest;
}

/** The model's input for image `i` of the set (mirrored if `flip`): channels matched, (x/255 - mean) / std. */
export function backboneInput(data: ImageSet, pixels: Uint8Array, model: ImportedModel, flip: boolean): Float32Array {
  const [H, W] = [data.height, data.width];
  const [Ci, Co] = [data.channels, model.channels];
  const raw = new Uint8Array(H * W * Co);
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      const from = (y * W + (flip ? W - 1 - x : x)) * Ci;
      const to = (y * W + x) * Co;
      if (Ci === Co) for (let c = 0; c < Co; c++) raw[to + c] = pixels[from + c];
      else if (Ci === 1) raw.fill(pixels[from], to, to + Co);
      else raw[to] = Math.round(0.299 * pixels[from] + 0.587 * pixels[from + 1] + 0.114 * pixels[from + 2]);
    }
  return inputFromPixels(raw, model);
}

/** The features of every image of `job.data` at the cut: read from the cache, or computed (with progress) and cached. */
export async function backboneFeatures(job: FeatureJob): Promise<FeatureCache> {
  const { data, shape } = job;
  const per = shape[0] * shape[1] * shape[2];
  const perRecord = job.flips ? 2 : 1;
  const records = data.count * perRecord;
  const p = job.model.pre;
  const key = createHash('sha256')
    .update(JSON.stringify({ v: FORMAT_VERSION, backbone: job.backboneHash, cut: job.cut, shape, pre: [p.crop, p.mean, p.std], images: data.fingerprint, names: data.names, flips: job.flips }))
    .digest('hex')
    .slice(0, 16);
  const path = join(data.cacheDir, `features-${key}.f32`);
  refuseToReplace([path]);
  const bytes = records * per * 4;
  let state: FeatureCache['state'] = 'reused';
  if (!existsSync(path) || statSync(path).size !== bytes) {
    state = 'built';
    try {
      mkdirSync(data.cacheDir, { recursive: true });
    } catch (e) {
      throw new DataError(`cannot create the cache folder ${data.cacheDir} (${(e as NodeJS.ErrnoException).code}); pass --cache DIR`);
    }
    removeStaleTemporaries(data.cacheDir);
    await computeFeatures(job, path, per);
  }
  const fd = openSync(path, 'r');
  return {
    path,
    per,
    flips: job.flips,
    state,
    read(images, flipped) {
      const out = new Float32Array(images.length * per);
      const view = new Uint8Array(out.buffer);
      images.forEach((i, k) => {
        const record = i * perRecord + (job.flips && flipped?.[k] ? 1 : 0);
        readSync(fd, view, k * per * 4, per * 4, record * per * 4);
      });
      return out;
    },
    close: () => closeSync(fd),
  };
}

async function computeFeatures(job: FeatureJob, path: string, per: number): Promise<void> {
  const { data, model, progress } = job;
  const tmp = temporaryPath(path);
  removeOnExit(tmp);
  const fd = openSync(tmp, 'wx');
  const t0 = performance.now();
  const inputSize = model.channels * model.height * model.width;
  const views = job.flips ? 2 : 1;
  const records = data.count * views;
  // A graph whose batch is fixed runs whole batches of it (the last one padded).
  const fixed = model.graph.inputs[0].dims[0];
  const batch = typeof fixed === 'number' ? fixed : job.batch;
  const pixelsPer = data.height * data.width * data.channels;
  try {
    let offset = 0;
    for (let start = 0; start < records; start += batch) {
      if (job.stop.requested) throw new StopError(job.stop.reason!, 'stopped while computing the backbone features (nothing kept)');
      const count = Math.min(batch, records - start);
      const chunk = Array.from({ length: count }, (_, k) => start + k);
      const images = [...new Set(chunk.map((r) => Math.floor(r / views)))];
      const pixels = data.read(images);
      const x = new Float32Array((typeof fixed === 'number' ? batch : count) * inputSize);
      chunk.forEach((r, k) => {
        const at = images.indexOf(Math.floor(r / views));
        x.set(backboneInput(data, pixels.subarray(at * pixelsPer, (at + 1) * pixelsPer), model, r % views === 1), k * inputSize);
      });
      const features = (await job.runner.run(x, x.length / inputSize, [job.cut])).get(job.cut)!;
      const bytes = new Uint8Array(features.buffer, features.byteOffset, count * per * 4);
      if (!features.subarray(0, count * per).every(Number.isFinite)) throw new DataError(`${model.path}: the backbone's features at '${job.cut}' are not finite numbers for ${data.names[images[0]]}`);
      for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done, bytes.length - done, offset + done);
      offset += bytes.length;
      const done = Math.floor((start + count) / views);
      const secs = (performance.now() - t0) / 1000;
      progress.update(`backbone features at '${job.cut}' ${bar(done / data.count)} ${done}/${data.count} images  ${(done / secs).toFixed(1)} img/s  ETA ${formatDuration(((data.count - done) * secs) / Math.max(done, 1))}`);
      // Let a signal handler run between batches.
      await new Promise((resolve) => setImmediate(resolve));
    }
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    unlinkSync(tmp);
    forgetOnExit(tmp);
    if ((e as NodeJS.ErrnoException).code && !(e instanceof StopError)) throw new DataError(`cannot write the feature cache ${path}: ${(e as NodeJS.ErrnoException).code}`);
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, path);
  forgetOnExit(tmp);
}
