// The unix socket: accepts connections, frames what they send, and hands each
// request to the dispatcher (rpc.ts) or, for the old text protocol, to
// textproto.ts. Owns the socket file (refusing to steal a live one) and the
// per-connection state; owns no service state.

import { chmod, lstat, unlink } from 'node:fs/promises';
import { type Server, type Socket, connect, createServer } from 'node:net';
import { Code, messageOf } from './errors.js';
import { JsonSplitter } from './jsonstream.js';
import { type Rpc, type Session, errorResponse } from './rpc.js';

export interface ServerOptions {
  readonly path: string;
  readonly rpc: Rpc;
  /** Text-protocol handler (zinit ≤ 0.2.14): gets the first line, writes the reply, ends the socket. */
  readonly text?: (line: string, socket: Socket) => void;
  readonly report: (service: string | null, text: string) => void;
  /** Socket file mode; 0o600 unless a group is given access. */
  readonly mode?: number;
  readonly maxConnections?: number;
}

export const MAX_REQUEST = 8 * 1024 * 1024;
const MAX_DEPTH = 64;

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

export async function listen(opts: ServerOptions): Promise<Server> {
  const { path } = opts;
  if (await checkSocketFree(path)) await unlink(path);
  const server = createServer({ allowHalfOpen: true }, (socket) => onConnection(socket, opts));
  server.maxConnections = opts.maxConnections ?? 4096;
  // Created 0600 from the start: no window in which others could connect.
  const oldMask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } finally {
    process.umask(oldMask);
  }
  await chmod(path, opts.mode ?? 0o600);
  server.on('error', (err) => opts.report(null, `socket error: ${err.message}`));
  return server;
}

/** Nesting deeper than MAX_DEPTH, checked before JSON.parse recurses. */
function tooDeep(text: string): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > MAX_DEPTH) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}

function onConnection(socket: Socket, opts: ServerOptions): void {
  socket.on('error', () => undefined);
  let mode: 'unknown' | 'json' | 'text' | 'done' = 'unknown';
  let textBuf = '';
  const splitter = new JsonSplitter(MAX_REQUEST);
  const session: Session = {
    subscriptions: new Map(),
    peer: 'unix socket',
    notify: (method, params) => {
      const line = JSON.stringify({ jsonrpc: '2.0', method, params }) + '\n';
      // A subscription's lines must not overtake its reply, which may wait
      // behind earlier requests: hold notifications while any is unanswered.
      if (unanswered > 0) {
        held.push(line);
        heldBytes += line.length;
      } else writeLine(line);
    },
    backlog: () => socket.writableLength + heldBytes,
  };
  let unanswered = 0;
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

  const handleFrame = (text: string, garbage: boolean): void => {
    let pending: Promise<unknown>;
    if (garbage) {
      pending = Promise.resolve(
        errorResponse(null, Code.ParseError, 'parse error: expected a JSON object or array'),
      );
    } else if (tooDeep(text)) {
      pending = Promise.resolve(
        errorResponse(null, Code.InvalidRequest, `request nested deeper than ${MAX_DEPTH} levels`),
      );
    } else {
      let value: unknown;
      try {
        value = JSON.parse(text);
        pending = opts.rpc.receive(value, session);
      } catch (err) {
        pending = Promise.resolve(
          errorResponse(null, Code.ParseError, `parse error: ${messageOf(err)}`),
        );
      }
    }
    unanswered++;
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
          if (--unanswered === 0) flushHeld();
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
      if (nl !== -1 || textBuf.length > 64 * 1024) {
        const line = nl === -1 ? textBuf : textBuf.slice(0, nl);
        mode = 'done'; // one text command per connection
        socket.pause();
        opts.text?.(line.replace(/\r$/, ''), socket);
      }
      return;
    }
    try {
      for (const f of splitter.push(chunk)) handleFrame(f.text, f.kind === 'garbage');
    } catch (err) {
      write(errorResponse(null, Code.InvalidRequest, messageOf(err)));
      socket.end();
      socket.destroySoon();
    }
  });
  socket.on('end', () => {
    if (mode === 'done') return;
    if (mode === 'text') {
      mode = 'done';
      opts.text?.(textBuf.replace(/\r?\n?$/, ''), socket);
      return;
    }
    // The client finished sending: answer what is pending, then close.
    void order.then(() => {
      if (session.subscriptions.size === 0) socket.end();
    });
  });
  socket.on('close', () => {
    for (const stop of session.subscriptions.values()) stop();
    session.subscriptions.clear();
  });
}
