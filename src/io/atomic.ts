/**
 * Writes a file so that readers only ever see the old or the new contents: write a
 * temporary file beside it, flush it to disk, then rename it over the target. An
 * interrupted run (Ctrl-C, kill -9, a full disk) leaves the previous file intact.
 */
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

export function writeFileAtomic(path: string, data: Uint8Array | string): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now().toString(36)}.tmp`);
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  let fd: number | null = null;
  try {
    fd = openSync(tmp, 'w');
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    fsyncSync(fd);
    closeSync(fd);
    fd = null;
    renameSync(tmp, path);
  } catch (e) {
    if (fd !== null) closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      // nothing was created
    }
    const err = e as NodeJS.ErrnoException;
    throw new Error(`cannot write ${path}: ${err.code === 'ENOSPC' ? 'no space left on the device' : err.code ?? err.message}`);
  }
}
