/** Whether another process still runs, told apart from a later process that got its PID. */
import { readFileSync } from 'node:fs';

export function pidAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // alive, someone else's
  }
}

/**
 * The kernel's start time of a process (clock ticks since boot, /proc/PID/stat field 22):
 * the same PID with another start time is another process. Null where /proc is absent.
 */
export function processStartTicks(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19] ?? null;
  } catch {
    return null;
  }
}

/** The process `pid` is the one that started at `ticks` and is still running. */
export function sameProcessAlive(pid: number, ticks: string | null): boolean {
  if (!pidAlive(pid)) return false;
  if (ticks === null) return true;
  const now = processStartTicks(pid);
  return now === null || now === ticks;
}
