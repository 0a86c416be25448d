// Log lines as every layer sees them: the streams a line can come from, a
// line as read, a query over the ring and a page of it. Shared data shapes
// below both the log ring and the API, so neither imports the other for
// them; the API's wire types re-export them. Pure.

export type LogStream = 'stdout' | 'stderr' | 'test' | 'event';

export interface LogLine {
  /** Daemon-wide sequence number: a cursor for reading on without loss. */
  readonly seq: number;
  /** ISO time with milliseconds. */
  readonly time: string;
  readonly service: string;
  readonly stream: LogStream;
  /** Which start of the service this line belongs to (1 for the first). */
  readonly run: number;
  /** The line for display: UTF-8, with any byte that is not valid UTF-8 shown as `\xNN`. */
  readonly text: string;
  /** The exact bytes (base64), present only when they are not valid UTF-8. */
  readonly bytes?: string;
}

export interface LogQuery {
  /** Services to include; all when absent or empty. */
  readonly names?: readonly string[];
  /** At most this many of the most recent lines. */
  readonly n?: number;
  /** Only lines with seq >= from. */
  readonly from?: number;
  /** Only lines with seq < until (a snapshot's end, when reading it in pages). */
  readonly until?: number;
  /** Only lines read at or after this time: epoch ms, or an ISO 8601 date. */
  readonly since?: number | string;
  /** Only this stream, or these streams (all when the list is empty). */
  readonly stream?: LogStream | readonly LogStream[];
}

export interface LogRead {
  /** Oldest first; a page of at most a few thousand lines. */
  readonly lines: LogLine[];
  /** The seq to read on from (or follow from) without loss or repeat. */
  readonly next: number;
  /** The cursor when read: the read is complete once `next` reaches it. */
  readonly end: number;
  /** Lines after `from` that were evicted before they could be read. */
  readonly dropped?: number;
}

export const LOG_STREAMS: readonly LogStream[] = ['stdout', 'stderr', 'test', 'event'];
