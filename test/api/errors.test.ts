// The error catalogue holds: every domain error and every protocol error is
// raised somewhere in lib/, every code is reachable from one of them, and the
// README's table of codes is exactly the one in lib/api/errors.ts.

import t from 'tap';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Errors, SminitError } from '../../lib/core/errors.js';
import { CODES, CODE_OF_KIND, Code, ProtocolErrors, codeOf } from '../../lib/api/errors.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sources(path);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [path] : [];
  });
}

const lib = sources(join(ROOT, 'lib'))
  .filter((f) => !f.endsWith('core/errors.ts') && !f.endsWith('api/errors.ts'))
  .map((f) => readFileSync(f, 'utf8'))
  .join('\n');

/** Each definition called with empty lists for every argument: its kind or code, never its text. */
const call = (fn: unknown): unknown => (fn as (...a: unknown[]) => unknown)([], [], []);

t.test('every domain error is raised somewhere in lib/', async (t) => {
  for (const name of Object.keys(Errors)) {
    t.match(lib, new RegExp(`Errors\\.${name}\\(`), `Errors.${name}`);
  }
});

t.test('every protocol error is answered somewhere in lib/', async (t) => {
  for (const name of Object.keys(ProtocolErrors)) {
    t.match(lib, new RegExp(`ProtocolErrors\\.${name}\\(`), `ProtocolErrors.${name}`);
  }
});

t.test('every code is reachable, and each kind has a code', async (t) => {
  const reached = new Set<number>();
  for (const fn of Object.values(Errors)) {
    const err = call(fn);
    t.ok(err instanceof SminitError);
    reached.add(codeOf(err as SminitError));
  }
  for (const fn of Object.values(ProtocolErrors)) reached.add((call(fn) as { code: number }).code);
  for (const [name, { code }] of Object.entries(CODES)) {
    t.ok(reached.has(code), `${name} (${code}) is raised by some definition`);
  }
  for (const [kind, name] of Object.entries(CODE_OF_KIND)) {
    t.ok(Object.hasOwn(CODES, name), `${kind} → ${name}`);
  }
  t.equal(new Set(Object.values(Code)).size, Object.keys(CODES).length, 'codes are distinct');
});

t.test("the README's table is the catalogue's", async (t) => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.split('### Error codes')[1]?.split('\n#')[0] ?? '';
  const rows = section
    .split('\n')
    .filter((l) => /^\|\s*-?\d+\s*\|/.test(l))
    .map((l) =>
      l
        .split('|')
        .slice(1, -1)
        .map((c) => c.trim()),
    );
  const expected = Object.entries(CODES).map(([name, { code, meaning }]) => [
    String(code),
    name,
    meaning,
  ]);
  t.same(rows, expected, 'code, name and meaning, in order');
});
