/** Colour maps for heatmaps (t in 0..1 -> RGB bytes) and the overlay blend. */
export type ColormapName = 'jet' | 'turbo' | 'gray';
export const COLORMAPS: readonly ColormapName[] = ['jet', 'turbo', 'gray'];

const clamp01 = (v: number) => Math.min(1, Math.max(0, v));

function jet(t: number): [number, number, number] {
  const r = clamp01(1.5 - Math.abs(4 * t - 3));
  const g = clamp01(1.5 - Math.abs(4 * t - 2));
  const b = clamp01(1.5 - Math.abs(4 * t - 1));
  return [r * 255, g * 255, b * 255];
}

/** A polynomial fit of Google's Turbo colormap. */
function turbo(t: number): [number, number, number] {
  const r = 0.13572138 + t * (4.6153926 + t * (-42.66032258 + t * (132.13108234 + t * (-152.94239396 + t * 59.28637943))));
  const g = 0.09140261 + t * (2.19418839 + t * (4.84296658 + t * (-14.18503333 + t * (4.27729857 + t * 2.82956604))));
  const b = 0.1066733 + t * (12.64194608 + t * (-60.58204836 + t * (110.36276771 + t * (-89.90310912 + t * 27.34824973))));
  return [clamp01(r) * 255, clamp01(g) * 255, clamp01(b) * 255];
}

/** 256-entry lookup table. */
export function colormapTable(name: ColormapName): Uint8Array {
  const lut = new Uint8Array(256 * 3);
  for (let i = 0; i < 256; i++) {
    const t = i / 255;
    const c = name === 'jet' ? jet(t) : name === 'turbo' ? turbo(t) : [t * 255, t * 255, t * 255];
    lut.set(c.map(Math.round), i * 3);
  }
  return lut;
}

/** photo * (1 - alpha) + colormap(map) * alpha, per pixel; photo RGB HWC, map 0..1 of the same size. */
export function overlay(photo: Uint8Array, map: Float32Array, lut: Uint8Array, alpha: number): Uint8Array {
  const out = new Uint8Array(photo.length);
  for (let p = 0; p < map.length; p++) {
    const idx = Math.round(clamp01(map[p]) * 255) * 3;
    for (let c = 0; c < 3; c++) out[p * 3 + c] = Math.round(photo[p * 3 + c] * (1 - alpha) + lut[idx + c] * alpha);
  }
  return out;
}

/** Draws a rectangle outline (2 px) into an RGB image. */
export function drawBox(img: Uint8Array, width: number, height: number, box: [number, number, number, number], rgb: [number, number, number] = [255, 255, 255]): void {
  const [x0, y0, x1, y1] = box;
  const thick = Math.max(2, Math.round(Math.min(width, height) / 150));
  const put = (x: number, y: number) => {
    if (x < 0 || y < 0 || x >= width || y >= height) return;
    img.set(rgb, (y * width + x) * 3);
  };
  for (let t = 0; t < thick; t++) {
    for (let x = x0; x < x1; x++) {
      put(x, y0 + t);
      put(x, y1 - 1 - t);
    }
    for (let y = y0; y < y1; y++) {
      put(x0 + t, y);
      put(x1 - 1 - t, y);
    }
  }
}
