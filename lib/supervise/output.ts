// A service's output: each pipe of each run read as it comes, in whole
// chunks, into the ring and, as `log:` asks, the service's file or sminitd's
// stdout (made once and kept across runs). A run's exit waits a little for
// its pipes to close, so its last lines come before the exit in the log.
// Owns the file writer; knows nothing of processes beyond their pipes.

import { resolve } from 'node:path';
import type { Readable } from 'node:stream';
import type { ServiceDef } from '../core/definition.js';
import type { LogStream } from '../core/logline.js';
import { FileLog } from '../logs/file.js';
import { Capture, type Chunk, type ChunkSink } from '../logs/capture.js';
import { renderChunk } from '../logs/render.js';
import type { LogStore } from '../logs/ring.js';

/**
 * How long an exit waits for the process's output pipes to close, so its
 * last lines come before the exit in the log. Only a process left holding
 * them (a grandchild) makes it wait that long; its later lines still arrive.
 */
export const EXIT_OUTPUT_GRACE_MS = 50;

/** One output pipe being captured. */
export interface Pipe {
  readonly capture: Capture;
  ended: boolean;
  readonly onEnd: (() => void)[];
}

export interface OutputHooks {
  /** A message about the file (it cannot be written, rotated…). */
  event(text: string): void;
  /** Prefixed lines (`[+] name: text\n`…) for `log: stdout`, a chunk at a time. */
  stdout(data: Buffer, lines: number): void;
}

interface Sink {
  readonly chunk: ChunkSink;
  readonly file: FileLog | null;
}

export class ServiceOutput {
  /** Where output goes besides the ring; made on first use. */
  private sink: Sink | null = null;
  /** The definition whose `log:` a reload gave since the pipes were opened. */
  private routed: ServiceDef | null = null;
  /** Sees each chunk of stdout and stderr while set (`ready_log`). */
  private watcher: ChunkSink | null = null;

  constructor(
    private readonly name: string,
    private readonly logs: LogStore,
    private readonly hooks: OutputHooks,
  ) {}

  /** Reads `stream` as it comes into the ring (and the file or stdout, but for tests). */
  capture(def: ServiceDef, stream: Readable | null, kind: LogStream, run: number): Pipe | null {
    if (!stream) return null;
    // Looked up at each chunk, so a reload's new `log:` or `ready_log` takes
    // the pipes of a running process; the ring alone costs one call per chunk.
    const sink: ChunkSink | null =
      kind === 'test'
        ? null
        : (c) => {
            this.sinkFor(this.routed ?? def)?.chunk(c);
            this.watcher?.(c);
          };
    const capture = new Capture(this.logs, this.name, kind, run, sink);
    const pipe: Pipe = { capture, ended: false, onEnd: [] };
    const ended = (): void => {
      if (pipe.ended) return;
      pipe.ended = true;
      capture.flush();
      for (const fn of pipe.onEnd.splice(0)) fn();
    };
    stream.on('data', (chunk: Buffer) => capture.push(chunk));
    stream.on('end', ended);
    stream.on('close', ended);
    stream.on('error', ended);
    return pipe;
  }

  /** Look at each chunk of stdout and stderr from now on (null: stop looking). */
  watch(watcher: ChunkSink | null): void {
    this.watcher = watcher;
  }

  /** A daemon event about the service, into its file when it has one. */
  event(text: string): void {
    this.sink?.file?.event(text);
  }

  /**
   * Output goes where `def` says from the next chunk on (a reload gave a
   * new definition); `reopen`: where it goes changed, so the file is closed.
   */
  follow(def: ServiceDef, reopen: boolean): void {
    this.routed = def;
    if (!reopen) return;
    this.sink?.file?.close();
    this.sink = null;
  }

  /** Not needed while stopped; the next line (a restart, a straggler) opens it again. */
  closeFile(): void {
    this.sink?.file?.close();
  }

  private sinkFor(def: ServiceDef): Sink | null {
    if (this.sink) return this.sink;
    const mode = def.log;
    if (mode.kind === 'file') {
      const file = new FileLog({
        path: resolve(def.dir, mode.path),
        maxSize: mode.maxSize,
        keep: mode.keep,
        onError: (message) => this.hooks.event(message),
      });
      this.sink = { chunk: (c) => file.chunk(c), file };
    } else if (mode.kind === 'stdout') {
      this.sink = { file: null, chunk: this.stdoutChunks() };
    }
    return this.sink;
  }

  private stdoutChunks(): ChunkSink {
    const prefixes = new Map<string, Buffer>();
    return (seg: Chunk) => {
      let prefix = prefixes.get(seg.stream);
      if (!prefix) {
        prefix = Buffer.from(`${seg.stream === 'stdout' ? '[+]' : '[-]'} ${this.name}: `);
        prefixes.set(seg.stream, prefix);
      }
      this.hooks.stdout(renderChunk(seg, prefix), seg.count);
    };
  }
}

/** Runs `done` once every pipe has ended, or `graceMs` after the call if one stays open. */
export function afterOutput(pipes: readonly Pipe[], graceMs: number, done: () => void): void {
  let open = pipes.filter((o) => !o.ended).length;
  if (open === 0) {
    done();
    return;
  }
  let called = false;
  const finish = (): void => {
    if (called) return;
    called = true;
    clearTimeout(timer);
    // The unfinished last line belongs to the process that wrote it.
    for (const o of pipes) o.capture.flush();
    done();
  };
  const timer = setTimeout(finish, graceMs);
  for (const o of pipes) {
    if (!o.ended) o.onEnd.push(() => --open === 0 && finish());
  }
}
