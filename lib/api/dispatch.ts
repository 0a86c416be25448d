// JSON-RPC dispatch: turns parsed requests into calls of the method tables
// (handlers.ts), and their results or errors into responses; owns the bounds
// on batches and log followers. It wraps json-rpc-2.0 so none of that
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
import type { LogStore } from '../logs/ring.js';
import type { Manager } from '../supervise/manager.js';
import { type FollowerPool, type Handler, handlers } from './handlers.js';
import { normaliseParams } from './params.js';
import {
  METHODS,
  METHOD_NAMES,
  type MethodName,
  type NotificationMap,
  type Params,
} from './wire.js';

/** How a transport builds a Session: who is asking, and where notifications go. */
export interface SessionOptions {
  /** Who is asking, for the event log. */
  readonly peer: string;
  /** Delivers a subscription's notifications; without it subscriptions are refused (HTTP). */
  readonly notify?: <N extends keyof NotificationMap>(
    method: N,
    params: NotificationMap[N],
  ) => void;
  /** Bytes queued to the client and not yet written (0 when unknown). */
  readonly backlog?: () => number;
}

/**
 * What one connection gives the dispatcher: made the same way by every
 * transport, and closed by it when the connection ends.
 */
export class Session {
  /** Unsubscribe functions by subscription id; run by close(). */
  readonly subscriptions = new Map<number, () => void>();
  readonly peer: string;
  /** False where notifications cannot be delivered (HTTP): subscriptions are refused. */
  readonly streams: boolean;
  private readonly deliver: NonNullable<SessionOptions['notify']>;
  private readonly queued: () => number;
  private closed = false;

  constructor(opts: SessionOptions) {
    this.peer = opts.peer;
    this.streams = opts.notify !== undefined;
    this.deliver = opts.notify ?? (() => undefined);
    this.queued = opts.backlog ?? (() => 0);
  }

  notify<N extends keyof NotificationMap>(method: N, params: NotificationMap[N]): void {
    this.deliver(method, params);
  }

  /** Bytes queued to the client and not yet written: for pausing a slow follower. */
  backlog(): number {
    return this.queued();
  }

  /**
   * Keep a new subscription's stop until the connection ends; on a session
   * already closed (its client left while the request was answered) it stops
   * at once, so no follower outlives its connection.
   */
  hold(id: number, stop: () => void): void {
    if (this.closed) stop();
    else this.subscriptions.set(id, stop);
  }

  /** The connection ended: every subscription stops and releases its follower. */
  close(): void {
    this.closed = true;
    for (const stop of this.subscriptions.values()) stop();
    this.subscriptions.clear();
  }
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
/** Event subscribers in the whole daemon, every transport together. */
export const MAX_EVENT_FOLLOWERS = 256;
let nextSubscription = 1;

/** zinit 0.2.2x clients spelled methods `service.list`; jsonrpsee's are `service_list`. */
export function canonicalMethod(method: string): string {
  const m = /^(service|system|stream)\.(\w+)$/.exec(method);
  return m ? `${m[1]}_${m[2]}` : method;
}

export class Rpc {
  private readonly server: JSONRPCServer<Session>;
  /** Followers now, over every connection and dialect, by pool. */
  private readonly followers: Record<FollowerPool, number> = { logs: 0, events: 0 };
  /** JSON-RPC requests answered, over every transport: for metrics. */
  served = 0;

  constructor(private readonly opts: RpcOptions) {
    // Errors are logged here, where the request is known; the package must stay quiet.
    this.server = new JSONRPCServer<Session>({ errorListener: () => undefined });
    const table = handlers({
      manager: opts.manager,
      logs: opts.logs,
      audit: (session, what) => opts.report(null, `${what} (by ${session.peer})`),
      http: () => this.http(),
      onShutdown: opts.onShutdown,
      subscribe: (session, method, pool, follow) => this.subscribe(session, method, pool, follow),
    });
    for (const method of METHOD_NAMES) {
      const handler = table[method] as Handler<MethodName>;
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
    this.served++;
    try {
      return await this.server.receive(request, session);
    } catch (err) {
      this.opts.report(null, `internal error: ${messageOf(err)}`);
      return errorResponse(isId(value.id) ? value.id : null, ProtocolErrors.internal());
    }
  }

  /**
   * Count one more follower in `pool`; returns its release (safe to call
   * twice), or throws when the pool is full.
   */
  private acquireFollower(pool: FollowerPool): () => void {
    if (pool === 'logs' && this.followers.logs >= MAX_FOLLOWERS) {
      throw Errors.tooManyFollowers(MAX_FOLLOWERS);
    }
    if (pool === 'events' && this.followers.events >= MAX_EVENT_FOLLOWERS) {
      throw Errors.tooManyEventFollowers(MAX_EVENT_FOLLOWERS);
    }
    this.followers[pool]++;
    let held = true;
    return () => {
      if (held) this.followers[pool]--;
      held = false;
    };
  }

  /**
   * A new subscription on `s`: checks both bounds, registers it, and starts
   * `follow` a tick later, once `id` is known to the caller. (Its lines cannot
   * overtake the reply: the connection holds notifications while a request
   * is unanswered.)
   */
  private subscribe(
    s: Session,
    method: string,
    pool: FollowerPool,
    follow: (id: number) => () => void,
  ): number {
    refuseStreams(s, method);
    if (s.subscriptions.size >= MAX_FOLLOWS_PER_CONNECTION) {
      throw Errors.tooManySubscriptions(MAX_FOLLOWS_PER_CONNECTION);
    }
    const release = this.acquireFollower(pool);
    const id = nextSubscription++;
    let stop: (() => void) | null = null;
    let ended = false;
    s.hold(id, () => {
      ended = true;
      stop?.();
      release();
    });
    setImmediate(() => {
      if (!ended) stop = follow(id);
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
  if (!s.streams) {
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

// --- errors ----------------------------------------------------------------------

/** The system out of what a request needed: descriptors, memory, buffers. */
const EXHAUSTED: ReadonlySet<string> = new Set(['EMFILE', 'ENFILE', 'ENOMEM', 'ENOBUFS']);

function outOfResources(err: unknown): err is NodeJS.ErrnoException {
  return err instanceof Error && EXHAUSTED.has((err as NodeJS.ErrnoException).code ?? '');
}

function toRpcError(
  err: unknown,
  method: string,
  report: (service: string | null, text: string) => void,
): JSONRPCErrorException {
  if (err instanceof SminitError)
    return new JSONRPCErrorException(err.message, codeOf(err), err.data);
  if (outOfResources(err)) {
    // Not a bug: the request may succeed once the system has room again.
    report(null, `${method} refused by the system: ${err.message}`);
    const refused = ProtocolErrors.systemRefused(method, err.message);
    return new JSONRPCErrorException(refused.message, refused.code);
  }
  report(
    null,
    `internal error in ${method}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
  );
  const internal = ProtocolErrors.internal(`${method}: ${messageOf(err)}`);
  return new JSONRPCErrorException(internal.message, internal.code);
}
