/** Decodes and resizes image files with sharp on a pool of worker threads (one per core). */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { statSync } from 'node:fs';
import { whyNotAFile } from '../io/input-path.ts';
import { StopError, stopWords, type StopReason } from '../util/stop.ts';
import { EMPTY_FILE } from './decode-errors.mjs';

export interface DecodeResult {
  pixels?: Uint8Array;
  error?: string;
}

/** Why a path cannot be decoded without opening it (not a regular file, empty), or null. */
function precheck(path: string): string | null {
  // Opening a FIFO would block a worker for good; a dangling link or a loop has nothing to read.
  const why = whyNotAFile(path);
  if (why) return why;
  // Zero-byte files are the commonest breakage in real dumps; say so plainly.
  return statSync(path, { throwIfNoEntry: false })?.size === 0 ? EMPTY_FILE : null;
}

/**
 * Decodes every path to height x width x channels u8 pixels. Calls `onResult` as each
 * finishes (in any order) and `onProgress` with the count done. An aborted `signal` stops
 * the workers and rejects with a StopError.
 */
export async function decodeAll(
  paths: string[],
  size: { height: number; width: number; channels: number },
  onResult: (index: number, r: DecodeResult) => void,
  onProgress?: (done: number) => void,
  signal?: AbortSignal,
): Promise<void> {
  const threads = Math.max(1, Math.min(availableParallelism(), paths.length));
  const workers = Array.from({ length: threads }, () => new Worker(new URL('./decode-worker.mjs', import.meta.url)));
  let next = 0;
  let done = 0;
  let onAbort = () => {};
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(new StopError(signal!.reason as StopReason, `${stopWords(signal!.reason as StopReason)} while preparing images; nothing was saved`));
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
  });
  aborted.catch(() => {});
  try {
    const all = Promise.all(
      workers.map(
        (w) =>
          new Promise<void>((resolve, reject) => {
            const feed = () => {
              while (next < paths.length) {
                const id = next++;
                const problem = precheck(paths[id]);
                if (problem) {
                  onResult(id, { error: problem });
                  onProgress?.(++done);
                  continue;
                }
                w.postMessage({ id, path: paths[id], ...size });
                return;
              }
              resolve();
            };
            w.on('message', (m: { id: number; pixels?: Uint8Array; error?: string }) => {
              onResult(m.id, m);
              onProgress?.(++done);
              feed();
            });
            w.on('error', reject);
            feed();
          }),
      ),
    );
    all.catch(() => {}); // after a stop nobody awaits it
    await Promise.race([all, aborted]);
  } finally {
    signal?.removeEventListener('abort', onAbort);
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
