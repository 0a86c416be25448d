// The unix socket: its file (refusing to steal a live one, its mode and
// group), accepting connections, and the bound on how many are open at once.
// Each accepted connection is served by connection.ts, which owns every
// per-connection bound. Past a bound the client is told why and closed. Owns
// no service state.

import { chmod, chown, lstat, readFile, stat, unlink } from 'node:fs/promises';
import { type Server, type Socket, connect, createServer } from 'node:net';
import { dirname } from 'node:path';
import { messageOf } from '../core/errors.js';
import { type ProtocolError, ProtocolErrors, errorResponse } from '../api/errors.js';
import type { Native } from '../os/native.js';
import type { Rpc } from '../api/dispatch.js';
import { type ConnectionLimits, type TextHandler, serveConnection } from './connection.js';

/** Connections open at once, unless --max-connections says otherwise. */
export const DEFAULT_MAX_CONNECTIONS = 4096;
/** A connection with nothing in flight and no subscription is closed after this long (--idle-timeout). */
export const DEFAULT_IDLE_TIMEOUT_MS = 60 * 60 * 1000;
/** A request begun must be complete within this long (--request-timeout). */
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
/** Connections waiting to be accepted (the kernel caps it at net.core.somaxconn). */
const LISTEN_BACKLOG = 4096;
/** Bytes of a socket path: Linux's sun_path holds 108, its closing NUL included. */
export const MAX_SOCKET_PATH = 107;

export interface ServerLimits extends ConnectionLimits {
  readonly maxConnections: number;
}

export const DEFAULT_LIMITS: ServerLimits = {
  maxConnections: DEFAULT_MAX_CONNECTIONS,
  idleTimeoutMs: DEFAULT_IDLE_TIMEOUT_MS,
  requestTimeoutMs: DEFAULT_REQUEST_TIMEOUT_MS,
};

export interface ServerOptions {
  readonly path: string;
  readonly rpc: Rpc;
  /** Serves the text protocol (zinit ≤ 0.2.14) beside JSON-RPC when given. */
  readonly text?: TextHandler;
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
export class SocketPathError extends Error {}

/**
 * Why `path` cannot be served (too long for a socket address, or no
 * directory to hold it), or null. Asked before binding: a path too long
 * would be bound cut short, leaving a file of that shorter name behind.
 */
export async function socketPathProblem(path: string): Promise<string | null> {
  const bytes = Buffer.byteLength(path);
  if (bytes > MAX_SOCKET_PATH) {
    return `${bytes} bytes is too long for a unix socket path (at most ${MAX_SOCKET_PATH}); choose a shorter one`;
  }
  const dir = dirname(path);
  try {
    if (!(await stat(dir)).isDirectory()) return `${dir} is not a directory`;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return `directory ${dir} does not exist`;
    return `directory ${dir}: ${messageOf(err)}`;
  }
  return null;
}

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

/** Serves `opts.path`; when it cannot, throws and leaves no file of its making behind. */
export async function listen(opts: ServerOptions): Promise<Server> {
  const { path } = opts;
  const problem = await socketPathProblem(path);
  if (problem) throw new SocketPathError(problem);
  const limits: ServerLimits = { ...DEFAULT_LIMITS, ...opts.limits };
  if (await checkSocketFree(path)) await unlink(path);
  const server = createServer({ allowHalfOpen: true }, acceptor(opts, limits));
  await bind(server, path);
  try {
    await setAccess(path, opts.group);
  } catch (err) {
    server.close();
    await unlink(path).catch(() => undefined);
    throw err;
  }
  server.on('error', (err) => opts.report(null, `socket error: ${err.message}`));
  return server;
}

/** Serves each new connection, or refuses it past --max-connections. */
function acceptor(opts: ServerOptions, limits: ServerLimits): (socket: Socket) => void {
  const open = new Set<Socket>();
  return (socket) => {
    if (open.size >= limits.maxConnections) {
      // Told, not just dropped: the client learns why.
      refuse(socket, ProtocolErrors.tooManyConnections(limits.maxConnections));
      return;
    }
    open.add(socket);
    socket.once('close', () => open.delete(socket));
    serveConnection(socket, {
      rpc: opts.rpc,
      report: opts.report,
      limits,
      ...(opts.text ? { text: opts.text } : {}),
    });
  };
}

async function bind(server: Server, path: string): Promise<void> {
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
}

async function setAccess(path: string, group: number | undefined): Promise<void> {
  if (group === undefined) return chmod(path, 0o600);
  // The group first, then the mode: the group's members gain access only
  // once the group is the intended one.
  await chown(path, process.getuid?.() ?? -1, group);
  await chmod(path, 0o660);
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
