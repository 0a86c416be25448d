// The ring against a model: random services, streams and runs write random
// chunks (short and long lines, CRLF, lines cut at the maximum, unfinished
// lines flushed, daemon events) into a small ring; whatever it keeps must be
// exactly the bytes written, each service's newest lines and nothing else,
// within its budget, and every reader's cursor and dropped count must agree
// with the model. SMINIT_FUZZ_RUNS=N tries N histories per property.

import t from 'tap';
import fc from 'fast-check';
import type { LogStream } from '../../lib/core/logline.js';
import { Capture } from '../../lib/logs/capture.js';
import { MIN_LOG_BYTES, MIN_LOG_LINES } from '../../lib/logs/limits.js';
import { type LogEntry, LogStore } from '../../lib/logs/ring.js';

const LONG = Number(process.env.SMINIT_FUZZ_RUNS ?? 0);
if (LONG > 0) t.setTimeout(0);

interface Line {
  readonly seq: number;
  readonly service: string;
  readonly stream: LogStream;
  readonly run: number;
  readonly bytes: Buffer;
}

/** A small deterministic generator, so a failing history is its seed. */
function prng(seed: number): (n: number) => number {
  let x = seed >>> 0 || 1;
  return (n) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
}

/** Lines as a reader of `max`-byte lines splits them, kept apart from the code under test. */
class ModelCapture {
  private carry = Buffer.alloc(0);
  constructor(
    private readonly max: number,
    private readonly out: (b: Buffer) => void,
  ) {}
  push(chunk: Buffer): void {
    let buf = Buffer.concat([this.carry, chunk]);
    for (;;) {
      const nl = buf.indexOf(10);
      const line = nl === -1 ? buf : buf.subarray(0, nl);
      if (line.length > this.max || (nl === -1 && line.length === this.max)) {
        this.out(Buffer.from(buf.subarray(0, this.max)));
        buf = buf.subarray(this.max);
        continue;
      }
      if (nl === -1) break;
      this.out(Buffer.from(line.at(-1) === 13 ? line.subarray(0, -1) : line));
      buf = buf.subarray(nl + 1);
    }
    this.carry = Buffer.from(buf);
  }
  flush(): void {
    if (this.carry.length > 0) this.out(this.carry);
    this.carry = Buffer.alloc(0);
  }
}

const SERVICES = ['a', 'b', 'c'];
const STREAMS: LogStream[] = ['stdout', 'stderr', 'test'];

/** A random chunk: lines of random lengths, some CRLF, some longer than `max`, maybe unfinished. */
function chunk(rand: (n: number) => number, max: number, long: boolean): Buffer {
  const parts: Buffer[] = [];
  const lines = 1 + rand(long ? 40 : 6);
  for (let i = 0; i < lines; i++) {
    const len = rand(8) === 0 ? rand(3 * max) : rand(long ? 300 : 20);
    const b = Buffer.alloc(len);
    for (let k = 0; k < len; k++) b[k] = 32 + rand(200);
    for (let k = 0; k < len; k++) if (b[k] === 10) b[k] = 11;
    parts.push(b, Buffer.from(rand(6) === 0 ? '\r\n' : '\n'));
  }
  if (rand(3) === 0) parts.pop();
  return Buffer.concat(parts);
}

/** Write a random history into `store`; returns every line written, by seq. */
function history(store: LogStore, seed: number, steps: number, long: boolean): Map<number, Line> {
  const rand = prng(seed);
  const max = 64 + rand(200);
  const written = new Map<number, Line>();
  const captures = new Map<string, [Capture, ModelCapture]>();
  // Lines the model split from what was just written: the store gave them
  // the seqs from its cursor before the write on, in the same order.
  const pending: Omit<Line, 'seq'>[] = [];
  const expect =
    (service: string, stream: LogStream, run: number) =>
    (bytes: Buffer): void => {
      pending.push({ service, stream, run, bytes });
    };
  const settle = (before: number): void => {
    for (let i = 0; i < pending.length; i++) {
      written.set(before + i, { seq: before + i, ...(pending[i] as Omit<Line, 'seq'>) });
    }
    pending.length = 0;
  };
  for (let step = 0; step < steps; step++) {
    const service = SERVICES[rand(SERVICES.length)] as string;
    const before = store.cursor;
    if (rand(10) === 0) {
      const text = `event ${step}${rand(4) === 0 ? '\nwith a newline inside' : ''}`;
      store.append(service, 'event', 1, text);
      pending.push({ service, stream: 'event', run: 1, bytes: Buffer.from(text) });
      settle(before);
      continue;
    }
    const stream = STREAMS[rand(STREAMS.length)] as LogStream;
    const run = 1 + rand(2);
    const key = `${service}/${stream}/${run}`;
    let pair = captures.get(key);
    if (!pair) {
      pair = [
        new Capture(store, service, stream, run, null, max),
        new ModelCapture(max, expect(service, stream, run)),
      ];
      captures.set(key, pair);
    }
    const [cap, model] = pair;
    if (rand(8) === 0) {
      cap.flush();
      model.flush();
    } else {
      const c = chunk(rand, max, long);
      cap.push(c);
      model.push(c);
    }
    settle(before);
  }
  return written;
}

const same = (e: LogEntry, l: Line | undefined): boolean =>
  l !== undefined &&
  e.service === l.service &&
  e.stream === l.stream &&
  e.run === l.run &&
  Buffer.isBuffer(e.data) &&
  e.data.equals(l.bytes);

/** Every reader's view of `store` agrees with the lines written. */
function agrees(store: LogStore, written: Map<number, Line>): string | null {
  const all = store.read({}).entries;
  const bySeq = new Map(all.map((e) => [e.seq, e]));
  for (let i = 0; i < all.length; i++) {
    const e = all[i] as LogEntry;
    if (i > 0 && e.seq <= (all[i - 1] as LogEntry).seq) return `seq not increasing at ${e.seq}`;
    if (!same(e, written.get(e.seq))) return `line ${e.seq} is not what was written`;
  }
  // Each service keeps its newest lines: once a line is kept, all its later ones are.
  const seen = new Set<string>();
  for (const [seq, l] of [...written].sort((x, y) => x[0] - y[0])) {
    if (bySeq.has(seq)) seen.add(l.service);
    else if (seen.has(l.service)) return `${l.service} lost ${seq} but kept an older line`;
  }
  const text = all.reduce((n, e) => n + (e.data as Buffer).length + 1, 0);
  if (text !== store.bytes) return `bytes ${store.bytes}, lines hold ${text}`;
  if (all.length !== store.size) return `size ${store.size}, read ${all.length}`;
  if (store.bytes > store.limits.maxBytes || store.size > store.limits.maxLines)
    return 'over budget';
  if (store.memory - store.bytes > store.limits.maxBytes) return 'bookkeeping over its share';
  return pages(store, all) ?? cursors(store, written, bySeq);
}

/** Reading in small pages gives what one read gives. */
function pages(store: LogStore, all: readonly LogEntry[]): string | null {
  const got: number[] = [];
  let page = store.read({}, 7);
  const end = page.end;
  for (;;) {
    got.push(...page.entries.map((e) => e.seq));
    if (page.next >= end) break;
    page = store.read({ from: page.next, until: end }, 7);
  }
  return got.join() === all.map((e) => e.seq).join() ? null : 'pages differ from one read';
}

/** From any cursor, with any stream and `n`: the kept lines, and the exact count of lost ones. */
function cursors(
  store: LogStore,
  written: Map<number, Line>,
  kept: Map<number, LogEntry>,
): string | null {
  const last = store.cursor;
  for (const from of [1, Math.floor(last / 3), Math.floor(last / 2), last - 5]) {
    for (const stream of [undefined, 'stdout', 'event'] as const) {
      const q = stream ? { from, stream } : { from };
      const r = store.read(q);
      const want = [...written.values()].filter(
        (l) => l.seq >= from && (stream === undefined || l.stream === stream),
      );
      const wantKept = want.filter((l) => kept.has(l.seq)).map((l) => l.seq);
      if (r.entries.map((e) => e.seq).join() !== wantKept.join())
        return `read from ${from} ${stream}`;
      if (r.dropped !== want.length - wantKept.length) {
        return `from ${from} ${stream ?? ''}: dropped ${r.dropped}, lost ${want.length - wantKept.length}`;
      }
    }
    const n = 1 + (from % 13);
    const tail = store.read({ n }).entries.map((e) => e.seq);
    const wantTail = [...kept.keys()].slice(-n);
    if (tail.join() !== wantTail.join()) return `last ${n}`;
  }
  return null;
}

function property(limits: ConstructorParameters<typeof LogStore>[0], steps: number, long: boolean) {
  return fc.property(fc.integer({ min: 1, max: 0x7fffffff }), (seed) => {
    const store = new LogStore(limits);
    const problem = agrees(store, history(store, seed, steps, long));
    if (problem !== null) throw new Error(`seed ${seed}: ${problem}`);
  });
}

t.test(
  'a ring bounded in lines keeps exactly what was written, and says what it lost',
  async (t) => {
    fc.assert(property({ maxLines: MIN_LOG_LINES }, 120, false), { numRuns: LONG || 60 });
    t.pass();
  },
);

t.test(
  'a ring bounded in bytes keeps exactly what was written, and says what it lost',
  async (t) => {
    fc.assert(property(MIN_LOG_BYTES, 400, true), { numRuns: LONG || 15 });
    t.pass();
  },
);
