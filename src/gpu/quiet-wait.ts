/**
 * Waiting for a CPU driver without taking a core from it.
 *
 * While any of its promises is pending, Dawn's Node binding re-queues a native "process
 * events" callback with the global setImmediate after every run: it spin-waits, and the
 * main thread stays busy for the whole wait. On a real GPU that costs a host core and
 * nothing else. On lavapipe the GPU *is* the host's cores and the spinning thread takes its
 * share of them: on a 2-core machine the driver's two workers got about 2/3 of the CPU, and
 * a 111x111 convolution ran in 300 instead of 185 ms.
 *
 * quietly(wait) runs `wait` with setImmediate passing native callbacks (Dawn's, never the
 * program's own JavaScript ones) to a 1 ms timer once the wait has lasted SPIN_MS, and puts
 * setImmediate back when no quiet wait is left. A short wait (a small readback) still ends
 * as soon as the GPU is done; a long one is polled once a millisecond, which costs no
 * measurable latency next to a CPU driver's kernels and gives the core back to them.
 */

import { promisify } from 'node:util';

const NATIVE = /\{\s*\[native code\]\s*\}\s*$/;
/** How long a wait polls as Dawn does before it turns to the timer. */
const SPIN_MS = 1;
const TICK_MS = 1;

let waiting = 0;
let since = 0;
let original: typeof setImmediate | null = null;

function isNative(fn: unknown): boolean {
  return typeof fn === 'function' && NATIVE.test(Function.prototype.toString.call(fn));
}

function patientSetImmediate(fn: (...args: unknown[]) => void, ...args: unknown[]): NodeJS.Immediate {
  if (isNative(fn) && performance.now() - since >= SPIN_MS) return setTimeout(fn, TICK_MS, ...args) as unknown as NodeJS.Immediate;
  return original!(fn, ...args);
}

/** Runs `wait` with Dawn's event polling on a 1 ms timer instead of a busy loop (after the first ms). */
export async function quietly<T>(wait: () => Promise<T>): Promise<T> {
  if (waiting++ === 0) {
    original = globalThis.setImmediate;
    since = performance.now();
    // util.promisify(setImmediate) keeps working during a wait.
    const patient = Object.assign(patientSetImmediate, { [promisify.custom]: (original as unknown as Record<symbol, unknown>)[promisify.custom] });
    globalThis.setImmediate = patient as unknown as typeof setImmediate;
  }
  try {
    return await wait();
  } finally {
    if (--waiting === 0) {
      globalThis.setImmediate = original!;
      original = null;
    }
  }
}
