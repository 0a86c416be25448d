// The ready signals a service gives in its own output, for one run: a
// newline on the `notify: fd:N` pipe (as s6 and dinit read it), or a line of
// stdout or stderr that matches `ready_log`. Each reports the first signal
// of its run once; what being ready means is the worker's.

import type { Readable } from 'node:stream';
import type { Chunk } from '../logs/capture.js';
import type { ServiceOutput } from './output.js';

export class ReadySignals {
  private run = 0;
  private fdStream: Readable | null = null;

  constructor(
    private readonly output: ServiceOutput,
    private readonly ready: (run: number, how: string) => void,
    private readonly note: (text: string) => void,
  ) {}

  /** Ready at the first newline on `stream`, the read end of descriptor `fd` of run `run`. */
  watchFd(run: number, stream: Readable | null, fd: number): void {
    this.run = run;
    if (stream === null) return;
    this.fdStream = stream;
    let seen = false;
    stream.on('data', (chunk: Buffer) => {
      // Later writes are read and dropped, so the service never gets EPIPE for them.
      if (seen || !chunk.includes(10)) return;
      seen = true;
      if (this.run === run) this.ready(run, `a newline on fd ${fd}`);
    });
    stream.on('error', () => undefined);
    stream.on('end', () => {
      if (!seen && this.run === run) this.note(`fd ${fd} was closed before a newline came`);
    });
  }

  /** Ready at the first line of stdout or stderr that matches `pattern`. */
  watchLog(run: number, pattern: string): void {
    this.run = run;
    const re = new RegExp(pattern);
    // Each run's pipes are new, and the watch is set afresh for each run.
    this.output.watch((c: Chunk) => {
      if (this.run !== run) return;
      for (let i = 0; i < c.count; i++) {
        const line = c.buf.toString('utf8', c.offs[2 * i], c.offs[2 * i + 1]);
        if (!re.test(line)) continue;
        this.output.watch(null);
        this.ready(run, `a log line matching /${pattern}/`);
        return;
      }
    });
  }

  stop(): void {
    this.run = 0;
    this.output.watch(null);
    this.fdStream?.destroy();
    this.fdStream = null;
  }
}
