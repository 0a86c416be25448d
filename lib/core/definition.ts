// The service definition after parsing: the one shape every other module
// works with. Owns no behaviour; config/parse.ts produces it, nothing mutates it.

import type { SignalName } from './signals.js';

/** How a service's stdout/stderr are kept. */
export type LogMode =
  | { kind: 'ring' }
  | { kind: 'stdout' }
  | { kind: 'none' }
  | { kind: 'file'; path: string; maxSize: number; keep: number };

export type RestartPolicy = 'always' | 'on-failure' | 'never';

/** Who a service runs as: resolved from the user and group databases when the file is read. */
export interface RunAs {
  /** The user's name as the database has it. */
  readonly user: string;
  readonly uid: number;
  readonly gid: number;
  /** The group's name, for status. */
  readonly group: string;
  /** Supplementary groups: the user's in the group database, then `groups`, each once. */
  readonly groups: readonly number[];
  /** From the user's entry: HOME, SHELL. */
  readonly home: string;
  readonly shell: string;
}

/** The resources setrlimit knows, as service files name them. */
export const RLIMIT_NAMES = [
  'nofile',
  'nproc',
  'core',
  'memlock',
  'stack',
  'as',
  'cpu',
  'fsize',
  'data',
  'rss',
  'msgqueue',
  'sigpending',
  'rtprio',
] as const;
export type RlimitName = (typeof RLIMIT_NAMES)[number];

/** One resource limit; null is unlimited (RLIM_INFINITY). */
export interface Rlimit {
  readonly soft: number | null;
  readonly hard: number | null;
}

/** cgroup limits of a service, unset when null. */
export interface GroupLimits {
  /** Bytes. */
  readonly memoryMax: number | null;
  readonly memoryHigh: number | null;
  readonly pidsMax: number | null;
  /** CPU time per period: `quota` µs in every `period` µs. */
  readonly cpuMax: { readonly quotaUs: number; readonly periodUs: number } | null;
  /** 1–10000, cgroup v2's scale (100 is the default weight). */
  readonly cpuWeight: number | null;
}

/** How a service's processes start besides their command: the process attributes and its cgroup limits. */
export interface Sandbox {
  /** The file mode creation mask, e.g. 0o027; null leaves sminitd's. */
  readonly umask: number | null;
  readonly nice: number | null;
  readonly oomScoreAdj: number | null;
  readonly rlimits: Readonly<Partial<Record<RlimitName, Rlimit>>>;
  readonly limits: GroupLimits;
}

/** A file of KEY=VALUE lines read at every start; `optional` (written `-PATH`) when a missing one is no error. */
export interface EnvFile {
  /** Absolute. */
  readonly path: string;
  readonly optional: boolean;
}

/** What one probe checks: a command, an HTTP GET, or a TCP connection. */
export type ProbeCheck =
  | { readonly kind: 'exec'; readonly argv: readonly string[] }
  | {
      readonly kind: 'http';
      readonly url: string;
      /** Status codes that pass; null: 200–399. */
      readonly statuses: readonly number[] | null;
    }
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number };

/** A readiness or liveness probe with its timings and thresholds. */
export interface Probe {
  readonly check: ProbeCheck;
  readonly periodMs: number;
  readonly timeoutMs: number;
  readonly initialDelayMs: number;
  /** Passes in a row that make a failing probe pass again. */
  readonly successThreshold: number;
  /** Failures in a row that make a passing probe fail. */
  readonly failureThreshold: number;
}

/** How the service says it is ready by itself: systemd's protocol, or a newline on a descriptor. */
export type NotifyMode =
  { readonly kind: 'systemd' } | { readonly kind: 'fd'; readonly fd: number };

/**
 * What a dependant waits for: `up` is the list form's meaning (ready, or a
 * oneshot that succeeded); the others are the map form's words.
 */
export type DependencyCondition = 'up' | 'started' | 'ready' | 'succeeded' | 'completed';

/** Exit statuses that count as success besides 0: codes, and signals that ended it. */
export interface SuccessCodes {
  readonly codes: readonly number[];
  readonly signals: readonly SignalName[];
}

export interface RestartLimit {
  /** More restarts than this within the window, and the service is given up on. */
  readonly count: number;
  readonly windowMs: number;
}

export interface Schedule {
  /** The cron expression as written (5 fields, 6 with seconds first, or `@daily`…). */
  readonly cron: string;
  /** An IANA zone, or null for local time. */
  readonly timezone: string | null;
}

export interface ServiceDef {
  /** The file stem; validated by names.ts. */
  readonly name: string;
  /** The file it came from (absolute), or a description such as `<rpc>`. */
  readonly file: string;
  /** `exec` (or `cmd`) split shell-style into argv; never empty. */
  readonly exec: readonly string[];
  /** `test` (or `healthcheck`) split shell-style, or null when there is none. */
  readonly test: readonly string[] | null;
  readonly oneshot: boolean;
  /** `never` whenever oneshot is true. */
  readonly restart: RestartPolicy;
  /** Dependencies by name, each once, in file order. */
  readonly after: readonly string[];
  /** Canonical upper-case name with the SIG prefix, e.g. `SIGTERM`. */
  readonly stopSignal: SignalName;
  readonly log: LogMode;
  readonly env: Readonly<Record<string, string>>;
  /** `env_file`: read at every start, in order; `env` overrides them. */
  readonly envFiles: readonly EnvFile[];
  /** `user`/`group`/`groups`; null runs as sminitd does. */
  readonly user: RunAs | null;
  readonly sandbox: Sandbox;
  /** Working directory; `/` when not given (as zinit); a relative one is from the file's directory. */
  readonly dir: string;
  readonly shutdownTimeoutMs: number;
  readonly testIntervalMs: number;
  readonly testTimeoutMs: number;
  /** First restart delay; doubles on each quick failure up to restartMaxDelayMs. */
  readonly restartDelayMs: number;
  readonly restartMaxDelayMs: number;
  /** Up this long, a service's next death restarts it at once and resets the backoff. */
  readonly stableAfterMs: number;
  /** Each dependency's condition, by name (every name of `after`, `up` for the list form). */
  readonly conditions: Readonly<Record<string, DependencyCondition>>;
  readonly readiness: Probe | null;
  readonly liveness: Probe | null;
  readonly notify: NotifyMode | null;
  /** With `notify: systemd`: a WATCHDOG=1 is due within this, or the service is restarted. */
  readonly watchdogMs: number | null;
  /** Ready when a line of stdout or stderr matches this (a JavaScript regular expression). */
  readonly readyLog: string | null;
  readonly restartLimit: RestartLimit | null;
  /** After giving up, try again this long later; null: stay failed. */
  readonly restartCooldownMs: number | null;
  readonly successCodes: SuccessCodes;
  /** A oneshot run at the times a cron expression names. */
  readonly schedule: Schedule | null;
  /** Set when the service is an instance of a template or one of a file's replicas. */
  readonly instance?: InstanceOf;
}

/** The lifecycle keys' values when a file gives none: zinit's behaviour. */
export const LIFECYCLE_DEFAULTS = {
  conditions: {},
  readiness: null,
  liveness: null,
  notify: null,
  watchdogMs: null,
  readyLog: null,
  restartLimit: null,
  restartCooldownMs: null,
  successCodes: { codes: [0], signals: [] },
  schedule: null,
} as const satisfies Partial<ServiceDef>;

/** Whether the service says by some means when it is ready (beyond being spawned). */
export function hasReadiness(def: ServiceDef): boolean {
  return (
    def.test !== null || def.readiness !== null || def.notify !== null || def.readyLog !== null
  );
}

/** What an instance was made from, and what `${instance}` stands for in it. */
export interface InstanceOf {
  /** `template`: from the file `NAME@.yaml`; `replica`: one of `NAME.yaml`'s `replicas`. */
  readonly kind: 'template' | 'replica';
  /** The template's name (`web@`), or the replicated service's (`web`). */
  readonly of: string;
  /** The instance: what follows the `@` in the service's name. */
  readonly id: string;
}

/**
 * A service file as read: one service; a template (`NAME@.yaml`) that
 * instances are made from; or a service run as `replicas` instances
 * (`NAME@1` … `NAME@N`). The def's name is the file's stem.
 */
export type Source =
  | { readonly kind: 'service'; readonly def: ServiceDef }
  | { readonly kind: 'template'; readonly def: ServiceDef }
  | { readonly kind: 'replicas'; readonly def: ServiceDef; readonly replicas: number };

/** One problem found in a service file, positions 1-based. */
export interface Problem {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly message: string;
}

export function formatProblem(p: Problem): string {
  return p.line > 0 ? `${p.file}:${p.line}:${p.column}: ${p.message}` : `${p.file}: ${p.message}`;
}

/** A service whose file was found but not loaded, and why (every problem, or its cycle). */
export interface NotLoaded {
  readonly name: string;
  readonly file: string;
  /** What a person reads: each problem at file:line:col, one a line. */
  readonly why: string;
}
