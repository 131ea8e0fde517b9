/**
 * safetensors reading and writing: an 8-byte little-endian header length, a JSON
 * header {name: {dtype, shape, data_offsets}, "__metadata__": {string: string}},
 * then the raw little-endian tensor bytes. Only F32 tensors are written; the reader
 * validates every field before it trusts a single offset, so a truncated, corrupt or
 * hostile file yields a clear error and never a huge allocation.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
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
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new ModelFileError(`${path}: cannot open (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  try {
    const size = fstatSync(fd).size;
    if (size < 8) throw new ModelFileError(`${path}: ${size} bytes is too short for a safetensors file`);
    const lenBuf = Buffer.alloc(8);
    readSync(fd, lenBuf, 0, 8, 0);
    const headerLen = lenBuf.readBigUInt64LE(0);
    if (headerLen > BigInt(Math.min(MAX_HEADER_BYTES, size - 8))) {
      throw new ModelFileError(`${path}: header length ${headerLen} is larger than the file allows (${size} bytes): not a safetensors file, or truncated`);
    }
    const hl = Number(headerLen);
    const headBuf = Buffer.alloc(hl);
    readSync(fd, headBuf, 0, hl, 8);
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
    const entries = Object.entries(header as Record<string, unknown>).filter(([k]) => k !== '__metadata__');
    const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
    const ranges: [number, number, string][] = [];
    for (const [name, raw] of entries) {
      const info = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
      if (!info || typeof info !== 'object') throw new ModelFileError(`${path}: tensor '${name}' has no description`);
      if (info.dtype !== 'F32') throw new ModelFileError(`${path}: tensor '${name}' has dtype ${JSON.stringify(info.dtype)}; wgcam models are F32`);
      const shape = info.shape;
      if (!Array.isArray(shape) || shape.length > 8 || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
        throw new ModelFileError(`${path}: tensor '${name}' has an invalid shape ${JSON.stringify(shape)}`);
      }
      const offs = info.data_offsets;
      if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isSafeInteger(o) && o >= 0) || offs[0] > offs[1]) {
        throw new ModelFileError(`${path}: tensor '${name}' has invalid data_offsets ${JSON.stringify(offs)}`);
      }
      const [begin, end] = offs as [number, number];
      const count = (shape as number[]).reduce((a, b) => a * b, 1);
      if (end - begin !== count * 4) throw new ModelFileError(`${path}: tensor '${name}' has ${end - begin} bytes for shape [${shape}] (needs ${count * 4})`);
      if (end > dataLen) throw new ModelFileError(`${path}: tensor '${name}' ends at byte ${end} but the file has only ${dataLen} data bytes (truncated?)`);
      ranges.push([begin, end, name]);
      const bytes = Buffer.alloc(end - begin);
      if (bytes.length) readSync(fd, bytes, 0, bytes.length, dataStart + begin);
      const data = new Float32Array(count);
      new Uint8Array(data.buffer).set(bytes);
      tensors.set(name, { shape: shape as number[], data });
    }
    ranges.sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < ranges.length; i++) {
      if (ranges[i][0] < ranges[i - 1][1]) throw new ModelFileError(`${path}: tensors '${ranges[i - 1][2]}' and '${ranges[i][2]}' overlap`);
    }
    return { metadata, tensors };
  } finally {
    closeSync(fd);
  }
}

function parseMetadata(path: string, raw: unknown): Record<string, string> {
  if (raw === undefined) return {};
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new ModelFileError(`${path}: __metadata__ is not an object`);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (typeof v !== 'string') throw new ModelFileError(`${path}: __metadata__.${k} is not a string`);
    out[k] = v;
  }
  return out;
}
