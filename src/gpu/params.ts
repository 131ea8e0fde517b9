/**
 * Kernel parameters by name: every kernel reads its uniform `struct Params { ... }` (binding 0),
 * and the TypeScript side names each field it sets. The fields' order, types and offsets come
 * from the kernel's own source, so a field added, removed, renamed or moved in the WGSL is one
 * error naming the kernel and the field at the first dispatch, never values shifted into the
 * wrong fields (test/params.test.ts checks every kernel's struct and the errors).
 *
 * Fields are scalars (u32, i32, f32) or arrays of vec4 (`dims: array<vec4u, 2>`: a list of up
 * to 8 values, zeros after the given ones). Fields named `_...` are alignment padding: zero,
 * never given.
 */

export type ParamType = 'u32' | 'i32' | 'f32';
export interface ParamField {
  name: string;
  type: ParamType;
  /** 1 for a scalar; 4 * K for array<vec4, K>. */
  count: number;
  /** Byte offset in the uniform buffer (arrays of vec4 start on 16 bytes, as WGSL lays them out). */
  offset: number;
}
export type ParamValues = Readonly<Record<string, number | readonly number[]>>;

export class ParamsError extends Error {}

const FIELD = /^\s*(\w+)\s*:\s*(?:(u32|i32|f32)|array<\s*vec4([uif])\s*,\s*(\d+)\s*>)\s*(?:,|$)/;
const VEC4_TYPES = { u: 'u32', i: 'i32', f: 'f32' } as const;

/** The fields of a kernel source's `struct Params`, in order (none where it declares no such struct). */
export function paramFields(kernel: string, source: string): ParamField[] {
  const code = source.replace(/\/\/[^\n]*/g, '').replace(/\/\*[\s\S]*?\*\//g, '');
  let body = /struct\s+Params\s*\{([^}]*)\}/.exec(code)?.[1];
  if (body === undefined) return [];
  const fields: ParamField[] = [];
  let offset = 0;
  while (body.trim()) {
    const m = FIELD.exec(body);
    if (!m) throw new ParamsError(`kernel ${kernel}: Params field '${body.trim().split(',')[0]}' is neither u32, i32, f32 nor array<vec4u|vec4i|vec4f, K>`);
    const array = m[3] !== undefined;
    if (array) offset = Math.ceil(offset / 16) * 16;
    const field: ParamField = { name: m[1], type: array ? VEC4_TYPES[m[3] as keyof typeof VEC4_TYPES] : (m[2] as ParamType), count: array ? 4 * Number(m[4]) : 1, offset };
    fields.push(field);
    offset += 4 * field.count;
    body = body.slice(m[0].length);
  }
  return fields;
}

function write(view: DataView, kernel: string, f: ParamField, at: number, v: number): void {
  if (f.type === 'f32') return view.setFloat32(at, v, true);
  const [lo, hi] = f.type === 'u32' ? [0, 2 ** 32 - 1] : [-(2 ** 31), 2 ** 31 - 1];
  if (!Number.isInteger(v) || v < lo || v > hi) throw new ParamsError(`kernel ${kernel}: Params field '${f.name}' (${f.type}) = ${v}`);
  if (f.type === 'u32') view.setUint32(at, v, true);
  else view.setInt32(at, v, true);
}

/**
 * The uniform bytes of `params` for a kernel whose struct has `fields`: every field given
 * (padding apart), nothing else; integers whole and in range; lists no longer than their array.
 */
export function packParams(kernel: string, fields: readonly ParamField[], params: ParamValues): ArrayBuffer {
  const names = new Set(fields.filter((f) => !f.name.startsWith('_')).map((f) => f.name));
  for (const key of Object.keys(params))
    if (!names.has(key)) throw new ParamsError(`kernel ${kernel}: '${key}' is no field of its Params (${[...names].join(', ') || 'none'})`);
  const end = fields.length ? fields.at(-1)!.offset + 4 * fields.at(-1)!.count : 0;
  const buf = new ArrayBuffer(Math.max(16, Math.ceil(end / 16) * 16));
  const view = new DataView(buf);
  for (const f of fields) {
    if (f.name.startsWith('_')) continue;
    const v = params[f.name];
    if (v === undefined) throw new ParamsError(`kernel ${kernel}: its Params field '${f.name}' is not given`);
    const values = typeof v === 'number' ? [v] : v;
    if ((f.count === 1) !== (typeof v === 'number') || values.length > f.count) throw new ParamsError(`kernel ${kernel}: Params field '${f.name}' takes ${f.count === 1 ? 'a number' : `a list of at most ${f.count}`}`);
    values.forEach((x, i) => write(view, kernel, f, f.offset + 4 * i, x));
  }
  return buf;
}
