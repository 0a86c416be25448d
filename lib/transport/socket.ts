// The unix socket: accepts connections, frames what they send, and hands each
// request to the dispatcher (rpc.ts) or, for the old text protocol, to
// textproto.ts. Owns the socket file (refusing to steal a live one, its mode
// and group), the per-connection state and every per-connection bound: request
// size, nesting, connections, how long a request may take to arrive and how
// long a connection may sit idle. Past a bound the client gets an error and
// the connection closes; the daemon buffers no more than the bound. Owns no
// service state.

import { readFileSync } from 'node:fs';
import { chmod, chown, lstat, readFile, unlink } from 'node:fs/promises';
import { type Server, type Socket, connect, createServer } from 'node:net';
import { messageOf } from '../core/errors.js';
import { type ProtocolError, ProtocolErrors, errorResponse } from '../api/errors.js';
import { JsonSplitter, MAX_DEPTH, nestedDeeperThan } from './framing.js';
import { type Native, type PeerCred, peerCred, peerHungUp } from '../os/native.js';
import type { Rpc, Session } from '../api/dispatch.js';

/** One JSON-RPC value (a request or a batch) may take this many bytes. */
export const MAX_REQUEST = 8 * 1024 * 1024;
/** A text-protocol command line may take this many bytes. */
export const MAX_TEXT_LINE = 64 * 1024;
/** Connections open at once, unless --max-connections says otherwise. */
export const DEFAULT_MAX_CONNECTIONS = 4096;
/** A connection with nothing in flight and no subscription is closed after this long (--idle-timeout). */
export const DEFAULT_IDLE_TIMEOUT_MS = 60 * 60 * 1000;
/** A request begun must be complete within this long (--request-timeout). */
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
/** Requests of one connection being answered at once; past it, reading pauses. */
export const MAX_IN_FLIGHT = 1024;
/** Connections waiting to be accepted (the kernel caps it at net.core.somaxconn). */
const LISTEN_BACKLOG = 4096;
/** Bytes of answers queued to a client that does not read; past it, reading pauses. */
const MAX_QUEUED_ANSWERS = 16 * 1024 * 1024;

export interface ServerLimits {
  readonly maxConnections: number;
  /** 0: never close an idle connection. */
  readonly idleTimeoutMs: number;
  readonly requestTimeoutMs: number;
}

export const DEFAULT_LIMITS: ServerLimits = {
  maxConnections: DEFAULT_MAX_CONNECTIONS,
  idleTimeoutMs: DEFAULT_IDLE_TIMEOUT_MS,
  requestTimeoutMs: DEFAULT_REQUEST_TIMEOUT_MS,
};

export interface ServerOptions {
  readonly path: string;
  readonly rpc: Rpc;
  /**
   * Text-protocol handler (zinit ≤ 0.2.14): gets the first line and who sent
   * it, writes the reply, ends the socket.
   */
  readonly text?: (line: string, socket: Socket, peer: string) => void;
  readonly report: (service: string | null, text: string) => void;
  /** Give this group access to the socket (mode 0660); otherwise it is 0600. */
  readonly group?: number;
  readonly limits?: Partial<ServerLimits>;
}

/** True when something answers on the socket path. */
export function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export class SocketInUseError extends Error {}

/**
 * Throws SocketInUseError when `path` cannot be taken: a live daemon answers
 * on it, or it is not a socket. Returns whether a stale socket file is there.
 */
export async function checkSocketFree(path: string): Promise<boolean> {
  const existing = await lstat(path).catch(() => null);
  if (!existing) return false;
  if (!existing.isSocket()) {
    throw new SocketInUseError(`${path} exists and is not a socket; refusing to replace it`);
  }
  if (await socketAnswers(path)) {
    throw new SocketInUseError(`another daemon is already listening on ${path}; refusing to start`);
  }
  return true;
}

/**
 * A group given as a name or a number, as its id: getgrnam through the native
 * bindings (so groups from NSS count), else /etc/group. Throws a message a
 * person can act on when there is no such group.
 */
export async function resolveGroup(spec: string, native: Native | string): Promise<number> {
  const trimmed = spec.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  if (typeof native !== 'string') {
    const gid = native.groupId(trimmed);
    if (gid !== null) return gid;
  } else {
    const groups = await readFile('/etc/group', 'utf8').catch(() => '');
    for (const line of groups.split('\n')) {
      const [name, , gid] = line.split(':');
      if (name === trimmed && gid !== undefined && /^\d+$/.test(gid)) return Number(gid);
    }
  }
  throw new Error(`no such group '${trimmed}'`);
}

export async function listen(opts: ServerOptions): Promise<Server> {
  const { path } = opts;
  const limits: ServerLimits = { ...DEFAULT_LIMITS, ...opts.limits };
  if (await checkSocketFree(path)) await unlink(path);
  const open = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    if (open.size >= limits.maxConnections) {
      // Told, not just dropped: the client learns why.
      refuse(socket, ProtocolErrors.tooManyConnections(limits.maxConnections));
      return;
    }
    open.add(socket);
    socket.once('close', () => open.delete(socket));
    onConnection(socket, opts, limits);
  });
  // Created 0600 from the start: no window in which others could connect.
  const oldMask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      // Node's default backlog (511) refuses a burst of clients with EAGAIN.
      server.listen({ path, backlog: LISTEN_BACKLOG }, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } finally {
    process.umask(oldMask);
  }
  if (opts.group !== undefined) {
    // The group first, then the mode: the group's members gain access only
    // once the group is the intended one.
    await chown(path, process.getuid?.() ?? -1, opts.group);
    await chmod(path, 0o660);
  } else await chmod(path, 0o600);
  server.on('error', (err) => opts.report(null, `socket error: ${err.message}`));
  return server;
}

/** How long a refused connection is drained before it is closed regardless. */
const REFUSED_GRACE_MS = 1000;

/** An error as a JSON-RPC response line; the connection closes once the client has. */
function refuse(socket: Socket, error: ProtocolError): void {
  socket.on('error', () => undefined);
  socket.end(JSON.stringify(errorResponse(null, error)) + '\n');
  // A client that wrote its request before this arrived would get EPIPE, not
  // the reason, if its bytes found the socket gone: they are read and dropped
  // until it closes, for a moment at most.
  socket.resume();
  socket.setTimeout(REFUSED_GRACE_MS, () => socket.destroy());
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

function onConnection(socket: Socket, opts: ServerOptions, limits: ServerLimits): void {
  socket.on('error', () => undefined);
  let mode: 'unknown' | 'json' | 'text' | 'done' = 'unknown';
  let textBuf = '';
  const splitter = new JsonSplitter(MAX_REQUEST);
  const peer = describePeer(peerCred(socket));
  const session: Session = {
    subscriptions: new Map(),
    peer,
    notify: (method, params) => {
      const line = JSON.stringify({ jsonrpc: '2.0', method, params }) + '\n';
      // A subscription's lines must not overtake its reply, which may wait
      // behind earlier requests: hold notifications while any is unanswered.
      if (inFlight > 0) {
        held.push(line);
        heldBytes += line.length;
      } else writeLine(line);
    },
    backlog: () => socket.writableLength + heldBytes,
  };
  let held: string[] = [];
  let heldBytes = 0;
  const flushHeld = (): void => {
    const lines = held;
    held = [];
    heldBytes = 0;
    for (const line of lines) writeLine(line);
  };
  const writeLine = (line: string): void => {
    if (!socket.writable) return;
    // Everything written in one tick (a chunk's worth of log lines) leaves in one syscall.
    if (socket.writableCorked === 0) {
      socket.cork();
      process.nextTick(() => socket.uncork());
    }
    socket.write(line);
  };
  const write = (value: unknown): void => writeLine(JSON.stringify(value) + '\n');
  // Answers go out in request order even when a later request finishes first.
  let order: Promise<void> = Promise.resolve();
  let inFlight = 0;
  let paused = false;

  /** Tell the client why, in its own dialect, and close; read nothing more. */
  const closeWith = (error: ProtocolError): void => {
    if (mode === 'text') {
      if (socket.writable)
        socket.end(JSON.stringify({ state: 'error', body: error.message }) + '\n');
    } else {
      write(errorResponse(null, error));
      socket.end();
    }
    mode = 'done';
    clearRequestTimer();
    socket.destroySoon();
  };

  // A request must arrive whole in time: the clock starts with its first byte
  // and restarts with each complete request, so a steady stream of requests
  // is fine and a value that never ends is not.
  let requestTimer: NodeJS.Timeout | null = null;
  const clearRequestTimer = (): void => {
    if (requestTimer) clearTimeout(requestTimer);
    requestTimer = null;
  };
  const armRequestTimer = (): void => {
    if (requestTimer || limits.requestTimeoutMs <= 0) return;
    requestTimer = setTimeout(() => {
      requestTimer = null;
      if (mode === 'done') return;
      opts.report(
        null,
        `closing a connection (${peer}): request incomplete after ${limits.requestTimeoutMs} ms`,
      );
      closeWith(ProtocolErrors.requestTimeout(limits.requestTimeoutMs));
    }, limits.requestTimeoutMs);
  };

  // Idle: nothing received or sent for a while, nothing being answered, no
  // subscription. A follower is idle by nature and is never closed for it.
  if (limits.idleTimeoutMs > 0) {
    socket.setTimeout(limits.idleTimeoutMs);
    socket.on('timeout', () => {
      if (mode === 'done' || inFlight > 0 || session.subscriptions.size > 0 || requestTimer) return;
      closeWith(ProtocolErrors.idle(limits.idleTimeoutMs));
    });
  }

  // Backpressure: a client that sends faster than it reads stops being read.
  const throttle = (): void => {
    const over = inFlight >= MAX_IN_FLIGHT || socket.writableLength > MAX_QUEUED_ANSWERS;
    if (over && !paused) {
      paused = true;
      socket.pause();
    } else if (!over && paused && mode !== 'done') {
      paused = false;
      socket.resume();
    }
  };
  socket.on('drain', throttle);

  const handleFrame = (frame: ReturnType<JsonSplitter['push']>[number]): void => {
    let pending: Promise<unknown>;
    if (frame.kind === 'garbage') {
      pending = Promise.resolve(errorResponse(null, ProtocolErrors.notJson()));
    } else if (frame.kind === 'invalid-utf8') {
      pending = Promise.resolve(
        errorResponse(null, ProtocolErrors.notUtf8(frame.byte, frame.offset)),
      );
    } else if (nestedDeeperThan(frame.text, MAX_DEPTH)) {
      pending = Promise.resolve(errorResponse(null, ProtocolErrors.tooDeep(MAX_DEPTH)));
    } else {
      let value: unknown;
      try {
        value = JSON.parse(frame.text);
        pending = opts.rpc.receive(value, session);
      } catch (err) {
        pending = Promise.resolve(errorResponse(null, ProtocolErrors.badJson(err)));
      }
    }
    inFlight++;
    throttle();
    order = order.then(() =>
      pending
        .then(
          (res) => {
            if (res !== null) write(res);
          },
          (err: unknown) =>
            opts.report(null, `internal error answering a request: ${messageOf(err)}`),
        )
        .finally(() => {
          if (--inFlight === 0) flushHeld();
          throttle();
        }),
    );
  };

  socket.on('data', (chunk: Buffer) => {
    if (mode === 'done') return;
    if (mode === 'unknown') {
      const first = chunk.find((b) => b !== 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d);
      if (first === undefined) return;
      mode = first === 0x7b || first === 0x5b || !opts.text ? 'json' : 'text';
    }
    if (mode === 'text') {
      textBuf += chunk.toString('utf8');
      const nl = textBuf.indexOf('\n');
      if (nl === -1 && textBuf.length > MAX_TEXT_LINE) {
        closeWith(ProtocolErrors.lineTooLong(MAX_TEXT_LINE));
        return;
      }
      if (nl !== -1) {
        const line = textBuf.slice(0, nl);
        mode = 'done'; // one text command per connection
        clearRequestTimer();
        socket.pause();
        opts.text?.(line.replace(/\r$/, ''), socket, peer);
      } else armRequestTimer();
      return;
    }
    let frames: ReturnType<JsonSplitter['push']>;
    try {
      frames = splitter.push(chunk);
    } catch (err) {
      opts.report(null, `closing a connection (${peer}): ${messageOf(err)}`);
      closeWith(ProtocolErrors.framing(err));
      return;
    }
    if (frames.length > 0) clearRequestTimer();
    for (const f of frames) handleFrame(f);
    if (splitter.inValue) armRequestTimer();
  });
  socket.on('end', () => {
    clearRequestTimer();
    // A follower that hung up (rather than only finishing sending, as
    // `socat` does) is released now, not at the next line written to it.
    if (peerHungUp(socket) && (mode === 'done' || session.subscriptions.size > 0)) {
      socket.destroy();
      return;
    }
    if (mode === 'done') return;
    if (mode === 'text') {
      mode = 'done';
      opts.text?.(textBuf.replace(/\r?\n?$/, ''), socket, peer);
      return;
    }
    // The client finished sending: answer what is pending, then close.
    void order.then(() => {
      if (session.subscriptions.size === 0) socket.end();
    });
  });
  socket.on('close', () => {
    clearRequestTimer();
    for (const stop of session.subscriptions.values()) stop();
    session.subscriptions.clear();
  });
}
