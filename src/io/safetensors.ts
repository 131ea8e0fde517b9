/**
 * safetensors files in Node (the format and its validation: safetensors-format.ts). Only F32
 * tensors are written. The reader validates the whole header before a single tensor byte is
 * read or allocated, so what it allocates never exceeds the file's size.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { whyNotAFile } from './input-path.ts';
import { writeFileAtomic } from './atomic.ts';
import { headerLength, ModelFileError, parseHeader, type NamedTensor, type SafetensorsFile } from './safetensors-format.ts';

export { describeValue, ModelFileError, parseSafetensors, quoteName, type NamedTensor, type SafetensorsFile } from './safetensors-format.ts';

export function encodeSafetensors(tensors: NamedTensor[], metadata: Record<string, string>): Buffer {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const t of tensors) {
    const expected = t.shape.reduce((a, b) => a * b, 1);
    if (expected !== t.data.length) throw new Error(`tensor ${t.name}: shape [${t.shape}] does not match ${t.data.length} values`);
    header[t.name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  // Pad the header with spaces so the tensor data starts 8-byte aligned (as the format recommends).
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const head = Buffer.from(json, 'utf8');
  const out = Buffer.alloc(8 + head.length + offset);
  out.writeBigUInt64LE(BigInt(head.length), 0);
  head.copy(out, 8);
  let at = 8 + head.length;
  for (const t of tensors) {
    Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).copy(out, at);
    at += t.data.byteLength;
  }
  return out;
}

export function writeSafetensors(path: string, tensors: NamedTensor[], metadata: Record<string, string>): void {
  writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}

export function readSafetensors(path: string): SafetensorsFile {
  const why = whyNotAFile(path);
  if (why) throw new ModelFileError(`${path}: ${why}`);
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new ModelFileError(`${path}: cannot open (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new ModelFileError(`${path}: not a regular file`); // swapped after the check
    const size = st.size;
    const first8 = new Uint8Array(8);
    if (size >= 8) readFully(fd, first8, 0, path);
    const hl = headerLength(path, first8, size);
    const headBuf = new Uint8Array(hl);
    readFully(fd, headBuf, 8, path);
    const dataStart = 8 + hl;
    const { metadata, entries } = parseHeader(path, headBuf, size - dataStart);
    // Only now, with every range known to lie inside the file and apart: read.
    const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
    for (const e of entries) {
      const data = new Float32Array((e.end - e.begin) / 4);
      readFully(fd, new Uint8Array(data.buffer), dataStart + e.begin, path);
      tensors.set(e.name, { shape: e.shape, data });
    }
    return { metadata, tensors };
  } finally {
    closeSync(fd);
  }
}

function readFully(fd: number, into: Uint8Array, position: number, path: string): void {
  let done = 0;
  while (done < into.length) {
    const n = readSync(fd, into, done, into.length - done, position + done);
    if (n === 0) throw new ModelFileError(`${path}: the file ended early (it changed while being read?)`);
    done += n;
  }
}
