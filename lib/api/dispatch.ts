// JSON-RPC dispatch: turns parsed requests into manager calls and manager
// results or errors into responses. It wraps json-rpc-2.0 so none of that
// package's quirks reach a client: batches always answer with an array,
// errors always carry our codes, nothing is printed, nothing rejects. Knows
// nothing of sockets: a connection hands it a Session.

import {
  JSONRPCErrorException,
  JSONRPCServer,
  type JSONRPCRequest,
  type JSONRPCResponse,
} from 'json-rpc-2.0';
import { Errors, SminitError, messageOf } from '../core/errors.js';
import { ProtocolErrors, codeOf, errorResponse } from './errors.js';
import { type LogStore, sinceMs, toWire, zinitLine } from '../logs/ring.js';
import type { Manager } from '../supervise/manager.js';
import { normaliseParams } from './params.js';
import { serviceStats } from './stats.js';
import {
  COMPONENT_SCHEMAS,
  METHODS,
  METHOD_NAMES,
  type LogQuery,
  type MethodName,
  type NotificationMap,
  type Params,
  type Result,
} from './wire.js';

/** What one connection gives the dispatcher. */
export interface Session {
  notify<N extends keyof NotificationMap>(method: N, params: NotificationMap[N]): void;
  /** Bytes queued to the client and not yet written: for dropping lines to a slow follower. */
  backlog(): number;
  /** Unsubscribe functions by subscription id; run when the connection closes. */
  readonly subscriptions: Map<number, () => void>;
  /** Who is asking, for the event log. */
  readonly peer: string;
  /** False where notifications cannot be delivered (HTTP): subscriptions are refused. */
  readonly streams?: boolean;
}

/** The HTTP endpoint, as system_start_http_server and system_stop_http_server see it. */
export interface HttpControl {
  /** Starts serving at `address`; resolves to the URL. */
  start(address: string): Promise<string>;
  stop(): Promise<void>;
}

export interface RpcOptions {
  readonly manager: Manager;
  readonly logs: LogStore;
  readonly report: (service: string | null, text: string) => void;
  /** Called after system_shutdown / system_reboot have been answered. */
  readonly onShutdown: (reboot: boolean) => void;
  readonly http?: HttpControl;
  /** Methods outside the API (debug aids): raw params in, result out; not in rpc.discover. */
  readonly extraMethods?: Readonly<Record<string, (params: unknown) => Promise<unknown>>>;
}

/** Requests in one batch. */
export const MAX_BATCH = 1000;
/** Log subscriptions one connection may hold. */
export const MAX_FOLLOWS_PER_CONNECTION = 64;
/** Log followers in the whole daemon, both dialects together. */
export const MAX_FOLLOWERS = 256;
/**
 * A follower with this many bytes unsent is paused: its lines wait in the
 * ring, and only those evicted before it catches up are lost (and counted).
 */
const FOLLOW_BACKLOG = 1024 * 1024;
/** log_read answers at most this many lines; the rest is read on from `next`. */
export const READ_PAGE = 5000;

type Handler<M extends MethodName> = (params: Params<M>, session: Session) => Promise<Result<M>>;
type Handlers = { [M in MethodName]: Handler<M> };

let nextSubscription = 1;

/**
 * Where the last stream_currentLogs snapshot of a connection ended: a
 * stream_subscribeLogs on the same connection continues from there, so the
 * two together lose and repeat no line.
 */
const snapshotEnd = new WeakMap<Session, number>();

/** zinit 0.2.2x clients spelled methods `service.list`; jsonrpsee's are `service_list`. */
export function canonicalMethod(method: string): string {
  const m = /^(service|system|stream)\.(\w+)$/.exec(method);
  return m ? `${m[1]}_${m[2]}` : method;
}

export class Rpc {
  private readonly server: JSONRPCServer<Session>;
  /** Log followers now, over every connection and dialect. */
  private followers = 0;

  constructor(private readonly opts: RpcOptions) {
    // Errors are logged here, where the request is known; the package must stay quiet.
    this.server = new JSONRPCServer<Session>({ errorListener: () => undefined });
    const handlers = this.handlers();
    for (const method of METHOD_NAMES) {
      const handler = handlers[method] as Handler<MethodName>;
      this.server.addMethod(method, async (raw, session) => {
        try {
          return await handler(normaliseParams(method, raw) as Params<MethodName>, session);
        } catch (err) {
          throw toRpcError(err, method, opts.report);
        }
      });
    }
    for (const [method, fn] of Object.entries(opts.extraMethods ?? {})) {
      this.server.addMethod(method, async (raw) => {
        try {
          return await fn(raw);
        } catch (err) {
          throw toRpcError(err, method, opts.report);
        }
      });
    }
  }

  /**
   * Answer one parsed JSON value (a request, a notification or a batch).
   * Never rejects. Resolves null when nothing is to be written.
   */
  async receive(
    value: unknown,
    session: Session,
  ): Promise<JSONRPCResponse | JSONRPCResponse[] | null> {
    if (Array.isArray(value)) {
      if (value.length === 0) return errorResponse(null, ProtocolErrors.emptyBatch());
      if (value.length > MAX_BATCH) {
        return errorResponse(null, ProtocolErrors.batchTooLarge(value.length, MAX_BATCH));
      }
      const answers = await Promise.all(value.map((v) => this.receiveOne(v, session)));
      const out = answers.filter((a): a is JSONRPCResponse => a !== null);
      return out.length > 0 ? out : null;
    }
    return this.receiveOne(value, session);
  }

  private async receiveOne(value: unknown, session: Session): Promise<JSONRPCResponse | null> {
    if (!isRequestShaped(value)) {
      const id = isObject(value) && isId(value.id) ? value.id : null;
      return errorResponse(id, ProtocolErrors.notARequest());
    }
    const method = canonicalMethod(value.method);
    const request = method === value.method ? value : { ...value, method };
    try {
      return await this.server.receive(request, session);
    } catch (err) {
      this.opts.report(null, `internal error: ${messageOf(err)}`);
      return errorResponse(isId(value.id) ? value.id : null, ProtocolErrors.internal());
    }
  }

  private handlers(): Handlers {
    const { manager: m, logs, report } = this.opts;
    const audit = (session: Session, what: string): void =>
      report(null, `${what} (by ${session.peer})`);
    return {
      service_list: () => m.list(),
      service_list_full: () => m.listFull(),
      service_status: (p) => m.status(p.name),
      service_start: (p, s) => (audit(s, `start ${p.name}`), m.start(p.name)),
      service_stop: (p, s) => (audit(s, `stop ${p.name}`), m.stop(p.name)),
      service_restart: (p, s) => (audit(s, `restart ${p.name}`), m.restart(p.name)),
      service_monitor: (p, s) => (audit(s, `monitor ${p.name}`), m.monitor(p.name)),
      service_forget: (p, s) => (audit(s, `forget ${p.name}`), m.forget(p.name)),
      service_kill: (p, s) => (audit(s, `kill ${p.name} ${p.signal}`), m.kill(p.name, p.signal)),
      service_stats: async (p) => serviceStats(p.name, await m.pidOf(p.name)),
      service_create: (p, s) => (audit(s, `create ${p.name}`), m.createFile(p.name, p.content)),
      service_delete: (p, s) => (audit(s, `delete ${p.name}`), m.deleteFile(p.name)),
      service_get: (p) => m.readFile(p.name),
      system_start_http_server: async (p, s) => {
        audit(s, `start http server at ${p.address}`);
        return this.http().start(p.address);
      },
      system_stop_http_server: async (_p, s) => {
        audit(s, 'stop http server');
        await this.http().stop();
        return null;
      },
      system_shutdown: async (_p, s) => {
        audit(s, 'shutdown');
        if (m.isShuttingDown) throw Errors.alreadyShuttingDown();
        setImmediate(() => this.opts.onShutdown(false));
        return null;
      },
      system_reboot: async (_p, s) => {
        audit(s, 'reboot');
        if (m.isShuttingDown) throw Errors.alreadyShuttingDown();
        setImmediate(() => this.opts.onShutdown(true));
        return null;
      },
      stream_currentLogs: async (p, s) => {
        if (p.name !== undefined) await m.status(p.name);
        const q: LogQuery = p.name !== undefined ? { names: [p.name] } : {};
        const { entries, next } = logs.read(q);
        snapshotEnd.set(s, next);
        return entries.map(zinitLine);
      },
      stream_subscribeLogs: async (p, s) => {
        // Continues from where this connection's stream_currentLogs ended, so
        // nothing is lost or repeated between the snapshot and the follow.
        const from = snapshotEnd.get(s) ?? logs.cursor;
        const q: LogQuery = p.filter ? { names: [p.filter], from } : { from };
        const send = (result: string): void =>
          s.notify('stream_subscribeLogs', { subscription: id, result });
        const id: number = this.subscribe(s, 'stream_subscribeLogs', () =>
          logs.follow(q, {
            line: (e) => send(zinitLine(e)),
            dropped: (n) => send(`[-] sminitd: -- ${n} lines dropped --`),
            congested: () => s.backlog() > FOLLOW_BACKLOG,
          }),
        );
        return id;
      },
      stream_unsubscribeLogs: async (p, s) => {
        const stop = s.subscriptions.get(p.id);
        if (!stop) throw Errors.noSubscription(p.id);
        stop();
        s.subscriptions.delete(p.id);
        return null;
      },
      log_read: async (p) => {
        checkSince(p);
        const { entries, next, end, dropped } = logs.read(p, READ_PAGE);
        return { lines: entries.map(toWire), next, end, ...(dropped > 0 ? { dropped } : {}) };
      },
      log_follow: async (p, s) => {
        checkSince(p);
        const id: number = this.subscribe(s, 'log_follow', () =>
          logs.follow(p, {
            line: (e) => s.notify('log_line', { subscription: id, line: toWire(e) }),
            dropped: (n) => s.notify('log_line', { subscription: id, dropped: n }),
            congested: () => s.backlog() > FOLLOW_BACKLOG,
          }),
        );
        return id;
      },
      'rpc.discover': async () => openRpc(),
    };
  }

  /**
   * Count one more log follower; returns its release (safe to call twice),
   * or throws when MAX_FOLLOWERS are following. The text protocol's `log`
   * counts here too.
   */
  acquireFollower(): () => void {
    if (this.followers >= MAX_FOLLOWERS) {
      throw Errors.tooManyFollowers(MAX_FOLLOWERS);
    }
    this.followers++;
    let held = true;
    return () => {
      if (held) this.followers--;
      held = false;
    };
  }

  /**
   * A new subscription on `s`: checks both bounds, registers it, and starts
   * `follow` a tick later, once `id` is known to the caller. (Its lines cannot
   * overtake the reply: the connection holds notifications while a request
   * is unanswered.)
   */
  private subscribe(s: Session, method: string, follow: () => () => void): number {
    refuseStreams(s, method);
    if (s.subscriptions.size >= MAX_FOLLOWS_PER_CONNECTION) {
      throw Errors.tooManySubscriptions(MAX_FOLLOWS_PER_CONNECTION);
    }
    const release = this.acquireFollower();
    const id = nextSubscription++;
    let stop: (() => void) | null = null;
    let ended = false;
    s.subscriptions.set(id, () => {
      ended = true;
      stop?.();
      release();
    });
    setImmediate(() => {
      if (!ended) stop = follow();
    });
    return id;
  }

  private http(): HttpControl {
    const http = this.opts.http;
    if (!http) throw Errors.noHttpEndpoint();
    return http;
  }
}

function refuseStreams(s: Session, method: string): void {
  if (s.streams === false) {
    throw Errors.needsStream(method);
  }
}

// --- parameters ----------------------------------------------------------------

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
function isId(v: unknown): v is string | number | null {
  return typeof v === 'string' || typeof v === 'number' || v === null;
}
function isRequestShaped(v: unknown): v is JSONRPCRequest {
  return (
    isObject(v) &&
    v.jsonrpc === '2.0' &&
    typeof v.method === 'string' &&
    (v.id === undefined || isId(v.id)) &&
    (v.params === undefined || typeof v.params === 'object')
  );
}

function invalid(message: string): SminitError {
  return Errors.badParams(message);
}

function checkSince(q: LogQuery): void {
  if (q.since !== undefined && Number.isNaN(sinceMs(q.since))) {
    throw invalid(`since: expected epoch ms or an ISO 8601 date, got ${JSON.stringify(q.since)}`);
  }
}

// --- errors ----------------------------------------------------------------------

function toRpcError(
  err: unknown,
  method: string,
  report: (service: string | null, text: string) => void,
): JSONRPCErrorException {
  if (err instanceof SminitError)
    return new JSONRPCErrorException(err.message, codeOf(err), err.data);
  report(
    null,
    `internal error in ${method}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
  );
  const internal = ProtocolErrors.internal(`${method}: ${messageOf(err)}`);
  return new JSONRPCErrorException(internal.message, internal.code);
}

// --- rpc.discover ------------------------------------------------------------------

export function openRpc(): object {
  return {
    openrpc: '1.2.6',
    info: {
      title: 'sminit',
      version: '0.1.0',
      description: 'sminit service manager API (a superset of zinit’s JSON-RPC API)',
    },
    methods: METHOD_NAMES.map((name) => {
      const m = METHODS[name];
      return {
        name,
        summary: m.summary,
        paramStructure: 'either',
        params: m.params.map((p) => ({
          name: p.name,
          required: p.required,
          description: p.description,
          schema: p.schema,
        })),
        result: { name: 'result', schema: m.result },
      };
    }),
    components: { schemas: COMPONENT_SCHEMAS },
  };
}
