/**
 * Paths the user hands us are checked with stat() before anything opens them: opening a
 * FIFO for reading blocks until a writer comes (forever, in practice), a device can be
 * endless, a folder fails with EISDIR. The reason is worded for people, one phrase.
 */
import { lstatSync, realpathSync, statSync, type Stats } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';

/** What a stat result is, in words, when it is not a regular file. */
export function kindOf(st: Stats): string {
  if (st.isDirectory()) return 'a folder';
  if (st.isFIFO()) return 'a named pipe (FIFO)';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  if (st.isSymbolicLink()) return 'a symbolic link';
  return 'not a regular file';
}

/** Why `path` cannot be used as a `wanted` (links followed), or null when it can. */
function whyNot(path: string, wanted: 'file' | 'folder'): string | null {
  let st: Stats;
  try {
    st = statSync(path);
  } catch (e) {
    return describeStatError(path, e as NodeJS.ErrnoException, wanted);
  }
  if (wanted === 'file') return st.isFile() ? null : `${kindOf(st)}, not a file`;
  return st.isDirectory() ? null : `${st.isFile() ? 'a file' : kindOf(st)}, not a folder`;
}

/** Why `path` cannot be read as a file (a regular file, links followed), or null when it can. */
export const whyNotAFile = (path: string) => whyNot(path, 'file');

/** Why `path` cannot be listed as a folder, or null when it can. */
export const whyNotAFolder = (path: string) => whyNot(path, 'folder');

/**
 * Why wgcam must not replace `path` with a file it writes, or null when it may: a path that
 * does not exist, a regular file, or a link to one. Writing renames a temporary file over the
 * target, which would silently turn a device, a FIFO, a socket or a folder into a regular file.
 */
export function whyNotReplaceable(path: string): string | null {
  let st: Stats;
  try {
    st = lstatSync(path);
  } catch {
    return null; // absent, or unreachable: the write itself then fails with its own reason
  }
  if (st.isFile()) return null;
  if (!st.isSymbolicLink()) return `${kindOf(st)}, not a regular file`;
  const why = whyNotAFile(path);
  return why === null ? null : `${why.replace(/, not a file$/, '')}, not a regular file`;
}

/** Throws one line naming the first of `paths` that exists and is not a regular file. */
export function refuseToReplace(paths: Iterable<string>): void {
  for (const path of paths) {
    const why = whyNotReplaceable(path);
    if (why) throw new NotReplaceableError(`${path} exists and is ${why}: wgcam replaces only regular files; remove it or write elsewhere`);
  }
}

export class NotReplaceableError extends Error {}

function describeStatError(path: string, e: NodeJS.ErrnoException, wanted: 'file' | 'folder'): string {
  switch (e.code) {
    case 'ENOENT': {
      // A link whose target is gone reads as "no such file" to stat; say which it is.
      let dangling = false;
      try {
        dangling = lstatSync(path).isSymbolicLink();
      } catch {
        // the path itself does not exist
      }
      if (dangling) return 'a symbolic link to a missing file';
      // Node reads names as UTF-8 and puts U+FFFD for bytes that are not: such a name cannot
      // be opened by the string it was listed as.
      return path.includes('\uFFFD') ? 'the name is not valid UTF-8 (rename it)' : `no such ${wanted}`;
    }
    case 'ELOOP':
      return 'a symbolic link loop';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ENOTDIR':
      return 'a path through something that is not a folder';
    case 'ENAMETOOLONG':
      return 'the name is too long';
    default:
      return `cannot be read (${e.code ?? e.message})`;
  }
}

/** Absolute path with symbolic links resolved as far as the path exists. */
function realish(path: string): string {
  const abs = resolve(path);
  try {
    return realpathSync(abs);
  } catch {
    const parent = dirname(abs);
    return parent === abs ? abs : join(realish(parent), basename(abs));
  }
}

/** `inner` is `outer` or lies inside it. */
export function isInside(inner: string, outer: string): boolean {
  const rel = relative(realish(outer), realish(inner));
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

