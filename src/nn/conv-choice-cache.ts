/**
 * The measured convolution choices of this machine, kept in the user's cache folder: a choice
 * is timed once per adapter, kernel, layer shape and batch, then reused by every later run.
 * Timings on a shared or CPU-bound machine swing by 10% and more, so timing again at each run
 * could pick another variant and the same command with the same seed would end with other
 * weights. `--conv-kernels remeasure` times them again (after a driver update, say).
 *
 * The file is the user's, but read as untrusted: anything that is not a choice this device
 * can run is ignored (and timed again), never trusted.
 */
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Gpu } from '../gpu/runtime.ts';
import { writeFileAtomic } from '../io/atomic.ts';
import { CHOOSABLE_KERNELS } from '../kernels/conv-choice-key.ts';
import { isSupported } from '../kernels/kernel.ts';
import { VERSION } from '../version.ts';
import type { MeasuredChoice } from './conv-choice.ts';

/** One stored choice. */
interface Entry {
  adapter: string;
  kernel: string;
  shape: string;
  batch: number;
  variant: string;
  ms: Record<string, number>;
}

/** Entries kept at most (the oldest go first); a file larger than this many bytes is not read. */
const MAX_ENTRIES = 5000;
const MAX_BYTES = 4 * 2 ** 20;

/** `$WGCAM_CACHE_DIR`, else `$XDG_CACHE_HOME/wgcam`, else `~/.cache/wgcam`. */
export function cacheFolder(): string {
  return process.env.WGCAM_CACHE_DIR || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'wgcam');
}

export const choiceFile = (): string => join(cacheFolder(), 'conv-choices.json');

/** What a choice depends on besides the shape: the adapter and driver, its subgroups, wgcam's kernels. */
export const adapterKey = (gpu: Gpu): string => `${gpu.adapterName} | subgroups ${gpu.subgroupMinSize} | wgcam ${VERSION}`;

const keyOf = (e: Pick<Entry, 'adapter' | 'kernel' | 'shape' | 'batch'>) => `${e.adapter}\n${e.kernel}\n${e.shape}\n${e.batch}`;

function isEntry(x: unknown): x is Entry {
  if (!x || typeof x !== 'object') return false;
  const e = x as Record<string, unknown>;
  return (
    typeof e.adapter === 'string' &&
    typeof e.kernel === 'string' &&
    typeof e.shape === 'string' &&
    Number.isSafeInteger(e.batch) &&
    typeof e.variant === 'string' &&
    !!e.ms &&
    typeof e.ms === 'object' &&
    Object.values(e.ms).every((v) => typeof v === 'number')
  );
}

/** The stored entries, in file order; a missing, unreadable or malformed file holds none. */
function readEntries(path: string): Entry[] {
  try {
    if (!statSync(path).isFile() || statSync(path).size > MAX_BYTES) return [];
    const doc = JSON.parse(readFileSync(path, 'utf8')) as { entries?: unknown };
    return Array.isArray(doc?.entries) ? doc.entries.filter(isEntry) : [];
  } catch {
    return [];
  }
}

export class ConvChoiceCache {
  private readonly entries = new Map<string, Entry>();

  constructor(readonly path: string = choiceFile()) {
    for (const e of readEntries(path)) this.entries.set(keyOf(e), e);
  }

  /** The stored choice for a convolution on `gpu`, if it names a variant of that kernel this device runs. */
  lookup(gpu: Gpu, kernel: string, shape: string, batch: number): Pick<MeasuredChoice, 'variant' | 'ms'> | undefined {
    const e = this.entries.get(keyOf({ adapter: adapterKey(gpu), kernel, shape, batch }));
    const v = e && CHOOSABLE_KERNELS.find((k) => k.name === kernel)?.variants.find((x) => x.name === e.variant);
    return e && v && isSupported(v, gpu) ? { variant: e.variant, ms: { ...e.ms } } : undefined;
  }

  /** Stores `choices` (measured at `batch` on `gpu`), replacing older ones of the same key; throws if the file cannot be written. */
  store(gpu: Gpu, batch: number, choices: readonly MeasuredChoice[]): void {
    const adapter = adapterKey(gpu);
    for (const c of choices) {
      const e: Entry = { adapter, kernel: c.kernel, shape: c.shape, batch, variant: c.variant, ms: c.ms };
      this.entries.delete(keyOf(e)); // re-inserted last: the newest are kept when the file is trimmed
      this.entries.set(keyOf(e), e);
    }
    const kept = [...this.entries.values()].slice(-MAX_ENTRIES);
    mkdirSync(dirname(this.path), { recursive: true });
    writeFileAtomic(this.path, JSON.stringify({ about: 'wgcam: measured convolution choices; delete this file or train with --conv-kernels remeasure to time them again', entries: kept }, null, 1) + '\n');
  }
}
