/**
 * safetensors reading and writing: an 8-byte little-endian header length, a JSON
 * header {name: {dtype, shape, data_offsets}, "__metadata__": {string: string}},
 * then the raw little-endian tensor bytes. Only F32 tensors are written.
 *
 * The reader trusts nothing: the whole header (every dtype, shape, offset, the count, and
 * that no two tensors share bytes) is validated before a single tensor byte is read or
 * allocated, so what it allocates never exceeds the file's size, and a truncated, corrupt
 * or hostile file is one ModelFileError naming the file.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { whyNotAFile } from './input-path.ts';
import { writeFileAtomic } from './atomic.ts';

export class ModelFileError extends Error {}

export interface NamedTensor {
  name: string;
  shape: number[];
  data: Float32Array;
}

export interface SafetensorsFile {
  metadata: Record<string, string>;
  tensors: Map<string, { shape: number[]; data: Float32Array }>;
}

/** Header larger than this is refused (ours are a few KiB). */
const MAX_HEADER_BYTES = 16 * 2 ** 20;
/** More tensors than this is refused (a model of 1,000 conv layers has about 2,000). */
const MAX_TENSORS = 10_000;
const MAX_RANK = 8;

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

/** A short description of an untrusted JSON value for an error message (never recursive). */
export function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return JSON.stringify(v.length > 24 ? `${v.slice(0, 24)}...` : v);
  return String(v);
}

/** A tensor or key name from the file, cut short for a message. */
export const quoteName = (name: string) => `'${name.length > 64 ? `${name.slice(0, 64)}...` : name}'`;

interface Entry {
  name: string;
  shape: number[];
  begin: number;
  end: number;
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
    if (size < 8) throw new ModelFileError(`${path}: ${size} bytes is too short for a safetensors file`);
    const lenBuf = Buffer.alloc(8);
    readFully(fd, lenBuf, 0, path);
    const headerLen = lenBuf.readBigUInt64LE(0);
    if (headerLen > BigInt(Math.min(MAX_HEADER_BYTES, size - 8))) {
      throw new ModelFileError(`${path}: header length ${headerLen} is larger than the file allows (${size} bytes): not a safetensors file, or truncated`);
    }
    const hl = Number(headerLen);
    const headBuf = Buffer.alloc(hl);
    readFully(fd, headBuf, 8, path);
    let header: unknown;
    try {
      header = JSON.parse(headBuf.toString('utf8'));
    } catch {
      throw new ModelFileError(`${path}: the header is not valid JSON (corrupt or not a safetensors file)`);
    }
    if (!header || typeof header !== 'object' || Array.isArray(header)) throw new ModelFileError(`${path}: the header is not a JSON object`);
    const dataStart = 8 + hl;
    const dataLen = size - dataStart;
    const metadata = parseMetadata(path, (header as Record<string, unknown>).__metadata__);
    const entries = validateEntries(path, header as Record<string, unknown>, dataLen);
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

function validateEntries(path: string, header: Record<string, unknown>, dataLen: number): Entry[] {
  const names = Object.keys(header).filter((k) => k !== '__metadata__');
  if (names.length > MAX_TENSORS) throw new ModelFileError(`${path}: the header lists ${names.length} tensors (at most ${MAX_TENSORS})`);
  const entries: Entry[] = [];
  for (const name of names) {
    const raw = header[name];
    const q = quoteName(name);
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new ModelFileError(`${path}: tensor ${q} has no description`);
    const info = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (info.dtype !== 'F32') throw new ModelFileError(`${path}: tensor ${q} has dtype ${describeValue(info.dtype)}; wgcam models are F32`);
    const shape = info.shape;
    if (!Array.isArray(shape) || shape.length > MAX_RANK || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new ModelFileError(`${path}: tensor ${q} has an invalid shape (${describeValue(shape)}; need up to ${MAX_RANK} whole numbers)`);
    }
    const offs = info.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isSafeInteger(o) && o >= 0) || offs[0] > offs[1]) {
      throw new ModelFileError(`${path}: tensor ${q} has invalid data_offsets (${describeValue(offs)})`);
    }
    const [begin, end] = offs as [number, number];
    if (end > dataLen) throw new ModelFileError(`${path}: tensor ${q} ends at byte ${end} but the file has only ${dataLen} data bytes (truncated?)`);
    // The element count, without overflow: each factor is bounded by what the file holds.
    let count = 1;
    for (const d of shape as number[]) {
      count *= d;
      if (count * 4 > dataLen) break;
    }
    if (end - begin !== count * 4) {
      const need = count * 4 > dataLen ? `more than the file's ${dataLen} data bytes` : `${count * 4}`;
      throw new ModelFileError(`${path}: tensor ${q} has ${end - begin} bytes for shape [${shape}] (needs ${need})`);
    }
    entries.push({ name, shape: shape as number[], begin, end });
  }
  const byStart = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  for (let i = 1; i < byStart.length; i++) {
    const [a, b] = [byStart[i - 1], byStart[i]];
    if (b.begin < a.end) throw new ModelFileError(`${path}: tensors ${quoteName(a.name)} and ${quoteName(b.name)} overlap`);
  }
  return entries;
}

function readFully(fd: number, into: Uint8Array, position: number, path: string): void {
  let done = 0;
  while (done < into.length) {
    const n = readSync(fd, into, done, into.length - done, position + done);
    if (n === 0) throw new ModelFileError(`${path}: the file ended early (it changed while being read?)`);
    done += n;
  }
}

function parseMetadata(path: string, raw: unknown): Record<string, string> {
  if (raw === undefined) return {};
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new ModelFileError(`${path}: __metadata__ is not an object`);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (typeof v !== 'string') throw new ModelFileError(`${path}: __metadata__.${quoteName(k)} is not a string`);
    out[k] = v;
  }
  return out;
}
