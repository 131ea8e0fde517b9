/**
 * The shell around every command: known failures (bad input, no GPU, a broken file)
 * become one line on stderr and exit code 1; usage mistakes exit 2; a stop by signal
 * exits as the shell reports that signal (130 for SIGINT, 143 for SIGTERM). Every line
 * is printed with control characters escaped (it may quote a file's contents). Set
 * WGCAM_DEBUG=1 for stack traces.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { parseByteSize, type MemoryLimit } from '../nn/memory.ts';
import { defaultMemoryLimit } from '../nn/machine-memory.ts';
import { STOP_EXIT_CODE, StopError } from '../util/stop.ts';
import { printable } from '../util/terminal.ts';
import { closest } from './suggest.ts';

export class UsageError extends Error {}

export function parse<T extends ParseArgsConfig['options']>(argv: string[], options: T, help: string) {
  try {
    const r = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
    if ((r.values as Record<string, unknown>).help) {
      process.stdout.write(help.trimStart());
      process.exit(0);
    }
    return r;
  } catch (e) {
    throw new UsageError(`${usageProblem(e as Error & { code?: string }, Object.keys(options ?? {}))} (see --help)`);
  }
}

/** parseArgs' complaint in a user's words, with the nearest known option for a misspelt one. */
function usageProblem(e: Error & { code?: string }, known: string[]): string {
  const option = /'(-{1,2}[^' <]+)/.exec(e.message)?.[1] ?? '';
  if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const guess = option.startsWith('--') ? closest(option.slice(2), [...known, 'help']) : null;
    return `unknown option ${option}${guess ? `; did you mean --${guess}?` : ''}`;
  }
  if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    if (/does not take an argument/.test(e.message)) return `${option} takes no value`;
    if (/ambiguous/.test(e.message)) return `${option} needs a value (to pass one that starts with a dash, write ${option}=-VALUE)`;
    return `${option} needs a value`;
  }
  return e.message.split('\n')[0];
}

export function num(name: string, v: string | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || v.trim() === '') throw new UsageError(`--${name} ${v}: not a number`);
  return n;
}

export function int(name: string, v: string | undefined, fallback: number, min = 1): number {
  const n = num(name, v, fallback);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} ${v}: must be an integer >= ${min}`);
  return n;
}

/** An option the user may leave out (undefined then), checked like `num` / `int` when given. */
export const optionalNum = (name: string, v: string | undefined) => (v === undefined ? undefined : num(name, v, 0));
export const optionalInt = (name: string, v: string | undefined, min = 1) => (v === undefined ? undefined : int(name, v, 0, min));

/** --max-memory SIZE (or WGCAM_MAX_MEMORY): the memory cap a command's estimate is held to. */
export function memoryLimit(v: string | undefined): MemoryLimit {
  const text = v ?? process.env.WGCAM_MAX_MEMORY;
  if (text === undefined) return defaultMemoryLimit();
  const bytes = parseByteSize(text);
  if (bytes === null) throw new UsageError(`${v === undefined ? 'WGCAM_MAX_MEMORY' : '--max-memory'} ${text}: not a size (e.g. 8G, 512M)`);
  return { bytes, source: v === undefined ? 'WGCAM_MAX_MEMORY' : '--max-memory' };
}

/** Ends the process for a failure: one printable line on stderr, the exit code its kind calls for. */
export function fail(e: unknown): never {
  const message = e instanceof Error ? e.message : String(e);
  process.stderr.write(`\nwgcam: ${printable(message)}\n`);
  if (process.env.WGCAM_DEBUG && e instanceof Error) process.stderr.write(`${e.stack}\n`);
  process.exit(e instanceof UsageError ? 2 : e instanceof StopError ? STOP_EXIT_CODE[e.reason] : 1);
}

export function run(main: () => Promise<number | void>): void {
  main().then((code) => process.exit(code ?? 0), fail);
}
