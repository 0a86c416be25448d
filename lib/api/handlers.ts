// What each API method does, in tables by group: the manager or log-ring call
// behind it and the audit line of each change. Gets checked parameters, throws
// domain errors (coded at the edge); knows nothing of JSON-RPC or connections.

import { Errors } from '../core/errors.js';
import type { Outcome, Selection } from '../supervise/manager.js';
import { codeOf } from './errors.js';
import { reloadResult } from './plan.js';
import { toWire, zinitLine } from '../logs/render.js';
import { type LogEntry, type LogStore, sinceMs } from '../logs/ring.js';
import type { Manager } from '../supervise/manager.js';
import { groupUsage, serviceStats } from './stats.js';
import { toStatus, zinitList } from './status.js';
import { VERSION } from './version.js';
import {
  COMPONENT_SCHEMAS,
  METHODS,
  METHOD_NAMES,
  type LogLine,
  type LogQuery,
  type ManyParams,
  type ManyResult,
  type MethodName,
  type Params,
  type Result,
} from './wire.js';
import type { HttpControl, Session } from './dispatch.js';
import { observe } from './observe.js';
import { count } from '../core/plural.js';

export type Handler<M extends MethodName> = (
  params: Params<M>,
  session: Session,
) => Promise<Result<M>>;
export type Handlers = { readonly [M in MethodName]: Handler<M> };
/** Which bound a subscription counts against: log followers or event followers. */
export type FollowerPool = 'logs' | 'events';

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
   * A new subscription on the session, within the bounds on followers of
   * its kind; `follow` starts it once its id is known, and returns its stop.
   */
  subscribe(
    session: Session,
    method: string,
    pool: FollowerPool,
    follow: (id: number) => () => void,
  ): number;
}

/** log_read answers at most this many lines; the rest is read on from `next`. */
export const READ_PAGE = 5000;
/**
 * A follower (of any subscription, in any dialect) with this many bytes
 * unsent is paused: its lines wait in the ring, and only those evicted
 * before it catches up are lost (and counted).
 */
const FOLLOW_BACKLOG = 1024 * 1024;
/**
 * A batched log_line notification holds lines of about this much text at
 * most, so a batch of long lines stays one reasonable message.
 */
export const NOTIFY_BATCH_BYTES = 256 * 1024;

/** Entries as wire lines, cut into runs of at most NOTIFY_BATCH_BYTES of text each. */
export function wireBatches(entries: readonly LogEntry[], send: (lines: LogLine[]) => void): void {
  let batch: LogLine[] = [];
  let bytes = 0;
  for (const e of entries) {
    const l = toWire(e);
    const size = l.text.length + (l.bytes?.length ?? 0);
    if (batch.length > 0 && bytes + size > NOTIFY_BATCH_BYTES) {
      send(batch);
      batch = [];
      bytes = 0;
    }
    batch.push(l);
    bytes += size;
  }
  if (batch.length > 0) send(batch);
}

/** Every method's handler. */
export function handlers(c: HandlerContext): Handlers {
  return {
    ...services(c),
    ...manyServices(c),
    ...serviceFiles(c),
    ...system(c),
    ...zinitStream(c),
    ...sminitLogs(c),
    ...observe(c),
  };
}

const services = ({ manager: m, audit }: HandlerContext) =>
  ({
    service_list: async () => zinitList(await m.views()),
    service_list_full: async () => (await m.views()).map((v) => toStatus(v)),
    service_list_unloaded: () => m.notLoadedList(),
    service_status: async (p) => {
      const { view, box } = await m.viewAndBox(p.name);
      return toStatus(view, Date.now(), groupUsage(box));
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
    service_stats: async (p) => {
      const { view, box } = await m.viewAndBox(p.name);
      return serviceStats(p.name, view.pid, box);
    },
  }) satisfies Partial<Handlers>;

/** What a request over many names, for the audit line. */
function named(p: ManyParams): string {
  return [...(p.names ?? []), ...(p.patterns ?? []), ...(p.all ? ['--all'] : [])].join(' ');
}

function selection(p: ManyParams): Selection {
  return {
    ...(p.names ? { names: p.names } : {}),
    ...(p.patterns ? { patterns: p.patterns } : {}),
    ...(p.all !== undefined ? { all: p.all } : {}),
  };
}

async function many(outcomes: Promise<Outcome[]>): Promise<ManyResult> {
  const results = (await outcomes).map((o) => ({
    name: o.name,
    ok: o.error === null,
    ...(o.error ? { error: { code: codeOf(o.error), message: o.error.message } } : {}),
    ...(o.view ? { status: toStatus(o.view) } : {}),
  }));
  return { results, failed: results.filter((r) => !r.ok).map((r) => r.name) };
}

/** Verbs over many services, one request each, and replicas. */
const manyServices = ({ manager: m, audit }: HandlerContext) =>
  ({
    services_start: (p, s) => (audit(s, `start ${named(p)}`), many(m.startMany(selection(p)))),
    services_stop: (p, s) => (audit(s, `stop ${named(p)}`), many(m.stopMany(selection(p)))),
    services_restart: (p, s) => (
      audit(s, `restart ${named(p)}`),
      many(m.restartMany(selection(p), p.timeout))
    ),
    services_kill: (p, s) => {
      const signal = p.signal ?? 'SIGTERM';
      audit(s, `kill ${named(p)} ${signal}`);
      return many(m.killMany(selection(p), signal));
    },
    services_forget: (p, s) => (audit(s, `forget ${named(p)}`), many(m.forgetMany(selection(p)))),
    services_status: (p) => many(m.statusMany(selection(p))),
    service_scale: (p, s) => (
      audit(s, `scale ${p.name} ${p.replicas}`),
      m.scale(p.name, p.replicas)
    ),
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
    system_reload: async (p, s) => {
      const dry = p.dry_run === true;
      audit(s, dry ? 'reload --dry-run' : 'reload');
      const { plan, applied } = await m.reload(dry);
      return reloadResult(plan, applied);
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
      return subscribe(s, 'stream_subscribeLogs', 'logs', (id) => {
        const send = (result: string): void =>
          s.notify('stream_subscribeLogs', { subscription: id, result });
        const line = (e: LogEntry): void => send(zinitLine(e));
        // One notification a line, as zinit's clients expect; the connection
        // writes a batch's worth of them in one go.
        return logs.follow(q, {
          line,
          lines: (entries) => entries.forEach(line),
          dropped: (n) => send(`[-] sminitd: -- ${count(n, 'line')} dropped --`),
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
      const { batch, ...q } = p;
      return subscribe(s, 'log_follow', 'logs', (id) => {
        const line = (e: LogEntry): void =>
          s.notify('log_line', { subscription: id, line: toWire(e) });
        const lines = (entries: readonly LogEntry[]): void =>
          batch
            ? wireBatches(entries, (ls) => s.notify('log_line', { subscription: id, lines: ls }))
            : entries.forEach(line);
        return logs.follow(q, {
          line,
          lines,
          dropped: (n) => s.notify('log_line', { subscription: id, dropped: n }),
          congested: () => s.backlog() > FOLLOW_BACKLOG,
        });
      });
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
