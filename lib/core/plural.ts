// Counts in sentences people read: `1 service`, `2 services`. One helper, so
// no message says `1 services` again. Pure.

/** `n` and the noun, singular for exactly one; `plural` for nouns that do not just take an s. */
export function count(n: number, noun: string, plural = `${noun}s`): string {
  return `${n} ${n === 1 ? noun : plural}`;
}
