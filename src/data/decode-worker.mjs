// A decode worker (plain JavaScript so it loads in any worker thread, with or without a
// TypeScript loader). It receives {id, path, height, width, channels} jobs and answers
// {id, pixels} (u8, HWC, exactly height*width*channels bytes) or {id, error}.
import { parentPort } from 'node:worker_threads';
import sharp from 'sharp';
import { describeDecodeError, LIMIT_INPUT_PIXELS } from './decode-errors.mjs';

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
    parentPort.postMessage({ id: job.id, error: describeDecodeError(e) });
  }
});
