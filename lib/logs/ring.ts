// The daemon's log: every line of every service (stdout, stderr, health test
// output, and the daemon's own lifecycle events about it) in one bounded ring
// with a daemon-wide sequence number. Reading and following share that number
// as a cursor, so a snapshot followed by a follow loses and repeats nothing.
// Owns no processes, files or sockets: callers feed it bytes and take lines out.
//
// Storage is per service (service-log.ts): a queue of packed segments
// (segment.ts), the last one growing as chunks come, so a line costs its
// bytes, its newline and two bytes of offset, and a chunk nothing more when
// it continues the one before (12 bytes when it does not). The ring's size is
// its text; what it keeps besides (offsets, run records, room to grow) may
// take as much again at most, so even empty lines cannot make it grow past
// twice its size. When either is over, lines go from the head of the service
// holding the most of it, so a chatty service evicts its own history before
// anyone else's. Readers merge the queues by sequence number, a run at a time.
//
// Capture (capture.ts) feeds it; rendering (render.ts) and sizes (limits.ts)
// are beside it.

import type { LogQuery, LogStream } from '../core/logline.js';
import { DEFAULT_LOG_BYTES, type LogLimits, MIN_LOG_BYTES, MIN_LOG_LINES } from './limits.js';
import { SegmentPool, classOf } from './pool.js';
import { MAX_SEGMENT_BYTES, type Segment, runOf, streamOf, tagOf } from './segment.js';
import { Cursor, type Piece, ServiceLog } from './service-log.js';

export interface LogEntry {
  readonly seq: number;
  /**
   * Epoch ms with sub-millisecond precision: when the daemon read the line
   * (lines of one service read within one millisecond share the first one's).
   */
  readonly time: number;
  readonly service: string;
  readonly stream: LogStream;
  readonly run: number;
  /** Bytes as the service wrote them (decoded only for display), or daemon text. */
  readonly data: Buffer | string;
}

export type Follower = (entry: LogEntry) => void;

/** What a follow delivers to. Only `line` is required. */
export interface FollowSink {
  line(entry: LogEntry): void;
  /**
   * When present, lines come here instead of `line`, several at a time: a
   * chunk's lines as they are read, a batch a turn while catching up. The
   * entries may be shared with other followers: read them, change nothing.
   */
  lines?(entries: readonly LogEntry[]): void;
  /** Lines this follower will never see: evicted before it got to them. */
  dropped?(count: number): void;
  /** True while the reader cannot take more: delivery pauses and lines wait in the ring. */
  congested?(): boolean;
}

/**
 * What the ring may keep besides its text, as a share of its size. Lines of
 * a few bytes each, in chunks of one line, are the only ones that come near.
 */
const META_SHARE = 1;
/** Lines a catching-up follower is sent per turn of the event loop. */
const FOLLOW_BATCH = 2000;
/** While a follower is congested, how often to look whether it has drained. */
const CONGESTED_POLL_MS = 10;

function now(): number {
  return performance.timeOrigin + performance.now();
}

/** A query with its parts parsed once. */
interface Selection {
  readonly names: ReadonlySet<string> | null;
  readonly streams: ReadonlySet<LogStream> | null;
  readonly since: number;
}

/** Epoch ms from a query's `since` (epoch ms, or a date string); NaN when unreadable. */
export function sinceMs(since: number | string | undefined): number {
  if (since === undefined) return -Infinity;
  if (typeof since === 'number') return since;
  return /^\d+(\.\d+)?$/.test(since.trim()) ? Number(since) : Date.parse(since);
}

function select(q: LogQuery): Selection {
  const since = sinceMs(q.since);
  return {
    names: q.names && q.names.length > 0 ? new Set(q.names) : null,
    streams: streamsOf(q.stream),
    since: Number.isNaN(since) ? -Infinity : since,
  };
}

/** A stream or a list of them; none (or an empty list) means every stream. */
function streamsOf(stream: LogQuery['stream']): ReadonlySet<LogStream> | null {
  if (stream === undefined) return null;
  if (typeof stream === 'string') return new Set([stream]);
  return stream.length > 0 ? new Set(stream) : null;
}

function matches(sel: Selection, tag: number, time: number): boolean {
  return (sel.streams === null || sel.streams.has(streamOf(tag))) && time >= sel.since;
}

/** Line i of segment `seg`, which run r holds, as readers see it. */
function entryAt(seg: Segment, r: number, i: number): LogEntry {
  const tag = seg.tag(r);
  return {
    seq: seg.seq(r, i),
    time: seg.time(r),
    service: seg.service,
    stream: streamOf(tag),
    run: runOf(tag),
    data: seg.line(i),
  };
}

/** Lines [from, to) of run r of a segment: a contiguous range of seqs. */
type Visit = (seg: Segment, r: number, from: number, to: number) => void;

class Subscription {
  live = false;
  closed = false;
  timer: NodeJS.Timeout | null = null;
  immediate: NodeJS.Immediate | null = null;
  /** Per service: its evicted total already accounted for. */
  readonly seen = new Map<string, number>();
  constructor(
    readonly sel: Selection,
    public next: number,
    readonly sink: FollowSink,
  ) {}

  deliver(entries: readonly LogEntry[]): void {
    if (entries.length === 0) return;
    if (this.sink.lines) this.sink.lines(entries);
    else for (const e of entries) this.sink.line(e);
  }
}

export class LogStore {
  private readonly services = new Map<string, ServiceLog>();
  private readonly live = new Set<Subscription>();
  private readonly subs = new Set<Subscription>();
  private totalBytes = 0;
  private totalLines = 0;
  private totalMemory = 0;
  private nextSeq = 1;
  readonly limits: LogLimits;
  private readonly maxMeta: number;
  private readonly pool: SegmentPool;

  constructor(limits: number | Partial<LogLimits> = DEFAULT_LOG_BYTES) {
    const l = typeof limits === 'number' ? { maxBytes: limits } : limits;
    this.limits = {
      maxBytes: Math.max(MIN_LOG_BYTES, l.maxBytes ?? DEFAULT_LOG_BYTES),
      maxLines: Math.max(MIN_LOG_LINES, l.maxLines ?? Infinity),
    };
    this.maxMeta = this.limits.maxBytes * META_SHARE;
    // Small rings get small segments, so one segment is never most of the ring.
    const size = Math.min(MAX_SEGMENT_BYTES, Math.max(4096, classOf(this.limits.maxBytes / 64)));
    this.pool = new SegmentPool(size, Math.max(2 * size, this.limits.maxBytes / 32));
  }

  /** Lines held. */
  get size(): number {
    return this.totalLines;
  }

  /** Text held, as the budget counts it: each line's bytes and its newline. */
  get bytes(): number {
    return this.totalBytes;
  }

  /** Memory held for lines: their text and everything kept besides. */
  get memory(): number {
    return this.totalMemory + this.pool.memory;
  }

  /** Lines and bytes one service holds. */
  usage(service: string): { lines: number; bytes: number } {
    const s = this.services.get(service);
    return { lines: s?.lines ?? 0, bytes: s?.bytes ?? 0 };
  }

  /** The seq the next line will get: a cursor meaning "from now on". */
  get cursor(): number {
    return this.nextSeq;
  }

  get followerCount(): number {
    return this.subs.size;
  }

  /** One line (a daemon event, or anything not read from a pipe). */
  append(service: string, stream: LogStream, run: number, data: Buffer | string): void {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    this.appendLines(service, stream, run, buf, Uint32Array.of(0, buf.length), 1);
  }

  /**
   * Lines read together (one chunk): line i is buf[offs[2i], offs[2i+1]),
   * and when `plain`, each is followed in buf by just a newline. They are
   * copied in, so the caller may reuse `buf` and `offs` at once. Returns the
   * time they were stamped with.
   */
  appendLines(
    service: string,
    stream: LogStream,
    run: number,
    buf: Buffer,
    offs: Uint32Array,
    count: number,
    plain = false,
  ): number {
    let log = this.services.get(service);
    if (!log) {
      log = new ServiceLog(service, this.pool);
      this.services.set(service, log);
    }
    const seq = this.nextSeq;
    this.nextSeq += count;
    const pieces: Piece[] | null = this.live.size > 0 ? [] : null;
    const { bytes, lines, memory } = log;
    const tag = tagOf(stream, run);
    const time = log.append({ src: buf, offs, plain }, count, seq, now(), tag, pieces);
    this.totalMemory += log.memory - memory;
    this.totalBytes += log.bytes - bytes;
    this.totalLines += log.lines - lines;
    // Followers first: a line evicted at once (a tiny ring) still reaches live readers.
    if (pieces) this.notify(service, tag, time, seq, count, pieces);
    this.evict();
    return time;
  }

  private notify(
    service: string,
    tag: number,
    time: number,
    seq: number,
    count: number,
    pieces: readonly Piece[],
  ): void {
    let entries: LogEntry[] | null = null;
    for (const sub of this.live) {
      const { sel } = sub;
      if (sel.names !== null && !sel.names.has(service)) continue;
      if (!matches(sel, tag, time)) continue;
      if (sub.sink.congested?.()) {
        // Stop pushing; the lines wait in the ring and are sent when it drains.
        this.live.delete(sub);
        sub.live = false;
        sub.next = seq;
        this.schedule(sub, CONGESTED_POLL_MS);
        continue;
      }
      if (entries === null) {
        entries = [];
        for (const { seg, from, to } of pieces) {
          for (let i = from; i < to; i++) entries.push(entryAt(seg, seg.runCount - 1, i));
        }
      }
      sub.deliver(entries);
      sub.next = seq + count;
    }
  }

  private evict(): void {
    const { maxBytes, maxLines } = this.limits;
    for (;;) {
      const overBytes = this.totalBytes > maxBytes;
      const overLines = this.totalLines > maxLines;
      const overMeta = this.memory - this.totalBytes > this.maxMeta;
      if (!overBytes && !overLines && !overMeta) return;
      const held = (s: ServiceLog): number => (overBytes ? s.bytes : overLines ? s.lines : s.meta);
      // The service holding the most gives up its oldest lines.
      let victim: ServiceLog | null = null;
      for (const s of this.services.values()) {
        if (s.live > 0 && (victim === null || held(s) > held(victim))) victim = s;
      }
      if (victim === null) return;
      const { bytes, lines, memory } = victim;
      // Bookkeeping goes only with whole segments: then evict whole runs.
      victim.evictHead(
        this.totalBytes - maxBytes,
        this.totalLines - maxLines,
        !overBytes && !overLines,
      );
      this.totalBytes -= bytes - victim.bytes;
      this.totalLines -= lines - victim.lines;
      this.totalMemory -= memory - victim.memory;
    }
  }

  // --- reading -------------------------------------------------------------------------

  private selected(sel: Selection): ServiceLog[] {
    if (sel.names === null) return [...this.services.values()];
    const out: ServiceLog[] = [];
    for (const n of sel.names) {
      const s = this.services.get(n);
      if (s) out.push(s);
    }
    return out;
  }

  /**
   * Visit matching lines with seq in [from, until) in seq order, at most
   * `limit`, a run at a time. Returns the seq to continue from and whether
   * the range is exhausted.
   */
  private scan(
    sel: Selection,
    from: number,
    until: number,
    limit: number,
    visit: Visit,
  ): { next: number; done: boolean } {
    const cursors = this.selected(sel).map((s) => new Cursor(s, from));
    let taken = 0;
    for (;;) {
      // The service whose next line comes first; a run holds consecutive seqs,
      // so no other service has a line inside it.
      let c: Cursor | null = null;
      let seq = Infinity;
      for (const k of cursors) {
        const q = k.seq;
        if (q < seq) {
          seq = q;
          c = k;
        }
      }
      if (c === null || seq >= until) return { next: Math.min(until, this.nextSeq), done: true };
      const seg = c.seg as Segment;
      const end = Math.min(c.runEnd, c.i + (until - seq));
      if (matches(sel, seg.tag(c.r), seg.time(c.r))) {
        const at = c.i;
        const to = Math.min(end, at + (limit - taken));
        visit(seg, c.r, at, to);
        taken += to - at;
        c.i = to;
        // Done only if nothing matching is left: the caller needs no other round.
        if (taken >= limit) return { next: seq + (to - at), done: false };
      } else {
        c.i = end;
      }
      if (c.i >= c.runEnd) c.nextRun();
    }
  }

  /** The seq at which the last `n` matching lines at or after `from` begin. */
  private lastNStart(sel: Selection, n: number, from: number): number {
    if (n <= 0) return this.nextSeq;
    const ranges: { last: number; count: number }[] = [];
    for (const s of this.selected(sel)) collectLast(s, sel, n, from, ranges);
    ranges.sort((a, b) => b.last - a.last);
    let have = 0;
    for (const r of ranges) {
      if (have + r.count >= n) return r.last - (n - have - 1);
      have += r.count;
    }
    return from;
  }

  /** Where a query starts: its `from`, moved on to cover only the last `n` lines. */
  private startOf(sel: Selection, q: LogQuery): number {
    const from = q.from ?? 0;
    return q.n === undefined ? from : this.lastNStart(sel, q.n, from);
  }

  /**
   * Buffered lines matching the query, oldest first (at most `max`).
   * `next` is the seq to continue from; `end` the cursor when read: the
   * read is complete when `next` reached it.
   */
  read(
    query: LogQuery,
    max = Infinity,
  ): { entries: LogEntry[]; next: number; end: number; dropped: number } {
    const sel = select(query);
    const start = this.startOf(sel, query);
    const until = Math.min(query.until ?? Infinity, this.nextSeq);
    const entries: LogEntry[] = [];
    const { next } = this.scan(
      sel,
      start,
      until,
      Math.min(max, query.n ?? Infinity),
      (seg, r, i, to) => {
        for (; i < to; i++) entries.push(entryAt(seg, r, i));
      },
    );
    // Lines this read skipped over because they were evicted: between `from` and `next`,
    // so reading on page by page never counts a line twice.
    let dropped = 0;
    if (query.from !== undefined) {
      for (const s of this.selected(sel)) {
        dropped += s.evictedSince(query.from, sel.streams, 0, next);
      }
    }
    return { entries, next, end: this.nextSeq, dropped };
  }

  /**
   * Deliver the lines the query selects from the buffer (in batches, a turn
   * of the event loop each), then every new matching line, in seq order, with
   * one cursor: nothing lost, nothing twice. A congested sink pauses delivery;
   * what is evicted before it catches up is reported through `dropped`.
   * Returns the unsubscribe.
   */
  follow(query: LogQuery, sinkOrFn: FollowSink | Follower): () => void {
    const sink: FollowSink = typeof sinkOrFn === 'function' ? { line: sinkOrFn } : sinkOrFn;
    const sel = select(query);
    const start =
      query.n === 0 && query.from === undefined ? this.nextSeq : this.startOf(sel, query);
    const sub = new Subscription(sel, start, sink);
    // Without a cursor the reader asked for what is there: history evicted
    // before now is not news. With one, every line missing after it is.
    if (query.from === undefined) {
      for (const s of this.selected(sel)) sub.seen.set(s.name, s.evictedTotal);
    }
    this.subs.add(sub);
    if (start >= this.nextSeq) {
      sub.live = true;
      this.live.add(sub);
    } else {
      this.schedule(sub, 0);
    }
    return () => {
      sub.closed = true;
      if (sub.timer) clearTimeout(sub.timer);
      if (sub.immediate) clearImmediate(sub.immediate);
      sub.timer = null;
      sub.immediate = null;
      this.live.delete(sub);
      this.subs.delete(sub);
    };
  }

  private schedule(sub: Subscription, ms: number): void {
    if (sub.timer || sub.immediate || sub.closed) return;
    sub.timer = setTimeout(() => {
      sub.timer = null;
      this.catchUp(sub);
    }, ms);
  }

  private catchUp(sub: Subscription): void {
    if (sub.closed) return;
    if (sub.sink.congested?.()) {
      this.schedule(sub, CONGESTED_POLL_MS);
      return;
    }
    let dropped = 0;
    for (const s of this.selected(sub.sel)) {
      const seen = sub.seen.get(s.name) ?? 0;
      if (s.evictedTotal > seen) {
        dropped += s.evictedSince(sub.next, sub.sel.streams, seen);
        sub.seen.set(s.name, s.evictedTotal);
      }
    }
    if (dropped > 0) sub.sink.dropped?.(dropped);
    const batch: LogEntry[] = [];
    const { next, done } = this.scan(sub.sel, sub.next, Infinity, FOLLOW_BATCH, (seg, r, i, to) => {
      for (; i < to; i++) batch.push(entryAt(seg, r, i));
    });
    sub.next = next;
    sub.deliver(batch);
    if (sub.closed) return;
    if (done) {
      // Nothing can be appended between the scan and here: the switch is seamless.
      sub.live = true;
      this.live.add(sub);
    } else {
      sub.immediate = setImmediate(() => {
        sub.immediate = null;
        this.catchUp(sub);
      });
    }
  }
}

/** Ranges (last seq, line count) of a service's newest matching lines at or after `from`, up to `n` lines. */
function collectLast(
  s: ServiceLog,
  sel: Selection,
  n: number,
  from: number,
  out: { last: number; count: number }[],
): void {
  let have = 0;
  for (let p = s.segs.length - 1; p >= s.head; p--) {
    const seg = s.segs[p] as Segment;
    for (let r = seg.runCount - 1; r >= seg.startRun; r--) {
      const last = seg.seq(r, seg.runEnd(r) - 1);
      if (last < from || seg.time(r) < sel.since) return;
      if (!matches(sel, seg.tag(r), seg.time(r))) continue;
      const first = Math.max(seg.seq(r, Math.max(seg.runFirst(r), seg.start)), from);
      out.push({ last, count: last - first + 1 });
      have += last - first + 1;
      if (have >= n) return;
    }
  }
}
