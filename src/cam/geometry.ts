/**
 * Where each cell of the last conv feature map sits in the input image.
 *
 * A 3x3 valid conv's output u sees inputs u..u+2, centred on u+1; a 2x2 stride-2 pool's
 * output u covers 2u..2u+1, centred on 2u+0.5. Composing these from the last block back
 * to the first gives an affine map: cell u is centred on input pixel offset + stride*u.
 * Example, the default c32-p-c64-p-c128-p-c256 at 224x224: stride 8, offset 18.5, a
 * 24x24 map whose centres span pixels 18.5..202.5 rather than the full 0..223 (and not
 * symmetrically: the pools' floor drops trailing rows) — which is why the CAM is placed
 * by these centres instead of being stretched over the image.
 */
import { parseBlocks } from '../nn/model.ts';

export interface CellGeometry {
  offset: number;
  stride: number;
}

export function cellGeometry(blocks: string): CellGeometry {
  let stride = 1;
  let offset = 0;
  for (const b of parseBlocks(blocks).reverse()) {
    if (b.kind === 'conv') offset += 1; // x_in = x_out + 1
    else [stride, offset] = [2 * stride, 2 * offset + 0.5]; // x_in = 2 x_out + 0.5
  }
  return { offset, stride };
}

/** Photo pixel at the centre of cell (x, y), for a network input of inW x inH resized from a photo of outW x outH. */
export function cellToPhoto(g: CellGeometry, inW: number, inH: number, outW: number, outH: number) {
  const axis = (u: number, inSize: number, outSize: number) => Math.min(outSize - 1, Math.max(0, Math.round(((g.offset + g.stride * u + 0.5) * outSize) / inSize - 0.5)));
  return (x: number, y: number): [number, number] => [axis(x, inW, outW), axis(y, inH, outH)];
}
