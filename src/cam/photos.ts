/**
 * Loads a photo for the CAM exactly as training prepared images (EXIF rotation, sRGB,
 * no alpha, resized to the model's input ignoring aspect ratio), and keeps the photo
 * itself for the overlay (downscaled if its longer side exceeds MAX_OVERLAY_SIDE).
 */
import { statSync } from 'node:fs';
import sharp from 'sharp';
import { whyNotAFile } from '../io/input-path.ts';
import { describeDecodeError, EMPTY_FILE, LIMIT_INPUT_PIXELS } from '../data/decode-errors.mjs';
import type { InputSpec } from '../io/model-file.ts';
import type { Photo } from './explain.ts';
export const MAX_OVERLAY_SIDE = 4096;

export class PhotoError extends Error {}

export async function loadPhoto(path: string, input: InputSpec): Promise<{ photo: Photo; input: Uint8Array }> {
  const why = whyNotAFile(path); // never open a FIFO or a device: it would block or never end
  if (why) throw new PhotoError(`${path}: ${why}`);
  if (statSync(path).size === 0) throw new PhotoError(`${path}: ${EMPTY_FILE}`);
  try {
    const { data, info } = await sharp(path, { limitInputPixels: LIMIT_INPUT_PIXELS, failOn: 'truncated', animated: false })
      .rotate()
      .resize(MAX_OVERLAY_SIDE, MAX_OVERLAY_SIDE, { fit: 'inside', withoutEnlargement: true })
      .toColourspace('srgb')
      .removeAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    const photo: Photo = { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height };
    return { photo, input: await toInput(photo, input) };
  } catch (e) {
    throw new PhotoError(`${path}: ${describeDecodeError(e)}`);
  }
}

/** The network input (HWC u8) for a photo already in memory. */
export async function toInput(photo: Photo, input: InputSpec): Promise<Uint8Array> {
  let img = sharp(photo.data, { raw: { width: photo.width, height: photo.height, channels: 3 } }).resize(input.width, input.height, { fit: 'fill' });
  if (input.channels === 1) img = img.toColourspace('b-w');
  const buf = await img.raw().toBuffer();
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
}

/** An RGB photo from network-size u8 pixels (gray is repeated), for overlays of cached images. */
export function photoFromInput(pixels: Uint8Array, input: InputSpec): Photo {
  if (input.channels === 3) return { data: pixels, width: input.width, height: input.height };
  const data = new Uint8Array(input.width * input.height * 3);
  for (let i = 0; i < input.width * input.height; i++) data.fill(pixels[i], i * 3, i * 3 + 3);
  return { data, width: input.width, height: input.height };
}
