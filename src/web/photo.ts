/**
 * A photo in the browser as wgcam's CLI prepares it (src/cam/photos.ts and
 * src/graph/imported-files.ts do it with sharp): decoded by the browser with EXIF rotation, RGB
 * without alpha, at most MAX_OVERLAY_SIDE on the longer side for the overlay; the network input
 * resized by resize.ts (libvips' method: identical to the CLI's input for reductions below 4x,
 * within 2 levels beyond), for an imported model to the preprocessing's size and centre-cropped,
 * then gray as libvips makes it for one-channel models. A photo over MAX_OVERLAY_SIDE is first
 * scaled down by the browser's canvas, where the CLI uses libvips: its input then differs a
 * little more.
 */
import type { Photo } from '../cam/explain.ts';
import { cropOf, inputFromPixels, type ImportedModel } from '../graph/imported-model.ts';
import type { InputSpec } from '../io/model-format.ts';
import { grayOf } from './gray.ts';
import { resizeFill } from './resize.ts';

export const MAX_OVERLAY_SIDE = 4096;

export class PhotoError extends Error {}

function rgbOf(bitmap: ImageBitmap, width: number, height: number): Uint8Array {
  const canvas = new OffscreenCanvas(width, height);
  // Smoothing matters only for photos over MAX_OVERLAY_SIDE: everything else is drawn 1:1.
  const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(bitmap, 0, 0, width, height);
  const rgba = ctx.getImageData(0, 0, width, height).data;
  const rgb = new Uint8Array(width * height * 3);
  for (let p = 0; p < width * height; p++) rgb.set(rgba.subarray(p * 4, p * 4 + 3), p * 3);
  return rgb;
}

/** Decodes a photo file; a PhotoError naming it when the browser cannot. */
export async function decodePhoto(file: Blob & { name: string }): Promise<Photo> {
  if (file.size === 0) throw new PhotoError(`${file.name}: empty file (0 bytes)`);
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(file, { imageOrientation: 'from-image', colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  } catch {
    throw new PhotoError(`${file.name}: not an image this browser can decode`);
  }
  try {
    const scale = Math.min(1, MAX_OVERLAY_SIDE / Math.max(bitmap.width, bitmap.height));
    const [width, height] = [Math.max(1, Math.round(bitmap.width * scale)), Math.max(1, Math.round(bitmap.height * scale))];
    return { data: rgbOf(bitmap, width, height), width, height };
  } finally {
    bitmap.close();
  }
}

/** A wgcam model's input: the photo resized to the model's size ignoring the aspect ratio, bytes. */
export function ownModelInput(photo: Photo, input: InputSpec): Uint8Array {
  const rgb = resizeFill({ data: photo.data, width: photo.width, height: photo.height, channels: 3 }, input.width, input.height).data;
  return input.channels === 1 ? grayOf(rgb) : rgb;
}

/** An imported model's input: resized and centre-cropped as its preprocessing says, then normalized in its layout. */
export function importedModelInput(photo: Photo, model: ImportedModel): Float32Array {
  const [ch, cw] = model.pre.crop;
  const c = cropOf(model.pre, photo.width, photo.height);
  const resized = resizeFill({ data: photo.data, width: photo.width, height: photo.height, channels: 3 }, c.resized[0], c.resized[1]);
  const rgb = new Uint8Array(cw * ch * 3);
  for (let y = 0; y < ch; y++) rgb.set(resized.data.subarray(((c.top + y) * resized.width + c.left) * 3, ((c.top + y) * resized.width + c.left + cw) * 3), y * cw * 3);
  return inputFromPixels(model.channels === 1 ? grayOf(rgb) : rgb, model);
}
