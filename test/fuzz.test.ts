// Property-based tests of everything that reads untrusted text: the service
// file parser and validator, the JSON-RPC stream decoder (one value per line
// or back to back, in any chunking), zinit's text protocol and shell-style
// splitting. Seeded with the inputs the other tests use. The suite runs a
// short bounded pass; SMINIT_FUZZ_RUNS=N runs N inputs per property (and
// prints how many were tried) for a long hunt.

import t, { type Test } from 'tap';
import fc from 'fast-check';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseServiceObject, parseServiceText } from '../lib/config/parse.js';
import { yamlOf } from '../lib/config/zinit-files.js';
import { JsonSplitter, type Frame } from '../lib/transport/framing.js';
import { split } from '../lib/core/shellwords.js';
import { parseCommand } from '../lib/transport/text.js';
import type { Problem } from '../lib/core/definition.js';

const LONG = Number(process.env.SMINIT_FUZZ_RUNS ?? 0);
/** Inputs per property: a short pass in the suite, or what SMINIT_FUZZ_RUNS asks for. */
const runs = (suite: number): number => (LONG > 0 ? LONG : suite);
// A long run is bounded by its input count, not by the suite's timeout.
if (LONG > 0) t.setTimeout(0);

/** Run a property; fail the test with fast-check's report (seed, path, counterexample). */
function check<Ts extends [unknown, ...unknown[]]>(
  t: Test,
  what: string,
  property: fc.IProperty<Ts> | fc.IAsyncProperty<Ts>,
  numRuns: number,
  examples: Ts[] = [],
): void {
  const started = Date.now();
  const details = fc.check(property as fc.IProperty<Ts>, {
    numRuns,
    examples,
  }) as fc.RunDetails<Ts>;
  if (details.failed) {
    t.fail(`${what}\n${fc.defaultReportMessage(details) ?? ''}`);
    return;
  }
  t.pass(`${what}: ${details.numRuns} inputs`);
  if (LONG > 0) t.comment(`${what}: ${details.numRuns} inputs in ${Date.now() - started} ms`);
}

// --- seeds ------------------------------------------------------------------------

const here = dirname(fileURLToPath(import.meta.url));
const ETC = resolve(here, '../../etc/sminit');

/** Service files the other tests and the demo use. */
const SEED_FILES: string[] = [
  ...readdirSync(ETC)
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => readFileSync(join(ETC, f), 'utf8')),
  'exec: sleep 1\n',
  `exec: /bin/server --port "8 0" 'a b'
test: curl -f http://localhost/
restart: on-failure
after: [db, cache, db]
signal: {stop: int}
log: {file: /var/log/web.log, max_size: 512KiB, keep: 2}
env: {PORT: 8080, DEBUG: true, NAME: web}
dir: /srv/web
shutdown_timeout: 2.5
test_interval: 250ms
test_timeout: 3s
restart_delay: 50ms
restart_max_delay: 1m
stable_after: 1m30s
`,
  'exce: sleep 1\n',
  'cmd: sleep 1\nhealthcheck: true\noneshot: true\n',
  'exec: x\nexec: y\n',
  'exec: x\n---\nexec: y\n',
  'exec: "unterminated\n',
  'exec: [a, b]\nafter: web\n',
  'exec: x\nsignal:\n  stop: TREM\n',
  'a: &a [*a]\n',
  'x: &x {y: *x}\nexec: a\n',
  '- exec: a\n',
  '',
  '\ufeffexec: a\n',
  'exec: a\nenv: {"A\\0B": 1}\n',
  'exec: x\nrestart_delay: 2s\nrestart_max_delay: 1s\n',
  // Found here: js-yaml placed errors after a lone CR one line too far.
  '\r\0',
  'xec: a\nenv: {"A\\0B": 1}\ne\r',
];

/** JSON-RPC requests the protocol tests send. */
const SEED_REQUESTS: string[] = [
  '{"jsonrpc":"2.0","id":1,"method":"service_list"}',
  '{"jsonrpc":"2.0","id":"a","method":"service_status","params":["web"]}',
  '[{"jsonrpc":"2.0","id":1,"method":"service_list"},{"jsonrpc":"2.0","method":"x"}]',
  '{"jsonrpc":"2.0","id":2,"method":"service_status","params":{"name":"we\\"b}{"}}',
  '{"a":"\\\\"}',
  '[]',
  '{}',
];

/** Lines the text-protocol tests send. */
const SEED_LINES: string[] = [
  'list',
  'status web',
  "  start   'web'  ",
  'kill web SIGHUP',
  'kill web',
  'log',
  'log snapshot',
  'shutdown',
  'status',
  'status "unterminated',
  'kill a b c',
  '',
];

// --- service files --------------------------------------------------------------------

/** Every problem is placed in the text: line 0 (no place) or a real line, and a column on it. */
function placed(text: string, problems: readonly Problem[]): boolean {
  const lines = text.split('\n');
  return problems.every((p) => {
    if (p.line === 0) return p.column === 0;
    if (!Number.isInteger(p.line) || p.line < 1 || p.line > lines.length) return false;
    const width = lines[p.line - 1]?.length ?? 0;
    return Number.isInteger(p.column) && p.column >= 1 && p.column <= width + 1;
  });
}

function parsesSanely(text: string): boolean {
  const r = parseServiceText('web', 'web.yaml', text);
  if (r.ok) return r.def.exec.length > 0 && r.def.exec[0] !== '';
  return r.problems.length > 0 && placed(text, r.problems);
}

/** Characters that mean something to YAML, or to our own splitting. */
const YAML_BITS = [
  ':',
  ': ',
  '-',
  '- ',
  '[',
  ']',
  '{',
  '}',
  ',',
  '"',
  "'",
  '\\',
  '#',
  '&a',
  '*a',
  '!!str ',
  '!!binary ',
  '|',
  '>-',
  '%YAML 1.2\n',
  '---\n',
  '...\n',
  '? ',
  '\n',
  '\n  ',
  '\t',
  ' ',
  '\r\n',
  '\0',
  '\ufeff',
  '\u2028',
  'exec',
  'after',
  'env',
  'signal',
  'stop',
  'log',
  'null',
  '~',
  '1e400',
  '0x1F',
  '100ms',
  '-1',
  '<<',
];

type Edit =
  | { kind: 'insert'; at: number; text: string }
  | { kind: 'delete'; at: number; length: number }
  | { kind: 'dupLine'; line: number }
  | { kind: 'swapLines'; a: number; b: number };

const edit: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    text: fc.oneof(fc.constantFrom(...YAML_BITS), fc.string({ maxLength: 4, unit: 'binary' })),
  }),
  fc.record({
    kind: fc.constant('delete' as const),
    at: fc.nat(),
    length: fc.integer({ min: 1, max: 8 }),
  }),
  fc.record({ kind: fc.constant('dupLine' as const), line: fc.nat() }),
  fc.record({ kind: fc.constant('swapLines' as const), a: fc.nat(), b: fc.nat() }),
);

function applyEdit(text: string, e: Edit): string {
  switch (e.kind) {
    case 'insert': {
      const at = text.length === 0 ? 0 : e.at % (text.length + 1);
      return text.slice(0, at) + e.text + text.slice(at);
    }
    case 'delete': {
      if (text.length === 0) return text;
      const at = e.at % text.length;
      return text.slice(0, at) + text.slice(at + e.length);
    }
    case 'dupLine': {
      const lines = text.split('\n');
      const i = e.line % lines.length;
      lines.splice(i, 0, lines[i] ?? '');
      return lines.join('\n');
    }
    case 'swapLines': {
      const lines = text.split('\n');
      const a = e.a % lines.length;
      const b = e.b % lines.length;
      [lines[a], lines[b]] = [lines[b] ?? '', lines[a] ?? ''];
      return lines.join('\n');
    }
  }
}

const KEYS = [
  'exec',
  'cmd',
  'test',
  'healthcheck',
  'oneshot',
  'restart',
  'after',
  'signal',
  'log',
  'env',
  'dir',
  'shutdown_timeout',
  'test_interval',
  'test_timeout',
  'restart_delay',
  'restart_max_delay',
  'stable_after',
] as const;

/** Values of the shapes the keys take, and near misses. */
const plausible: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    'sleep 1',
    "sh -c 'exit 3'",
    'always',
    'on-failure',
    'never',
    'TERM',
    'sigkill',
    'ring',
    'stdout',
    'none',
    '100ms',
    '1m30s',
    '2 s',
    '',
    ' ',
    '"',
    'web',
    '-web',
    '/',
    true,
    false,
    null,
    0,
    -1,
    0.5,
    86_400,
    86_401,
    1e21,
    Number.MAX_SAFE_INTEGER,
  ),
  fc.string({ maxLength: 12 }),
  fc.double(),
  fc.array(fc.oneof(fc.constantFrom('db', 'web', 'a b', ''), fc.string({ maxLength: 6 })), {
    maxLength: 4,
  }),
  fc.record(
    { stop: fc.oneof(fc.constantFrom('TERM', 'int', 'NOPE'), fc.jsonValue({ maxDepth: 1 })) },
    { requiredKeys: [] },
  ),
  fc.record(
    {
      file: fc.oneof(fc.constant('/tmp/x.log'), fc.jsonValue({ maxDepth: 1 })),
      max_size: fc.oneof(fc.constantFrom('1MiB', '7b', '0', 'huge'), fc.jsonValue({ maxDepth: 1 })),
      keep: fc.oneof(fc.nat({ max: 10 }), fc.jsonValue({ maxDepth: 1 })),
    },
    { requiredKeys: [] },
  ),
  fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 3 }),
  fc.jsonValue({ maxDepth: 2 }),
);

const serviceObject: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  fc.dictionary(fc.constantFrom(...KEYS), plausible, { maxKeys: 8 }),
  fc
    .dictionary(fc.constantFrom(...KEYS), plausible, { maxKeys: 8 })
    .map((o) => ({ exec: 'sleep 1', ...o })),
  fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }),
);

t.test('service files: never throws, problems point into the text', async (t) => {
  check(
    t,
    'arbitrary text',
    fc.property(fc.string({ maxLength: 400, unit: 'binary' }), parsesSanely),
    runs(1500),
    SEED_FILES.map((s) => [s] as [string]),
  );
  check(
    t,
    'edited valid files',
    fc.property(
      fc.constantFrom(...SEED_FILES),
      fc.array(edit, { minLength: 1, maxLength: 6 }),
      (seed, edits) => parsesSanely(edits.reduce(applyEdit, seed)),
    ),
    runs(3000),
  );
  check(
    t,
    'YAML made of YAML',
    fc.property(fc.array(fc.constantFrom(...YAML_BITS), { maxLength: 40 }), (bits) =>
      parsesSanely(bits.join('')),
    ),
    runs(2000),
  );
});

t.test(
  'service objects: never throws; a valid object is the same service as its YAML',
  async (t) => {
    check(
      t,
      'arbitrary JSON through parseServiceObject',
      fc.property(fc.jsonValue(), (v) => {
        const r = parseServiceObject('web', '<rpc>', v);
        return r.ok || r.problems.length > 0;
      }),
      runs(1500),
    );
    check(
      t,
      'object and its YAML agree',
      fc.property(serviceObject, (o) => {
        const asObject = parseServiceObject('web', 'web.yaml', o);
        if (!asObject.ok) return asObject.problems.length > 0;
        // What service_create writes must load as the service it checked.
        const text = yamlOf(o);
        const asText = parseServiceText('web', 'web.yaml', text);
        if (!asText.ok)
          throw new Error(
            `valid object, invalid YAML:\n${text}\n${JSON.stringify(asText.problems)}`,
          );
        if (JSON.stringify(asText.def) !== JSON.stringify(asObject.def)) {
          throw new Error(
            `YAML reads differently:\n${text}\n${JSON.stringify(asText.def)}\n${JSON.stringify(asObject.def)}`,
          );
        }
        return true;
      }),
      runs(3000),
    );
  },
);

// --- the JSON-RPC stream decoder ---------------------------------------------------------

/** Cut `bytes` at the given points (taken modulo its length). */
function chunked(bytes: Buffer, cuts: readonly number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => (bytes.length === 0 ? 0 : c % bytes.length)))].sort(
    (a, b) => a - b,
  );
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of at) {
    out.push(bytes.subarray(prev, c));
    prev = c;
  }
  out.push(bytes.subarray(prev));
  return out;
}

function feed(s: JsonSplitter, chunks: readonly Buffer[]): Frame[] {
  return chunks.flatMap((c) => s.push(c));
}

/** A top-level value a client may send: an object or an array. */
const request: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(...SEED_REQUESTS),
  fc.json({ maxDepth: 4, stringUnit: 'binary' }).map((s) => `[${s}]`),
  fc
    .dictionary(fc.string({ unit: 'binary' }), fc.jsonValue({ maxDepth: 3, stringUnit: 'binary' }))
    .map((o) => JSON.stringify(o)),
  fc
    .jsonValue({ maxDepth: 3 })
    .map((v) => JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'x', params: [v] }, null, 1)),
);
const gap = fc.constantFrom('', '', '\n', ' ', '\r\n', '\t', '\n\n', ' \n ');

t.test('JSON stream decoder', async (t) => {
  check(
    t,
    'values joined by whitespace or nothing, in any chunks, come out whole and in order',
    fc.property(
      fc.array(fc.tuple(request, gap), { minLength: 1, maxLength: 6 }),
      fc.array(fc.nat(), { maxLength: 12 }),
      (values, cuts) => {
        const text = values.map(([v, g]) => v + g).join('');
        const frames = feed(new JsonSplitter(), chunked(Buffer.from(text), cuts));
        const want = values.map(([v]) => JSON.parse(v) as unknown);
        return (
          frames.length === want.length &&
          frames.every(
            (f, i) =>
              f.kind === 'json' && JSON.stringify(JSON.parse(f.text)) === JSON.stringify(want[i]),
          )
        );
      },
    ),
    runs(2000),
  );
  const bytes = fc.oneof(
    fc.uint8Array({ maxLength: 300 }),
    fc
      .array(
        fc.oneof(request, gap, fc.constantFrom('{', '}', '[', ']', '"', '\\', 'x', '\n', '\xff')),
        { maxLength: 12 },
      )
      .map((parts) => new Uint8Array(Buffer.from(parts.join('')))),
  );
  check(
    t,
    'any bytes in any chunks give the frames they give whole',
    fc.property(bytes, fc.array(fc.nat(), { maxLength: 12 }), (raw, cuts) => {
      const all = Buffer.from(raw);
      const whole = new JsonSplitter().push(all);
      const parts = feed(new JsonSplitter(), chunked(all, cuts));
      return JSON.stringify(parts) === JSON.stringify(whole);
    }),
    runs(2000),
  );
  check(
    t,
    'only RangeError, and only past the bound',
    fc.property(
      bytes,
      fc.array(fc.nat(), { maxLength: 12 }),
      fc.integer({ min: 1, max: 64 }),
      (raw, cuts, max) => {
        const s = new JsonSplitter(max);
        for (const c of chunked(Buffer.from(raw), cuts)) {
          let frames;
          try {
            frames = s.push(c);
          } catch (err) {
            // Refused: the value over the bound is dropped, nothing is held.
            if (!(err instanceof RangeError)) throw err;
            return s.pending === 0;
          }
          if (s.pending > max) return false;
          // A JSON frame is the bytes as sent (valid UTF-8), so its length is
          // the value's; garbage is decoded with replacement characters.
          for (const f of frames) {
            if (f.kind === 'json' && Buffer.byteLength(f.text) > max) return false;
          }
        }
        return true;
      },
    ),
    runs(2000),
  );
});

// --- zinit's text protocol and shell words --------------------------------------------------

/** Quote one word so that a POSIX shell (and split) reads it back unchanged. */
const quoting = fc.constantFrom('single', 'double', 'backslash');
function quote(word: string, how: 'single' | 'double' | 'backslash'): string {
  if (how === 'single') return `'${word.replaceAll("'", `'\\''`)}'`;
  if (how === 'double') return `"${word.replace(/["\\$`]/g, (c) => `\\${c}`)}"`;
  if (word === '') return "''";
  // A backslash before a newline is a line continuation, so newlines go in single quotes.
  return [...word].map((c) => (c === '\n' ? "'\n'" : /[\s'"\\]/.test(c) ? `\\${c}` : c)).join('');
}
const space = fc.constantFrom(' ', '  ', '\t', ' \t ', '\n', '\r\n');
const word = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.constantFrom('', "'", '"', '\\', '\\\n', '$HOME', ' a b '),
);

function joined(
  words: readonly (readonly [string, 'single' | 'double' | 'backslash', string])[],
): string {
  return words.map(([w, how, sp]) => quote(w, how) + sp).join('');
}

t.test('shell words and the text protocol', async (t) => {
  check(
    t,
    'split never throws',
    fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (s) => {
      const r = split(s);
      return r.ok ? r.argv.every((a) => typeof a === 'string') : r.error.length > 0;
    }),
    runs(3000),
    SEED_LINES.map((s) => [s] as [string]),
  );
  check(
    t,
    'split reads back any quoted argv',
    fc.property(
      fc.array(fc.tuple(word, quoting, space), { maxLength: 6 }),
      fc.constantFrom('', ' ', '\n'),
      (words, lead) => {
        const r = split(lead + joined(words));
        return r.ok && JSON.stringify(r.argv) === JSON.stringify(words.map(([w]) => w));
      },
    ),
    runs(3000),
  );
  check(
    t,
    'parseCommand never throws',
    fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (s) => {
      const c = parseCommand(s);
      return c.kind === 'call' || c.kind === 'log' || (c.kind === 'error' && c.message.length > 0);
    }),
    runs(3000),
    SEED_LINES.map((s) => [s] as [string]),
  );
  const verbs = ['status', 'start', 'stop', 'forget', 'monitor'] as const;
  check(
    t,
    'parseCommand passes quoted names and signals through unchanged',
    fc.property(
      fc.constantFrom(...verbs, 'kill'),
      fc.tuple(word, quoting, space),
      fc.option(fc.tuple(word, quoting, space), { nil: undefined }),
      quoting,
      (verb, name, signal, verbQuote) => {
        const line = `${quote(verb, verbQuote)} ${joined(signal ? [name, signal] : [name])}`;
        const c = parseCommand(line);
        if (verb === 'kill') {
          return (
            c.kind === 'call' &&
            c.method === 'service_kill' &&
            c.params.name === name[0] &&
            c.params.signal === (signal ? signal[0] : 'SIGTERM')
          );
        }
        if (signal) return c.kind === 'error';
        return c.kind === 'call' && c.params.name === name[0] && Object.keys(c.params).length === 1;
      },
    ),
    runs(3000),
  );
});
