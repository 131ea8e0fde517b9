/** IDX files (MNIST's format): big-endian magic, dimensions, then u8 data. Optionally gzipped. */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { whyNotAFile } from '../io/input-path.ts';
import { DataError } from './layout.ts';

const FASHION = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];

/** IDX files larger than this (decompressed) are refused: Fashion-MNIST's training images are 47 MB. */
const MAX_IDX_BYTES = 4 * 2 ** 30;

function readIdx(path: string): { dims: number[]; data: Uint8Array } {
  const why = whyNotAFile(path);
  if (why) throw new DataError(`${path}: ${why}`);
  let buf: Buffer;
  try {
    buf = readFileSync(path);
    // A small .gz can inflate without bound: stop at the largest file we would accept.
    if (path.endsWith('.gz')) buf = gunzipSync(buf, { maxOutputLength: MAX_IDX_BYTES });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const reason = err.code === 'ERR_BUFFER_TOO_LARGE' ? `decompresses to more than ${MAX_IDX_BYTES / 2 ** 30} GiB` : `cannot read (${err.code ?? err.message.split('\n')[0]})`;
    throw new DataError(`${path}: ${reason}`);
  }
  if (buf.length < 4 || buf[0] !== 0 || buf[1] !== 0 || buf[2] !== 0x08) throw new DataError(`${path}: not a u8 IDX file`);
  const rank = buf[3];
  const start = 4 + 4 * rank;
  if (rank < 1 || buf.length < start) throw new DataError(`${path}: truncated IDX header (rank ${rank})`);
  const dims = Array.from({ length: rank }, (_, i) => buf.readUInt32BE(4 + 4 * i));
  // The product, bounded as it grows: a header may claim more than any file holds.
  let count = 1;
  for (const d of dims) count = Math.min(count * d, Number.MAX_SAFE_INTEGER);
  if (buf.length < start + count) throw new DataError(`${path}: truncated (${buf.length - start} of ${count} data bytes)`);
  return { dims, data: new Uint8Array(buf.buffer, buf.byteOffset + start, count) };
}

export interface IdxSet {
  classes: string[];
  height: number;
  width: number;
  images: Uint8Array;
  labels: Int32Array;
}

/**
 * Loads an IDX image/label pair. `select` picks classes by name or index ("Sneaker,Sandal"
 * or "7,5"); labels are renumbered 0..k-1 in that order.
 */
export function loadIdx(imagesFile: string, labelsFile: string, select?: string): IdxSet {
  const im = readIdx(imagesFile);
  const lb = readIdx(labelsFile);
  if (im.dims.length !== 3 || lb.dims.length !== 1 || im.dims[0] !== lb.dims[0]) throw new DataError(`${imagesFile}: images and labels do not match`);
  const [n, height, width] = im.dims;
  const maxLabel = lb.data.reduce((a, b) => Math.max(a, b), 0);
  const names = /fashion/i.test(imagesFile) && maxLabel < FASHION.length ? FASHION : Array.from({ length: maxLabel + 1 }, (_, i) => String(i));
  let chosen = names.map((_, i) => i);
  if (select) {
    chosen = select.split(',').map((s) => {
      const t = s.trim();
      const byName = names.findIndex((nm) => nm.toLowerCase() === t.toLowerCase());
      const i = byName >= 0 ? byName : /^\d+$/.test(t) ? Number(t) : -1;
      if (i < 0 || i >= names.length) throw new DataError(`--classes: '${t}' is not one of ${names.join(', ')} (or 0..${names.length - 1})`);
      return i;
    });
    if (new Set(chosen).size < 2) throw new DataError('--classes: pick at least 2 different classes');
  }
  if (height < 1 || width < 1 || height > 8192 || width > 8192) throw new DataError(`${imagesFile}: images of ${width}x${height} pixels (need 1..8192 a side)`);
  // As with photo folders, a class without images gets no output, and at least 2 must remain.
  const present = new Set(lb.data);
  const empty = chosen.filter((c) => !present.has(c));
  if (select && empty.length) throw new DataError(`--classes: no images of ${empty.map((c) => names[c]).join(', ')} in ${labelsFile}`);
  chosen = chosen.filter((c) => present.has(c));
  if (chosen.length < 2) throw new DataError(`${labelsFile}: labels of only ${chosen.length} class (${chosen.map((c) => names[c]).join(', ')}); need at least 2`);
  const keep: number[] = [];
  for (let i = 0; i < n; i++) if (chosen.includes(lb.data[i])) keep.push(i);
  const per = height * width;
  const images = new Uint8Array(keep.length * per);
  const labels = new Int32Array(keep.length);
  keep.forEach((src, k) => {
    images.set(im.data.subarray(src * per, (src + 1) * per), k * per);
    labels[k] = chosen.indexOf(lb.data[src]);
  });
  return { classes: chosen.map((i) => names[i]), height, width, images, labels };
}
