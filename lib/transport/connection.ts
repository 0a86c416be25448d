// One socket connection, first byte to close: its dialect, framing, request
// and idle timers, answers in request order, back-pressure, and every bound on
// it (past one the client is told why and closed, nothing buffered beyond it).
// Knows no service state and nothing of the socket file (socket.ts).

import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { messageOf } from '../core/errors.js';
import { type ProtocolError, ProtocolErrors, errorResponse } from '../api/errors.js';
import { type Frame, JsonSplitter, MAX_DEPTH, isSpace, nestedDeeperThan } from './framing.js';
import { type PeerCred, peerCred, peerHungUp } from '../os/native.js';
import { type Rpc, Session } from '../api/dispatch.js';

/** One JSON-RPC value (a request or a batch) may take this many bytes. */
export const MAX_REQUEST = 8 * 1024 * 1024;
/** A text-protocol command line may take this many bytes. */
export const MAX_TEXT_LINE = 64 * 1024;
/** Requests of one connection being answered at once; past it, reading pauses. */
export const MAX_IN_FLIGHT = 1024;
/** Bytes of answers queued to a client that does not read; past it, reading pauses. */
const MAX_QUEUED_ANSWERS = 16 * 1024 * 1024;

export interface ConnectionLimits {
  /** 0: never close an idle connection. */
  readonly idleTimeoutMs: number;
  readonly requestTimeoutMs: number;
}

/**
 * Text-protocol handler (zinit ≤ 0.2.14): gets the first line and who sent
 * it, writes the reply, ends the socket.
 */
export type TextHandler = (line: string, socket: Socket, peer: string) => void;

export interface ConnectionOptions {
  readonly rpc: Rpc;
  readonly text?: TextHandler;
  readonly report: (service: string | null, text: string) => void;
  readonly limits: ConnectionLimits;
}

type Dialect = 'json' | 'text';

/** Serve one accepted connection until it closes. */
export function serveConnection(socket: Socket, opts: ConnectionOptions): void {
  new Connection(socket, opts);
}

/**
 * The dialect a connection speaks, told by its first byte that is not white
 * space (null before one): a JSON value starts with { or [, anything else is
 * a text command, where the text protocol is served.
 */
export function detectDialect(chunk: Buffer, textServed: boolean): Dialect | null {
  const first = chunk.find((b) => !isSpace(b));
  if (first === undefined) return null;
  return first === 0x7b || first === 0x5b || !textServed ? 'json' : 'text';
}

/** `uid 0 pid 1234 (sminit)`: who is asking, for the audit lines. */
export function describePeer(cred: PeerCred | null): string {
  if (!cred) return 'unix socket (peer unknown)';
  let comm = '';
  try {
    // Read once per connection; the process may already be gone.
    comm = readFileSync(`/proc/${cred.pid}/comm`, 'utf8').trim();
  } catch {
    comm = '?';
  }
  return `uid ${cred.uid} pid ${cred.pid} (${comm})`;
}

/** The answer to one frame: a refusal for what is no request, else the dispatcher's. */
function answerFrame(frame: Frame, rpc: Rpc, session: Session): Promise<unknown> {
  const refuse = (error: ProtocolError): Promise<unknown> =>
    Promise.resolve(errorResponse(null, error));
  if (frame.kind === 'garbage') return refuse(ProtocolErrors.notJson());
  if (frame.kind === 'invalid-utf8')
    return refuse(ProtocolErrors.notUtf8(frame.byte, frame.offset));
  if (nestedDeeperThan(frame.text, MAX_DEPTH)) return refuse(ProtocolErrors.tooDeep(MAX_DEPTH));
  let value: unknown;
  try {
    value = JSON.parse(frame.text);
  } catch (err) {
    return refuse(ProtocolErrors.badJson(err));
  }
  return rpc.receive(value, session);
}

/** Lines to the client: everything written in one tick (a chunk's worth of log lines) leaves in one syscall. */
class LineWriter {
  constructor(private readonly socket: Socket) {}

  line(text: string): void {
    const { socket } = this;
    if (!socket.writable) return;
    if (socket.writableCorked === 0) {
      socket.cork();
      process.nextTick(() => socket.uncork());
    }
    socket.write(text);
  }

  value(v: unknown): void {
    this.line(JSON.stringify(v) + '\n');
  }
}

/**
 * Answers go out in request order, even when a later request finishes first.
 * A subscription's notifications wait while any request is unanswered: its
 * reply may be queued behind earlier ones, and its lines must not overtake it.
 */
class AnswerQueue {
  private order: Promise<void> = Promise.resolve();
  private unanswered = 0;
  private held: string[] = [];
  private heldLength = 0;

  constructor(
    private readonly out: LineWriter,
    private readonly failed: (err: unknown) => void,
    /** Called whenever the number of unanswered requests changes. */
    private readonly changed: () => void,
  ) {}

  get inFlight(): number {
    return this.unanswered;
  }

  /** Notification bytes waiting for the replies ahead of them. */
  get heldBytes(): number {
    return this.heldLength;
  }

  notify(line: string): void {
    if (this.unanswered === 0) return this.out.line(line);
    this.held.push(line);
    this.heldLength += line.length;
  }

  add(answer: Promise<unknown>): void {
    this.unanswered++;
    this.changed();
    this.order = this.order.then(() =>
      answer
        .then((res) => {
          if (res !== null) this.out.value(res);
        }, this.failed)
        .finally(() => {
          if (--this.unanswered === 0) this.flush();
          this.changed();
        }),
    );
  }

  /** Resolves once every answer queued so far is written. */
  settled(): Promise<void> {
    return this.order;
  }

  private flush(): void {
    const lines = this.held;
    this.held = [];
    this.heldLength = 0;
    for (const line of lines) this.out.line(line);
  }
}

/** Back-pressure: a client that sends faster than it reads stops being read. */
class ReadGate {
  private paused = false;

  constructor(
    private readonly socket: Socket,
    private readonly over: () => boolean,
    private readonly closed: () => boolean,
  ) {
    socket.on('drain', () => this.update());
  }

  update(): void {
    const over = this.over();
    if (over && !this.paused) {
      this.paused = true;
      this.socket.pause();
    } else if (!over && this.paused && !this.closed()) {
      this.paused = false;
      this.socket.resume();
    }
  }
}

/**
 * A request must arrive whole in time: the clock starts with its first byte
 * and restarts with each complete request, so a steady stream of requests
 * is fine and a value that never ends is not.
 */
class RequestTimer {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly ms: number,
    private readonly expired: () => void,
  ) {}

  get running(): boolean {
    return this.timer !== null;
  }

  start(): void {
    if (this.timer || this.ms <= 0) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.expired();
    }, this.ms);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}

/** The text protocol's one command line, gathered up to its newline. */
class TextLine {
  private buf = '';

  constructor(private readonly max: number) {}

  /** The line once its newline came; 'too long' past the bound without one; null meanwhile. */
  push(chunk: Buffer): string | 'too long' | null {
    this.buf += chunk.toString('utf8');
    const nl = this.buf.indexOf('\n');
    if (nl !== -1) return this.buf.slice(0, nl).replace(/\r$/, '');
    return this.buf.length > this.max ? 'too long' : null;
  }

  /** What came before the client stopped sending: a command without its newline. */
  rest(): string {
    return this.buf.replace(/\r?\n?$/, '');
  }
}

class Connection {
  private mode: 'unknown' | Dialect | 'done' = 'unknown';
  private readonly peer: string;
  private readonly session: Session;
  private readonly splitter = new JsonSplitter(MAX_REQUEST);
  private readonly textLine = new TextLine(MAX_TEXT_LINE);
  private readonly out: LineWriter;
  private readonly answers: AnswerQueue;
  private readonly gate: ReadGate;
  private readonly requestTimer: RequestTimer;

  constructor(
    private readonly socket: Socket,
    private readonly opts: ConnectionOptions,
  ) {
    socket.on('error', () => undefined);
    this.peer = describePeer(peerCred(socket));
    this.out = new LineWriter(socket);
    this.answers = new AnswerQueue(
      this.out,
      (err) => opts.report(null, `internal error answering a request: ${messageOf(err)}`),
      () => this.gate.update(),
    );
    this.session = new Session({
      peer: this.peer,
      notify: (method, params) =>
        this.answers.notify(JSON.stringify({ jsonrpc: '2.0', method, params }) + '\n'),
      backlog: () => socket.writableLength + this.answers.heldBytes,
    });
    this.gate = new ReadGate(
      socket,
      () => this.answers.inFlight >= MAX_IN_FLIGHT || socket.writableLength > MAX_QUEUED_ANSWERS,
      () => this.mode === 'done',
    );
    this.requestTimer = new RequestTimer(opts.limits.requestTimeoutMs, () => this.tooSlow());
    this.watchIdle();
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => this.onEnd());
    socket.on('close', () => {
      this.requestTimer.stop();
      this.session.close();
    });
  }

  private onData(chunk: Buffer): void {
    if (this.mode === 'done') return;
    if (this.mode === 'unknown') {
      const dialect = detectDialect(chunk, this.opts.text !== undefined);
      if (dialect === null) return;
      this.mode = dialect;
    }
    if (this.mode === 'text') this.onText(chunk);
    else this.onJson(chunk);
  }

  private onText(chunk: Buffer): void {
    const line = this.textLine.push(chunk);
    if (line === 'too long') return this.closeWith(ProtocolErrors.lineTooLong(MAX_TEXT_LINE));
    if (line === null) return this.requestTimer.start();
    this.mode = 'done'; // one text command per connection
    this.requestTimer.stop();
    this.socket.pause();
    this.opts.text?.(line, this.socket, this.peer);
  }

  private onJson(chunk: Buffer): void {
    let frames: Frame[];
    try {
      frames = this.splitter.push(chunk);
    } catch (err) {
      this.opts.report(null, `closing a connection (${this.peer}): ${messageOf(err)}`);
      return this.closeWith(ProtocolErrors.framing(err));
    }
    if (frames.length > 0) this.requestTimer.stop();
    for (const f of frames) this.answers.add(answerFrame(f, this.opts.rpc, this.session));
    if (this.splitter.inValue) this.requestTimer.start();
  }

  private onEnd(): void {
    this.requestTimer.stop();
    // A follower that hung up (rather than only finishing sending, as
    // `socat` does) is released now, not at the next line written to it.
    if (peerHungUp(this.socket) && (this.mode === 'done' || this.session.subscriptions.size > 0)) {
      this.socket.destroy();
      return;
    }
    if (this.mode === 'done') return;
    if (this.mode === 'text') {
      this.mode = 'done';
      this.opts.text?.(this.textLine.rest(), this.socket, this.peer);
      return;
    }
    // The client finished sending: answer what is pending, then close.
    void this.answers.settled().then(() => {
      if (this.session.subscriptions.size === 0) this.socket.end();
    });
  }

  // Idle: nothing received or sent for a while, nothing being answered, no
  // subscription. A follower is idle by nature and is never closed for it.
  private watchIdle(): void {
    const ms = this.opts.limits.idleTimeoutMs;
    if (ms <= 0) return;
    this.socket.setTimeout(ms);
    this.socket.on('timeout', () => {
      const busy =
        this.answers.inFlight > 0 ||
        this.session.subscriptions.size > 0 ||
        this.requestTimer.running;
      if (this.mode !== 'done' && !busy) this.closeWith(ProtocolErrors.idle(ms));
    });
  }

  private tooSlow(): void {
    if (this.mode === 'done') return;
    const ms = this.opts.limits.requestTimeoutMs;
    this.opts.report(
      null,
      `closing a connection (${this.peer}): request incomplete after ${ms} ms`,
    );
    this.closeWith(ProtocolErrors.requestTimeout(ms));
  }

  /** Tell the client why, in its own dialect, and close; read nothing more. */
  private closeWith(error: ProtocolError): void {
    if (this.mode === 'text') {
      if (this.socket.writable) {
        this.socket.end(JSON.stringify({ state: 'error', body: error.message }) + '\n');
      }
    } else {
      this.out.value(errorResponse(null, error));
      this.socket.end();
    }
    this.mode = 'done';
    this.requestTimer.stop();
    this.socket.destroySoon();
  }
}
