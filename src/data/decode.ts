/** Decodes and resizes image files with sharp on a pool of worker threads (one per core). */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { statSync } from 'node:fs';
import { EMPTY_FILE } from './decode-errors.mjs';

export interface DecodeResult {
  pixels?: Uint8Array;
  error?: string;
}

/**
 * Decodes every path to height x width x channels u8 pixels. Calls `onResult` as each
 * finishes (in any order) and `onProgress` with the count done.
 */
export async function decodeAll(
  paths: string[],
  size: { height: number; width: number; channels: number },
  onResult: (index: number, r: DecodeResult) => void,
  onProgress?: (done: number) => void,
): Promise<void> {
  const threads = Math.max(1, Math.min(availableParallelism(), paths.length));
  const workers = Array.from({ length: threads }, () => new Worker(new URL('./decode-worker.mjs', import.meta.url)));
  let next = 0;
  let done = 0;
  try {
    await Promise.all(
      workers.map(
        (w) =>
          new Promise<void>((resolve, reject) => {
            const feed = () => {
              while (next < paths.length) {
                const id = next++;
                // Zero-byte files are the commonest breakage in real dumps; say so plainly.
                if (statSync(paths[id], { throwIfNoEntry: false })?.size === 0) {
                  onResult(id, { error: EMPTY_FILE });
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
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
