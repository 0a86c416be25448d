// The typed client Node programs use to drive sminitd (and the CLI uses):
// line-delimited JSON-RPC over the unix socket, one persistent connection,
// many calls in flight. Depends on nothing but `net`, so importing it is cheap.

import { type Socket, connect } from 'node:net';
import type {
  LogLine,
  LogQuery,
  ManyParams,
  ManyResult,
  MethodName,
  NotificationMap,
  Params,
  Result,
} from '../api/wire.js';

export type * from '../api/wire.js';

export const DEFAULT_SOCKET = '/run/sminit.sock';

/** An error the daemon answered with; `code` is its JSON-RPC code (see errors.ts). */
export class RpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
    this.name = 'RpcError';
  }
}

/** The daemon could not be reached at all. */
export class ConnectError extends Error {
  constructor(
    readonly socketPath: string,
    override readonly cause: NodeJS.ErrnoException,
  ) {
    const why =
      cause.code === 'ENOENT' || cause.code === 'ECONNREFUSED'
        ? 'is sminitd running?'
        : cause.code === 'EACCES'
          ? 'permission denied (the socket is root-only by default)'
          : cause.message;
    super(`cannot connect to ${socketPath}: ${why}`);
    this.name = 'ConnectError';
  }
}

interface Pending {
  resolve(v: unknown): void;
  reject(e: Error): void;
}

type NotificationHandler = <N extends keyof NotificationMap>(
  method: N,
  params: NotificationMap[N],
) => void;

export class Client {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private buf = '';
  private closedError: Error | null = null;
  private readonly listeners = new Set<NotificationHandler>();
  private readonly closeListeners = new Set<(err: Error) => void>();

  private constructor(private readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => this.fail(new Error('connection closed by sminitd')));
  }

  static connect(socketPath: string = DEFAULT_SOCKET): Promise<Client> {
    return new Promise((resolve, reject) => {
      const socket = connect(socketPath);
      const onError = (err: NodeJS.ErrnoException): void =>
        reject(new ConnectError(socketPath, err));
      socket.once('error', onError);
      socket.once('connect', () => {
        socket.off('error', onError);
        resolve(new Client(socket));
      });
    });
  }

  /** Call any method with its typed params (named). */
  call<M extends MethodName>(method: M, params?: Params<M>): Promise<Result<M>> {
    if (this.closedError) return Promise.reject(this.closedError);
    const id = this.nextId++;
    const p = new Promise<Result<M>>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
    });
    this.socket.write(JSON.stringify({ jsonrpc: '2.0', id, method, params: params ?? {} }) + '\n');
    return p;
  }

  /** Be told of notifications (log lines of a follow). Returns the unsubscribe. */
  onNotification(fn: NotificationHandler): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Be told when the connection ends (the daemon stopped, or close() was called). */
  onClose(fn: (err: Error) => void): void {
    if (this.closedError) fn(this.closedError);
    else this.closeListeners.add(fn);
  }

  close(): void {
    this.socket.end();
    this.socket.destroySoon();
  }

  // Typed shorthands for the common calls.
  list(): Promise<Record<string, string>> {
    return this.call('service_list');
  }
  listFull(): Promise<Result<'service_list_full'>> {
    return this.call('service_list_full');
  }
  /** Services whose files were found but not loaded, and why. */
  listUnloaded(): Promise<Result<'service_list_unloaded'>> {
    return this.call('service_list_unloaded');
  }
  status(name: string): Promise<Result<'service_status'>> {
    return this.call('service_status', { name });
  }
  start(name: string): Promise<null> {
    return this.call('service_start', { name });
  }
  stop(name: string): Promise<null> {
    return this.call('service_stop', { name });
  }
  /** Stop, start, and answer once it is up or cannot be, or after `timeoutMs` (the daemon's default, 60 s). */
  restart(name: string, timeoutMs?: number): Promise<Result<'service_restart'>> {
    return this.call(
      'service_restart',
      timeoutMs === undefined ? { name } : { name, timeout: timeoutMs },
    );
  }
  monitor(name: string): Promise<null> {
    return this.call('service_monitor', { name });
  }
  forget(name: string): Promise<null> {
    return this.call('service_forget', { name });
  }
  kill(name: string, signal: string): Promise<null> {
    return this.call('service_kill', { name, signal });
  }
  stats(name: string): Promise<Result<'service_stats'>> {
    return this.call('service_stats', { name });
  }
  /** Read the config directory again and apply what changed (or, with `dryRun`, only say what). */
  reload(dryRun = false): Promise<Result<'system_reload'>> {
    return this.call('system_reload', { dry_run: dryRun });
  }
  /** Run `replicas` replicas of a replicated service. */
  scale(name: string, replicas: number): Promise<Result<'service_scale'>> {
    return this.call('service_scale', { name, replicas });
  }
  /** One verb over several services, in one request: by name, pattern, or all. */
  many(
    verb: 'start' | 'stop' | 'restart' | 'kill' | 'forget' | 'status',
    which: ManyParams & { timeout?: number },
    signal?: string,
  ): Promise<ManyResult> {
    if (verb === 'kill')
      return this.call('services_kill', signal === undefined ? which : { ...which, signal });
    return this.call(`services_${verb}`, which);
  }
  shutdown(): Promise<null> {
    return this.call('system_shutdown');
  }
  readLogs(query: LogQuery = {}): Promise<Result<'log_read'>> {
    return this.call('log_read', query);
  }

  /**
   * Follow the log: buffered lines the query selects, then every new line.
   * `onDropped` hears how many lines were lost when this client fell behind.
   */
  async followLogs(
    query: LogQuery,
    onLine: (line: LogLine) => void,
    onDropped?: (count: number) => void,
  ): Promise<() => Promise<void>> {
    let id = -1;
    const early: NotificationMap['log_line'][] = [];
    const deliver = (p: NotificationMap['log_line']): void => {
      if (p.lines) for (const l of p.lines) onLine(l);
      else if (p.line) onLine(p.line);
      else if (p.dropped !== undefined) onDropped?.(p.dropped);
    };
    const off = this.onNotification((method, params) => {
      if (method !== 'log_line') return;
      const p = params as NotificationMap['log_line'];
      if (id === -1) early.push(p);
      else if (p.subscription === id) deliver(p);
    });
    // Lines come many to a message: a follow keeps up with a burst.
    id = await this.call('log_follow', { ...query, batch: true });
    for (const p of early) if (p.subscription === id) deliver(p);
    return async () => {
      off();
      await this.call('stream_unsubscribeLogs', { id });
    };
  }

  private onData(chunk: string): void {
    // Only the unfinished tail is kept: a chunk of many messages is cut once.
    const text = this.buf === '' ? chunk : this.buf + chunk;
    let at = 0;
    // The kept tail holds no newline: look only at what is new.
    for (let nl = text.indexOf('\n', this.buf.length); nl !== -1; nl = text.indexOf('\n', at)) {
      const line = text.slice(at, nl);
      at = nl + 1;
      if (line.trim() !== '') this.onMessage(line);
    }
    this.buf = at === 0 ? text : text.slice(at);
  }

  private onMessage(line: string): void {
    let msg: {
      id?: number | null;
      method?: string;
      params?: unknown;
      result?: unknown;
      error?: { code: number; message: string; data?: unknown };
    };
    try {
      msg = JSON.parse(line) as typeof msg;
    } catch {
      this.fail(new Error(`sminitd sent something that is not JSON: ${line.slice(0, 80)}`));
      return;
    }
    if (msg.method !== undefined && msg.id === undefined) {
      for (const fn of this.listeners) {
        fn(
          msg.method as keyof NotificationMap,
          msg.params as NotificationMap[keyof NotificationMap],
        );
      }
      return;
    }
    if (msg.id === null && msg.error) {
      // Said of the connection, not of a request (too many connections, idle,
      // a request the daemon could not read): every call fails with it.
      this.fail(new RpcError(msg.error.code, msg.error.message, msg.error.data));
      return;
    }
    const p = typeof msg.id === 'number' ? this.pending.get(msg.id) : undefined;
    if (!p || typeof msg.id !== 'number') return;
    this.pending.delete(msg.id);
    if (msg.error) p.reject(new RpcError(msg.error.code, msg.error.message, msg.error.data));
    else p.resolve(msg.result);
  }

  private fail(err: Error): void {
    if (!this.closedError) {
      this.closedError = err;
      for (const fn of this.closeListeners) fn(err);
      this.closeListeners.clear();
    }
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }
}
