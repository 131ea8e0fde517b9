/**
 * Dawn's Vulkan backend prints two notices to the process's stderr whenever an adapter is
 * requested on lavapipe ("Warning: maxDynamicUniformBuffersPerPipelineLayout artificially
 * reduced ..."): harmless, but users read them as errors. They come from native code straight
 * to file descriptor 2, past every JavaScript stream, and Dawn has no switch for them. So while
 * an adapter is requested (and only then), fd 2 points at /dev/null; real failures still reach
 * the user, as the JavaScript errors and the device-lost reasons wgcam reports itself.
 * WGCAM_VERBOSE=1 (`wgcam --verbose ...`) leaves stderr alone.
 *
 * How, without dup2 in Node: open /proc/self/fd/2 (a second handle on the same terminal, pipe or
 * file, in append mode so a log file is never truncated), close fd 2 and open /dev/null, which
 * takes the lowest free number, 2; afterwards the same dance puts the saved handle back on 2.
 * A stderr that cannot be reopened that way (a socket, as Node's own child_process pipes are)
 * is left alone, notices and all.
 */
import { closeSync, existsSync, openSync } from 'node:fs';

const STDERR = 2;

export async function withoutDawnNotices<T>(request: () => Promise<T>): Promise<T> {
  if (process.env.WGCAM_VERBOSE || process.platform !== 'linux' || !existsSync('/proc/self/fd/2')) return request();
  let saved: number;
  try {
    saved = openSync('/proc/self/fd/2', 'a');
  } catch {
    return request(); // stderr closed or not reopenable: leave it as it is
  }
  closeSync(STDERR);
  const devNull = openSync('/dev/null', 'a');
  try {
    return await request();
  } finally {
    if (devNull === STDERR) closeSync(STDERR);
    const restored = openSync(`/proc/self/fd/${saved}`, 'a');
    closeSync(saved);
    if (restored !== STDERR) throw new Error(`could not restore stderr (reopened as fd ${restored})`);
  }
}
