/**
 * Maps of several conv layers fused into one: each layer's normalized map is resampled at the
 * finest layer's cells by its own receptive-field geometry (cell u of a layer is centred on
 * input pixel offset + stride * u; bilinear, edge values held beyond the outer centres, as the
 * overlays are placed), then combined cell by cell (max, mean or product) and divided by the
 * result's maximum. Photo-sized maps, already aligned, are combined the same way.
 */
import type { CellGeometry } from './geometry.ts';

export const FUSE_MODES = ['max', 'mean', 'product'] as const;
export type FuseMode = (typeof FUSE_MODES)[number];

export interface LayerGrid extends CellGeometry {
  h: number;
  w: number;
  /** Where the columns' cells sit, when not at `offset` (a mirrored map). */
  offsetX?: number;
}

/** `map` on grid `from`, sampled at the cell centres of grid `to`. */
export function resampleMap(map: ArrayLike<number>, from: LayerGrid, to: LayerGrid): Float32Array {
  const out = new Float32Array(to.h * to.w);
  const coordinate = (u: number, size: number, toOffset: number, fromOffset: number) => Math.min(size - 1, Math.max(0, (toOffset + to.stride * u - fromOffset) / from.stride));
  for (let y = 0; y < to.h; y++) {
    const v = coordinate(y, from.h, to.offset, from.offset);
    const [y0, fy] = [Math.floor(v), v - Math.floor(v)];
    const y1 = Math.min(y0 + 1, from.h - 1);
    for (let x = 0; x < to.w; x++) {
      const u = coordinate(x, from.w, to.offsetX ?? to.offset, from.offsetX ?? from.offset);
      const [x0, fx] = [Math.floor(u), u - Math.floor(u)];
      const x1 = Math.min(x0 + 1, from.w - 1);
      const at = (r: number, c: number) => map[r * from.w + c];
      const top = at(y0, x0) + (at(y0, x1) - at(y0, x0)) * fx;
      const bottom = at(y1, x0) + (at(y1, x1) - at(y1, x0)) * fx;
      out[y * to.w + x] = top + (bottom - top) * fy;
    }
  }
  return out;
}

/** Maps of the same shape, combined value by value and divided by the result's maximum (0 where it is 0). */
export function fuseMaps(maps: Float32Array[], mode: FuseMode): Float32Array {
  const out = new Float32Array(maps[0].length);
  for (let i = 0; i < out.length; i++) {
    let v = mode === 'product' ? 1 : mode === 'max' ? -Infinity : 0;
    for (const m of maps) v = mode === 'product' ? v * m[i] : mode === 'max' ? Math.max(v, m[i]) : v + m[i] / maps.length;
    out[i] = v;
  }
  let top = 0;
  for (const v of out) top = Math.max(top, v);
  return out.map((v) => (top > 0 ? Math.max(0, v) / top : 0));
}

/** A map (or photo-sized map) mirrored left-right. */
export function mirrored(map: Float32Array, width: number): Float32Array {
  const out = new Float32Array(map.length);
  for (let i = 0; i < map.length; i++) {
    const x = i % width;
    out[i - x + (width - 1 - x)] = map[i];
  }
  return out;
}
