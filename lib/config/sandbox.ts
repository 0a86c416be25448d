// The keys that say how a service's processes start besides their command:
// who they run as (resolved in the host's user and group databases, so an
// unknown user is a problem of the file), umask, nice, oom_score_adj,
// rlimits, cgroup limits (refused when the host cannot enforce them) and
// env files. Pure but for the Host it is given; places every problem.

import { parseSize } from '../core/duration.js';
import {
  type EnvFile,
  type GroupLimits,
  RLIMIT_NAMES,
  type Rlimit,
  type RlimitName,
  type RunAs,
  type Sandbox,
} from '../core/definition.js';
import type { Host, LimitKey, UserEntry } from '../core/host.js';
import { describeValue, isRecord } from '../core/jsontype.js';
import type { Report } from './report.js';

type Raw = Record<string, unknown>;

/** The largest limit a JS number holds exactly; far above any real one. */
const MAX_LIMIT = Number.MAX_SAFE_INTEGER;
/** cpu.max's period: the kernel's default, 100 ms. */
export const CPU_PERIOD_US = 100_000;
/** The smallest quota the kernel takes (1 ms). */
const MIN_CPU_QUOTA_US = 1000;

/** Resources measured in bytes: they take sizes such as `1G`. */
const SIZE_RLIMITS: ReadonlySet<RlimitName> = new Set([
  'core',
  'memlock',
  'stack',
  'as',
  'fsize',
  'data',
  'rss',
  'msgqueue',
]);

export const NO_LIMITS: GroupLimits = {
  memoryMax: null,
  memoryHigh: null,
  pidsMax: null,
  cpuMax: null,
  cpuWeight: null,
};

export interface SandboxInput {
  readonly raw: Raw;
  readonly report: Report;
  readonly host: Host | null;
}

const given = (input: SandboxInput, key: string): boolean =>
  Object.hasOwn(input.raw, key) && input.report.clean(`/${key}`);

/** umask, nice, oom_score_adj, rlimits and the cgroup limits. */
export function sandboxOf(input: SandboxInput): Sandbox {
  const { raw } = input;
  return {
    umask: umaskOf(input),
    nice: given(input, 'nice') && typeof raw.nice === 'number' ? raw.nice : null,
    oomScoreAdj:
      given(input, 'oom_score_adj') && typeof raw.oom_score_adj === 'number'
        ? raw.oom_score_adj
        : null,
    rlimits: rlimitsOf(input),
    limits: limitsOf(input),
  };
}

function umaskOf(input: SandboxInput): number | null {
  if (!given(input, 'umask')) return null;
  const v = input.raw.umask;
  // A number's digits are octal, as in the file (YAML reads `0027` as 27).
  const text = typeof v === 'number' && Number.isInteger(v) && v >= 0 ? String(v) : v;
  const m = typeof text === 'string' ? /^(?:0o)?([0-7]{1,4})$/.exec(text.trim()) : null;
  const mask = m ? parseInt(m[1] ?? '', 8) : NaN;
  if (mask <= 0o777) return mask;
  input.report.add(
    '/umask',
    `expected an octal mask such as 0027 or 0077, got ${describeValue(input.raw.umask)}`,
  );
  return null;
}

function rlimitsOf(input: SandboxInput): Partial<Record<RlimitName, Rlimit>> {
  const out: Partial<Record<RlimitName, Rlimit>> = {};
  const all = input.raw.rlimits;
  if (!isRecord(all) || !input.report.clean('/rlimits')) return out;
  for (const name of RLIMIT_NAMES) {
    if (!Object.hasOwn(all, name) || !input.report.clean(`/rlimits/${name}`)) continue;
    const limit = rlimitOf(input, name, all[name]);
    if (limit) out[name] = limit;
  }
  return out;
}

function rlimitOf(input: SandboxInput, name: RlimitName, v: unknown): Rlimit | null {
  const at = `/rlimits/${name}`;
  if (!isRecord(v)) {
    const one = limitValue(name, v);
    if (typeof one === 'string') input.report.add(at, one);
    return typeof one === 'string' ? null : { soft: one, hard: one };
  }
  const extra = Object.keys(v).filter((k) => k !== 'soft' && k !== 'hard');
  for (const k of extra) input.report.add(at, `unknown key '${k}' (a limit has soft and hard)`);
  const part = (k: 'soft' | 'hard'): number | null | string => {
    const r = Object.hasOwn(v, k) ? limitValue(name, v[k]) : `missing '${k}'`;
    if (typeof r === 'string') input.report.add(at, `${k}: ${r}`);
    return r;
  };
  const soft = part('soft');
  const hard = part('hard');
  if (typeof soft === 'string' || typeof hard === 'string' || extra.length > 0) return null;
  if (hard !== null && (soft === null || soft > hard)) {
    input.report.add(at, `soft ${soft ?? 'unlimited'} is above hard ${hard}`);
    return null;
  }
  return { soft, hard };
}

/** One limit's value: a number, null for unlimited, or why it is neither. */
function limitValue(name: RlimitName, v: unknown): number | null | string {
  if (v === 'unlimited' || v === 'infinity') return null;
  const sized = SIZE_RLIMITS.has(name);
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= MAX_LIMIT) return v;
  if (typeof v === 'string' && /^[0-9]+$/.test(v.trim()) && Number(v) <= MAX_LIMIT)
    return Number(v);
  if (sized && typeof v === 'string') {
    const bytes = parseSize(v, MAX_LIMIT);
    if (typeof bytes === 'number') return bytes;
  }
  const what = sized ? 'a size (bytes, or a string like 1G, 512MiB)' : 'a whole number';
  return `expected ${what}, unlimited, or {soft, hard}, got ${describeValue(v)}`;
}

function limitsOf(input: SandboxInput): GroupLimits {
  const { raw, report } = input;
  const size = (key: string): number | null => {
    if (!given(input, key)) return null;
    const bytes = parseSize(raw[key], MAX_LIMIT);
    if (typeof bytes === 'number') return bytes;
    report.add(`/${key}`, bytes);
    return null;
  };
  const int = (key: string): number | null =>
    given(input, key) && typeof raw[key] === 'number' ? raw[key] : null;
  const limits: GroupLimits = {
    memoryMax: size('memory_max'),
    memoryHigh: size('memory_high'),
    pidsMax: int('pids_max'),
    cpuMax: cpuMaxOf(input),
    cpuWeight: int('cpu_weight'),
  };
  refuseUnenforceable(input);
  return limits;
}

function cpuMaxOf(input: SandboxInput): GroupLimits['cpuMax'] {
  if (!given(input, 'cpu_max')) return null;
  const v = input.raw.cpu_max;
  let cpus = NaN;
  if (typeof v === 'number') cpus = v;
  else if (typeof v === 'string') {
    const m = /^([0-9]+(?:\.[0-9]+)?)(%?)$/.exec(v.trim());
    if (m) cpus = Number(m[1]) / (m[2] ? 100 : 1);
  }
  const quotaUs = Math.round(cpus * CPU_PERIOD_US);
  if (quotaUs >= MIN_CPU_QUOTA_US && cpus <= 4096) return { quotaUs, periodUs: CPU_PERIOD_US };
  input.report.add(
    '/cpu_max',
    `expected a share of one CPU such as 50% or a number of CPUs such as 1.5 (at least 1%), got ${describeValue(v)}`,
  );
  return null;
}

/** A limit the host cannot enforce is refused, never ignored. */
function refuseUnenforceable(input: SandboxInput): void {
  const why = input.host?.unenforceable;
  if (!why) return;
  for (const key of ['memory_max', 'memory_high', 'pids_max', 'cpu_max', 'cpu_weight'] as const) {
    if (!given(input, key)) continue;
    const reason = why(key satisfies LimitKey);
    if (reason !== null) input.report.add(`/${key}`, `cannot be enforced on this host: ${reason}`);
  }
}

/** `env_file` as written, each path relative to the config directory until load.ts resolves it. */
export function envFilesOf(input: SandboxInput): EnvFile[] {
  if (!given(input, 'env_file')) return [];
  const v = input.raw.env_file;
  const list = Array.isArray(v) ? v : [v];
  const files: EnvFile[] = [];
  list.forEach((item: unknown, i) => {
    const at = Array.isArray(v) ? `/env_file/${i}` : '/env_file';
    if (typeof item !== 'string' || !input.report.clean(at)) return;
    const optional = item.startsWith('-');
    const path = optional ? item.slice(1) : item;
    if (path.trim() === '') input.report.add(at, 'expected a path (or -PATH)');
    else if (path.includes('\0')) input.report.add(at, 'must not contain a NUL character');
    else files.push({ path, optional });
  });
  return files;
}

/** `user`, `group` and `groups`, looked up now: a name that does not exist is a problem of the file. */
export function runAsOf(input: SandboxInput): RunAs | null {
  const keys = ['user', 'group', 'groups'].filter((k) => Object.hasOwn(input.raw, k));
  if (keys.length === 0 || !keys.every((k) => input.report.clean(`/${k}`))) return null;
  const accounts = input.host?.accounts;
  if (!accounts) {
    input.report.add(`/${keys[0] ?? 'user'}`, 'users and groups cannot be looked up here');
    return null;
  }
  const self = input.host?.self ?? null;
  const entry = userEntry(input, self?.uid ?? 0);
  if (entry === null) return null;
  const group = groupOf(input, input.raw.group, '/group', entry.gid);
  const extra = supplementary(input);
  if (group === null || extra === null) return null;
  const groups = [...new Set([...accounts.groupsOf(entry.name, group.gid), ...extra])];
  const runAs: RunAs = {
    user: entry.name,
    uid: entry.uid,
    gid: group.gid,
    group: group.name,
    groups,
    home: entry.home,
    shell: entry.shell,
  };
  refuseIfNotRoot(input, runAs, extra.length > 0);
  return runAs;
}

function userEntry(input: SandboxInput, selfUid: number): UserEntry | null {
  const accounts = input.host?.accounts;
  const spec = input.raw.user;
  if (spec === undefined) return accounts?.user(selfUid) ?? null;
  const entry = lookup(spec, (s) => accounts?.user(s) ?? null);
  if (entry === null) input.report.add('/user', `no such user ${describeValue(spec)}`);
  return entry;
}

function groupOf(
  input: SandboxInput,
  spec: unknown,
  at: string,
  fallbackGid: number,
): { name: string; gid: number } | null {
  const accounts = input.host?.accounts;
  if (spec === undefined) {
    return { gid: fallbackGid, name: accounts?.group(fallbackGid)?.name ?? String(fallbackGid) };
  }
  const entry = lookup(spec, (s) => accounts?.group(s) ?? null);
  if (entry === null) input.report.add(at, `no such group ${describeValue(spec)}`);
  return entry;
}

function supplementary(input: SandboxInput): number[] | null {
  const list = input.raw.groups;
  if (!Array.isArray(list)) return [];
  const gids = list.map((g: unknown, i) => groupOf(input, g, `/groups/${i}`, 0)?.gid ?? null);
  return gids.every((g) => g !== null) ? gids : null;
}

/** A name, or a number (or a string of digits that names no entry) as an id. */
function lookup<T>(spec: unknown, find: (s: string | number) => T | null): T | null {
  if (typeof spec === 'number') return find(spec);
  if (typeof spec !== 'string') return null;
  return find(spec) ?? (/^[0-9]+$/.test(spec) ? find(Number(spec)) : null);
}

/** Changing user or groups needs root: a non-root sminitd refuses the file, clearly. */
function refuseIfNotRoot(input: SandboxInput, runAs: RunAs, extraGroups: boolean): void {
  const self = input.host?.self;
  if (!self || self.uid === 0) return;
  const why = `sminitd runs as uid ${self.uid}, and only root may run a service as another user or group`;
  if (runAs.uid !== self.uid) input.report.add('/user', why);
  else if (runAs.gid !== self.gid) input.report.add('/group', why);
  else if (extraGroups) input.report.add('/groups', why);
}
