/**
 * A prepared image set: every readable image decoded, resized and stored as u8 (HWC),
 * read back a batch at a time. Photo folders are decoded once into a cache
 * (DATA/.wgcam-cache/ or --cache) that is reused while the file list and size are the
 * same and rebuilt when they change; IDX sets are already u8 and stay in memory.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync, readSync, fsyncSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { removeStaleTemporaries, temporaryPath, writeFileAtomic } from '../io/atomic.ts';
import { refuseToReplace } from '../io/input-path.ts';
import { forgetOnExit, removeOnExit } from '../util/stop.ts';
import { printable } from '../util/terminal.ts';
import { decodeAll } from './decode.ts';
import { loadIdx } from './idx.ts';
import { DataError, detectLayout, type IdxSplit, type Source } from './layout.ts';
import { maxOf } from '../util/arrays.ts';

export interface BadFile {
  path: string;
  reason: string;
}

export interface ImageSet {
  layout: 'kaggle' | 'folders' | 'idx';
  classes: string[];
  height: number;
  width: number;
  channels: number;
  /** Readable images (bad files excluded). */
  count: number;
  labels: Int32Array;
  /** Source path of each image (or "idx:N"). */
  names: string[];
  bad: BadFile[];
  /** Kaggle layout: images left out because their name has no class prefix. */
  unlabelled: string[];
  /** Where the bad-file report was written (when there were bad files). */
  badReport?: string;
  cache: 'built' | 'reused' | 'memory';
  /** Where derived files of this set live (the image cache; a backbone's features beside it). */
  cacheDir: string;
  /** Changes whenever the images, their labels or their size change (derived caches key on it). */
  fingerprint: string;
  /** Packed u8 HWC pixels of the given images, in order. */
  read(indices: readonly number[]): Uint8Array;
  close(): void;
}

export interface PrepareOptions {
  /** Square side to resize photos to (default 224); IDX sets keep their own size. */
  size?: number;
  cacheDir?: string;
  /** IDX class subset by name or index. */
  classes?: string;
  onProgress?: (done: number, total: number) => void;
  /** IDX data: the training files (default) or the test files. */
  idxSplit?: IdxSplit;
  /** Aborting it stops the preparation (its temporary files removed) with a StopError. */
  signal?: AbortSignal;
}

const CACHE_VERSION = 1;

export async function prepareDataset(dir: string, opts: PrepareOptions = {}): Promise<ImageSet> {
  const src = detectLayout(dir, opts.idxSplit);
  if (src.kind === 'idx') return idxSet(src, opts);
  if (opts.classes) throw new DataError('--classes selects classes of IDX data; for photo folders, remove the folders you do not want');
  return fileSet(src, opts);
}

function idxSet(src: Extract<Source, { kind: 'idx' }>, opts: PrepareOptions): ImageSet {
  const s = loadIdx(src.imagesFile, src.labelsFile, opts.classes);
  const per = s.height * s.width;
  const fingerprint = createHash('sha256').update(s.images).update(new Uint8Array(s.labels.buffer, s.labels.byteOffset, s.labels.byteLength)).update(JSON.stringify(s.classes)).digest('hex').slice(0, 16);
  return {
    layout: 'idx',
    classes: s.classes,
    height: s.height,
    width: s.width,
    channels: 1,
    count: s.labels.length,
    labels: s.labels,
    names: Array.from({ length: s.labels.length }, (_, i) => `idx:${i}`),
    bad: [],
    unlabelled: [],
    cache: 'memory',
    cacheDir: opts.cacheDir ?? join(src.root, '.wgcam-cache'),
    fingerprint,
    read: (indices) => {
      const out = new Uint8Array(indices.length * per);
      indices.forEach((i, k) => out.set(s.images.subarray(i * per, (i + 1) * per), k * per));
      return out;
    },
    close: () => {},
  };
}

interface CacheIndex {
  version: number;
  key: string;
  height: number;
  width: number;
  channels: number;
  classes: string[];
  layout: 'kaggle' | 'folders';
  /** Every file, in slot order; `ok` false for the ones that could not be decoded. */
  files: { path: string; label: number; ok: boolean; reason?: string }[];
}

async function fileSet(src: Extract<Source, { kind: 'files' }>, opts: PrepareOptions): Promise<ImageSet> {
  const size = opts.size ?? 224;
  if (!Number.isInteger(size) || size < 3 || size > 4096) throw new DataError(`--size ${size}: must be an integer from 3 to 4096`);
  const channels = 3;
  const cacheDir = opts.cacheDir ?? join(src.root, '.wgcam-cache');
  const fingerprint = src.files.map((f) => {
    const rel = relative(src.root, f.path);
    try {
      const st = statSync(f.path);
      return [rel, f.label, st.size, Math.round(st.mtimeMs), st.isFile()];
    } catch (e) {
      return [rel, f.label, (e as NodeJS.ErrnoException).code ?? 'unreadable'];
    }
  });
  const key = createHash('sha256').update(JSON.stringify({ v: CACHE_VERSION, size, channels, classes: src.classes, fingerprint })).digest('hex').slice(0, 16);
  const indexPath = join(cacheDir, `images-${size}.json`);
  const dataPath = join(cacheDir, `images-${size}.u8`);
  const per = size * size * channels;
  refuseToReplace([indexPath, dataPath, join(cacheDir, `bad-files-${size}.txt`)]);

  let index = readIndex(indexPath, src.files.length);
  let cache: ImageSet['cache'] = 'reused';
  if (!index || index.key !== key || !existsSync(dataPath) || statSync(dataPath).size !== index.files.length * per) {
    cache = 'built';
    try {
      mkdirSync(cacheDir, { recursive: true });
    } catch (e) {
      throw new DataError(`cannot create the cache folder ${cacheDir} (${(e as NodeJS.ErrnoException).code}); pass --cache DIR`);
    }
    removeStaleTemporaries(cacheDir); // a build killed before it could clean up
    index = await buildCache(src, { size, channels, key, dataPath, indexPath, per }, opts.onProgress, opts.signal);
  }

  const okSlots: number[] = [];
  const bad: BadFile[] = [];
  index.files.forEach((f, slot) => (f.ok ? okSlots.push(slot) : bad.push({ path: join(src.root, f.path), reason: f.reason ?? 'unreadable' })));
  for (const s of src.skipped) bad.push(s);
  if (okSlots.length === 0) throw new DataError(`${src.root}: none of the ${index.files.length} images could be read`);
  const labels = Int32Array.from(okSlots, (s) => index!.files[s].label);
  const present = new Set(labels);
  if (present.size < 2) throw new DataError(`${src.root}: readable images of only ${present.size} class (${src.classes.filter((_, i) => present.has(i)).join(', ')}); need at least 2`);
  let badReport: string | undefined;
  if (bad.length) {
    badReport = join(cacheDir, `bad-files-${size}.txt`);
    // One line per file, as a person reads it: names with control characters stay one printable line.
    writeFileAtomic(badReport, bad.map((b) => `${printable(b.path)}\t${printable(b.reason)}\n`).join(''));
  }
  const fd = openSync(dataPath, 'r');
  return {
    layout: src.layout,
    classes: src.classes,
    height: size,
    width: size,
    channels,
    count: okSlots.length,
    labels,
    names: okSlots.map((s) => join(src.root, index!.files[s].path)),
    bad,
    unlabelled: src.unlabelled ?? [],
    badReport,
    cache,
    cacheDir,
    fingerprint: key,
    read: (indices) => {
      const out = new Uint8Array(indices.length * per);
      indices.forEach((i, k) => readSync(fd, out, k * per, per, okSlots[i] * per));
      return out;
    },
    close: () => closeSync(fd),
  };
}

/** The cache index if it is one this version wrote for `files` files (anything else is rebuilt). */
function readIndex(path: string, files: number): CacheIndex | null {
  try {
    const idx = JSON.parse(readFileSync(path, 'utf8')) as CacheIndex;
    const valid =
      idx.version === CACHE_VERSION &&
      typeof idx.key === 'string' &&
      Array.isArray(idx.files) &&
      idx.files.length === files &&
      idx.files.every((f) => f && typeof f.path === 'string' && Number.isSafeInteger(f.label) && typeof f.ok === 'boolean');
    return valid ? idx : null;
  } catch {
    return null;
  }
}

/** Decodes every file into a slot of the .u8 file (written to a temp name, then renamed), then writes the index. */
async function buildCache(
  src: Extract<Source, { kind: 'files' }>,
  c: { size: number; channels: number; key: string; dataPath: string; indexPath: string; per: number },
  onProgress?: (done: number, total: number) => void,
  signal?: AbortSignal,
): Promise<CacheIndex> {
  // The old index describes another file list: drop it first, so an interrupted rebuild
  // can never pair it with the new data file.
  if (existsSync(c.indexPath)) unlinkSync(c.indexPath);
  const tmp = temporaryPath(c.dataPath);
  removeOnExit(tmp); // also on a quit-at-once (a second Ctrl-C)
  const fd = openSync(tmp, 'wx');
  const files: CacheIndex['files'] = src.files.map((f) => ({ path: relative(src.root, f.path), label: f.label, ok: false }));
  const zeros = new Uint8Array(c.per);
  let writeError: Error | null = null;
  try {
    await decodeAll(
      src.files.map((f) => f.path),
      { height: c.size, width: c.size, channels: c.channels },
      (i, r) => {
        if (r.pixels) files[i].ok = true;
        else files[i].reason = r.error ?? 'unreadable';
        try {
          writeSync(fd, r.pixels ?? zeros, 0, c.per, i * c.per);
        } catch (e) {
          writeError ??= e as Error;
        }
      },
      (done) => onProgress?.(done, src.files.length),
      signal,
    );
    if (writeError) throw new DataError(`cannot write the cache ${tmp}: ${(writeError as NodeJS.ErrnoException).code ?? (writeError as Error).message}`);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    unlinkSync(tmp);
    forgetOnExit(tmp);
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, c.dataPath);
  forgetOnExit(tmp);
  const index: CacheIndex = { version: CACHE_VERSION, key: c.key, height: c.size, width: c.size, channels: c.channels, classes: src.classes, layout: src.layout, files };
  writeFileAtomic(c.indexPath, JSON.stringify(index));
  return index;
}

/** A class of at most this share of the largest (and under THIN_CLASS_MAX images) is reported. */
const THIN_CLASS_SHARE = 0.1;
const THIN_CLASS_MAX = 5;

/**
 * One line per class with only a handful of images beside much larger ones: in a photo dump
 * that is nearly always a stray file (`notes.v2.jpg` in a Kaggle folder is class "notes"),
 * and the network would get an output for it.
 */
export function thinClassWarnings(set: Pick<ImageSet, 'layout' | 'classes' | 'labels' | 'names'>): string[] {
  const counts = set.classes.map(() => 0);
  for (const l of set.labels) counts[l]++;
  const largest = maxOf(counts);
  return set.classes.flatMap((name, c) => {
    const n = counts[c];
    if (n >= THIN_CLASS_MAX || n > THIN_CLASS_SHARE * largest) return [];
    const examples = set.names.filter((_, i) => set.labels[i] === c).slice(0, 2).map((p) => basename(p));
    const rule = { kaggle: 'the Kaggle layout takes the class from the name up to its first dot', folders: 'each folder is a class', idx: 'the labels file gives each image its class' }[set.layout];
    const what = n === 0 ? 'no readable images' : `only ${n} image${n > 1 ? 's' : ''}${set.layout === 'idx' ? '' : ` (${examples.join(', ')})`}`;
    const fix = set.layout === 'idx' ? 'pick the classes you want with --classes' : 'move or rename stray files';
    return [`warning: class "${name}" has ${what} against ${largest} in the largest; ${rule}: ${fix}, or the model gets an output for it`];
  });
}
