// What each API method does, in tables by group: the manager or log-ring call
// behind it and the audit line of each change. Gets checked parameters, throws
// domain errors (coded at the edge); knows nothing of JSON-RPC or connections.

import { Errors } from '../core/errors.js';
import { toWire, zinitLine } from '../logs/render.js';
import { type LogStore, sinceMs } from '../logs/ring.js';
import type { Manager } from '../supervise/manager.js';
import { groupUsage, serviceStats } from './stats.js';
import { toStatus, zinitList } from './status.js';
import { VERSION } from './version.js';
import {
  COMPONENT_SCHEMAS,
  METHODS,
  METHOD_NAMES,
  type LogQuery,
  type MethodName,
  type Params,
  type Result,
} from './wire.js';
import type { HttpControl, Session } from './dispatch.js';

export type Handler<M extends MethodName> = (
  params: Params<M>,
  session: Session,
) => Promise<Result<M>>;
export type Handlers = { readonly [M in MethodName]: Handler<M> };

/** What the tables work with; the dispatcher provides it. */
export interface HandlerContext {
  readonly manager: Manager;
  readonly logs: LogStore;
  /** Logs a change with who asked for it. */
  audit(session: Session, what: string): void;
  /** The HTTP endpoint; throws when the daemon has none. */
  http(): HttpControl;
  /** Called once system_shutdown / system_reboot has been answered. */
  onShutdown(reboot: boolean): void;
  /**
   * A new subscription on the session, within the bounds on followers;
   * `follow` starts it once its id is known, and returns its stop.
   */
  subscribe(session: Session, method: string, follow: (id: number) => () => void): number;
}

/** log_read answers at most this many lines; the rest is read on from `next`. */
export const READ_PAGE = 5000;
/**
 * A follower (of any subscription, in any dialect) with this many bytes
 * unsent is paused: its lines wait in the ring, and only those evicted
 * before it catches up are lost (and counted).
 */
const FOLLOW_BACKLOG = 1024 * 1024;

/** Every method's handler. */
export function handlers(c: HandlerContext): Handlers {
  return { ...services(c), ...serviceFiles(c), ...system(c), ...zinitStream(c), ...sminitLogs(c) };
}

const services = ({ manager: m, audit }: HandlerContext) =>
  ({
    service_list: async () => zinitList(await m.views()),
    service_list_full: async () => (await m.views()).map((v) => toStatus(v)),
    service_list_unloaded: () => m.notLoadedList(),
    service_status: async (p) => {
      const status = toStatus(await m.view(p.name));
      return { ...status, usage: await groupUsage(await m.boxOf(p.name)) };
    },
    service_start: (p, s) => (audit(s, `start ${p.name}`), m.start(p.name)),
    service_stop: (p, s) => (audit(s, `stop ${p.name}`), m.stop(p.name)),
    service_restart: async (p, s) => (
      audit(s, `restart ${p.name}`),
      toStatus(await m.restart(p.name, p.timeout))
    ),
    service_monitor: (p, s) => (audit(s, `monitor ${p.name}`), m.monitor(p.name)),
    service_forget: (p, s) => (audit(s, `forget ${p.name}`), m.forget(p.name)),
    service_kill: (p, s) => (audit(s, `kill ${p.name} ${p.signal}`), m.kill(p.name, p.signal)),
    service_stats: async (p) => serviceStats(p.name, await m.pidOf(p.name), await m.boxOf(p.name)),
  }) satisfies Partial<Handlers>;

const serviceFiles = ({ manager: m, audit }: HandlerContext) =>
  ({
    service_create: (p, s) => (audit(s, `create ${p.name}`), m.createFile(p.name, p.content)),
    service_delete: (p, s) => (audit(s, `delete ${p.name}`), m.deleteFile(p.name)),
    service_get: (p) => m.readFile(p.name),
  }) satisfies Partial<Handlers>;

const system = ({ manager: m, audit, http, onShutdown }: HandlerContext) => {
  const shutdown = (s: Session, reboot: boolean): Promise<null> => {
    audit(s, reboot ? 'reboot' : 'shutdown');
    if (m.isShuttingDown) throw Errors.alreadyShuttingDown();
    setImmediate(() => onShutdown(reboot));
    return Promise.resolve(null);
  };
  return {
    system_start_http_server: async (p, s) => {
      audit(s, `start http server at ${p.address}`);
      return http().start(p.address);
    },
    system_stop_http_server: async (_p, s) => {
      audit(s, 'stop http server');
      await http().stop();
      return null;
    },
    system_shutdown: async (_p, s) => shutdown(s, false),
    system_reboot: async (_p, s) => shutdown(s, true),
    'rpc.discover': async () => openRpc(),
  } satisfies Partial<Handlers>;
};

/**
 * Where the last stream_currentLogs snapshot of a connection ended: a
 * stream_subscribeLogs on the same connection continues from there, so the
 * two together lose and repeat no line.
 */
const snapshotEnd = new WeakMap<Session, number>();

/** zinit's log stream: formatted lines, a snapshot and a subscription. */
const zinitStream = ({ manager: m, logs, subscribe }: HandlerContext) =>
  ({
    stream_currentLogs: async (p, s) => {
      if (p.name !== undefined) await m.view(p.name);
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
      return subscribe(s, 'stream_subscribeLogs', (id) => {
        const send = (result: string): void =>
          s.notify('stream_subscribeLogs', { subscription: id, result });
        return logs.follow(q, {
          line: (e) => send(zinitLine(e)),
          dropped: (n) => send(`[-] sminitd: -- ${n} lines dropped --`),
          congested: () => s.backlog() > FOLLOW_BACKLOG,
        });
      });
    },
    stream_unsubscribeLogs: async (p, s) => {
      const stop = s.subscriptions.get(p.id);
      if (!stop) throw Errors.noSubscription(p.id);
      stop();
      s.subscriptions.delete(p.id);
      return null;
    },
  }) satisfies Partial<Handlers>;

/** sminit's logs: structured lines, read in pages or followed from a cursor. */
const sminitLogs = ({ logs, subscribe }: HandlerContext) =>
  ({
    log_read: async (p) => {
      checkSince(p);
      const { entries, next, end, dropped } = logs.read(p, READ_PAGE);
      return { lines: entries.map(toWire), next, end, ...(dropped > 0 ? { dropped } : {}) };
    },
    log_follow: async (p, s) => {
      checkSince(p);
      return subscribe(s, 'log_follow', (id) =>
        logs.follow(p, {
          line: (e) => s.notify('log_line', { subscription: id, line: toWire(e) }),
          dropped: (n) => s.notify('log_line', { subscription: id, dropped: n }),
          congested: () => s.backlog() > FOLLOW_BACKLOG,
        }),
      );
    },
  }) satisfies Partial<Handlers>;

function checkSince(q: LogQuery): void {
  if (q.since !== undefined && Number.isNaN(sinceMs(q.since))) {
    throw Errors.badParams(
      `since: expected epoch ms or an ISO 8601 date, got ${JSON.stringify(q.since)}`,
    );
  }
}

/** rpc.discover: this API as an OpenRPC document, generated from the wire types. */
export function openRpc(): object {
  return {
    openrpc: '1.2.6',
    info: {
      title: 'sminit',
      version: VERSION,
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
