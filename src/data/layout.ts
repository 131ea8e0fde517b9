/**
 * Finds out what kind of data folder the user pointed at:
 *  - Kaggle Dogs vs. Cats: DIR/train/cat.0.jpg (or DIR itself is that folder); class = name before the first dot
 *  - one folder per class: DIR/<class>/*.jpg, subfolders included (PetImages' Cat/ Dog/ too)
 *  - IDX files (MNIST, Fashion-MNIST): DIR/train-images-idx3-ubyte[.gz] + train-labels-idx1-ubyte[.gz]
 *    (t10k-* for the test split)
 */
import { existsSync, lstatSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { whyNotAFolder } from '../io/input-path.ts';

export const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff', '.avif']);
/** Folders that are never a class (Kaggle's unlabeled test set, our own cache). */
const NOT_CLASSES = new Set(['test1', 'test', '.wgcam-cache']);

export class DataError extends Error {}

/** An entry of the data folder that could not be listed or opened, with the reason in words. */
export interface Skipped {
  path: string;
  reason: string;
}

export type Source =
  | {
      kind: 'files';
      layout: 'kaggle' | 'folders';
      root: string;
      classes: string[];
      files: { path: string; label: number }[];
      /** Kaggle layout: images whose name has no CLASS. prefix (IMG_0001.jpg), left out. */
      unlabelled?: string[];
      /** Folders inside the classes that could not be opened (reported as bad files). */
      skipped: Skipped[];
    }
  | { kind: 'idx'; root: string; imagesFile: string; labelsFile: string };

const isImage = (name: string) => IMAGE_EXTENSIONS.has(extname(name).toLowerCase());
const isLink = (path: string) => {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
};

/**
 * A folder's entries: sub-folders (links to folders followed) and everything else with a
 * name, links and special files included, so that a dangling link or a FIFO among the
 * photos is reported as a bad file instead of stopping the run or vanishing unseen.
 */
function listDir(dir: string, skipped?: Skipped[]): { files: string[]; dirs: string[] } {
  const files: string[] = [];
  const dirs: string[] = [];
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    throw new DataError(`${dir}: cannot list the folder (${(e as NodeJS.ErrnoException).code})`);
  }
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    let isDir = e.isDirectory();
    if (e.isSymbolicLink()) {
      try {
        isDir = statSync(join(dir, e.name)).isDirectory();
      } catch {
        isDir = false; // dangling or looping: a bad file if its name is an image's
      }
    }
    if (isDir && skipped) {
      const why = whyNotAFolder(join(dir, e.name)); // a name that is not UTF-8 cannot be opened
      if (why) {
        skipped.push({ path: join(dir, e.name), reason: `a folder that cannot be read: ${why}` });
        continue;
      }
    }
    (isDir ? dirs : files).push(e.name);
  }
  return { files: files.sort(), dirs: dirs.sort() };
}

function kaggle(dir: string): Source | null {
  const all = listDir(dir).files.filter(isImage);
  const labelled = (f: string) => basename(f).indexOf('.') < basename(f).lastIndexOf('.');
  const images = all.filter(labelled);
  if (images.length === 0) return null;
  const classes = [...new Set(images.map((f) => f.slice(0, f.indexOf('.')).toLowerCase()))].sort();
  if (classes.length < 2) return null;
  return {
    kind: 'files',
    layout: 'kaggle',
    root: dir,
    classes,
    files: images.map((f) => ({ path: join(dir, f), label: classes.indexOf(f.slice(0, f.indexOf('.')).toLowerCase()) })),
    unlabelled: all.filter((f) => !labelled(f)).map((f) => join(dir, f)),
    skipped: [],
  };
}

/** Every image under `dir`, subfolders included, in a stable order; a folder reached twice (a link loop) is listed once. */
function imagesUnder(dir: string, skipped: Skipped[], seen = new Set<string>()): string[] {
  let real: string;
  try {
    real = realpathSync(dir);
  } catch {
    return [];
  }
  if (seen.has(real)) return [];
  seen.add(real);
  const { files, dirs } = listDir(dir, skipped);
  return [...files.filter(isImage).map((f) => join(dir, f)), ...dirs.flatMap((d) => imagesUnder(join(dir, d), skipped, seen))];
}

function folders(dir: string): Source | null {
  const skipped: Skipped[] = [];
  const classes = listDir(dir, skipped).dirs.filter((d) => !NOT_CLASSES.has(d.toLowerCase()));
  const images = classes.map((c) => imagesUnder(join(dir, c), skipped));
  const withImages = classes.filter((_, i) => images[i].length > 0);
  if (withImages.length < 2) return null;
  return {
    kind: 'files',
    layout: 'folders',
    root: dir,
    classes: withImages,
    files: images.filter((list) => list.length > 0).flatMap((list, label) => list.map((path) => ({ path, label }))),
    skipped,
  };
}

/** Which IDX pair to read: the training files, or the test files (MNIST's t10k-*) for evaluation. */
export type IdxSplit = 'train' | 'test';

function idx(dir: string, split: IdxSplit): Source | null {
  // lstat-free existence: a FIFO or a dangling link named like an IDX file is found, then refused by loadIdx.
  const find = (stem: string) => [stem, `${stem}.gz`].map((f) => join(dir, f)).find((p) => existsSync(p) || isLink(p));
  const stem = split === 'train' ? 'train' : 't10k';
  const imagesFile = find(`${stem}-images-idx3-ubyte`);
  const labelsFile = find(`${stem}-labels-idx1-ubyte`);
  return imagesFile && labelsFile ? { kind: 'idx', root: dir, imagesFile, labelsFile } : null;
}

export function detectLayout(dir: string, idxSplit: IdxSplit = 'train'): Source {
  const why = whyNotAFolder(dir);
  if (why) throw new DataError(`${dir}: ${why}`);
  const train = join(dir, 'train');
  const found =
    idx(dir, idxSplit) ??
    (whyNotAFolder(train) === null ? kaggle(train) ?? folders(train) : null) ??
    kaggle(dir) ??
    folders(dir);
  if (found) return found;
  const { files, dirs } = listDir(dir);
  const images = files.filter(isImage).length;
  throw new DataError(
    `${dir}: no known data layout (found ${files.length} files, ${images} images, ${dirs.length} folders${dirs.length ? `: ${dirs.slice(0, 5).join(', ')}` : ''}); ` +
      'expected train/cat.0.jpg-style names with at least 2 classes, one folder per class (at least 2), or train-images-idx3-ubyte + train-labels-idx1-ubyte',
  );
}
