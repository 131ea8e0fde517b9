// Data preparation: layout detection, broken files, cache reuse/invalidation, split.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { prepareDataset, thinClassWarnings } from '../src/data/dataset.ts';
import { DataError, detectLayout } from '../src/data/layout.ts';
import { stratifiedSplit } from '../src/data/split.ts';

const root = mkdtempSync(join(tmpdir(), 'wgcam-data-'));
let n = 0;
const fresh = (name: string) => {
  const d = join(root, `${name}-${n++}`);
  mkdirSync(d, { recursive: true });
  return d;
};

async function photo(path: string, color: [number, number, number], opts: { w?: number; h?: number; format?: 'jpeg' | 'png' } = {}): Promise<void> {
  const img = sharp({ create: { width: opts.w ?? 20, height: opts.h ?? 16, channels: 3, background: { r: color[0], g: color[1], b: color[2] } } });
  writeFileSync(path, await (opts.format === 'png' ? img.png() : img.jpeg()).toBuffer());
}

function idxFile(dims: number[], data: Uint8Array): Buffer {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head[2] = 0x08;
  head[3] = dims.length;
  dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
  return gzipSync(Buffer.concat([head, Buffer.from(data)]));
}

describe('layout detection', () => {
  it('Kaggle layout under DIR/train, ignoring test1/', async () => {
    const d = fresh('kaggle');
    mkdirSync(join(d, 'train'));
    mkdirSync(join(d, 'test1'));
    for (const [cls, i] of [['cat', 0], ['cat', 1], ['dog', 0], ['dog', 12]] as const) await photo(join(d, 'train', `${cls}.${i}.jpg`), [i * 10, 0, 0]);
    await photo(join(d, 'test1', '1.jpg'), [0, 0, 0]);
    const s = detectLayout(d);
    expect(s.kind === 'files' && s.layout).toBe('kaggle');
    if (s.kind !== 'files') return;
    expect(s.classes).toEqual(['cat', 'dog']);
    expect(s.files.map((f) => f.label)).toEqual([0, 0, 1, 1]);
  });

  it('Kaggle layout with DIR being the train folder itself', async () => {
    const d = fresh('flat');
    for (const name of ['cat.1.jpg', 'dog.2.jpg', 'dog.3.jpeg']) await photo(join(d, name), [1, 2, 3]);
    const s = detectLayout(d);
    expect(s.kind === 'files' && s.layout).toBe('kaggle');
  });

  it('one folder per class, any number of classes, subfolders included', async () => {
    const d = fresh('folders');
    for (const cls of ['Cat', 'Dog', 'Fox']) {
      mkdirSync(join(d, cls, 'more'), { recursive: true });
      await photo(join(d, cls, 'a.JPG'), [1, 2, 3]);
    }
    await photo(join(d, 'Fox', 'more', 'b.png'), [1, 2, 3], { format: 'png' });
    mkdirSync(join(d, 'Empty'));
    const s = detectLayout(d);
    expect(s.kind === 'files' && s.classes).toEqual(['Cat', 'Dog', 'Fox']);
    if (s.kind !== 'files') return;
    expect(s.files.map((f) => [f.path.slice(d.length + 1), f.label])).toEqual([
      ['Cat/a.JPG', 0],
      ['Dog/a.JPG', 1],
      ['Fox/a.JPG', 2],
      ['Fox/more/b.png', 2],
    ]);
  });

  it('IDX files, with a class subset by name or index', async () => {
    const d = fresh('fashion-mnist');
    const count = 12;
    const images = Uint8Array.from({ length: count * 4 * 5 }, (_, i) => i % 256);
    const labels = Uint8Array.from({ length: count }, (_, i) => i % 10);
    writeFileSync(join(d, 'train-images-idx3-ubyte.gz'), idxFile([count, 4, 5], images));
    writeFileSync(join(d, 'train-labels-idx1-ubyte.gz'), idxFile([count], labels));
    const all = await prepareDataset(d);
    expect(all.layout).toBe('idx');
    expect(all.classes[7]).toBe('Sneaker');
    expect(all.channels).toBe(1);
    expect([all.width, all.height]).toEqual([5, 4]);
    const sub = await prepareDataset(d, { classes: 'Sneaker,1' });
    expect(sub.classes).toEqual(['Sneaker', 'Trouser']);
    expect(Array.from(sub.labels)).toEqual([1, 0, 1]); // labels 1, 7, 11%10=1 in file order
    expect(Array.from(sub.read([1]))).toEqual(Array.from(images.subarray(7 * 20, 8 * 20)));
    await expect(prepareDataset(d, { classes: 'Sneaker,Unicorn' })).rejects.toThrow(/'Unicorn' is not one of/);
  });

  it('a folder with no known layout is a clear error listing what was found', async () => {
    const d = fresh('nothing');
    writeFileSync(join(d, 'README.txt'), 'hi');
    mkdirSync(join(d, 'only-one-class'));
    await photo(join(d, 'only-one-class', 'x.jpg'), [0, 0, 0]);
    expect(() => detectLayout(d)).toThrow(DataError);
    expect(() => detectLayout(d)).toThrow(/no known data layout \(found 1 files, 0 images, 1 folders: only-one-class\)/);
    expect(() => detectLayout(join(d, 'missing'))).toThrow(/no such folder/);
  });
});

describe('preparation', () => {
  it('decodes odd inputs, skips and reports broken files, and keeps going', async () => {
    const d = fresh('broken');
    mkdirSync(join(d, 'Cat'));
    mkdirSync(join(d, 'Dog'));
    await photo(join(d, 'Cat', 'ok.jpg'), [200, 10, 10], { w: 40, h: 30 });
    await photo(join(d, 'Dog', 'ok.png'), [10, 200, 10], { format: 'png' });
    writeFileSync(join(d, 'Cat', 'zero.jpg'), '');
    writeFileSync(join(d, 'Cat', 'text.jpg'), 'this is not a jpeg at all');
    const good = readFileSync(join(d, 'Cat', 'ok.jpg'));
    writeFileSync(join(d, 'Dog', 'truncated.jpg'), good.subarray(0, Math.floor(good.length / 2)));
    writeFileSync(join(d, 'Dog', 'gray.png'), await sharp({ create: { width: 9, height: 9, channels: 3, background: '#808080' } }).toColourspace('b-w').png().toBuffer());
    writeFileSync(join(d, 'Dog', 'alpha16.png'), await sharp({ create: { width: 9, height: 7, channels: 4, background: { r: 0, g: 0, b: 255, alpha: 0.5 } } }).png().toColourspace('rgb16').toBuffer());
    writeFileSync(join(d, 'Cat', 'cmyk.jpg'), await sharp({ create: { width: 8, height: 8, channels: 3, background: '#ff0000' } }).toColourspace('cmyk').jpeg().toBuffer());
    writeFileSync(join(d, 'Cat', 'rotated.jpg'), await sharp({ create: { width: 30, height: 10, channels: 3, background: '#00ff00' } }).jpeg().withMetadata({ orientation: 6 }).toBuffer());
    const set = await prepareDataset(d, { size: 8 });
    expect(set.count).toBe(6);
    expect(set.bad.map((b) => b.path.split('/').slice(-2).join('/')).sort()).toEqual(['Cat/text.jpg', 'Cat/zero.jpg', 'Dog/truncated.jpg']);
    expect(set.bad.find((b) => b.path.endsWith('zero.jpg'))!.reason).toMatch(/empty/);
    expect(readFileSync(set.badReport!, 'utf8')).toContain('text.jpg');
    const px = set.read([set.names.findIndex((p) => p.endsWith('cmyk.jpg'))]);
    expect(px.length).toBe(8 * 8 * 3);
    expect(px[0]).toBeGreaterThan(200); // CMYK red decoded as red
    expect(px[1]).toBeLessThan(60);
    set.close();
  });

  it('reuses the cache when nothing changed and rebuilds it when the files or size change', async () => {
    const d = fresh('cache');
    for (const name of ['cat.0.jpg', 'cat.1.jpg', 'dog.0.jpg']) await photo(join(d, name), [50, 60, 70]);
    const first = await prepareDataset(d, { size: 6 });
    expect(first.cache).toBe('built');
    const pixels = Array.from(first.read([0, 1, 2]));
    first.close();
    const again = await prepareDataset(d, { size: 6 });
    expect(again.cache).toBe('reused');
    expect(Array.from(again.read([0, 1, 2]))).toEqual(pixels);
    again.close();
    await photo(join(d, 'dog.1.jpg'), [1, 1, 1]);
    const grown = await prepareDataset(d, { size: 6 });
    expect(grown.cache).toBe('built');
    expect(grown.count).toBe(4);
    grown.close();
    const resized = await prepareDataset(d, { size: 7 });
    expect(resized.cache).toBe('built');
    resized.close();
  });

  it('refuses a set whose readable images cover fewer than 2 classes', async () => {
    const d = fresh('oneclass');
    await photo(join(d, 'cat.0.jpg'), [1, 2, 3]);
    writeFileSync(join(d, 'dog.0.jpg'), '');
    await expect(prepareDataset(d, { size: 5 })).rejects.toThrow(/only 1 class/);
  });

  it('warns about a class of a stray file or two beside large ones, and only then', async () => {
    const d = fresh('stray');
    for (let i = 0; i < 40; i++) await photo(join(d, `${i % 2 ? 'dog' : 'cat'}.${i}.jpg`), [i * 5, 0, 0], { w: 6, h: 6 });
    await photo(join(d, 'holiday.v2.jpg'), [9, 9, 9], { w: 6, h: 6 });
    writeFileSync(join(d, 'notes.final.jpg'), ''); // a class whose only file is unreadable
    const set = await prepareDataset(d, { size: 5 });
    expect(set.classes).toEqual(['cat', 'dog', 'holiday', 'notes']);
    const lines = thinClassWarnings(set);
    expect(lines, lines.join("\n")).toHaveLength(2);
    expect(lines[0]).toMatch(/^warning: class "holiday" has only 1 image \(holiday\.v2\.jpg\) against 20 in the largest; the Kaggle layout takes the class from the name up to its first dot/);
    expect(lines[1]).toMatch(/^warning: class "notes" has no readable images/);
    // Imbalanced but real classes, and small sets, are left alone.
    const labels = Int32Array.from([...Array(100).fill(0), ...Array(6).fill(1), 2, 2]);
    const names = Array.from(labels, (_, i) => `/p/${i}.jpg`);
    expect(thinClassWarnings({ layout: 'folders', classes: ['a', 'b', 'c'], labels, names })).toEqual([
      'warning: class "c" has only 2 images (106.jpg, 107.jpg) against 100 in the largest; each folder is a class: move or rename stray files, or the model gets an output for it',
    ]);
    expect(thinClassWarnings({ layout: 'folders', classes: ['a', 'b'], labels: Int32Array.from([0, 0, 1]), names: ['x', 'y', 'z'] })).toEqual([]);
    // IDX data gets the same rule (a labels file can hold a stray label too).
    expect(thinClassWarnings({ layout: 'idx', classes: ['a', 'b'], labels: Int32Array.from([...Array(100).fill(0), 1]), names: [] })).toEqual([
      'warning: class "b" has only 1 image against 100 in the largest; the labels file gives each image its class: pick the classes you want with --classes, or the model gets an output for it',
    ]);
  });
});

describe('split', () => {
  it('is stratified and the same for the same seed', () => {
    const labels = Int32Array.from({ length: 103 }, (_, i) => (i < 80 ? 0 : 1));
    const a = stratifiedSplit(labels, 0.2, 42);
    const b = stratifiedSplit(labels, 0.2, 42);
    const c = stratifiedSplit(labels, 0.2, 43);
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    expect(a.val.filter((i) => labels[i] === 0).length).toBe(16);
    expect(a.val.filter((i) => labels[i] === 1).length).toBe(5);
    expect(new Set([...a.train, ...a.val]).size).toBe(103);
  });
});
