/**
 * Writes a file so that readers only ever see the old or the new contents: write a
 * temporary file beside it, flush it to disk, then rename it over the target. An
 * interrupted run (Ctrl-C, kill -9, a full disk) leaves the previous file intact.
 *
 * Temporary files have names only wgcam makes (`.NAME.wgcam-PID-XXXX.tmp`), so cleaning up
 * after a killed run removes ours and never a user's own `.notes.tmp`.
 */
import { closeSync, fsyncSync, openSync, readdirSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { refuseToReplace } from './input-path.ts';
import { pidAlive } from '../util/process-info.ts';
import { forgetOnExit, removeOnExit } from '../util/stop.ts';

const TEMP_NAME = /^\..+\.wgcam-(\d+)-[0-9a-z]+\.tmp$/;

/** A temporary name beside `path`, unique to this process and call. */
export function temporaryPath(path: string): string {
  const tag = `${Date.now().toString(36)}${Math.floor(Math.random() * 36 ** 4).toString(36)}`;
  return join(dirname(path), `.${basename(path)}.wgcam-${process.pid}-${tag}.tmp`);
}

/** Removes the temporary files in `dir` left by wgcam processes that no longer run; returns their names. */
export function removeStaleTemporaries(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = TEMP_NAME.exec(name);
    if (!m || pidAlive(Number(m[1]))) continue;
    try {
      unlinkSync(join(dir, name));
      removed.push(name);
    } catch {
      // gone already, or not ours to remove
    }
  }
  return removed;
}

/** Writes `data` to `path` through a temporary file; refuses a `path` that exists and is not a regular file. */
export function writeFileAtomic(path: string, data: Uint8Array | string): void {
  refuseToReplace([path]);
  const tmp = temporaryPath(path);
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  let fd: number | null = null;
  removeOnExit(tmp);
  try {
    fd = openSync(tmp, 'wx');
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
  } finally {
    forgetOnExit(tmp);
  }
}
