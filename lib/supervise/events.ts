// The event log: every event the supervisor records, given a daemon-wide
// cursor that grows by one, kept in a bounded history, read in pages and
// followed from a cursor with nothing lost or repeated (what the history no
// longer holds is counted). Owns no processes and no sockets: supervision
// records, the API renders and delivers. No timer unless a follower is
// catching up or paused.

import type { EventBody, EventKind, EventQuery } from '../core/events.js';

/** One recorded event: its cursor, when (epoch ms), what. */
export interface EventRecord {
  readonly cursor: number;
  readonly at: number;
  readonly body: EventBody;
}

/** What a follow delivers to. */
export interface EventSink {
  event(record: EventRecord): void;
  /** Events after the follower's cursor the history no longer held when it got there. */
  lost(count: number): void;
  /** True while the reader cannot take more: delivery pauses, events wait in the history. */
  congested?(): boolean;
}

/** Where a worker or the manager records an event. */
export type EventRecorder = (body: EventBody) => void;

export const DEFAULT_EVENT_HISTORY = 10_000;
/** More is no history but a memory leak (a record costs a few hundred bytes). */
export const MAX_EVENT_HISTORY = 1_000_000;
/** Events a catching-up follower is sent per turn of the event loop. */
const FOLLOW_BATCH = 1000;
/** While a follower is paused, how often to look whether its reader has drained. */
const CONGESTED_POLL_MS = 10;

interface Filter {
  readonly names: ReadonlySet<string> | null;
  readonly kinds: ReadonlySet<EventKind> | null;
  readonly since: number;
}

function filterOf(q: EventQuery, sinceMs: number): Filter {
  const set = <T>(xs: readonly T[] | undefined): ReadonlySet<T> | null =>
    xs && xs.length > 0 ? new Set(xs) : null;
  return { names: set(q.names), kinds: set(q.kinds), since: sinceMs };
}

function passes(f: Filter, r: EventRecord): boolean {
  const { service, kind } = r.body;
  if (f.kinds !== null && !f.kinds.has(kind)) return false;
  if (f.names !== null && service !== null && !f.names.has(service)) return false;
  return r.at >= f.since;
}

class Follow {
  /** The next cursor to deliver. */
  next: number;
  live = false;
  closed = false;
  timer: NodeJS.Timeout | null = null;
  immediate: NodeJS.Immediate | null = null;
  constructor(
    readonly filter: Filter,
    start: number,
    readonly sink: EventSink,
  ) {
    this.next = start;
  }
}

/**
 * A reader's failure must not become the recorder's: events are recorded
 * in the middle of a worker's state change. It is reported as a stray
 * exception (which the daemon contains and logs) once the change is done.
 */
function deliver(s: Follow, r: EventRecord): void {
  try {
    s.sink.event(r);
  } catch (err) {
    queueMicrotask(() => {
      throw err;
    });
  }
}

export class EventLog {
  private readonly ring: (EventRecord | undefined)[];
  /** Index in `ring` of the oldest record kept. */
  private head = 0;
  private count = 0;
  private last = 0;
  private readonly live = new Set<Follow>();

  constructor(readonly capacity: number = DEFAULT_EVENT_HISTORY) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new RangeError('capacity < 1');
    this.ring = new Array<EventRecord | undefined>(capacity);
  }

  /** The newest cursor given (0 before the first event). */
  get cursor(): number {
    return this.last;
  }

  /** The oldest cursor the history still holds (cursor + 1 when it is empty). */
  get oldest(): number {
    return this.last - this.count + 1;
  }

  record(body: EventBody, at = Date.now()): EventRecord {
    const r: EventRecord = { cursor: ++this.last, at, body };
    const slot = (this.head + this.count) % this.capacity;
    this.ring[slot] = r;
    if (this.count < this.capacity) this.count++;
    else this.head = (this.head + 1) % this.capacity;
    if (this.live.size > 0) this.push(r);
    return r;
  }

  /** The record with this cursor, if the history still holds it. */
  private at(cursor: number): EventRecord | undefined {
    const i = cursor - this.oldest;
    if (i < 0 || i >= this.count) return undefined;
    return this.ring[(this.head + i) % this.capacity];
  }

  /**
   * Matching events after `q.after` (or the last `q.n` of them), oldest
   * first, at most `max`; `next` is the cursor to read on after.
   */
  read(
    q: EventQuery,
    sinceMs: number,
    max = Infinity,
  ): { records: EventRecord[]; next: number; end: number; lost: number } {
    const f = filterOf(q, sinceMs);
    const end = this.last;
    const after = q.after ?? 0;
    const from = Math.max(after + 1, this.oldest, q.n !== undefined ? this.lastNStart(f, q.n) : 0);
    const records: EventRecord[] = [];
    let next = Math.max(after, from - 1);
    for (let c = from; c <= end && records.length < max; c++) {
      const r = this.at(c);
      if (r && passes(f, r)) records.push(r);
      next = c;
    }
    const lost = q.after !== undefined ? Math.max(0, this.oldest - (after + 1)) : 0;
    return { records, next, end, lost };
  }

  /** The cursor at which the last `n` matching events begin. */
  private lastNStart(f: Filter, n: number): number {
    if (n <= 0) return this.last + 1;
    let have = 0;
    for (let c = this.last; c >= this.oldest; c--) {
      const r = this.at(c);
      if (r && passes(f, r) && ++have === n) return c;
    }
    return this.oldest;
  }

  /**
   * Deliver the matching events after `q.after` (or the last `q.n`, or the
   * whole history without either; `n: 0` is "from now"), then every new one,
   * in cursor order: nothing lost unreported, nothing twice. Returns the
   * unsubscribe.
   */
  follow(q: EventQuery, sinceMs: number, sink: EventSink): () => void {
    const f = filterOf(q, sinceMs);
    const start =
      q.after !== undefined
        ? q.after + 1
        : q.n !== undefined
          ? this.lastNStart(f, q.n)
          : this.oldest;
    const s = new Follow(f, start, sink);
    if (start > this.last) this.goLive(s);
    else this.schedule(s, 0);
    return () => {
      s.closed = true;
      if (s.timer) clearTimeout(s.timer);
      if (s.immediate) clearImmediate(s.immediate);
      s.timer = null;
      s.immediate = null;
      this.live.delete(s);
    };
  }

  private goLive(s: Follow): void {
    s.live = true;
    this.live.add(s);
  }

  private push(r: EventRecord): void {
    for (const s of this.live) {
      if (s.sink.congested?.()) {
        // Stop pushing; the events wait in the history and follow once it drains.
        this.live.delete(s);
        s.live = false;
        s.next = r.cursor;
        this.schedule(s, CONGESTED_POLL_MS);
        continue;
      }
      s.next = r.cursor + 1;
      if (passes(s.filter, r)) deliver(s, r);
    }
  }

  private schedule(s: Follow, ms: number): void {
    if (s.timer || s.immediate || s.closed) return;
    s.timer = setTimeout(() => {
      s.timer = null;
      this.catchUp(s);
    }, ms);
  }

  private catchUp(s: Follow): void {
    if (s.closed) return;
    if (s.sink.congested?.()) {
      this.schedule(s, CONGESTED_POLL_MS);
      return;
    }
    if (s.next < this.oldest) {
      s.sink.lost(this.oldest - s.next);
      s.next = this.oldest;
    }
    const stop = Math.min(this.last, s.next + FOLLOW_BATCH - 1);
    for (; s.next <= stop && !s.closed; s.next++) {
      const r = this.at(s.next);
      if (r && passes(s.filter, r)) deliver(s, r);
    }
    if (s.closed) return;
    if (s.next > this.last) {
      // Nothing can be recorded between the loop and here: the switch is seamless.
      this.goLive(s);
      return;
    }
    s.immediate = setImmediate(() => {
      s.immediate = null;
      this.catchUp(s);
    });
  }
}
