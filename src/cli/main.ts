/**
 * The shell around every command: known failures (bad input, no GPU, a broken file)
 * become one line on stderr and exit code 1; usage mistakes exit 2. Set WGCAM_DEBUG=1
 * for stack traces.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

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
    throw new UsageError(`${(e as Error).message.split('\n')[0]} (see --help)`);
  }
}

export function num(name: string, v: string | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new UsageError(`--${name} ${v}: not a number`);
  return n;
}

export function int(name: string, v: string | undefined, fallback: number, min = 1): number {
  const n = num(name, v, fallback);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} ${v}: must be an integer >= ${min}`);
  return n;
}

export function run(main: () => Promise<number | void>): void {
  main().then(
    (code) => process.exit(code ?? 0),
    (e: Error) => {
      process.stderr.write(`\nwgcam: ${e.message}\n`);
      if (process.env.WGCAM_DEBUG) process.stderr.write(`${e.stack}\n`);
      process.exit(e instanceof UsageError ? 2 : 1);
    },
  );
}
