/**
 * Progress lines: one updating line on a terminal, plain periodic lines in a log. Lines may
 * quote file names and class names, so they are printed with control characters escaped.
 */
import { printable } from './terminal.ts';

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export class Progress {
  private lastPlain = 0;
  private open = false;

  constructor(
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly plainEveryMs = 15_000,
  ) {}

  get tty(): boolean {
    return Boolean(this.stream.isTTY);
  }

  /** A transient status line (overwritten on a terminal, throttled otherwise). */
  update(text: string): void {
    const line = printable(text);
    if (this.tty) {
      const width = this.stream.columns || 100;
      this.stream.write(`\r\x1b[2K${line.slice(0, width - 1)}`);
      this.open = true;
    } else if (Date.now() - this.lastPlain >= this.plainEveryMs) {
      this.lastPlain = Date.now();
      this.stream.write(line + '\n');
    }
  }

  /** A line that stays. */
  log(line: string): void {
    if (this.open) {
      this.stream.write('\r\x1b[2K');
      this.open = false;
    }
    process.stdout.write(printable(line) + '\n');
  }
}

export function bar(fraction: number, width = 20): string {
  const n = Math.max(0, Math.min(width, Math.round(fraction * width)));
  return `[${'#'.repeat(n)}${'.'.repeat(width - n)}]`;
}
