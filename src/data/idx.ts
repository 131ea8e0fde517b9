/** IDX files (MNIST's format): big-endian magic, dimensions, then u8 data. Optionally gzipped. */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { DataError } from './layout.ts';

const FASHION = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];

function readIdx(path: string): { dims: number[]; data: Uint8Array } {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
    if (path.endsWith('.gz')) buf = gunzipSync(buf);
  } catch (e) {
    throw new DataError(`${path}: cannot read (${(e as Error).message.split('\n')[0]})`);
  }
  if (buf.length < 4 || buf[0] !== 0 || buf[1] !== 0 || buf[2] !== 0x08) throw new DataError(`${path}: not a u8 IDX file`);
  const rank = buf[3];
  const dims = Array.from({ length: rank }, (_, i) => buf.readUInt32BE(4 + 4 * i));
  const start = 4 + 4 * rank;
  const count = dims.reduce((a, b) => a * b, 1);
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
