// GET /metrics: the daemon and every service in Prometheus's text exposition
// format (version 0.0.4), made when scraped from the manager's views, the
// log ring and /proc; nothing is sampled in between, so an idle daemon stays
// idle. Written here rather than with prom-client: that library instruments
// a process's own counters (its default collectors arm an event-loop timer),
// while this is a collector of state others keep, read at scrape time.

import { readdir } from 'node:fs/promises';
import { STATE_KINDS, hasProcess, isUp } from '../core/state.js';
import { SIGNALS } from '../core/signals.js';
import type { LogStore } from '../logs/ring.js';
import { type ProcStat, clockTicks, pageSize, processTable } from '../os/procfs.js';
import type { Manager } from '../supervise/manager.js';
import type { ServiceView } from '../supervise/view.js';
import { STARTED_AT } from './observe.js';
import { VERSION } from './version.js';

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export interface MetricsSource {
  readonly manager: Manager;
  readonly logs: LogStore;
  /** JSON-RPC requests answered so far. */
  readonly served: () => number;
}

type Labels = Readonly<Record<string, string>>;
type Sample = readonly [Labels, number];

/** A label value as the format quotes it. */
const quote = (v: string): string =>
  v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');

function value(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (!Number.isFinite(n)) return n > 0 ? '+Inf' : '-Inf';
  return String(n);
}

/** One metric family: HELP, TYPE and its samples. */
function family(
  name: string,
  type: 'gauge' | 'counter',
  help: string,
  samples: readonly Sample[],
): string {
  const lines = [`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`];
  for (const [labels, v] of samples) {
    const l = Object.entries(labels).map(([k, x]) => `${k}="${quote(x)}"`);
    lines.push(`${name}${l.length ? `{${l.join(',')}}` : ''} ${value(v)}`);
  }
  return lines.join('\n');
}

/** CPU, memory and tasks of one service's process tree, as /proc has them now. */
interface TreeUse {
  readonly cpuSeconds: number;
  readonly memoryBytes: number;
  readonly tasks: number;
}

/** The process table by parent, read once for every service. */
function childrenOf(table: readonly ProcStat[]): Map<number, ProcStat[]> {
  const children = new Map<number, ProcStat[]>();
  for (const p of table) {
    const list = children.get(p.ppid);
    if (list === undefined) children.set(p.ppid, [p]);
    else list.push(p);
  }
  return children;
}

function treeUse(main: ProcStat, children: ReadonlyMap<number, readonly ProcStat[]>): TreeUse {
  // The main process's own time and what it reaped; below it, each one's own.
  let ticks = main.cutime + main.cstime;
  let pages = 0;
  let tasks = 0;
  const seen = new Set<number>();
  const queue = [main];
  for (let head = 0; head < queue.length; head++) {
    const p = queue[head] as ProcStat;
    ticks += p.utime + p.stime;
    pages += p.rssPages;
    tasks += p.threads;
    for (const c of children.get(p.pid) ?? []) {
      if (!seen.has(c.pid)) queue.push(c);
      seen.add(c.pid);
    }
  }
  return { cpuSeconds: ticks / clockTicks(), memoryBytes: pages * pageSize(), tasks };
}

/** The last exit as one number: its code, or 128 + the signal's number, as a shell reports it. */
function exitCode(v: ServiceView): number | null {
  const e = v.lastExit;
  if (e === null) return null;
  if (e.signal === null) return e.code ?? 0;
  const n = (SIGNALS as Readonly<Record<string, number>>)[e.signal];
  return n === undefined ? 128 : 128 + n;
}

/** One metric: its name, type and help, and how to read its value (null: no sample). */
interface Metric<C> {
  readonly name: string;
  readonly type: 'gauge' | 'counter';
  readonly help: string;
  readonly read: (c: C) => number | null;
}

/** What a service's metrics read: its view, and its processes as /proc has them. */
interface ServiceContext {
  readonly view: ServiceView;
  readonly use: TreeUse | undefined;
}

const SERVICE_METRICS: readonly Metric<ServiceContext>[] = [
  {
    name: 'sminit_service_up',
    type: 'gauge',
    help: 'Whether a process of the service is running.',
    read: ({ view: v }) => (hasProcess(v.state) && v.pid > 0 ? 1 : 0),
  },
  {
    name: 'sminit_service_ready',
    type: 'gauge',
    help: 'Whether the service is up for its dependants: running and ready, or a oneshot that succeeded.',
    read: ({ view: v }) => (isUp(v.state) ? 1 : 0),
  },
  {
    name: 'sminit_service_target_up',
    type: 'gauge',
    help: 'Whether the service is meant to be up (1) or down (0).',
    read: ({ view: v }) => (v.target === 'up' ? 1 : 0),
  },
  {
    name: 'sminit_service_restarts_total',
    type: 'counter',
    help: 'Restarts since the service was tracked.',
    read: ({ view: v }) => v.counters.restarts,
  },
  {
    name: 'sminit_service_last_exit_code',
    type: 'gauge',
    help: 'How the last run ended: its exit code, or 128 plus the signal that killed it.',
    read: ({ view: v }) => exitCode(v),
  },
  {
    name: 'sminit_service_cpu_seconds_total',
    type: 'counter',
    help: 'User and system CPU time of the service’s processes now running (and the children they reaped).',
    read: ({ use }) => use?.cpuSeconds ?? null,
  },
  {
    name: 'sminit_service_memory_bytes',
    type: 'gauge',
    help: 'Resident memory of the service’s processes.',
    read: ({ use }) => use?.memoryBytes ?? null,
  },
  {
    name: 'sminit_service_tasks',
    type: 'gauge',
    help: 'Threads in the service’s processes.',
    read: ({ use }) => use?.tasks ?? null,
  },
  {
    name: 'sminit_service_probe_failures_total',
    type: 'counter',
    help: 'Failed checks of the service’s health test and probes since it was tracked.',
    read: ({ view: v }) => v.counters.probeFailures,
  },
  {
    name: 'sminit_service_give_ups_total',
    type: 'counter',
    help: 'Times a restart limit made sminit stop restarting the service.',
    read: ({ view: v }) => v.counters.giveUps,
  },
];

/** What the daemon's own metrics read, taken once per scrape. */
interface DaemonContext {
  readonly src: MetricsSource;
  readonly services: number;
  readonly now: number;
  readonly cpu: NodeJS.CpuUsage;
  readonly fds: number;
}

const DAEMON_METRICS: readonly Metric<DaemonContext>[] = [
  {
    name: 'sminit_uptime_seconds',
    type: 'gauge',
    help: 'Seconds since sminitd started.',
    read: (c) => (c.now - STARTED_AT) / 1000,
  },
  { name: 'sminit_services', type: 'gauge', help: 'Services tracked.', read: (c) => c.services },
  {
    name: 'sminit_shutting_down',
    type: 'gauge',
    help: 'Whether sminitd is stopping everything.',
    read: (c) => (c.src.manager.isShuttingDown ? 1 : 0),
  },
  {
    name: 'sminit_requests_total',
    type: 'counter',
    help: 'JSON-RPC requests served, over every transport.',
    read: (c) => c.src.served(),
  },
  {
    name: 'sminit_events_total',
    type: 'counter',
    help: 'Events recorded: the newest event cursor.',
    read: (c) => c.src.manager.events.cursor,
  },
  {
    name: 'sminit_log_ring_bytes',
    type: 'gauge',
    help: 'Bytes the log ring holds, as its budget counts them.',
    read: (c) => c.src.logs.bytes,
  },
  {
    name: 'sminit_log_ring_capacity_bytes',
    type: 'gauge',
    help: 'The log ring’s budget (sminitd -b).',
    read: (c) => c.src.logs.limits.maxBytes,
  },
  {
    name: 'sminit_log_ring_lines',
    type: 'gauge',
    help: 'Lines the log ring holds.',
    read: (c) => c.src.logs.size,
  },
  {
    name: 'sminit_log_dropped_lines_total',
    type: 'counter',
    help: 'Lines dropped from the log ring to make room.',
    read: (c) => c.src.logs.evicted,
  },
  {
    name: 'process_cpu_seconds_total',
    type: 'counter',
    help: 'User and system CPU time of sminitd itself.',
    read: (c) => (c.cpu.user + c.cpu.system) / 1e6,
  },
  {
    name: 'process_resident_memory_bytes',
    type: 'gauge',
    help: 'Resident memory of sminitd itself.',
    read: () => process.memoryUsage.rss(),
  },
  {
    name: 'process_start_time_seconds',
    type: 'gauge',
    help: 'When sminitd started, in seconds since the epoch.',
    read: () => STARTED_AT / 1000,
  },
  {
    name: 'process_open_fds',
    type: 'gauge',
    help: 'Descriptors sminitd has open.',
    read: (c) => c.fds,
  },
];

function serviceFamilies(
  views: readonly ServiceView[],
  use: ReadonlyMap<string, TreeUse>,
): string[] {
  const contexts = views.map((view) => ({ view, use: use.get(view.name) }));
  // One family with a sample per state, as kube-state-metrics writes a phase.
  const states = views.flatMap((v) =>
    STATE_KINDS.map((k) => [{ service: v.name, state: k }, v.state.kind === k ? 1 : 0] as const),
  );
  const help = 'The state the service is in (1) and those it is not (0).';
  return [
    family('sminit_service_state', 'gauge', help, states),
    ...SERVICE_METRICS.map((m) => {
      const samples = contexts.flatMap((c) => {
        const x = m.read(c);
        return x === null ? [] : [[{ service: c.view.name }, x] as const];
      });
      return family(m.name, m.type, m.help, samples);
    }),
  ];
}

async function daemonFamilies(src: MetricsSource, services: number): Promise<string[]> {
  const fds = await readdir('/proc/self/fd').then(
    (l) => l.length,
    () => NaN,
  );
  const c: DaemonContext = { src, services, now: Date.now(), cpu: process.cpuUsage(), fds };
  const info = family('sminit_build_info', 'gauge', 'sminit’s version, as a label; always 1.', [
    [{ version: VERSION }, 1],
  ]);
  return [
    info,
    ...DAEMON_METRICS.map((m) => family(m.name, m.type, m.help, [[{}, m.read(c) ?? NaN]])),
  ];
}

/** The whole exposition, read now. */
export async function metricsText(src: MetricsSource): Promise<string> {
  const views = await src.manager.views();
  const running = views.filter((v) => v.pid > 0);
  const use = new Map<string, TreeUse>();
  if (running.length > 0) {
    const table = await processTable();
    const byPid = new Map(table.map((p) => [p.pid, p]));
    const children = childrenOf(table);
    for (const v of running) {
      const main = byPid.get(v.pid);
      if (main) use.set(v.name, treeUse(main, children));
    }
  }
  const families = [...(await daemonFamilies(src, views.length)), ...serviceFamilies(views, use)];
  return families.join('\n') + '\n';
}
