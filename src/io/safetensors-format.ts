/**
 * The safetensors format, read from bytes already in memory (a browser's File, a test's
 * buffer): an 8-byte little-endian header length, a JSON header {name: {dtype, shape,
 * data_offsets}, "__metadata__": {string: string}}, then the raw little-endian tensor bytes.
 *
 * Nothing is trusted: the whole header (every dtype, shape, offset, the count, and that no
 * two tensors share bytes) is validated before a tensor is made, so a truncated, corrupt or
 * hostile file is one ModelFileError naming the file. Node reads files through safetensors.ts,
 * which validates the header before it reads a tensor byte.
 */
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

export interface Entry {
  name: string;
  shape: number[];
  begin: number;
  end: number;
}

/** Reads the header (the JSON text between the length and the data) and validates it against `dataLen` bytes of data. */
export function parseHeader(name: string, headerText: Uint8Array, dataLen: number): { metadata: Record<string, string>; entries: Entry[] } {
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder().decode(headerText));
  } catch {
    throw new ModelFileError(`${name}: the header is not valid JSON (corrupt or not a safetensors file)`);
  }
  if (!header || typeof header !== 'object' || Array.isArray(header)) throw new ModelFileError(`${name}: the header is not a JSON object`);
  const metadata = parseMetadata(name, (header as Record<string, unknown>).__metadata__);
  return { metadata, entries: validateEntries(name, header as Record<string, unknown>, dataLen) };
}

/** The length of the header, checked against the file's size. */
export function headerLength(name: string, first8: Uint8Array, size: number): number {
  if (size < 8) throw new ModelFileError(`${name}: ${size} bytes is too short for a safetensors file`);
  const headerLen = new DataView(first8.buffer, first8.byteOffset, 8).getBigUint64(0, true);
  if (headerLen > BigInt(Math.min(MAX_HEADER_BYTES, size - 8))) {
    throw new ModelFileError(`${name}: header length ${headerLen} is larger than the file allows (${size} bytes): not a safetensors file, or truncated`);
  }
  return Number(headerLen);
}

/** A whole safetensors file from its bytes; `name` names it in errors. */
export function parseSafetensors(bytes: Uint8Array, name: string): SafetensorsFile {
  const hl = headerLength(name, bytes, bytes.length);
  const dataStart = 8 + hl;
  const { metadata, entries } = parseHeader(name, bytes.subarray(8, dataStart), bytes.length - dataStart);
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const e of entries) {
    // A copy: the tensor bytes need not be 4-byte aligned in `bytes`, and little-endian is read as such.
    const view = new DataView(bytes.buffer, bytes.byteOffset + dataStart + e.begin, e.end - e.begin);
    const data = new Float32Array((e.end - e.begin) / 4);
    for (let i = 0; i < data.length; i++) data[i] = view.getFloat32(i * 4, true);
    tensors.set(e.name, { shape: e.shape, data });
  }
  return { metadata, tensors };
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
