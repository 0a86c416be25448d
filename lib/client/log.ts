// `sminit log`: a snapshot read page by page up to the cursor of its first
// read, or a follow that prints lines as they come until interrupted. Owns
// stdout's flow control for many lines; the formatting is format.ts's.

import type { Client } from './client.js';
import { Errors } from '../core/errors.js';
import type { CliArgs } from './args.js';
import { formatLogLine, useColour } from './format.js';
import { watchReader } from './reader.js';
import type { LogLine, LogQuery } from '../api/wire.js';
import { count } from '../core/plural.js';

export async function log(c: Client, a: CliArgs): Promise<number> {
  const unknown = await unknownNames(c, a.args);
  for (const name of unknown) process.stderr.write(`sminit: ${Errors.notTracked(name).message}\n`);
  if (unknown.length > 0) return 1;
  const filter: LogQuery = {
    names: [...a.args],
    ...(a.since !== null ? { since: a.since } : {}),
    ...(a.streams.length > 0 ? { stream: a.streams } : {}),
  };
  const query: LogQuery = { ...filter, ...(a.lines !== null ? { n: a.lines } : {}) };
  const colour = !a.json && useColour(a.color, process.stdout.isTTY === true);
  // Only a terminal interprets control sequences: pipes and files get the bytes as they are.
  const escape = !a.json && process.stdout.isTTY === true;
  const w = new LineOut();
  const printer: Printer = {
    line: (l) => w.line(a.json ? JSON.stringify(l) : formatLogLine(l, true, colour, escape)),
    dropped: (n) =>
      w.line(a.json ? JSON.stringify({ dropped: n }) : `-- ${count(n, 'line')} dropped --`),
  };
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
  });
  if (a.snapshot) return snapshot(c, filter, query, printer, w);
  return follow(c, query, printer);
}

function follow(c: Client, query: LogQuery, print: Printer): Promise<number> {
  return followUntilEnd(c, () => c.followLogs(query, print.line, print.dropped));
}

/**
 * Run a follow until interrupted (0), the connection ends (1: sminitd gone,
 * said as `stop` says it), or the reader of stdout goes (`| head`, 0).
 */
export async function followUntilEnd(
  c: Client,
  subscribe: () => Promise<unknown>,
): Promise<number> {
  let over = false;
  let end: (code: number) => void = () => undefined;
  const ended = new Promise<number>((resolve) => (end = resolve));
  const stop = (code: number): void => {
    over = true;
    end(code);
  };
  process.once('SIGINT', () => stop(0));
  await subscribe();
  c.onClose((err) => {
    if (over) return;
    process.stderr.write(`sminit: ${err.message}\n`);
    stop(1);
  });
  const watch = await watchReader(() => stop(0));
  const code = await ended;
  watch?.stop();
  return code;
}

/**
 * Names that are neither tracked nor in the log: a typo would otherwise
 * print nothing, or follow for ever. A service forgotten since still has
 * its lines, and those can be read.
 */
async function unknownNames(c: Client, names: readonly string[]): Promise<string[]> {
  if (names.length === 0) return [];
  const tracked = await c.list();
  const unknown: string[] = [];
  for (const name of names.filter((n) => !Object.hasOwn(tracked, n))) {
    const { lines } = await c.readLogs({ names: [name], n: 1 });
    if (lines.length === 0) unknown.push(name);
  }
  return unknown;
}

interface Printer {
  line(l: LogLine): void;
  dropped(n: number): void;
}

/** Page by page up to the cursor at the first read: a snapshot ends even while services write. */
async function snapshot(
  c: Client,
  filter: LogQuery,
  query: LogQuery,
  print: Printer,
  w: LineOut,
): Promise<number> {
  let page = await c.readLogs(query);
  const end = page.end;
  for (;;) {
    if (page.dropped) print.dropped(page.dropped);
    for (const l of page.lines) print.line(l);
    await w.drained();
    if (page.next >= end) break;
    page = await c.readLogs({ ...filter, from: page.next, until: end });
  }
  await w.flush();
  return 0;
}

/**
 * stdout for many lines: gathered and written a tick's worth at a time, and
 * a reader that stops (`| head`) ends the command instead of an error.
 */
export class LineOut {
  private buf: string[] = [];
  private scheduled = false;
  /** While stdout holds more than it wants: one wait for its drain, shared. */
  private draining: Promise<void> | null = null;
  line(s: string): void {
    this.buf.push(s);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => void this.flush());
    }
  }
  flush(): Promise<void> {
    this.scheduled = false;
    if (this.buf.length === 0) return Promise.resolve();
    const text = this.buf.join('\n') + '\n';
    this.buf = [];
    if (process.stdout.write(text) || this.draining) return this.draining ?? Promise.resolve();
    this.draining = new Promise((resolve) =>
      process.stdout.once('drain', () => {
        this.draining = null;
        resolve();
      }),
    );
    return this.draining;
  }
  /** Wait until what is queued reached stdout (flow control for snapshots). */
  drained(): Promise<void> {
    return this.flush();
  }
}
