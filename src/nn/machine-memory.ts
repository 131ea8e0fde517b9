/** The memory cap a command holds its estimates to when the user names none (Node only). */
import { totalmem } from 'node:os';
import { fmtBytes } from '../gpu/pool.ts';
import type { MemoryLimit } from './memory.ts';

/** Half of this machine's memory, so a run leaves the rest to everyone else. */
export function defaultMemoryLimit(): MemoryLimit {
  return { bytes: Math.floor(totalmem() / 2), source: `half of this machine's ${fmtBytes(totalmem())}; raise it with --max-memory` };
}
