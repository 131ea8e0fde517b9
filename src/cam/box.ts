/**
 * The CAM paper's bounding box: keep pixels at or above 20% of the map's maximum, take
 * the largest 4-connected component, return its bounding box [x0, y0, x1, y1) in pixels.
 */
export type Box = [number, number, number, number];

export function camBox(map: Float32Array, width: number, height: number, threshold = 0.2): Box | null {
  const max = mapMax(map);
  if (!(max > 0)) return null;
  let best: { size: number; box: Box } | null = null;
  for (const c of componentBoxes(map, width, height, threshold * max)) if (!best || c.size > best.size) best = c;
  return best?.box ?? null;
}

export function mapMax(map: Float32Array): number {
  let max = -Infinity;
  for (const v of map) max = Math.max(max, v);
  return max;
}

/**
 * Every 4-connected component of the pixels >= `cut` (> `cut` with `above`): its size and
 * bounding box, in scan order.
 */
export function componentBoxes(map: Float32Array, width: number, height: number, cut: number, above = false): { size: number; box: Box }[] {
  const kept = above ? (v: number) => v > cut : (v: number) => v >= cut;
  const seen = new Uint8Array(map.length);
  const stack = new Int32Array(map.length);
  const found: { size: number; box: Box }[] = [];
  for (let start = 0; start < map.length; start++) {
    if (seen[start] || !kept(map[start])) continue;
    let top = 0;
    stack[top++] = start;
    seen[start] = 1;
    let size = 0;
    let [x0, y0, x1, y1] = [width, height, 0, 0];
    while (top > 0) {
      const p = stack[--top];
      size++;
      const x = p % width;
      const y = (p - x) / width;
      x0 = Math.min(x0, x);
      y0 = Math.min(y0, y);
      x1 = Math.max(x1, x + 1);
      y1 = Math.max(y1, y + 1);
      const visit = (q: number) => {
        if (!seen[q] && kept(map[q])) {
          seen[q] = 1;
          stack[top++] = q;
        }
      };
      if (x > 0) visit(p - 1);
      if (x < width - 1) visit(p + 1);
      if (y > 0) visit(p - width);
      if (y < height - 1) visit(p + width);
    }
    found.push({ size, box: [x0, y0, x1, y1] });
  }
  return found;
}

export function iou(a: Box, b: Box): number {
  const ix = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0]));
  const iy = Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  const inter = ix * iy;
  const area = (r: Box) => (r[2] - r[0]) * (r[3] - r[1]);
  return inter / (area(a) + area(b) - inter);
}

/** Index of the largest value (first on ties) as [x, y]. */
export function peak(map: Float32Array, width: number): [number, number] {
  let best = 0;
  for (let i = 1; i < map.length; i++) if (map[i] > map[best]) best = i;
  return [best % width, Math.floor(best / width)];
}
