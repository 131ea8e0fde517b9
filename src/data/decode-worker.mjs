// A decode worker (plain JavaScript so it loads in any worker thread, with or without a
// TypeScript loader). It receives {id, path, height, width, channels} jobs and answers
// {id, pixels} (u8, HWC, exactly height*width*channels bytes) or {id, error}.
import { parentPort } from 'node:worker_threads';
import sharp from 'sharp';

// Decompression bombs: refuse images that declare more than 100 megapixels.
const LIMIT_INPUT_PIXELS = 100_000_000;
sharp.concurrency(1); // one libvips thread per worker: the parallelism is the workers

parentPort.on('message', async (job) => {
  try {
    let img = sharp(job.path, { limitInputPixels: LIMIT_INPUT_PIXELS, failOn: 'truncated', animated: false })
      .rotate() // apply EXIF orientation
      .resize(job.width, job.height, { fit: 'fill' });
    img = job.channels === 1 ? img.toColourspace('b-w') : img.toColourspace('srgb').removeAlpha();
    const { data, info } = await img.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    if (info.channels !== job.channels || data.length !== job.height * job.width * job.channels) {
      throw new Error(`decoded to ${info.channels} channels of ${info.width}x${info.height}`);
    }
    const pixels = new Uint8Array(data.buffer, data.byteOffset, data.length).slice();
    parentPort.postMessage({ id: job.id, pixels }, [pixels.buffer]);
  } catch (e) {
    parentPort.postMessage({ id: job.id, error: describe(e) });
  }
});

function describe(e) {
  const msg = String(e?.message ?? e).split('\n')[0];
  if (/unsupported image format|Input file contains unsupported/i.test(msg)) return 'not an image (unsupported format)';
  if (/empty|zero/i.test(msg) && /file|input/i.test(msg)) return 'empty file';
  if (/pixel limit/i.test(msg)) return `too large (over ${LIMIT_INPUT_PIXELS / 1e6} megapixels)`;
  if (/premature end|truncated|VipsJpeg|Corrupt/i.test(msg)) return `truncated or corrupt (${msg})`;
  return msg;
}
