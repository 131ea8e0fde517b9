// Images a real dump contains: each is decoded correctly or skipped with a reason,
// and a decompression bomb is refused from its header, without decoding it.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { prepareDataset } from '../src/data/dataset.ts';
import { loadPhoto } from '../src/cam/photos.ts';

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf: Buffer): number {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}
/** A valid PNG header declaring 50000 x 50000 pixels (2.5 gigapixels) with a tiny body. */
function bombPng(): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(50_000, 0);
  ihdr.writeUInt32BE(50_000, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // grayscale
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(Buffer.alloc(1000))), chunk('IEND', Buffer.alloc(0))]);
}

describe('odd and hostile images', () => {
  it('decodes what can be decoded, skips the rest with a reason', async () => {
    const d = mkdtempSync(join(tmpdir(), 'wgcam-edge-'));
    mkdirSync(join(d, 'a'));
    mkdirSync(join(d, 'b'));
    const solid = (w: number, h: number, bg: string) => sharp({ create: { width: w, height: h, channels: 3, background: bg } });
    writeFileSync(join(d, 'a', 'png-named.jpg'), await solid(6, 6, '#ff0000').png().toBuffer()); // wrong extension
    writeFileSync(join(d, 'a', 'one.png'), await solid(1, 1, '#00ff00').png().toBuffer()); // 1x1
    writeFileSync(join(d, 'a', 'anim.gif'), await sharp({ create: { width: 4, height: 4 * 3, channels: 3, background: '#0000ff' } }).gif({ loop: 0 }).toBuffer()); // GIF
    writeFileSync(join(d, 'b', 'anim.webp'), await sharp(await solid(4, 8, '#ffffff').png().toBuffer(), { pages: -1 }).webp().toBuffer());
    writeFileSync(join(d, 'b', 'bomb.png'), bombPng());
    // Portrait stored as landscape pixels + EXIF orientation 6 (rotate 90): left half red, right half blue.
    const landscape = await sharp({ create: { width: 8, height: 4, channels: 3, background: '#ff0000' } })
      .composite([{ input: await solid(4, 4, '#0000ff').png().toBuffer(), left: 4, top: 0 }])
      .jpeg({ quality: 100 })
      .withMetadata({ orientation: 6 })
      .toBuffer();
    writeFileSync(join(d, 'b', 'rotated.jpg'), landscape);
    const set = await prepareDataset(d, { size: 4 });
    expect(set.bad.map((b) => b.path.split('/').pop())).toEqual(['bomb.png']);
    expect(set.bad[0].reason).toMatch(/too large \(over 100 megapixels\)/);
    expect(set.count).toBe(5);
    const at = (name: string) => set.read([set.names.findIndex((n) => n.endsWith(name))]);
    expect(Array.from(at('png-named.jpg').subarray(0, 3))).toEqual([255, 0, 0]);
    expect(Array.from(at('one.png').subarray(0, 3))).toEqual([0, 255, 0]);
    // Orientation 6 turns the stored image 90 degrees clockwise: red (left) ends up on top.
    const rot = at('rotated.jpg');
    const pixel = (x: number, y: number) => Array.from(rot.subarray((y * 4 + x) * 3, (y * 4 + x) * 3 + 3));
    expect(pixel(1, 0)[0]).toBeGreaterThan(200);
    expect(pixel(1, 3)[2]).toBeGreaterThan(200);
    set.close();
    await expect(loadPhoto(join(d, 'b', 'bomb.png'), { height: 4, width: 4, channels: 3, resize: 'fill', scale: '1/255' })).rejects.toThrow(/bomb\.png: too large/);
  });
});
