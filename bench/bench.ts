// The benchmark: sminit against the floors (a C loop and a bare Node script
// that spawn the same processes) and against the figures it must hold. Every
// figure is a median over repetitions, and the floors are measured in the
// same run, so results read as ratios. Real daemons on temp sockets in temp
// dirs; each is torn down and every process it started is swept by its
// marker. Run by hand (`npm run bench -- --help`); nothing here asserts time.

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { cpus, loadavg, release, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Client } from '../lib/client/client.js';
import { PEERS, type Peer, type PeerRun, childrenOf, installed } from './peers.js';
import { clockTicks, findByEnv, processTable } from '../lib/os/procfs.js';
import { signalAll } from '../lib/os/kill.js';
import { DAEMON_VAR, daemonId } from '../lib/os/markers.js';
import { Capture } from '../lib/logs/capture.js';
import { DEFAULT_LOG_BYTES } from '../lib/logs/limits.js';
import { LogStore } from '../lib/logs/ring.js';

const here = dirname(fileURLToPath(import.meta.url));
const DIST = resolve(here, '..');
const SMINITD = join(DIST, 'bin/sminitd.js');
const SMINIT = join(DIST, 'bin/sminit.cjs');
const FLOOR_NODE = join(here, 'floor-node.js');
const FLOOR_RPC = join(here, 'floor-rpc.js');
const FLOOR_C = resolve(DIST, '../bench/floor.c');
const FLOOR_VAR = 'SMINIT_BENCH_FLOOR';

// --- options -------------------------------------------------------------------

const SECTIONS = [
  'floor',
  'cold',
  'footprint',
  'idle',
  'respawn',
  'control',
  'reload',
  'stopall',
  'stop',
  'follow',
  'peers',
] as const;
type Section = (typeof SECTIONS)[number];

interface Options {
  readonly ns: readonly number[];
  readonly quick: boolean;
  readonly only: ReadonlySet<Section>;
  readonly json: string | null;
  /** Repetitions of each cold start and floor. */
  readonly reps: number;
  readonly idleMs: number;
  readonly settleMs: number;
  readonly respawns: number;
  readonly cliRuns: number;
  readonly rawRuns: number;
  readonly throughputMs: number;
}

const USAGE = `usage: npm run bench -- [options]
  --n 100,1000        service counts (steady-state figures use the largest)
  --quick             smoke run: N=10, fewer repetitions, short windows
  --only LIST         sections: ${SECTIONS.join(',')}
  --reps K            repetitions of each cold start and floor (default 5; quick 2)
  --idle SECONDS      idle window (default 20; quick 1)
  --json FILE         also write every figure as JSON (- for stdout)`;

function parseOptions(argv: readonly string[]): Options {
  let ns: number[] | null = null;
  let quick = false;
  let only: Set<Section> | null = null;
  let json: string | null = null;
  let reps: number | null = null;
  let idle: number | null = null;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    const positive = (v: string): number => {
      const x = Number(v);
      if (!Number.isFinite(x) || x <= 0) throw new Error(`${a}: expected a positive number`);
      return x;
    };
    if (a === '--n') ns = value().split(',').map(positive).map(Math.round);
    else if (a === '--quick') quick = true;
    else if (a === '--only') {
      only = new Set();
      for (const s of value().split(',')) {
        if (!(SECTIONS as readonly string[]).includes(s)) throw new Error(`unknown section '${s}'`);
        only.add(s as Section);
      }
    } else if (a === '--json') json = value();
    else if (a === '--reps') reps = Math.round(positive(value()));
    else if (a === '--idle') idle = positive(value());
    else if (a === '-h' || a === '--help') {
      process.stdout.write(USAGE + '\n');
      process.exit(0);
    } else throw new Error(`unknown option '${a}'`);
  }
  return {
    ns: ns ?? (quick ? [10] : [100, 1000]),
    quick,
    // The peers take minutes and are not the smoke run's business.
    only: only ?? new Set(quick ? SECTIONS.filter((x) => x !== 'peers') : SECTIONS),
    json,
    reps: reps ?? (quick ? 2 : 5),
    idleMs: (idle ?? (quick ? 1 : 20)) * 1000,
    settleMs: quick ? 300 : 5000,
    respawns: quick ? 5 : 20,
    cliRuns: quick ? 3 : 50,
    rawRuns: quick ? 20 : 1000,
    throughputMs: quick ? 200 : 3000,
  };
}

// --- figures -------------------------------------------------------------------

interface Figure {
  readonly id: string;
  readonly label: string;
  readonly n: number | null;
  readonly unit: string;
  readonly value: number;
  readonly samples: readonly number[];
  /** The figure this one is read against, and value / floor. */
  readonly floor?: string;
  readonly ratio?: number;
  /** The floor sample taken just before each sample, when the ratio is paired. */
  readonly pairedFloor?: readonly number[];
  /** The target as text and whether it is met. */
  readonly target?: string;
  readonly ok?: boolean;
}

const figures: Figure[] = [];

function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

function record(
  id: string,
  label: string,
  n: number | null,
  unit: string,
  samples: readonly number[],
  extra: {
    floor?: string;
    /** Each sample over a floor sample taken just before it, under the same load. */
    paired?: readonly number[];
    target?: { max?: number; min?: number; ratioMax?: number };
  } = {},
): Figure {
  const value = median(samples);
  const floorFig = extra.floor ? figures.find((f) => f.id === extra.floor) : undefined;
  const ratio = extra.paired
    ? median(samples.map((v, i) => v / (extra.paired?.[i] ?? NaN)))
    : floorFig
      ? value / floorFig.value
      : undefined;
  let target: string | undefined;
  let ok: boolean | undefined;
  const t = extra.target;
  if (t?.max !== undefined) {
    target = `≤ ${t.max} ${unit}`;
    ok = value <= t.max;
  } else if (t?.min !== undefined) {
    target = `≥ ${t.min} ${unit}`;
    ok = value >= t.min;
  } else if (t?.ratioMax !== undefined && ratio !== undefined) {
    target = `≤ ${t.ratioMax}× floor`;
    ok = ratio <= t.ratioMax;
  }
  const f: Figure = {
    id,
    label,
    n,
    unit,
    value,
    samples,
    ...(extra.floor && ratio !== undefined ? { floor: extra.floor, ratio } : {}),
    ...(extra.paired ? { pairedFloor: extra.paired } : {}),
    ...(target !== undefined && ok !== undefined ? { target, ok } : {}),
  };
  figures.push(f);
  const shown = `${fmt(value)} ${unit}${ratio !== undefined ? ` (${ratio.toFixed(2)}×)` : ''}`;
  process.stderr.write(`  ${id}: ${shown}\n`);
  return f;
}

function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v) && Math.abs(v) < 1000) return String(v);
  const a = Math.abs(v);
  if (a >= 1000) return Math.round(v).toLocaleString('en-US');
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  return v.toFixed(3);
}

function printTable(): void {
  const rows = [['figure', 'N', 'median', 'floor', 'ratio', 'target', 'ok']];
  for (const f of figures) {
    rows.push([
      f.label,
      f.n === null ? '' : String(f.n),
      f.samples.length === 0 ? f.unit : `${fmt(f.value)} ${f.unit}`,
      f.floor ? (figures.find((x) => x.id === f.floor)?.label ?? f.floor) : '',
      f.ratio !== undefined ? `${f.ratio.toFixed(2)}×` : '',
      f.target ?? '',
      f.ok === undefined ? '' : f.ok ? 'yes' : 'NO',
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[]): string =>
    `| ${r.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  const out = [line(rows[0]!), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`];
  for (const r of rows.slice(1)) out.push(line(r));
  process.stdout.write(out.join('\n') + '\n');
}

// --- processes -----------------------------------------------------------------

const now = (): number => performance.timeOrigin + performance.now();

/** Every daemon still running, for cleanup on an interrupt or a failure. */
/** Daemons still running, with their marker ids, for clean-up. */
const live = new Map<ChildProcess, string>();
/** Marker values given to the floors' children. */
const floorMarkers = new Set<string>();

function run(
  file: string,
  args: readonly string[],
  timeoutMs: number,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ code: number | null; stdout: string; ms: number }> {
  return new Promise((resolvePromise, reject) => {
    const t0 = performance.now();
    const p = spawn(file, args, { stdio: ['ignore', 'pipe', 'inherit'], env });
    let stdout = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const timer = setTimeout(() => {
      p.kill('SIGKILL');
      reject(new Error(`${file} ${args.join(' ')}: no exit within ${timeoutMs} ms`));
    }, timeoutMs);
    p.once('error', reject);
    p.once('exit', (code) => {
      const ms = performance.now() - t0;
      clearTimeout(timer);
      // stdout may still hold its last chunk.
      if (p.stdout.readableEnded) resolvePromise({ code, stdout, ms });
      else p.stdout.once('end', () => resolvePromise({ code, stdout, ms }));
    });
  });
}

async function sweepEnv(key: string, value: string): Promise<number> {
  const table = await processTable();
  return signalAll(await findByEnv(table, key, value), 'SIGKILL');
}

async function withDeadline<T>(what: string, ms: number, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

// --- service directories --------------------------------------------------------

type Variant = 'flat' | 'flat_nolog' | 'dag_test';

function writeServices(dir: string, n: number, variant: Variant | 'steady'): void {
  mkdirSync(dir, { recursive: true });
  const layers = 10;
  const width = Math.max(1, Math.ceil(n / layers));
  for (let i = 0; i < n; i++) {
    const lines = ['exec: sleep 100000', 'shutdown_timeout: 5'];
    if (variant === 'flat_nolog') lines.push('log: none');
    if (variant === 'steady') lines.push('stable_after: 1');
    if (variant === 'dag_test') {
      lines.push("test: 'true'");
      const layer = Math.floor(i / width);
      if (layer > 0) {
        const j = i % width;
        const base = (layer - 1) * width;
        const deps = new Set([`s${base + j}`, `s${base + ((j + 1) % width)}`]);
        lines.push(`after: [${[...deps].join(', ')}]`);
      }
    }
    writeFileSync(join(dir, `s${i}.yaml`), lines.join('\n') + '\n');
  }
}

// --- one daemon ------------------------------------------------------------------

interface Daemon {
  readonly proc: ChildProcess;
  readonly pid: number;
  /** Its marker id (pid and start time), read while it runs. */
  readonly id: string;
  readonly socket: string;
  readonly launchedAt: number;
  readonly client: Client;
  readonly exited: Promise<void>;
}

async function startDaemon(configDir: string, socket: string, logFile: string): Promise<Daemon> {
  const fd = openSync(logFile, 'a');
  const launchedAt = now();
  const proc = spawn(process.execPath, [SMINITD, '-c', configDir, '-s', socket], {
    stdio: ['ignore', 'ignore', fd],
  });
  closeSync(fd);
  const pid = proc.pid ?? 0;
  const id = daemonId(pid);
  live.set(proc, id);
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  void exited.then(() => live.delete(proc));
  const deadline = Date.now() + 30_000;
  for (;;) {
    const client = await Client.connect(socket).catch(() => null);
    if (client) return { proc, pid, id, socket, launchedAt, client, exited };
    if (Date.now() > deadline || proc.exitCode !== null) {
      throw new Error(`sminitd did not listen on ${socket}; see ${logFile}`);
    }
    await delay(5);
  }
}

/**
 * Wait until every service is running; returns the wall-clock time the last
 * one got there, as the daemon recorded it, so polling slowly costs no
 * precision and perturbs the start-up little.
 */
async function allRunning(d: Daemon, n: number, pollMs: number): Promise<number> {
  const limitMs = 60_000 + 60 * n;
  const deadline = Date.now() + limitMs;
  for (;;) {
    const list = await d.client.list();
    const states = Object.values(list);
    // Until its load command runs, the daemon may answer with fewer.
    if (states.length > n) throw new Error(`sminitd tracks ${states.length} services, not ${n}`);
    let up = 0;
    for (const s of states) if (s === 'Running') up++;
    if (up === n && states.length === n) break;
    if (Date.now() > deadline) {
      throw new Error(`only ${up} of ${n} services running after ${limitMs} ms`);
    }
    await delay(pollMs);
  }
  let last = 0;
  for (const s of await d.client.listFull()) last = Math.max(last, Date.parse(s.since));
  return last;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * SIGTERM the daemon (its ordered stop of everything) and time it: until no
 * service process remains, and until the daemon has exited. Then sweep.
 */
async function stopDaemon(d: Daemon): Promise<{ goneMs: number; exitMs: number }> {
  let pids: number[] = [];
  try {
    pids = (await d.client.listFull()).map((s) => s.pid).filter((p) => p > 0);
  } catch {
    // The daemon is already gone; the sweep below still runs.
  }
  d.client.close();
  const t0 = performance.now();
  d.proc.kill('SIGTERM');
  let left = pids;
  let goneMs = NaN;
  const deadline = t0 + 60_000;
  while (performance.now() < deadline) {
    left = left.filter(alive);
    if (left.length === 0) {
      goneMs = performance.now() - t0;
      break;
    }
    await delay(1);
  }
  const exited = await Promise.race([d.exited.then(() => true), delay(30_000).then(() => false)]);
  const exitMs = exited ? performance.now() - t0 : NaN;
  if (!exited) {
    d.proc.kill('SIGKILL');
    await d.exited;
  }
  await sweepEnv(DAEMON_VAR, d.id);
  return { goneMs, exitMs };
}

function procStatus(pid: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return out;
}

function kib(v: string | undefined): number {
  return Number((v ?? '0').replace(/\s*kB$/, ''));
}

interface Counters {
  cpuMs: number;
  /** Context switches of every thread (each one a wake-up or a preemption). */
  switches: number;
  /** Times the main thread was scheduled in (schedstat's third field). */
  mainSlices: number;
}

function counters(pid: number): Counters {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cpuTicks = Number(rest[11]) + Number(rest[12]);
  let switches = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const s = procStatus(Number(tid));
      switches += Number(s.voluntary_ctxt_switches) + Number(s.nonvoluntary_ctxt_switches);
    } catch {
      // A thread that ended between the listing and the read.
    }
  }
  const sched = readFileSync(`/proc/${pid}/schedstat`, 'utf8').trim().split(/\s+/);
  return {
    cpuMs: (cpuTicks * 1000) / clockTicks(),
    switches,
    mainSlices: Number(sched[2]),
  };
}

// --- sections --------------------------------------------------------------------

async function floors(o: Options, root: string): Promise<void> {
  process.stderr.write('floors\n');
  const cBin = join(root, 'floor');
  execFileSync('gcc', ['-O2', '-o', cBin, FLOOR_C], { stdio: 'inherit' });
  for (const n of o.ns) {
    const c: number[] = [];
    const cStop: number[] = [];
    const nodeWall: number[] = [];
    const nodeSpawn: number[] = [];
    for (let r = 0; r < o.reps; r++) {
      const marker = `${process.pid}-${n}-${r}`;
      floorMarkers.add(marker);
      const env = { ...process.env, [FLOOR_VAR]: marker };
      const cRun = await run(cBin, [String(n)], 120_000, env);
      const out = JSON.parse(cRun.stdout) as { spawnMs: number; stopMs: number };
      c.push(out.spawnMs);
      cStop.push(out.stopMs);
      await sweepEnv(FLOOR_VAR, marker);
      const res = await nodeFloorRun(n, `${marker}-node`);
      nodeWall.push(res.wallMs);
      nodeSpawn.push(res.spawnMs);
    }
    record(`floor.c.${n}`, 'C fork+exec floor', n, 'ms', c);
    record(`floor.c_stop.${n}`, 'C stop floor (SIGTERM to each group, reap each)', n, 'ms', cStop);
    record(`floor.node_spawn.${n}`, 'Node spawn loop alone', n, 'ms', nodeSpawn);
    record(`floor.node.${n}`, 'Node floor (start-up + spawns)', n, 'ms', nodeWall);
  }
  const bare: number[] = [];
  for (let r = 0; r < o.cliRuns; r++)
    bare.push((await run(process.execPath, ['-e', '0'], 10_000)).ms);
  record('floor.node_start', 'Node start-up (node -e 0)', null, 'ms', bare);
}

/** The Node floor once: from launch to its last 'spawn' event, and the spawn loop alone. */
async function nodeFloorRun(
  n: number,
  marker: string,
): Promise<{ wallMs: number; spawnMs: number }> {
  floorMarkers.add(marker);
  const t0 = now();
  const res = await run(process.execPath, [FLOOR_NODE, String(n), marker], 120_000);
  await sweepEnv(FLOOR_VAR, marker);
  const out = JSON.parse(res.stdout) as { spawnMs: number; doneAt: number };
  return { wallMs: out.doneAt - t0, spawnMs: out.spawnMs };
}

async function nodeFloor(n: number, marker: string): Promise<number> {
  return (await nodeFloorRun(n, marker)).wallMs;
}

const COLD_LABELS: Record<Variant, string> = {
  flat: 'cold start, flat',
  flat_nolog: 'cold start, flat, log: none',
  dag_test: 'cold start, DAG depth 10 + tests',
};

async function cold(o: Options, root: string, withStop: boolean): Promise<void> {
  const biggest = Math.max(...o.ns);
  for (const n of o.ns) {
    for (const variant of ['flat', 'flat_nolog', 'dag_test'] as const) {
      process.stderr.write(`cold start ${variant}, N=${n}\n`);
      const dir = join(root, `cold-${variant}-${n}`);
      writeServices(dir, n, variant);
      const samples: number[] = [];
      const paired: number[] = [];
      const stops: number[] = [];
      const exits: number[] = [];
      for (let r = 0; r < o.reps; r++) {
        paired.push(await nodeFloor(n, `${process.pid}-${variant}-${n}-${r}`));
        const d = await startDaemon(dir, join(root, `c${r}.sock`), join(root, 'daemon.log'));
        try {
          const last = await allRunning(d, n, o.quick ? 10 : 50);
          samples.push(last - d.launchedAt);
          await delay(o.quick ? 50 : 300);
        } finally {
          const s = await stopDaemon(d);
          stops.push(s.goneMs);
          exits.push(s.exitMs);
        }
      }
      // The issue's targets: flat against the C floor, the DAG against Node's.
      record(`cold.${variant}.${n}`, COLD_LABELS[variant], n, 'ms', samples, {
        floor: `floor.node.${n}`,
        paired,
        ...(n === biggest && variant === 'dag_test' ? { target: { ratioMax: 1.15 } } : {}),
      });
      if (variant === 'flat') {
        record(`cold.flat_c.${n}`, `${COLD_LABELS.flat}, against the C floor`, n, 'ms', samples, {
          floor: `floor.c.${n}`,
          ...(n === biggest ? { target: { ratioMax: 1.6 } } : {}),
        });
      }
      if (withStop && variant === 'flat') {
        record(`stop.${n}`, 'stop all (last process gone)', n, 'ms', stops, {
          floor: `floor.c_stop.${n}`,
          ...(n === biggest ? { target: { max: 100 } } : {}),
        });
        record(`stop_exit.${n}`, 'stop all (daemon exited)', n, 'ms', exits);
      }
    }
  }
}

/** Connect, send `line`, read the answer's line: how long, and the answer. */
function rawRequest(socket: string, line: string): Promise<{ ms: number; answer: string }> {
  return new Promise((resolvePromise, reject) => {
    const t0 = performance.now();
    const s = connect(socket);
    let got = '';
    s.setEncoding('utf8');
    s.once('connect', () => s.write(line));
    s.on('data', (d: string) => {
      got += d;
      if (got.includes('\n')) {
        const ms = performance.now() - t0;
        s.destroy();
        resolvePromise({ ms, answer: got });
      }
    });
    s.once('error', reject);
  });
}

/** `clients` persistent connections, one request in flight each, for `ms`: requests a second. */
function throughput(socket: string, line: string, clients: number, ms: number): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    let done = 0;
    let open = clients;
    let stopAt = Infinity;
    let t0 = 0;
    const conns = Array.from({ length: clients }, () => connect(socket));
    let connected = 0;
    for (const s of conns) {
      s.once('error', reject);
      s.once('connect', () => {
        if (++connected === clients) {
          t0 = performance.now();
          stopAt = t0 + ms;
          for (const c of conns) c.write(line);
        }
      });
      s.on('data', (d: Buffer) => {
        let k = 0;
        for (let i = d.indexOf(10); i !== -1; i = d.indexOf(10, i + 1)) k++;
        done += k;
        if (performance.now() < stopAt) {
          for (let i = 0; i < k; i++) s.write(line);
        } else {
          s.destroy();
          if (--open === 0) resolvePromise((done * 1000) / (performance.now() - t0));
        }
      });
    }
  });
}

/** Memory and the idle window, read once the services have settled. */
async function footprintAndIdle(o: Options, d: Daemon, n: number): Promise<void> {
  const want = (s: Section): boolean => o.only.has(s);
  const before = counters(d.pid);
  const rssStart = kib(procStatus(d.pid).VmRSS) / 1024;
  await delay(o.idleMs);
  const after = counters(d.pid);
  const st = procStatus(d.pid);
  if (want('footprint')) {
    record(`rss.${n}`, 'daemon RSS, idle', n, 'MiB', [kib(st.VmRSS) / 1024], {
      target: { max: 64 },
    });
    record(`rss_start.${n}`, 'daemon RSS, just started', n, 'MiB', [rssStart]);
    record(`rss_peak.${n}`, 'daemon RSS, peak', n, 'MiB', [kib(st.VmHWM) / 1024], {
      target: { max: 96 },
    });
    // As the peers' memory is read: PSS.
    record(`pss.${n}`, 'daemon memory (PSS) idle', n, 'MiB', [countersOf([d.pid]).rssMiB]);
    record(
      'ring.text_kept',
      `ring text kept / ring size, ${RING_LINE}-byte lines`,
      1,
      '',
      [ringTextKept()],
      { target: { min: 0.75 } },
    );
  }
  if (want('idle')) {
    const s = o.idleMs / 1000;
    record(`idle.cpu.${n}`, `idle CPU over ${s} s`, n, 'ms', [after.cpuMs - before.cpuMs]);
    record(
      `idle.wakeups.${n}`,
      `idle wake-ups over ${s} s (all threads)`,
      n,
      '',
      [after.switches - before.switches],
      { target: { max: 0 } },
    );
    record(`idle.main_slices.${n}`, `idle main-thread runs over ${s} s`, n, '', [
      after.mainSlices - before.mainSlices,
    ]);
    // The same window once more: what start-up leaves behind (V8 giving
    // back its start-up heap some seconds later) is over by then.
    await delay(o.idleMs);
    const later = counters(d.pid);
    record(
      `idle.wakeups_later.${n}`,
      `idle wake-ups over the next ${s} s`,
      n,
      '',
      [later.switches - after.switches],
      { target: { max: 0 } },
    );
  }
}

/** Respawn after kill -9: plain services, then one with a user, a memory limit and rlimits. */
async function respawnFigures(o: Options, d: Daemon, n: number, dir: string): Promise<void> {
  const samples: number[] = [];
  for (let i = 0; i < o.respawns; i++) samples.push(await respawnOnce(d, `s${i % n}`));
  record(`respawn.${n}`, 'respawn after kill -9', n, 'ms', samples, { target: { max: 1.5 } });
  const boxed: number[] = [];
  await boxedService(d, dir);
  for (let i = 0; i < o.respawns; i++) boxed.push(await respawnOnce(d, 'boxed'));
  // The sections after this one count the directory's N services.
  await d.client.forget('boxed');
  rmSync(join(dir, 'boxed.yaml'));
  record(
    'respawn.boxed',
    'respawn after kill -9, `user: nobody` + `memory_max` + `rlimits`',
    1,
    'ms',
    boxed,
  );
}

async function steady(o: Options, root: string): Promise<void> {
  const n = Math.max(...o.ns);
  const want = (s: Section): boolean => o.only.has(s);
  process.stderr.write(`steady state, N=${n}\n`);
  const dir = join(root, `steady-${n}`);
  writeServices(dir, n, 'steady');
  const d = await startDaemon(dir, join(root, 'steady.sock'), join(root, 'daemon.log'));
  try {
    const up = await allRunning(d, n, o.quick ? 10 : 50);
    // The window starts this long after the last service is up, whatever the daemon does meanwhile.
    await delay(Math.max(0, up + o.settleMs - now()));
    if (want('footprint') || want('idle')) await footprintAndIdle(o, d, n);
    if (want('respawn')) await respawnFigures(o, d, n, dir);
    if (want('control')) await control(o, d, n);
    if (want('stop')) {
      record(
        `stop_batch.${n}`,
        'stop all in one request (last process gone)',
        n,
        'ms',
        [await stopInOneRequest(d, n)],
        { floor: `floor.c_stop.${n}`, target: { max: 150 } },
      );
    }
    if (want('reload')) await reloadUnchanged(o, d, n);
    if (want('stopall')) await stopAllServices(o, d, n);
  } finally {
    const s = await stopDaemon(d);
    if (want('stop') && !want('cold')) {
      record(`stop.${n}`, 'stop all (last process gone)', n, 'ms', [s.goneMs], {
        floor: `floor.c_stop.${n}`,
        target: { max: 100 },
      });
      record(`stop_exit.${n}`, 'stop all (daemon exited)', n, 'ms', [s.exitMs]);
    }
  }
}

/** The shortest line a shell loop writes (`echo s=$i`), newline included: the ring's worst case. */
const RING_LINE = 11;

/**
 * The default ring filled twice over, in this process, with RING_LINE-byte
 * lines a chunk each (as `npm run bench:logs` fills a daemon's): the text it
 * then holds over its size, what the packing and eviction leave of it.
 */
function ringTextKept(): number {
  const store = new LogStore(DEFAULT_LOG_BYTES);
  const cap = new Capture(store, 'fill', 'stdout', 1);
  const count = Math.ceil((2 * DEFAULT_LOG_BYTES) / RING_LINE);
  for (let i = 0; i < count; i++) cap.push(Buffer.from(`s=${10_000_000 + i}\n`));
  const text = store.read({}).entries.reduce((k, e) => k + e.data.length + 1, 0);
  return text / DEFAULT_LOG_BYTES;
}

/**
 * One more service, with the keys that need the wrapper: another user, a
 * cgroup limit, an rlimit (set while the wrapper waits). Where sminitd
 * cannot enforce the limit the file is refused, and it goes without.
 */
async function boxedService(d: Daemon, dir: string): Promise<void> {
  const lines = [
    'exec: sleep 100000',
    'stable_after: 1',
    'user: nobody',
    'rlimits: {nofile: 4096}',
  ];
  const file = join(dir, 'boxed.yaml');
  writeFileSync(file, [...lines, 'memory_max: 256M'].join('\n') + '\n');
  try {
    await d.client.monitor('boxed');
  } catch {
    writeFileSync(file, lines.join('\n') + '\n');
    await d.client.monitor('boxed');
  }
  const t0 = performance.now();
  while ((await d.client.status('boxed')).status !== 'running') {
    if (performance.now() - t0 > 10_000) throw new Error('boxed did not start');
    await delay(10);
  }
}

/**
 * One JSON-RPC batch of `service_stop` for every service, on one connection:
 * sent → none of their processes left.
 */
async function stopInOneRequest(d: Daemon, n: number): Promise<number> {
  const pids = (await d.client.listFull()).map((s) => s.pid).filter((p) => p > 0);
  const batch = Array.from({ length: n }, (_, i) => ({
    jsonrpc: '2.0',
    id: i,
    method: 'service_stop',
    params: { name: `s${i}` },
  }));
  const s = connect(d.socket);
  await new Promise((r) => s.once('connect', r));
  s.resume();
  const t0 = performance.now();
  s.write(JSON.stringify(batch) + '\n');
  let left = pids;
  const deadline = t0 + 60_000;
  while (left.length > 0 && performance.now() < deadline) {
    await delay(1);
    left = left.filter(alive);
  }
  const ms = performance.now() - t0;
  // Up again for what follows (the daemon's own stop).
  const starts = batch.map((r) => ({ ...r, method: 'service_start' }));
  s.write(JSON.stringify(starts) + '\n');
  await allRunning(d, n, 50);
  s.destroy();
  return left.length === 0 ? ms : NaN;
}

const BURST_LINES = 200_000;
const BURST = `seq 100000 ${100_000 + BURST_LINES - 1}`;

/** Lines a second that `cmd` (with `args`) prints, counted until the burst's last line. */
function linesPerSecond(
  cmd: string,
  args: readonly string[],
  ready: RegExp | null,
  go: () => Promise<void>,
): Promise<{ perSecond: number; lines: number }> {
  return new Promise((resolvePromise, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let lines = 0;
    let t0 = 0;
    let pending = '';
    const last = String(100_000 + BURST_LINES - 1);
    const start = (): void => {
      t0 = performance.now();
      void go().catch(reject);
    };
    p.stdout.setEncoding('utf8');
    p.stdout.on('data', (chunk: string) => {
      const text = pending + chunk;
      const cut = text.lastIndexOf('\n') + 1;
      pending = text.slice(cut);
      const whole = text.slice(0, cut);
      if (t0 === 0) {
        if (ready?.test(whole)) start();
        return;
      }
      for (let i = whole.indexOf('\n'); i !== -1; i = whole.indexOf('\n', i + 1)) lines++;
      if (whole.includes(last)) {
        const ms = performance.now() - t0;
        p.kill('SIGINT');
        resolvePromise({ perSecond: (BURST_LINES * 1000) / ms, lines });
      }
    });
    p.once('error', reject);
    if (!ready) start();
  });
}

/**
 * `sminit log NAME` into a pipe while the service writes a burst of short
 * lines (`seq`, in the default ring), against the same burst straight into a pipe.
 */
async function follow(o: Options, root: string): Promise<void> {
  process.stderr.write('follow\n');
  const dir = join(root, 'follow');
  mkdirSync(dir, { recursive: true });
  const fifo = join(root, 'follow.go');
  const floor: number[] = [];
  const cli: number[] = [];
  let lost = 0;
  for (let r = 0; r < (o.quick ? 1 : 3); r++) {
    floor.push((await linesPerSecond('sh', ['-c', BURST], null, async () => undefined)).perSecond);
    execFileSync('mkfifo', [fifo]);
    writeFileSync(
      join(dir, 'burst.yaml'),
      `exec: sh -c 'read x < ${fifo}; ${BURST}'\nrestart: never\n`,
    );
    const d = await startDaemon(dir, join(root, 'follow.sock'), join(root, 'daemon.log'));
    try {
      const got = await linesPerSecond(
        process.execPath,
        [SMINIT, '-s', d.socket, 'log', 'burst'],
        / burst: started: pid /,
        () => writeFile(fifo, 'go\n'),
      );
      cli.push(got.perSecond);
      // Lines past the burst's own (its exit) are not lost ones.
      lost += Math.max(0, BURST_LINES - got.lines);
    } finally {
      await stopDaemon(d);
      rmSync(fifo, { force: true });
    }
  }
  record('follow.floor', 'the burst straight into a pipe', null, 'lines/s', floor);
  record('follow.cli', 'follow lines/s (`sminit log NAME` into a pipe)', null, 'lines/s', cli, {
    floor: 'follow.floor',
  });
  record('follow.lost', `follow: lines lost of ${BURST_LINES}, all runs`, null, '', [lost], {
    target: { max: 0 },
  });
}

async function respawnOnce(d: Daemon, name: string): Promise<number> {
  const before = await d.client.status(name);
  if (before.status !== 'running') throw new Error(`${name} is ${before.status}, not running`);
  // Past stable_after, so the restart is immediate (no backoff).
  const wait = Math.max(0, 1100 - (before.uptime_ms ?? 0));
  if (wait > 0) await delay(wait);
  let t0 = 0;
  let resolveUp: (ms: number) => void = () => undefined;
  const up = new Promise<number>((r) => (resolveUp = r));
  const stop = await d.client.followLogs({ names: [name], n: 0 }, (l) => {
    if (l.stream !== 'event' || t0 === 0) return;
    const m = /^started: pid (\d+)/.exec(l.text);
    if (m && Number(m[1]) !== before.pid) resolveUp(performance.now() - t0);
  });
  t0 = performance.now();
  process.kill(before.pid, 'SIGKILL');
  try {
    return await withDeadline(`${name} to respawn`, 10_000, up);
  } finally {
    await stop();
  }
}

/** What must not change across a no-op reload: each service's pid and when its state began. */
async function identities(d: Daemon): Promise<string> {
  return JSON.stringify((await d.client.listFull()).map((s) => [s.name, s.pid, s.since]));
}

/** `system_reload` of N files none of which changed: it must change nothing, fast. */
async function reloadUnchanged(o: Options, d: Daemon, n: number): Promise<void> {
  const samples: number[] = [];
  for (let r = 0; r < o.reps; r++) {
    const before = await identities(d);
    const t0 = performance.now();
    const res = await d.client.reload();
    samples.push(performance.now() - t0);
    const acted = res.changes.filter((c) => c.action !== 'none');
    if (acted.length > 0 || res.unchanged !== n)
      throw new Error(`a reload of unchanged files planned ${acted.length} changes`);
    if ((await identities(d)) !== before) throw new Error('a no-op reload changed a service');
  }
  record(`reload.noop.${n}`, 'reload, every file unchanged (no-op)', n, 'ms', samples, {
    target: { max: 300 },
  });
}

/** `stop --all` in one request: answered once every process is gone; then all started again. */
async function stopAllServices(o: Options, d: Daemon, n: number): Promise<void> {
  const t0 = performance.now();
  const res = await d.client.many('stop', { all: true });
  const ms = performance.now() - t0;
  if (res.failed.length > 0 || res.results.length !== n)
    throw new Error(`stop --all: ${res.failed.length} failed of ${res.results.length}`);
  record(`stopall.${n}`, '`stop --all` in one request (processes gone)', n, 'ms', [ms], {
    floor: `floor.c_stop.${n}`,
    target: { max: 150 },
  });
  // The daemon's own stop (the `stop` section) is measured with everything running.
  await d.client.many('start', { all: true });
  await allRunning(d, n, o.quick ? 10 : 50);
}

/** One JSON-RPC request as the socket takes it: a line. */
const rpcLine = (id: number, method: string, params: object): string =>
  JSON.stringify({ jsonrpc: '2.0', id, method, params }) + '\n';

/**
 * The least a Node program can do for what `sminit status NAME` shows: one
 * connection, the status and the last five log lines asked at once, both
 * answers printed as they came; CommonJS, no module but net.
 */
function bareClient(socket: string, name: string): string {
  const lines =
    rpcLine(1, 'service_status', { name }) + rpcLine(2, 'log_read', { names: [name], n: 5 });
  return `const s = require('node:net').connect(${JSON.stringify(socket)});
s.on('connect', () => s.write(${JSON.stringify(lines)}));
let b = '';
s.on('data', (d) => { b += d; if (b.split('\\n').length > 2) { process.stdout.write(b); process.exit(0); } });`;
}

async function control(o: Options, d: Daemon, n: number): Promise<void> {
  const name = `s${n - 1}`;
  const cli: number[] = [];
  const bare: number[] = [];
  const client: number[] = [];
  // Both in a clean environment (env -i PATH=$PATH): what this machine's own
  // variables add to every node start (a CA bundle) is no user's.
  const clean = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
  for (let r = 0; r < o.cliRuns; r++) {
    bare.push((await run(process.execPath, ['-e', '0'], 10_000, clean)).ms);
    client.push(
      (await run(process.execPath, ['-e', bareClient(d.socket, name)], 10_000, clean)).ms,
    );
    const res = await run(
      process.execPath,
      [SMINIT, '-s', d.socket, 'status', name],
      10_000,
      clean,
    );
    if (res.code !== 0) throw new Error(`sminit status ${name} exited ${res.code}`);
    cli.push(res.ms);
  }
  record('control.cli', '`sminit status NAME` round trip (clean env)', n, 'ms', cli, {
    floor: 'floor.node_start',
    paired: bare,
    target: { ratioMax: 1.1 },
  });
  record(
    'floor.node_client',
    'bare Node client: the same two requests (clean env)',
    n,
    'ms',
    client,
  );
  record('control.cli_client', '`sminit status NAME` over the bare Node client', n, 'ms', cli, {
    paired: client,
  });
  await requests(o, d, n);
}

/**
 * Raw requests and requests a second, each round against the request floor
 * (bench/floor-rpc.ts: a bare Node server giving the daemon's own answer)
 * run just before it, so the ratios read what is sminit's.
 */
async function requests(o: Options, d: Daemon, n: number): Promise<void> {
  const line = rpcLine(1, 'service_status', { name: `s${n - 1}` });
  const floor = await startRpcFloor(dirname(d.socket), (await rawRequest(d.socket, line)).answer);
  try {
    const raw: number[] = [];
    const rawFloor: number[] = [];
    for (let r = 0; r < o.rawRuns; r++) {
      rawFloor.push((await rawRequest(floor.socket, line)).ms);
      raw.push((await rawRequest(d.socket, line)).ms);
    }
    record('floor.rpc_raw', 'request floor: bare Node server, raw request', n, 'ms', rawFloor);
    record('control.raw', 'raw socket request (connect, line, line)', n, 'ms', raw, {
      floor: 'floor.rpc_raw',
      paired: rawFloor,
      target: { max: 0.5 },
    });
    for (const c of [1, 16, 64]) await requestsPerSecond(o, d.socket, floor.socket, line, n, c);
  } finally {
    floor.stop();
  }
}

async function requestsPerSecond(
  o: Options,
  socket: string,
  floorSocket: string,
  line: string,
  n: number,
  c: number,
): Promise<void> {
  const rounds: number[] = [];
  const floorRounds: number[] = [];
  for (let r = 0; r < (o.quick ? 1 : 3); r++) {
    floorRounds.push(await throughput(floorSocket, line, c, o.throughputMs));
    rounds.push(await throughput(socket, line, c, o.throughputMs));
  }
  record(
    `floor.rpc.${c}`,
    `request floor: bare Node server, ${c} clients`,
    n,
    'req/s',
    floorRounds,
  );
  record(`control.rps.${c}`, `service_status, ${c} clients`, n, 'req/s', rounds, {
    floor: `floor.rpc.${c}`,
    paired: floorRounds,
    ...(c === 16 ? { target: { min: 20000 } } : {}),
  });
}

/** The request floor's server on a socket in `dir`, answering every line with `answer`. */
async function startRpcFloor(
  dir: string,
  answer: string,
): Promise<{ socket: string; stop: () => void }> {
  const socket = join(dir, 'floor-rpc.sock');
  const answerFile = join(dir, 'floor-rpc.answer');
  writeFileSync(answerFile, answer);
  const proc = spawn(process.execPath, [FLOOR_RPC, socket, answerFile], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  floorServers.add(proc);
  const stop = (): void => {
    proc.kill('SIGTERM');
    floorServers.delete(proc);
  };
  const ready = await new Promise<boolean>((r) => {
    proc.stdout.once('data', () => r(true));
    proc.once('exit', () => r(false));
    proc.once('error', () => r(false));
  });
  if (!ready) throw new Error('the request floor server did not start');
  return { socket, stop };
}
/** Request floor servers running, killed in cleanup whatever happened. */
const floorServers = new Set<ChildProcess>();

// --- peers ---------------------------------------------------------------------

/** counters() summed over several processes (a peer's supervisor is often many). */
function countersOf(pids: readonly number[]): Counters & { rssMiB: number } {
  const sum = { cpuMs: 0, switches: 0, mainSlices: 0, rssMiB: 0 };
  for (const pid of pids) {
    try {
      const c = counters(pid);
      sum.cpuMs += c.cpuMs;
      sum.switches += c.switches;
      sum.mainSlices += c.mainSlices;
      // PSS: pages a peer's many processes share (libc, the interpreter) count once.
      const pss = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
      sum.rssMiB += Number(pss?.[1] ?? 0) / 1024;
    } catch {
      // A process that ended meanwhile.
    }
  }
  return sum;
}

async function peerUp(r: PeerRun, n: number): Promise<void> {
  const deadline = Date.now() + 120_000;
  while ((await r.up()).length < n) {
    if (Date.now() > deadline) throw new Error(`fewer than ${n} services up after 120 s`);
    await delay(50);
  }
}

/** kill -9 of one service → a new process in its place (a new child of the same parent). */
async function peerRespawn(r: PeerRun): Promise<number> {
  const victim = (await r.up())[0];
  if (victim === undefined) throw new Error('no service up');
  const parent = Number(readFileSync(`/proc/${victim}/stat`, 'utf8').split(') ')[1]?.split(' ')[1]);
  const before = new Set(childrenOf(parent));
  const t0 = performance.now();
  process.kill(victim, 'SIGKILL');
  const deadline = t0 + 10_000;
  while (performance.now() < deadline) {
    if (childrenOf(parent).some((p) => !before.has(p))) return performance.now() - t0;
    await new Promise((res) => setImmediate(res));
  }
  return NaN;
}

async function peerStop(r: PeerRun): Promise<number> {
  let left = await r.up();
  const t0 = performance.now();
  const done = r.stopAll();
  const deadline = t0 + 120_000;
  while (left.length > 0 && performance.now() < deadline) {
    await delay(1);
    left = left.filter(alive);
  }
  const ms = performance.now() - t0;
  await done.catch(() => undefined);
  return left.length === 0 ? ms : NaN;
}

/** One peer over N services, measured as sminit's steady state is. */
async function peer(o: Options, root: string, p: Peer, n: number): Promise<void> {
  const id = `peer.${p.name}`;
  if (!installed(p)) return void record(`${id}.none`, p.name, n, 'not installed', []);
  process.stderr.write(`peer ${p.version()}, N=${n}\n`);
  const dir = join(root, `peer-${p.name}`);
  mkdirSync(dir, { recursive: true });
  const t0 = performance.now();
  const r = p.start(dir, n);
  try {
    await peerUp(r, n);
    record(
      `${id}.cold`,
      `${p.name}: cold start, flat (polled)`,
      n,
      'ms',
      [performance.now() - t0],
      {
        floor: `floor.c.${n}`,
      },
    );
    await delay(o.settleMs);
    const before = countersOf(r.supervisors());
    await delay(o.idleMs);
    const after = countersOf(r.supervisors());
    record(`${id}.rss`, `${p.name}: memory (PSS) idle, its processes`, n, 'MiB', [after.rssMiB]);
    record(`${id}.idle.cpu`, `${p.name}: idle CPU over ${o.idleMs / 1000} s`, n, 'ms', [
      after.cpuMs - before.cpuMs,
    ]);
    record(`${id}.idle.wakeups`, `${p.name}: idle wake-ups over ${o.idleMs / 1000} s`, n, '', [
      after.switches - before.switches,
    ]);
    const respawns: number[] = [];
    for (let i = 0; i < 5; i++) {
      respawns.push(await peerRespawn(r));
      await delay(1100);
    }
    record(`${id}.respawn`, `${p.name}: respawn after kill -9`, n, 'ms', respawns);
    record(`${id}.stop`, `${p.name}: stop all, ${p.stopHow}`, n, 'ms', [await peerStop(r)], {
      floor: `floor.c_stop.${n}`,
    });
  } finally {
    await r.kill();
  }
}

// --- main ----------------------------------------------------------------------

/** Each peer in turn: one that fails is a row of the table, not the end of the run. */
async function peers(o: Options, root: string): Promise<void> {
  for (const p of PEERS) {
    await peer(o, root, p, Math.max(...o.ns)).catch((err: unknown) => {
      process.stderr.write(`bench: ${p.name}: ${String(err)}\n`);
      record(`peer.${p.name}.failed`, `${p.name}: ${String(err)}`, null, 'failed', []);
    });
  }
}

async function main(): Promise<void> {
  let o: Options;
  try {
    o = parseOptions(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n${USAGE}\n`);
    process.exit(2);
  }
  const root = mkdtempSync(join(tmpdir(), 'sminit-bench-'));
  const started = new Date().toISOString();
  const loadBefore = loadavg();
  // Everything is bounded; this is the last resort.
  const watchdog = setTimeout(() => void abort('the whole run took over 40 minutes'), 40 * 60_000);
  const abort = async (why: string): Promise<never> => {
    process.stderr.write(`bench: ${why}; cleaning up\n`);
    await cleanup(root);
    process.exit(1);
  };
  process.once('SIGINT', () => void abort('interrupted'));
  try {
    const want = (s: Section): boolean => o.only.has(s);
    if (want('floor')) await floors(o, root);
    if (want('cold')) await cold(o, root, want('stop'));
    const steadySections = ['footprint', 'idle', 'respawn', 'control', 'reload', 'stopall', 'stop'];
    if (steadySections.some((s) => want(s as Section))) {
      await steady(o, root);
    }
    if (want('follow')) await follow(o, root);
    if (want('peers')) await peers(o, root);
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
    const log = join(root, 'daemon.log');
    const tail = readFileSync(log, { encoding: 'utf8', flag: 'a+' }).split('\n').slice(-20);
    process.stderr.write(`sminitd's last lines:\n${tail.join('\n')}\n`);
    await cleanup(root);
    process.exit(1);
  }
  clearTimeout(watchdog);
  await cleanup(root);
  process.stderr.write('\n');
  printTable();
  const doc = {
    started,
    machine: {
      cpus: cpus().length,
      cpu: cpus()[0]?.model ?? '',
      node: process.version,
      kernel: release(),
      loadavg: { before: loadBefore, after: loadavg() },
    },
    options: { ...o, only: [...o.only] },
    figures,
  };
  if (o.json === '-') process.stdout.write(JSON.stringify(doc, null, 2) + '\n');
  else if (o.json) writeFileSync(o.json, JSON.stringify(doc, null, 2) + '\n');
}

async function cleanup(root: string): Promise<void> {
  for (const [p, id] of live) {
    p.kill('SIGKILL');
    await sweepEnv(DAEMON_VAR, id).catch(() => 0);
  }
  for (const m of floorMarkers) await sweepEnv(FLOOR_VAR, m).catch(() => 0);
  for (const p of floorServers) p.kill('SIGKILL');
  rmSync(root, { recursive: true, force: true });
}

await main();
