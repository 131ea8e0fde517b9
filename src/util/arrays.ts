/**
 * Reductions over arrays that may hold millions of values. `Math.max(...a)` and
 * `push(...a)` pass every element as an argument and overflow the stack past ~100,000.
 */

/** The largest value (-Infinity for none). */
export function maxOf(values: ArrayLike<number>): number {
  let max = -Infinity;
  for (let i = 0; i < values.length; i++) if (values[i] > max) max = values[i];
  return max;
}

/** The index of the first largest value (-1 for none). */
export function indexOfMax(values: ArrayLike<number>): number {
  let best = -1;
  for (let i = 0; i < values.length; i++) if (best < 0 || values[i] > values[best]) best = i;
  return best;
}

/** Appends `items` to `to` one by one; returns `to`. */
export function append<T>(to: T[], items: ArrayLike<T>): T[] {
  for (let i = 0; i < items.length; i++) to.push(items[i]);
  return to;
}

/**
 * `key` names an own entry of `table`. Option values and names from files are looked up with
 * this, never with `in` or a bare index: `constructor`, `toString` and `__proto__` are in
 * every plain object.
 */
export function isOwnKey<T extends object>(table: T, key: string): key is Extract<keyof T, string> {
  return Object.hasOwn(table, key);
}
