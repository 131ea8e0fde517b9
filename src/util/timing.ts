/**
 * Sampling for the benches and the per-layer kernel choice: a sample records a step `runs` times and then waits once, so
 * that on a fast GPU the figure is the work itself rather than one submit-and-wait round
 * trip; on lavapipe a single run already outlasts the target and `runs` stays 1.
 */

/** Milliseconds per run of one sample: `runs` calls of `step`, then one `finish`. */
export async function sampleMs(runs: number, step: () => void, finish: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < runs; i++) step();
  await finish();
  return (performance.now() - t0) / runs;
}

/** The fewest runs (doubling from 1, at most `maxRuns`) whose sample lasts `targetMs`. Warm up first. */
export async function runsToFill(targetMs: number, maxRuns: number, step: () => void, finish: () => Promise<void>): Promise<number> {
  let runs = 1;
  while (runs < maxRuns && runs * (await sampleMs(runs, step, finish)) < targetMs) runs *= 2;
  return runs;
}

/** The middle value (the upper one of an even count); undefined for none. */
export const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** The median of `samples` samples of `runs` runs each, in ms per run. */
export async function medianMs(samples: number, runs: number, step: () => void, finish: () => Promise<void>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < samples; i++) times.push(await sampleMs(runs, step, finish));
  return median(times);
}
