// What went wrong with an image file, in the words both the data preparation (in its decode
// workers, hence plain JavaScript) and the CAM command report it with.

/** The commonest breakage in real photo dumps; sharp calls it an unsupported format. */
export const EMPTY_FILE = 'empty file (0 bytes)';

/** Decompression bombs: images that declare more pixels than this are refused. */
export const LIMIT_INPUT_PIXELS = 100_000_000;

/** A short reason for a sharp/libvips failure (first line of its message). */
export function describeDecodeError(error) {
  const msg = String(error?.message ?? error).split('\n')[0];
  if (/Input file is missing/i.test(msg)) return 'no such file';
  if (/unsupported image format|Input file contains unsupported/i.test(msg)) return 'not an image (unsupported format)';
  if (/pixel limit/i.test(msg)) return `too large (over ${LIMIT_INPUT_PIXELS / 1e6} megapixels)`;
  if (/premature end|truncated|VipsJpeg|Corrupt|corrupt header/i.test(msg)) return `truncated or corrupt (${msg})`;
  return `cannot decode (${msg})`;
}
