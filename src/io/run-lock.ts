/**
 * One run per output folder. `train` and `cam` take OUT/.wgcam.lock before they write
 * anything: two trainings on one --out used to interleave metrics.jsonl and mix
 * checkpoints. The lock holds the owner's PID and process start time, so a lock left by a
 * killed run (kill -9, a crash, a reboot) is recognised as stale and taken over, with a
 * message, while a live owner makes the second run refuse with one line.
 */
import { linkSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { printable } from '../util/terminal.ts';
import { processStartTicks, sameProcessAlive } from '../util/process-info.ts';
import { removeOnExit, forgetOnExit } from '../util/stop.ts';
import { temporaryPath } from './atomic.ts';

export const LOCK_NAME = '.wgcam.lock';

export class RunLockError extends Error {}

interface LockOwner {
  pid: number;
  /** Kernel start time of the process (see processStartTicks), to tell a reused PID apart. */
  startTicks: string | null;
  started: string;
  command: string;
  host: string;
}

function readOwner(path: string): LockOwner | null {
  try {
    const o = JSON.parse(readFileSync(path, 'utf8').slice(0, 4096)) as Partial<LockOwner>;
    if (!Number.isSafeInteger(o.pid) || typeof o.command !== 'string' || typeof o.started !== 'string' || typeof o.host !== 'string') return null;
    return { pid: o.pid!, startTicks: typeof o.startTicks === 'string' ? o.startTicks : null, started: o.started!, command: o.command!, host: o.host! };
  } catch {
    return null;
  }
}

const describe = (o: LockOwner) => `wgcam ${printable(o.command.slice(0, 40))} (PID ${o.pid}, started ${printable(o.started.slice(0, 40))})`;

/**
 * Takes the lock of `dir` (which must exist) for `command`; returns the release function
 * (also run when the process exits). `log` hears about a stale lock taken over. `name`: the
 * lock's file (the shards of one cam run each take their own, and write disjoint files).
 */
export function lockRunFolder(dir: string, command: string, log: (line: string) => void, name = LOCK_NAME): () => void {
  const path = join(dir, name);
  const me: LockOwner = { pid: process.pid, startTicks: processStartTicks(process.pid), started: new Date().toISOString(), command, host: hostname() };
  const mine = JSON.stringify(me);
  const tmp = temporaryPath(path);
  removeOnExit(tmp);
  try {
    writeFileSync(tmp, mine, { flag: 'wx' });
  } catch (e) {
    forgetOnExit(tmp);
    throw new RunLockError(`${dir}: cannot create the run lock (${(e as NodeJS.ErrnoException).code})`);
  }
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        linkSync(tmp, path); // atomic: fails if a lock exists
        const release = () => {
          if (readOwner(path)?.pid === me.pid) unlinkSync(path);
          process.off('exit', release);
        };
        process.on('exit', release);
        return release;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new RunLockError(`${dir}: cannot create the run lock (${(e as NodeJS.ErrnoException).code})`);
      }
      const owner = readOwner(path);
      if (owner && owner.host !== me.host) {
        throw new RunLockError(`${dir} is in use by ${describe(owner)} on host ${printable(owner.host.slice(0, 64))}; if that run is gone, remove ${path}`);
      }
      if (owner && sameProcessAlive(owner.pid, owner.startTicks)) {
        throw new RunLockError(`${dir} is in use by ${describe(owner)}; wait for it to finish, stop it, or pick another --out`);
      }
      // Stale: move it aside, and check that what was moved is the stale lock we read, not
      // one another process took over in between (then put that one back).
      const aside = temporaryPath(path);
      try {
        renameSync(path, aside);
      } catch {
        continue; // someone else moved it first: look again
      }
      const moved = readOwner(aside);
      if (JSON.stringify(moved) !== JSON.stringify(owner)) {
        try {
          linkSync(aside, path);
        } catch {
          // a third process holds the lock now; the next attempt reads it
        }
        unlinkSync(aside);
        continue;
      }
      unlinkSync(aside);
      log(owner ? `taking over the stale lock of ${describe(owner)}, which no longer runs` : `taking over an unreadable lock file ${path}`);
    }
    throw new RunLockError(`${dir}: could not take the run lock (another run keeps taking it)`);
  } finally {
    unlinkSync(tmp);
    forgetOnExit(tmp);
  }
}
