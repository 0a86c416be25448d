// Wire types: method names, parameters, results and notifications of the
// JSON-RPC API, defined once and shared by the daemon, the CLI, the client and
// the tests. rpc.discover is generated from METHODS. Nothing here does I/O,
// and the client imports this file alone, so it stays free of dependencies.

import { STATE_KINDS, type StateKind } from '../core/state.js';
import type { DependencyCondition } from '../core/definition.js';
import {
  LOG_STREAMS,
  type LogLine,
  type LogQuery,
  type LogRead,
  type LogStream,
} from '../core/logline.js';

import {
  EVENT_KINDS,
  type EventBody,
  type EventKind,
  type EventQuery,
  type EventRead,
  type SminitEvent,
} from '../core/events.js';
import type { SignalName } from '../core/signals.js';

export { EVENT_KINDS, LOG_STREAMS };
export type { LogLine, LogQuery, LogRead, LogStream };
export type { SignalName, StateKind };
export type * from '../core/events.js';

/** log_follow's parameters: a query, and whether lines may come several to a notification. */
export interface LogFollow extends LogQuery {
  /**
   * Send `log_line {subscription, lines: [...]}`, many lines a notification,
   * instead of one `{line}` each (the default, for clients written before).
   */
  readonly batch?: boolean;
}

export interface ExitWire {
  readonly pid: number;
  readonly code: number | null;
  readonly signal: string | null;
  readonly at: string;
  /** How it ended, as the log says it (`killed by the OOM killer: memory_max 512M reached`). */
  readonly description: string;
  /** Whether the kernel's OOM killer ended it. */
  readonly oom_kill: boolean;
}

/** Who a service runs as; null in a status when it runs as sminitd does. */
export interface UserWire {
  readonly user: string;
  readonly uid: number;
  readonly group: string;
  readonly gid: number;
  readonly groups: readonly number[];
}

/** One resource limit; `unlimited` for RLIM_INFINITY. */
export interface RlimitWire {
  readonly soft: number | 'unlimited';
  readonly hard: number | 'unlimited';
}

/** The limits sminit sets on a service's processes; null where the file sets none. */
export interface LimitsWire {
  /** Octal, as written: `0027`. */
  readonly umask: string | null;
  readonly nice: number | null;
  readonly oom_score_adj: number | null;
  readonly rlimits: Readonly<Record<string, RlimitWire>>;
  /** Bytes. */
  readonly memory_max: number | null;
  readonly memory_high: number | null;
  readonly pids_max: number | null;
  /** A share of one CPU, as `150%`. */
  readonly cpu_max: string | null;
  readonly cpu_weight: number | null;
}

/** What a service's cgroup holds now (service_status and service_stats). */
export interface GroupUsageWire {
  /** Every process of the service, however it left its process group. */
  readonly processes: number;
  readonly tasks: number;
  /** Bytes: the memory controller's count, or the sum of the processes' resident memory without one. */
  readonly memory_usage: number;
  readonly memory_source: 'cgroup' | 'processes';
  /** CPU time of the whole tree since the group was made, exited processes included. */
  readonly cpu_time_ms: number;
  readonly oom_kills: number | null;
}

/** A readiness or liveness probe as it stands. */
export interface ProbeWire {
  readonly role: 'readiness' | 'liveness';
  readonly kind: 'exec' | 'http' | 'tcp';
  /** The command, the URL, or host:port. */
  readonly target: string;
  readonly passing: boolean;
  readonly last: { readonly ok: boolean; readonly reason: string; readonly at: string } | null;
  /** Failures in a row (0 after a pass). */
  readonly failures: number;
  /** Passes in a row (0 after a failure). */
  readonly successes: number;
  readonly next_run: string | null;
}

/** What a service that notifies (`notify:`) last said, and its watchdog. */
export interface NotifyWire {
  readonly mode: 'systemd' | 'fd';
  /** The descriptor of `fd:N`; null for systemd. */
  readonly fd: number | null;
  /** The NOTIFY_SOCKET path (systemd), once opened. */
  readonly socket: string | null;
  /** The last STATUS= text. */
  readonly status: string | null;
  readonly main_pid: number | null;
  readonly reloading: boolean;
  readonly stopping: boolean;
  readonly watchdog_ms: number | null;
  /** When the next WATCHDOG=1 is due. */
  readonly watchdog_deadline: string | null;
}

export interface RestartLimitWire {
  readonly count: number;
  readonly window_ms: number;
  /** Restarts within the window now. */
  readonly restarts_in_window: number;
  readonly cooldown_ms: number | null;
}

export interface ScheduleWire {
  readonly cron: string;
  /** null: local time. */
  readonly timezone: string | null;
  readonly next_run: string | null;
  /** How the last run ended; null before the first. */
  readonly last_run_succeeded: boolean | null;
}

/** What an earlier sminitd of this socket had left running of a service, ended at start-up. */
export interface RecoveredWire {
  /** Processes ended. */
  readonly ended: number;
  /** Processes that would not end even on SIGKILL (stuck in the kernel). */
  readonly stuck: number;
  /** The pids of the gone daemons that had started them. */
  readonly daemons: readonly number[];
  readonly at: string;
}

export interface ServiceStatus {
  // zinit's fields, with zinit's meaning.
  readonly name: string;
  readonly pid: number;
  /** zinit's state string: Running, Blocked, Spawned, Success, Error(...), ... */
  readonly state: string;
  readonly target: 'Up' | 'Down';
  /** Each dependency and its zinit state (`Unknown` when not tracked). */
  readonly after: Readonly<Record<string, string>>;
  // sminit's own.
  readonly status: StateKind;
  readonly reason: string;
  readonly since: string;
  readonly uptime_ms: number | null;
  readonly restarts: number;
  readonly oneshot: boolean;
  readonly last_exit: ExitWire | null;
  readonly next_attempt: string | null;
  /** Each dependency and its sminit state (`untracked` when not tracked). */
  readonly dependencies: Readonly<Record<string, StateKind | 'untracked'>>;
  /** What it waits for of each dependency: `up` (the list form), started, ready, succeeded, completed. */
  readonly conditions: Readonly<Record<string, DependencyCondition>>;
  readonly file: string;
  /** Running and ready (true), running but not ready or still starting (false); null otherwise. */
  readonly ready: boolean | null;
  readonly probes: readonly ProbeWire[];
  readonly notify: NotifyWire | null;
  readonly restart_limit: RestartLimitWire | null;
  readonly schedule: ScheduleWire | null;
  /** Leftovers of an earlier sminitd ended before this one started it; null when there were none. */
  readonly recovered: RecoveredWire | null;
  readonly user: UserWire | null;
  /** The service's cgroup while it has processes (as /proc/PID/cgroup names it); null without. */
  readonly cgroup: string | null;
  readonly limits: LimitsWire;
  /** service_status only: what its cgroup holds now; null without a cgroup, while empty, or unreadable. */
  readonly usage?: GroupUsageWire | null;
}

/** A service whose file was found but not loaded, and why. */
export interface NotLoadedWire {
  readonly name: string;
  readonly file: string;
  /** Every problem at file:line:col, or its cycle; one a line. */
  readonly why: string;
}

export interface ProcessStats {
  readonly pid: number;
  readonly memory_usage: number;
  readonly cpu_usage: number;
}
export interface ServiceStats extends ProcessStats {
  readonly name: string;
  /** The other processes: every member of its cgroup, or the main process's descendants without one. */
  readonly children: readonly ProcessStats[];
}

/** The daemon and every service at one instant, with the event cursor to follow on from. */
export interface SystemStatus {
  readonly version: string;
  readonly pid: number;
  /** When sminitd started. */
  readonly started: string;
  readonly uptime_ms: number;
  readonly shutting_down: boolean;
  /** The newest event cursor when read: events_subscribe {after: cursor} continues this picture. */
  readonly cursor: number;
  readonly services: ServiceStatus[];
}

/** What a dependant needs of a dependency before it starts. */
export type EdgeCondition = 'started' | 'ready' | 'succeeded' | 'completed' | 'tracked';

export interface GraphNode {
  readonly name: string;
  /** Its state; `untracked` for a name some `after` lists but no service file loaded. */
  readonly status: StateKind | 'untracked';
  readonly target: 'Up' | 'Down' | null;
  readonly oneshot: boolean;
  readonly reason: string;
}

export interface GraphEdge {
  /** The dependant. */
  readonly from: string;
  /** The dependency it lists in `after`. */
  readonly to: string;
  /** What `to` must be for `from` to start. */
  readonly condition: EdgeCondition;
  /** Whether `to` is that now. */
  readonly met: boolean;
}

export interface Graph {
  readonly nodes: GraphNode[];
  readonly edges: GraphEdge[];
}

/** One service on a chain of waiting. */
export interface WhyStep {
  readonly service: string;
  readonly status: StateKind | 'untracked';
  readonly reason: string;
}

/** One service on the critical chain of a start. */
export interface ChainLink {
  readonly service: string;
  readonly spawned_at: string;
  /** When it was up (running, or a oneshot that exited 0). */
  readonly up_at: string;
  /** From sminitd's start to `up_at`. */
  readonly at_ms: number;
  /** From its spawn to `up_at`. */
  readonly took_ms: number;
}

export interface Why {
  readonly service: string;
  readonly status: StateKind;
  readonly reason: string;
  /** One sentence a chain: `web waits for api, which waits for db, whose health test has failed 4 times: …`. */
  readonly summary: string[];
  /** Each chain of waiting from the service to a root cause; the service alone when it waits for nothing. */
  readonly chains: WhyStep[][];
  /** Its last start: the service, then the dependency that came up last before it, and so on; null when it never came up. */
  readonly critical: ChainLink[] | null;
}

/** One service's part of a request over many: done, with its status where it has one, or why not. */
export interface ServiceResult {
  readonly name: string;
  readonly ok: boolean;
  readonly error?: { readonly code: number; readonly message: string };
  readonly status?: ServiceStatus;
}

/** A request over many services: one result each, in the order they were done. */
export interface ManyResult {
  readonly results: readonly ServiceResult[];
  /** The services (or patterns) that failed, in order; empty when all went well. */
  readonly failed: readonly string[];
}

/** Which services a request over many means: by name, by shell-style pattern, or all. */
export interface ManyParams {
  readonly names?: readonly string[];
  readonly patterns?: readonly string[];
  readonly all?: boolean;
}

export type PlanAction = 'start' | 'stop' | 'restart' | 'update' | 'none' | 'refuse';

/** One line of a reload's plan. */
export interface PlanLine {
  readonly name: string;
  readonly action: PlanAction;
  /** `+` start, `-` stop, `~` restart or update, `!` refused, ` ` nothing. */
  readonly mark: '+' | '-' | '~' | '!' | ' ';
  /** Why, in a few words: `new`, `removed`, `exec changed`, `replicas 3 → 5`… */
  readonly why: string;
  /** The keys that changed, for a restart or an update. */
  readonly changed: readonly string[];
  /** A refused file's problems, each as `file:line:col: message`. */
  readonly problems: readonly string[];
  /** The dependency cycle a refused change would close, as a closed path. */
  readonly cycle: readonly string[] | null;
}

export interface ReloadResult {
  /** False for a dry run: nothing was changed. */
  readonly applied: boolean;
  readonly changes: readonly PlanLine[];
  /** How many lines are refusals: non-zero means something was not applied. */
  readonly refused: number;
  /** Tracked services the reload left exactly as they were. */
  readonly unchanged: number;
}

export interface ScaleResult {
  readonly name: string;
  readonly replicas: number;
  readonly started: readonly string[];
  /** Highest number first, the order they stopped in. */
  readonly stopped: readonly string[];
}

export interface MethodMap {
  service_list: { params: Record<string, never>; result: Record<string, string> };
  service_status: { params: { name: string }; result: ServiceStatus };
  service_start: { params: { name: string }; result: null };
  service_stop: { params: { name: string }; result: null };
  service_restart: { params: { name: string; timeout?: number }; result: ServiceStatus };
  service_monitor: { params: { name: string }; result: null };
  service_forget: { params: { name: string }; result: null };
  service_kill: { params: { name: string; signal: SignalName | (string & {}) }; result: null };
  service_stats: { params: { name: string }; result: ServiceStats };
  service_create: { params: { name: string; content: Record<string, unknown> }; result: string };
  service_delete: { params: { name: string }; result: string };
  service_get: { params: { name: string }; result: Record<string, unknown> };
  service_list_full: { params: Record<string, never>; result: ServiceStatus[] };
  service_scale: { params: { name: string; replicas: number }; result: ScaleResult };
  services_start: { params: ManyParams; result: ManyResult };
  services_stop: { params: ManyParams; result: ManyResult };
  services_restart: { params: ManyParams & { timeout?: number }; result: ManyResult };
  services_kill: { params: ManyParams & { signal?: string }; result: ManyResult };
  services_forget: { params: ManyParams; result: ManyResult };
  services_status: { params: ManyParams; result: ManyResult };
  system_reload: { params: { dry_run?: boolean }; result: ReloadResult };
  service_list_unloaded: { params: Record<string, never>; result: NotLoadedWire[] };
  system_shutdown: { params: Record<string, never>; result: null };
  system_reboot: { params: Record<string, never>; result: null };
  system_start_http_server: { params: { address: string }; result: string };
  system_stop_http_server: { params: Record<string, never>; result: null };
  stream_currentLogs: { params: { name?: string }; result: string[] };
  stream_subscribeLogs: { params: { filter?: string }; result: number };
  stream_unsubscribeLogs: { params: { id: number }; result: null };
  log_read: { params: LogQuery; result: LogRead };
  log_follow: { params: LogFollow; result: number };
  events_read: { params: EventQuery; result: EventRead };
  events_subscribe: { params: EventQuery; result: number };
  events_unsubscribe: { params: { id: number }; result: null };
  system_status: { params: Record<string, never>; result: SystemStatus };
  service_graph: { params: Record<string, never>; result: Graph };
  service_why: { params: { name: string }; result: Why };
  'rpc.discover': { params: Record<string, never>; result: object };
}
export type MethodName = keyof MethodMap;
export type Params<M extends MethodName> = MethodMap[M]['params'];
export type Result<M extends MethodName> = MethodMap[M]['result'];

/** Notification methods the daemon sends on a subscription. */
export interface NotificationMap {
  /** zinit's shape: `result` is one formatted line. */
  stream_subscribeLogs: { subscription: number; result: string };
  /**
   * sminit's: one structured line (`line`), several in seq order (`lines`, when
   * the follow asked for `batch`), or how many lines a slow follower missed.
   */
  log_line: {
    subscription: number;
    line?: LogLine;
    lines?: readonly LogLine[];
    dropped?: number;
  };
  /** An event, or how many events after the cursor the history no longer held. */
  event: { subscription: number; event?: SminitEvent; lost?: number };
}

type JsonSchema = Readonly<Record<string, unknown>>;
interface ParamSpec {
  readonly name: string;
  readonly schema: JsonSchema;
  readonly required: boolean;
  readonly description: string;
}
export interface MethodSpec {
  readonly summary: string;
  /** In positional order: a params array maps onto these names. */
  readonly params: readonly ParamSpec[];
  readonly result: JsonSchema;
  /** Changes state (as opposed to reading it). */
  readonly mutates: boolean;
}

const nameParam: ParamSpec = {
  name: 'name',
  schema: { type: 'string' },
  required: true,
  description: 'service name',
};
const queryParams: readonly ParamSpec[] = [
  {
    name: 'names',
    schema: { type: 'array', items: { type: 'string' } },
    required: false,
    description: 'services to include (all when absent)',
  },
  {
    name: 'n',
    schema: { type: 'integer', minimum: 0 },
    required: false,
    description: 'at most this many recent lines',
  },
  {
    name: 'from',
    schema: { type: 'integer', minimum: 0 },
    required: false,
    description: 'only lines with seq >= from',
  },
  {
    name: 'until',
    schema: { type: 'integer', minimum: 0 },
    required: false,
    description: 'only lines with seq < until',
  },
  {
    name: 'since',
    schema: { type: ['integer', 'string'] },
    required: false,
    description: 'only lines logged at or after this time: epoch ms or an ISO 8601 date',
  },
  {
    name: 'stream',
    schema: {
      anyOf: [
        { type: 'string', enum: LOG_STREAMS },
        { type: 'array', items: { type: 'string', enum: LOG_STREAMS } },
      ],
    },
    required: false,
    description: 'only this stream, or these streams',
  },
];
const eventParams: readonly ParamSpec[] = [
  {
    name: 'after',
    schema: { type: 'integer', minimum: 0 },
    required: false,
    description:
      'only events after this cursor (the last one seen): resuming loses and repeats none',
  },
  {
    name: 'since',
    schema: { type: ['integer', 'string'] },
    required: false,
    description: 'only events at or after this time: epoch ms or an ISO 8601 date',
  },
  {
    name: 'names',
    schema: { type: 'array', items: { type: 'string' } },
    required: false,
    description: 'only events about these services (and the daemon’s own)',
  },
  {
    name: 'kinds',
    schema: { type: 'array', items: { type: 'string', enum: EVENT_KINDS } },
    required: false,
    description: 'only these kinds of event',
  },
  {
    name: 'n',
    schema: { type: 'integer', minimum: 0 },
    required: false,
    description: 'at most this many of the most recent events',
  },
];

const manyParams: readonly ParamSpec[] = [
  {
    name: 'names',
    schema: { type: 'array', items: { type: 'string' } },
    required: false,
    description: "services by name (a replicated service's name means its replicas)",
  },
  {
    name: 'patterns',
    schema: { type: 'array', items: { type: 'string' } },
    required: false,
    description: 'shell-style patterns over the tracked names: *, ?, [a-z], [!x]',
  },
  {
    name: 'all',
    schema: { type: 'boolean' },
    required: false,
    description: 'every tracked service',
  },
];
const manyResult: JsonSchema = { $ref: '#/components/schemas/ManyResult' };
const many = (summary: string, extra: readonly ParamSpec[] = []): MethodSpec => ({
  summary,
  params: [...manyParams, ...extra],
  result: manyResult,
  mutates: true,
});
const statusSchema: JsonSchema = { $ref: '#/components/schemas/ServiceStatus' };
const nul: JsonSchema = { type: 'null' };
const svc = (summary: string, mutates = true, result: JsonSchema = nul): MethodSpec => ({
  summary,
  params: [nameParam],
  result,
  mutates,
});
const sys = (summary: string, result: JsonSchema = nul, mutates = true): MethodSpec => ({
  summary,
  params: [],
  result,
  mutates,
});

export const METHODS: { readonly [M in MethodName]: MethodSpec } = {
  service_list: sys(
    'Every tracked service and its zinit state string',
    { type: 'object', additionalProperties: { type: 'string' } },
    false,
  ),
  service_status: svc('Status of one service', false, statusSchema),
  service_start: svc('Set the target up and start the service once its dependencies are up'),
  service_stop: svc(
    'Set the target down and stop the service; answers once its processes are gone',
  ),
  service_restart: {
    summary:
      'Stop, then start; answers when it is up again (running, or a oneshot that succeeded), or why not',
    params: [
      nameParam,
      {
        name: 'timeout',
        schema: { type: 'integer', minimum: 0 },
        required: false,
        description: 'how long to wait for it to come up, in ms (default 60000)',
      },
    ],
    result: statusSchema,
    mutates: true,
  },
  service_monitor: svc('Track the service from NAME.yaml in the config directory and start it'),
  service_forget: svc('Stop the service and untrack it'),
  service_kill: {
    summary: "Send a signal to the service's process group",
    params: [
      nameParam,
      { name: 'signal', schema: { type: 'string' }, required: true, description: 'e.g. SIGHUP' },
    ],
    result: nul,
    mutates: true,
  },
  service_stats: svc('Memory (bytes) and CPU (percent) of the service and its processes', false, {
    $ref: '#/components/schemas/ServiceStats',
  }),
  service_create: {
    summary:
      'Write NAME.yaml in the config directory from a service given as a JSON object, validated as a file on disk is; does not start it (use service_monitor)',
    params: [
      nameParam,
      {
        name: 'content',
        schema: { type: 'object' },
        required: true,
        description: 'the service file as a JSON object, e.g. {"exec": "sleep 100"}',
      },
    ],
    result: { type: 'string' },
    mutates: true,
  },
  service_delete: svc(
    'Remove NAME.yaml from the config directory; a tracked service keeps running (use service_forget)',
    true,
    { type: 'string' },
  ),
  service_get: svc('The service file NAME.yaml as a JSON object', false, { type: 'object' }),
  service_list_full: sys(
    'Status of every tracked service',
    { type: 'array', items: statusSchema },
    false,
  ),
  service_scale: {
    summary:
      'Run this many replicas of a replicated service: new ones start, surplus ones stop from the highest number down',
    params: [
      nameParam,
      {
        name: 'replicas',
        schema: { type: 'integer', minimum: 0 },
        required: true,
        description: 'how many, from 0 to 1000',
      },
    ],
    result: { $ref: '#/components/schemas/ScaleResult' },
    mutates: true,
  },
  services_start: many(
    'Start several services, dependencies first; makes the instances of templates it names',
  ),
  services_stop: many(
    'Stop several services, dependants first; answers once their processes are gone',
  ),
  services_restart: many('Stop several services, dependants first, then start them again', [
    {
      name: 'timeout',
      schema: { type: 'integer', minimum: 0 },
      required: false,
      description: 'how long to wait for each to come up, in ms (default 60000)',
    },
  ]),
  services_kill: many("Send a signal to several services' process groups", [
    {
      name: 'signal',
      schema: { type: 'string' },
      required: false,
      description: 'e.g. SIGHUP (default SIGTERM)',
    },
  ]),
  services_forget: many('Stop several services, dependants first, and untrack them'),
  services_status: { ...many('Status of several services'), mutates: false },
  system_reload: {
    summary:
      'Read the config directory again and apply what changed: new files start, removed ones stop, changed ones restart or take the change in place; answers with the plan',
    params: [
      {
        name: 'dry_run',
        schema: { type: 'boolean' },
        required: false,
        description: 'only say what would be done',
      },
    ],
    result: { $ref: '#/components/schemas/ReloadResult' },
    mutates: true,
  },
  service_list_unloaded: sys(
    'Every service whose file was found but not loaded (a bad file, a dependency cycle), and why',
    { type: 'array', items: { $ref: '#/components/schemas/NotLoaded' } },
    false,
  ),
  system_shutdown: sys('Stop every service in reverse dependency order, then exit'),
  system_reboot: sys('Stop every service in reverse dependency order, then reboot'),
  system_start_http_server: {
    summary:
      'Serve this API over HTTP POST at ADDRESS (host:port, loopback when only a port is given); answers with the URL',
    params: [
      {
        name: 'address',
        schema: { type: 'string' },
        required: true,
        description: 'e.g. 127.0.0.1:8080',
      },
    ],
    result: { type: 'string' },
    mutates: true,
  },
  system_stop_http_server: sys('Stop serving HTTP'),
  stream_currentLogs: {
    summary: 'The buffered log lines, formatted as zinit does',
    params: [{ ...nameParam, required: false }],
    result: { type: 'array', items: { type: 'string' } },
    mutates: false,
  },
  stream_subscribeLogs: {
    summary:
      'Follow the log (zinit shape): notifications stream_subscribeLogs {subscription, result}',
    params: [
      {
        name: 'filter',
        schema: { type: 'string' },
        required: false,
        description: 'only this service',
      },
    ],
    result: { type: 'integer' },
    mutates: false,
  },
  stream_unsubscribeLogs: {
    summary: 'End a log subscription',
    params: [
      { name: 'id', schema: { type: 'integer' }, required: true, description: 'subscription id' },
    ],
    result: nul,
    mutates: false,
  },
  log_read: {
    summary: 'Read buffered log lines; `next` is the cursor to follow from',
    params: queryParams,
    result: { $ref: '#/components/schemas/LogRead' },
    mutates: false,
  },
  log_follow: {
    summary:
      'Send matching buffered lines, then every new one, as log_line notifications (see components.schemas.LogLineNotification): one cursor, no line lost or repeated',
    params: [
      ...queryParams,
      {
        name: 'batch',
        schema: { type: 'boolean' },
        required: false,
        description:
          'send lines many to a notification, as log_line {subscription, lines: [...]}; without it each comes alone, as log_line {subscription, line}',
      },
    ],
    result: { type: 'integer' },
    mutates: false,
  },
  events_read: {
    summary:
      'Read the event history (after a cursor); `next` is the cursor to read or follow on after',
    params: eventParams,
    result: { $ref: '#/components/schemas/EventRead' },
    mutates: false,
  },
  events_subscribe: {
    summary:
      'Send the events after `after` (or the last `n`), then every new one, as event notifications; lost ones are counted',
    params: eventParams,
    result: { type: 'integer' },
    mutates: false,
  },
  events_unsubscribe: {
    summary: 'End an event subscription',
    params: [
      { name: 'id', schema: { type: 'integer' }, required: true, description: 'subscription id' },
    ],
    result: nul,
    mutates: false,
  },
  system_status: sys(
    'The daemon and every service at one instant, with the event cursor to follow on after',
    { $ref: '#/components/schemas/SystemStatus' },
    false,
  ),
  service_graph: sys(
    'The dependency graph: each service with its state, each edge with its condition',
    { $ref: '#/components/schemas/Graph' },
    false,
  ),
  service_why: svc(
    'Why the service is in its state: what it waits for down to the root cause, and its last start’s critical chain',
    false,
    { $ref: '#/components/schemas/Why' },
  ),
  'rpc.discover': sys('This API as an OpenRPC document', { type: 'object' }, false),
};

// --- component schemas (rpc.discover) -----------------------------------------------

const str: JsonSchema = { type: 'string' };
const int: JsonSchema = { type: 'integer' };
const time: JsonSchema = { type: 'string', format: 'date-time' };
const nullable = (s: JsonSchema): JsonSchema => ({ anyOf: [s, { type: 'null' }] });
const object = (properties: Record<string, JsonSchema>, optional: string[] = []): JsonSchema => ({
  type: 'object',
  properties,
  required: Object.keys(properties).filter((k) => !optional.includes(k)),
  additionalProperties: false,
});
const processStats = {
  pid: int,
  memory_usage: { type: 'integer', minimum: 0, description: 'resident memory in bytes' },
  cpu_usage: { type: 'number', minimum: 0, description: 'percent of one CPU' },
};

const limitValue: JsonSchema = { anyOf: [int, { const: 'unlimited' }] };
const groupUsage = {
  processes: int,
  tasks: int,
  memory_usage: { type: 'integer', minimum: 0, description: 'bytes' },
  memory_source: { enum: ['cgroup', 'processes'] },
  cpu_time_ms: { type: 'number', minimum: 0 },
  oom_kills: nullable(int),
};

/** The shapes results refer to, for rpc.discover; kept beside the interfaces they describe. */
export const COMPONENT_SCHEMAS: Readonly<Record<string, JsonSchema>> = {
  ServiceStatus: object(
    {
      name: str,
      pid: { type: 'integer', minimum: 0, description: '0 when not running' },
      state: { type: 'string', description: 'zinit state: Running, Blocked, Spawned, Success, …' },
      target: { enum: ['Up', 'Down'] },
      after: { type: 'object', additionalProperties: str },
      status: { enum: STATE_KINDS },
      reason: str,
      since: time,
      uptime_ms: nullable(int),
      restarts: int,
      oneshot: { type: 'boolean' },
      last_exit: nullable({ $ref: '#/components/schemas/Exit' }),
      next_attempt: nullable(time),
      dependencies: {
        type: 'object',
        additionalProperties: { enum: [...STATE_KINDS, 'untracked'] },
      },
      conditions: {
        type: 'object',
        additionalProperties: { enum: ['up', 'started', 'ready', 'succeeded', 'completed'] },
      },
      file: str,
      ready: nullable({ type: 'boolean' }),
      probes: { type: 'array', items: { $ref: '#/components/schemas/Probe' } },
      notify: nullable({ $ref: '#/components/schemas/Notify' }),
      restart_limit: nullable({ $ref: '#/components/schemas/RestartLimit' }),
      schedule: nullable({ $ref: '#/components/schemas/Schedule' }),
      user: nullable({ $ref: '#/components/schemas/User' }),
      cgroup: nullable(str),
      limits: { $ref: '#/components/schemas/Limits' },
      usage: nullable({ $ref: '#/components/schemas/GroupUsage' }),
      recovered: nullable({ $ref: '#/components/schemas/Recovered' }),
    },
    ['usage'],
  ),
  Probe: object({
    role: { enum: ['readiness', 'liveness'] },
    kind: { enum: ['exec', 'http', 'tcp'] },
    target: str,
    passing: { type: 'boolean' },
    last: nullable(object({ ok: { type: 'boolean' }, reason: str, at: time })),
    failures: { type: 'integer', minimum: 0, description: 'failures in a row' },
    successes: { type: 'integer', minimum: 0, description: 'passes in a row' },
    next_run: nullable(time),
  }),
  Notify: object({
    mode: { enum: ['systemd', 'fd'] },
    fd: nullable(int),
    socket: nullable(str),
    status: nullable({ type: 'string', description: 'the last STATUS= text' }),
    main_pid: nullable(int),
    reloading: { type: 'boolean' },
    stopping: { type: 'boolean' },
    watchdog_ms: nullable(int),
    watchdog_deadline: nullable(time),
  }),
  RestartLimit: object({
    count: int,
    window_ms: int,
    restarts_in_window: int,
    cooldown_ms: nullable(int),
  }),
  Schedule: object({
    cron: str,
    timezone: nullable(str),
    next_run: nullable(time),
    last_run_succeeded: nullable({ type: 'boolean' }),
  }),
  Recovered: object({
    ended: { type: 'integer', minimum: 0, description: 'processes an earlier sminitd left, ended' },
    stuck: { type: 'integer', minimum: 0, description: 'those still alive after SIGKILL' },
    daemons: { type: 'array', items: int, description: 'pids of the gone daemons' },
    at: time,
  }),
  NotLoaded: object({
    name: str,
    file: str,
    why: {
      type: 'string',
      description: 'every problem at file:line:col, or its cycle; one a line',
    },
  }),
  Exit: object({
    pid: int,
    code: nullable(int),
    signal: nullable(str),
    at: time,
    description: str,
    oom_kill: { type: 'boolean' },
  }),
  User: object({
    user: str,
    uid: int,
    group: str,
    gid: int,
    groups: { type: 'array', items: int },
  }),
  Limits: object({
    umask: nullable(str),
    nice: nullable(int),
    oom_score_adj: nullable(int),
    rlimits: { type: 'object', additionalProperties: { $ref: '#/components/schemas/Rlimit' } },
    memory_max: nullable(int),
    memory_high: nullable(int),
    pids_max: nullable(int),
    cpu_max: nullable(str),
    cpu_weight: nullable(int),
  }),
  Rlimit: object({ soft: limitValue, hard: limitValue }),
  GroupUsage: object(groupUsage),
  ProcessStats: object(processStats),
  ServiceStats: object({
    name: str,
    ...processStats,
    children: { type: 'array', items: { $ref: '#/components/schemas/ProcessStats' } },
  }),
  ServiceResult: object(
    {
      name: str,
      ok: { type: 'boolean' },
      error: object({ code: int, message: str }),
      status: { $ref: '#/components/schemas/ServiceStatus' },
    },
    ['error', 'status'],
  ),
  ManyResult: object({
    results: { type: 'array', items: { $ref: '#/components/schemas/ServiceResult' } },
    failed: { type: 'array', items: str },
  }),
  PlanLine: object({
    name: str,
    action: { enum: ['start', 'stop', 'restart', 'update', 'none', 'refuse'] },
    mark: { enum: ['+', '-', '~', '!', ' '] },
    why: str,
    changed: { type: 'array', items: str },
    problems: { type: 'array', items: str },
    cycle: nullable({ type: 'array', items: str }),
  }),
  ReloadResult: object({
    applied: { type: 'boolean' },
    changes: { type: 'array', items: { $ref: '#/components/schemas/PlanLine' } },
    refused: int,
    unchanged: int,
  }),
  ScaleResult: object({
    name: str,
    replicas: int,
    started: { type: 'array', items: str },
    stopped: { type: 'array', items: str },
  }),
  LogLine: object(
    {
      seq: int,
      time,
      service: str,
      stream: { enum: LOG_STREAMS },
      run: int,
      text: str,
      bytes: { type: 'string', description: 'the exact bytes (base64) when not valid UTF-8' },
    },
    ['bytes'],
  ),
  LogLineNotification: {
    description:
      'params of a log_line notification: one of line, lines (a follow with batch) or dropped (lines a slow follower missed)',
    ...object(
      {
        subscription: int,
        line: { $ref: '#/components/schemas/LogLine' },
        lines: { type: 'array', items: { $ref: '#/components/schemas/LogLine' } },
        dropped: int,
      },
      ['line', 'lines', 'dropped'],
    ),
  },
  LogRead: object(
    {
      lines: { type: 'array', items: { $ref: '#/components/schemas/LogLine' } },
      next: int,
      end: int,
      dropped: int,
    },
    ['dropped'],
  ),
  Event: { anyOf: EVENT_KINDS.map((k) => ({ $ref: `#/components/schemas/Event_${k}` })) },
  ...eventSchemas(),
  EventRead: object(
    {
      events: { type: 'array', items: { $ref: '#/components/schemas/Event' } },
      next: int,
      end: int,
      lost: int,
    },
    ['lost'],
  ),
  SystemStatus: object({
    version: str,
    pid: int,
    started: time,
    uptime_ms: int,
    shutting_down: { type: 'boolean' },
    cursor: int,
    services: { type: 'array', items: statusSchema },
  }),
  Graph: object({
    nodes: {
      type: 'array',
      items: object({
        name: str,
        status: { enum: [...STATE_KINDS, 'untracked'] },
        target: { enum: ['Up', 'Down', null] },
        oneshot: { type: 'boolean' },
        reason: str,
      }),
    },
    edges: {
      type: 'array',
      items: object({
        from: str,
        to: str,
        condition: { enum: ['started', 'ready', 'succeeded', 'completed', 'tracked'] },
        met: { type: 'boolean' },
      }),
    },
  }),
  Why: object({
    service: str,
    status: { enum: STATE_KINDS },
    reason: str,
    summary: { type: 'array', items: str },
    chains: {
      type: 'array',
      items: {
        type: 'array',
        items: object({
          service: str,
          status: { enum: [...STATE_KINDS, 'untracked'] },
          reason: str,
        }),
      },
    },
    critical: nullable({
      type: 'array',
      items: object({ service: str, spawned_at: time, up_at: time, at_ms: int, took_ms: int }),
    }),
  }),
};

/** Each kind of event: its own fields beside the cursor, time, kind and service every one has. */
function eventSchemas(): Record<string, JsonSchema> {
  const kinds: { readonly [K in EventKind]: Record<string, JsonSchema> } = {
    daemon: { action: { enum: ['started', 'shutdown', 'stopped'] }, detail: str },
    tracked: { file: str },
    untracked: {},
    state: {
      from: { enum: STATE_KINDS },
      to: { enum: STATE_KINDS },
      pid: int,
      run: int,
      reason: str,
    },
    exit: { run: int, pid: int, code: nullable(int), signal: nullable(str), uptime_ms: int },
    restart: { run: int, delay_ms: int, restarts: int, reason: str },
    test: { run: int, passed: { type: 'boolean' }, failures: int, error: nullable(str) },
    probe: {
      run: int,
      probe: { enum: ['readiness', 'liveness'] },
      passed: { type: 'boolean' },
      failures: int,
      error: nullable(str),
    },
    ready: { run: int, ready: { type: 'boolean' }, reason: str },
    give_up: { run: int, restarts: int, window_ms: int, retry_in_ms: nullable(int) },
  };
  const out: Record<string, JsonSchema> = {};
  for (const kind of EVENT_KINDS) {
    const service = kind === 'daemon' ? { type: 'null' } : str;
    out[`Event_${kind}`] = object({
      cursor: int,
      time,
      kind: { const: kind },
      service,
      ...kinds[kind],
    });
  }
  return out;
}

export const METHOD_NAMES = Object.keys(METHODS) as MethodName[];
export function isMethodName(s: string): s is MethodName {
  return Object.hasOwn(METHODS, s);
}
