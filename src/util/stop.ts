/**
 * Stopping a long command cleanly. SIGINT and SIGTERM ask the work to stop at the next safe
 * point (training: after the current step, with a checkpoint; preparation: at once, with
 * its temporary files removed), and so does losing the parent process (`npm run` killed:
 * an orphan must not train on unseen). A second signal quits at once.
 *
 * Why duplicates are ignored for a moment: Ctrl-C in a terminal sends SIGINT to the whole
 * foreground process group, and `npm run` then relays its own copy to the child, so one
 * keypress arrives twice within a millisecond. Counting that as "Ctrl-C again" used to end
 * the run before it saved.
 */
import { unlinkSync } from 'node:fs';

export type StopReason = 'SIGINT' | 'SIGTERM' | 'parent exited';

/** Exit codes as a shell reports a process killed by the signal (128 + number). */
export const STOP_EXIT_CODE: Record<StopReason, number> = { SIGINT: 130, SIGTERM: 143, 'parent exited': 129 };

/** A second signal within this many ms of the first is taken for a relayed copy of it. */
const DUPLICATE_MS = 1000;
const PARENT_POLL_MS = 500;

export class StopError extends Error {
  constructor(readonly reason: StopReason, message: string) {
    super(message);
  }
}

export class StopRequest {
  private controller = new AbortController();
  reason: StopReason | null = null;

  get requested(): boolean {
    return this.reason !== null;
  }

  /** Aborted when a stop is requested (for work that can simply be abandoned). */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  request(reason: StopReason): void {
    if (this.reason) return;
    this.reason = reason;
    this.controller.abort(reason);
  }

}

/** A stop's cause, as the start of a sentence: "interrupted (SIGINT)". */
export function stopWords(reason: StopReason): string {
  return reason === 'parent exited' ? 'the parent process exited' : `interrupted (${reason})`;
}

/**
 * Catches SIGINT and SIGTERM and watches the parent process for the caller's work;
 * `announce` is told once what will happen. Returns the request and a function that
 * removes the handlers.
 */
export function catchStops(announce: (reason: StopReason) => void): { stop: StopRequest; release: () => void } {
  const stop = new StopRequest();
  let first = 0;
  const onSignal = (signal: 'SIGINT' | 'SIGTERM') => {
    if (!stop.requested) {
      first = Date.now();
      stop.request(signal);
      announce(signal);
    } else if (Date.now() - first > DUPLICATE_MS) {
      process.exit(STOP_EXIT_CODE[signal]);
    }
  };
  const onInt = () => onSignal('SIGINT');
  const onTerm = () => onSignal('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  const parent = process.ppid;
  const watch = setInterval(() => {
    if (process.ppid !== parent && !stop.requested) {
      stop.request('parent exited');
      announce('parent exited');
    }
  }, PARENT_POLL_MS);
  watch.unref();
  return {
    stop,
    release: () => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      clearInterval(watch);
    },
  };
}

const temporaries = new Set<string>();
let exitHookInstalled = false;

/** Files removed when the process exits, however it exits short of SIGKILL (a quit-at-once included). */
export function removeOnExit(path: string): void {
  if (!exitHookInstalled) {
    process.on('exit', removeTemporaries);
    exitHookInstalled = true;
  }
  temporaries.add(path);
}

export function forgetOnExit(path: string): void {
  temporaries.delete(path);
}

function removeTemporaries(): void {
  for (const p of temporaries) {
    try {
      unlinkSync(p);
    } catch {
      // already gone
    }
  }
  temporaries.clear();
}
