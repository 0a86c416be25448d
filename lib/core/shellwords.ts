// Splitting a command line into argv the way a POSIX shell splits words:
// quotes and backslashes only. No shell runs a service, so nothing here
// expands variables, globs, `~` or command substitutions; `$` stays literal.

export type SplitResult = { ok: true; argv: string[] } | { ok: false; error: string };

/** Characters a backslash escapes inside double quotes (POSIX); before others it stays. */
const DQ_ESCAPABLE = new Set(['"', '\\', '$', '`', '\n']);

export function split(line: string): SplitResult {
  const argv: string[] = [];
  let word = '';
  // A word exists once anything but separators was seen: `''` is one empty argument.
  let inWord = false;
  let i = 0;
  while (i < line.length) {
    const c = line[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      if (inWord) argv.push(word);
      word = '';
      inWord = false;
      i++;
    } else if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) return { ok: false, error: `unterminated single quote at character ${i + 1}` };
      word += line.slice(i + 1, end);
      inWord = true;
      i = end + 1;
    } else if (c === '"') {
      const start = i;
      i++;
      for (;;) {
        if (i >= line.length) {
          return { ok: false, error: `unterminated double quote at character ${start + 1}` };
        }
        const d = line[i]!;
        if (d === '"') break;
        const next = line[i + 1];
        if (d === '\\' && next !== undefined && DQ_ESCAPABLE.has(next)) {
          // Backslash-newline is a line continuation: both vanish.
          if (next !== '\n') word += next;
          i += 2;
        } else {
          word += d;
          i++;
        }
      }
      inWord = true;
      i++;
    } else if (c === '\\') {
      const next = line[i + 1];
      if (next === undefined) return { ok: false, error: 'trailing backslash escapes nothing' };
      if (next !== '\n') {
        word += next;
        inWord = true;
      }
      i += 2;
    } else {
      word += c;
      inWord = true;
      i++;
    }
  }
  if (inWord) argv.push(word);
  return { ok: true, argv };
}
