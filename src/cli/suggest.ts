/** "did you mean" for misspelt commands and options: the closest known name, if close enough. */

/** Edit distance with adjacent transpositions (optimal string alignment). */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/** The known name nearest to `typed` (a prefix of it counts as near), or null when none is plausible. */
export function closest(typed: string, known: readonly string[]): string | null {
  const prefixed = known.filter((k) => k.startsWith(typed) || typed.startsWith(k));
  if (prefixed.length === 1) return prefixed[0];
  let best: string | null = null;
  let bestDistance = Math.max(1, Math.floor(typed.length / 3));
  for (const k of known) {
    const dd = distance(typed, k);
    if (dd <= bestDistance && (best === null || dd < distance(typed, best))) [best, bestDistance] = [k, dd];
  }
  return best;
}
