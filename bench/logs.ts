// Log capture, measured. Not a test: it prints figures.
//
// Throughput: a C program (bench/logwriter.c) writes short printf-style lines
// as fast as it can for a few seconds, once to /dev/null, once to a pipe
// read by `cat` (the pipe's own cost) and once as an sminit service; it
// reports its own bytes per second. Alternating repetitions, medians, and
// figures as ratios against /dev/null in the same run. The daemon's CPU
// (utime + stime from /proc/PID/stat) over the service's run, per MB captured.
//
// Latency: the writer prints CLOCK_MONOTONIC in each line every few ms;
// `sminit log` follows it and the bench stamps each line as it is printed.
//
// Ring: a shell loop fills the default ring with fixed-size lines, one
// `write` each (`echo s=$i`), twice its size over; the text the ring then
// holds over the ring's size, and the daemon's RSS growth over that text,
// beside the same writer's against the smallest ring (what capturing at full
// speed costs whatever is kept). RSS does not add up (memory freed by one is
// reused by the other), so the ring's own memory is measured in this process
// too: the same lines into a ring, heap and buffers after a full GC.
//
//   npm run bench:logs [-- --seconds 3 --reps 3 --json --only ring,throughput,latency]

import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '../lib/client/client.js';
import { Capture } from '../lib/logs/capture.js';
import { DEFAULT_LOG_BYTES, MIN_LOG_BYTES } from '../lib/logs/limits.js';
import { LogStore } from '../lib/logs/ring.js';

const here = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(here, '../..');
const SMINITD = join(ROOT, 'dist/bin/sminitd.js');
const SMINIT = join(ROOT, 'dist/bin/sminit.cjs');

const args = process.argv.slice(2);
const opt = (name: string, def: number): number => {
  const i = args.indexOf(`--${name}`);
  return i !== -1 && args[i + 1] !== undefined ? Number(args[i + 1]) : def;
};
const SECONDS = opt('seconds', 3);
const REPS = opt('reps', 3);
const LAT_LINES = opt('lines', 500);
const JSON_ONLY = args.includes('--json');
const onlyAt = args.indexOf('--only');
const ONLY = new Set(
  onlyAt !== -1 ? (args[onlyAt + 1] ?? '').split(',') : ['ring', 'throughput', 'latency'],
);

const TICK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}
function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] as number;
}

function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 (utime, stime), counted from after the comm.
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICK;
}

async function waitFor<T>(
  what: string,
  fn: () => T | null | Promise<T | null>,
  ms: number,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== null) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function readStats(file: string): { bytes: number; ns: number } | null {
  try {
    const [bytes, ns] = readFileSync(file, 'utf8').trim().split(' ').map(Number);
    return bytes && ns ? { bytes, ns } : null;
  } catch {
    return null;
  }
}

const work = mkdtempSync(join(tmpdir(), 'sminit-bench-logs-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));
const WRITER = join(work, 'logwriter');
execFileSync('gcc', ['-O2', '-o', WRITER, join(ROOT, 'bench/logwriter.c')]);

/** The writer's own MB/s with stdout on /dev/null, or piped into cat. */
async function plain(into: 'null' | 'cat'): Promise<number> {
  const stats = join(work, `plain-${into}.stats`);
  rmSync(stats, { force: true });
  const cmd =
    into === 'null'
      ? `exec ${WRITER} ${SECONDS} ${stats} >/dev/null`
      : `${WRITER} ${SECONDS} ${stats} | cat >/dev/null`;
  const p = spawn('sh', ['-c', cmd], { stdio: 'ignore', detached: true });
  const s = await waitFor('the plain writer', () => readStats(stats), SECONDS * 1000 + 20000);
  process.kill(-(p.pid as number), 'SIGKILL');
  return s.bytes / 1e6 / (s.ns / 1e9);
}

interface Daemon {
  pid: number;
  socket: string;
  client: Client;
  stop(): Promise<void>;
}

async function daemon(
  services: Record<string, string>,
  name: string,
  extra: readonly string[] = [],
): Promise<Daemon> {
  const dir = join(work, name);
  mkdirSync(join(dir, 'etc'), { recursive: true });
  for (const [n, yaml] of Object.entries(services))
    writeFileSync(join(dir, 'etc', `${n}.yaml`), yaml);
  const socket = join(dir, 's.sock');
  const p = spawn(process.execPath, [SMINITD, '-c', join(dir, 'etc'), '-s', socket, ...extra], {
    stdio: 'ignore',
  });
  const client = await waitFor('sminitd', () => Client.connect(socket).catch(() => null), 10000);
  return {
    pid: p.pid as number,
    socket,
    client,
    stop: async () => {
      client.close();
      const gone = new Promise((r) => p.once('exit', r));
      p.kill('SIGTERM');
      await gone;
    },
  };
}

/** The writer as a service: its MB/s, and the daemon's CPU ms per MB captured. */
async function underSminit(rep: number): Promise<{ mbps: number; cpuPerMb: number }> {
  const stats = join(work, `svc-${rep}.stats`);
  const d = await daemon(
    { w: `exec: ${WRITER} ${SECONDS} ${stats}\nrestart: never\n` },
    `tp-${rep}`,
  );
  // The daemon's CPU from just before the service starts is what we count;
  // start-up before that is not capture.
  const cpu0 = cpuMs(d.pid);
  const s = await waitFor('the service writer', () => readStats(stats), SECONDS * 1000 + 20000);
  await waitFor(
    'the last line to be captured',
    async () =>
      (await d.client.readLogs({ names: ['w'], n: 1, stream: 'stdout' })).lines[0]?.text ===
      'bench-done'
        ? true
        : null,
    20000,
  );
  const cpu = cpuMs(d.pid) - cpu0;
  await d.stop();
  const mb = s.bytes / 1e6;
  return { mbps: mb / (s.ns / 1e9), cpuPerMb: cpu / mb };
}

/** Line written → line printed by `sminit log`, in ms. */
async function latency(): Promise<number[]> {
  const d = await daemon(
    { lat: `exec: ${WRITER} -l ${LAT_LINES} 4000\nrestart: never\n` },
    'latency',
  );
  const follower = spawn(process.execPath, [SMINIT, '--socket', d.socket, 'log', '--json', 'lat'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const out: number[] = [];
  let buf = '';
  let done = false;
  follower.stdout.setEncoding('utf8');
  follower.stdout.on('data', (chunk: string) => {
    const at = process.hrtime.bigint();
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf('\n')) !== -1) {
      const line = JSON.parse(buf.slice(0, nl)) as { text: string };
      buf = buf.slice(nl + 1);
      const m = /^lat (\d+)$/.exec(line.text);
      if (m) out.push(Number(at - BigInt(m[1] as string)) / 1e6);
      if (line.text === 'bench-done') done = true;
    }
  });
  await waitFor('the latency run', () => (done ? true : null), LAT_LINES * 10 + 30000);
  follower.kill('SIGINT');
  await d.stop();
  // The first lines race the follower's start-up; keep the steady state.
  return out.slice(10);
}

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) * 1024;
}

interface RingFill {
  line_bytes: number;
  lines_written: number;
  lines_kept: number;
  text_kept_bytes: number;
  /** Text kept (each line's bytes and its newline) over the ring's size. */
  text_kept_vs_ring: number;
  rss_growth_bytes: number;
  /** The daemon's RSS growth while filling the ring, over the text it then holds. */
  rss_growth_vs_text: number;
  /** The same writer against the smallest ring: what capture itself costs, held or not. */
  rss_growth_min_ring_bytes: number;
  /** The ring's own memory (this process, the same lines, after a GC) over the text held. */
  ring_memory_vs_text: number;
}

/**
 * The ring alone, in this process: the default ring filled twice over with
 * `lineBytes`-byte lines a chunk each, then the growth of V8's heap and of
 * memory outside it (buffers) after a full GC, over the text it holds.
 */
function ringMemory(lineBytes: number): number {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const used = (): number => {
    gc();
    gc();
    const m = process.memoryUsage();
    return m.heapUsed + m.external;
  };
  const before = used();
  const store = new LogStore(DEFAULT_LOG_BYTES);
  const cap = new Capture(store, 'fill', 'stdout', 1);
  const count = Math.ceil((2 * DEFAULT_LOG_BYTES) / lineBytes);
  for (let i = 0; i < count; i++) {
    cap.push(Buffer.from(`s=${String(10_000_000 + i).padStart(lineBytes - 3, '0')}\n`));
  }
  const grown = used() - before;
  const text = store.read({}).entries.reduce((n, e) => n + e.data.length + 1, 0);
  return grown / text;
}

/**
 * A ring of `ringBytes` (the default when absent) filled with twice the
 * default ring's size by a shell loop writing `lineBytes`-byte lines (newline
 * included), one `write` each. The service waits for a file so the daemon's
 * RSS is read before it writes.
 */
async function fill(
  lineBytes: number,
  ringBytes?: number,
): Promise<{ written: number; lines: number; text: number; rss: number }> {
  const go = join(work, `go-${lineBytes}-${ringBytes ?? 'default'}`);
  const count = Math.ceil((2 * DEFAULT_LOG_BYTES) / lineBytes);
  // "s=", eight digits from 10000000 on (zero-padded to the size wanted), a newline.
  const put = lineBytes > 11 ? `printf "s=%0${lineBytes - 3}d\\n" $i` : 'echo s=$i';
  const loop = `until [ -e ${go} ]; do sleep 0.02; done; i=10000000; while [ $i -lt ${10000000 + count} ]; do ${put}; i=$((i+1)); done; echo fill-done`;
  const d = await daemon(
    { fill: `exec: sh -c '${loop}'\nrestart: never\n` },
    `ring-${lineBytes}-${ringBytes ?? 'default'}`,
    ringBytes === undefined ? [] : ['-b', `${ringBytes}B`],
  );
  await waitFor(
    'the service to start',
    async () => ((await d.client.status('fill')).pid ? true : null),
    10000,
  );
  const rss0 = rssBytes(d.pid);
  writeFileSync(go, '');
  await waitFor(
    'the ring to fill',
    async () =>
      (await d.client.readLogs({ names: ['fill'], n: 1, stream: 'stdout' })).lines[0]?.text ===
      'fill-done'
        ? true
        : null,
    120000,
  );
  const rss = rssBytes(d.pid) - rss0;
  let lines = 0;
  let text = 0;
  let page = await d.client.readLogs({ names: ['fill'], stream: 'stdout' });
  const end = page.end;
  for (;;) {
    for (const l of page.lines) {
      if (l.text.startsWith('s=')) {
        lines++;
        text += Buffer.byteLength(l.text) + 1;
      }
    }
    if (page.next >= end) break;
    page = await d.client.readLogs({
      names: ['fill'],
      stream: 'stdout',
      from: page.next,
      until: end,
    });
  }
  await d.stop();
  return { written: count, lines, text, rss };
}

async function ringFill(lineBytes: number): Promise<RingFill> {
  const full = await fill(lineBytes);
  const min = await fill(lineBytes, MIN_LOG_BYTES);
  return {
    line_bytes: lineBytes,
    lines_written: full.written,
    lines_kept: full.lines,
    text_kept_bytes: full.text,
    text_kept_vs_ring: full.text / DEFAULT_LOG_BYTES,
    rss_growth_bytes: full.rss,
    rss_growth_vs_text: full.rss / full.text,
    rss_growth_min_ring_bytes: min.rss,
    ring_memory_vs_text: ringMemory(lineBytes),
  };
}

async function throughputRows(): Promise<
  { null: number; cat: number; sminit: number; cpuPerMb: number }[]
> {
  const rows: { null: number; cat: number; sminit: number; cpuPerMb: number }[] = [];
  for (let rep = 0; rep < REPS; rep++) {
    const devnull = await plain('null');
    const cat = await plain('cat');
    const svc = await underSminit(rep);
    rows.push({ null: devnull, cat, sminit: svc.mbps, cpuPerMb: svc.cpuPerMb });
    if (!JSON_ONLY) {
      process.stderr.write(
        `rep ${rep + 1}/${REPS}: /dev/null ${devnull.toFixed(0)} MB/s, pipe to cat ${cat.toFixed(0)} MB/s, sminit ${svc.mbps.toFixed(0)} MB/s, daemon ${svc.cpuPerMb.toFixed(2)} ms CPU/MB\n`,
      );
    }
  }
  return rows;
}

const ring = ONLY.has('ring') ? [await ringFill(11), await ringFill(200)] : [];
const rows = ONLY.has('throughput') ? await throughputRows() : [];
const lat = ONLY.has('latency') ? await latency() : [];

const mib = (b: number): string => `${(b / 1024 / 1024).toFixed(2)} MiB`;
const result = {
  seconds: SECONDS,
  reps: REPS,
  ring_bytes: DEFAULT_LOG_BYTES,
  ring,
  line: '"<seq> GET /api/items 200 4.2ms" (~35 bytes), stdio-buffered',
  devnull_mb_s: median(rows.map((r) => r.null)),
  pipe_to_cat_mb_s: median(rows.map((r) => r.cat)),
  sminit_mb_s: median(rows.map((r) => r.sminit)),
  sminit_vs_devnull: median(rows.map((r) => r.sminit / r.null)),
  cat_vs_devnull: median(rows.map((r) => r.cat / r.null)),
  daemon_cpu_ms_per_mb: median(rows.map((r) => r.cpuPerMb)),
  follow_latency_ms: {
    lines: lat.length,
    median: median(lat),
    p90: percentile(lat, 90),
    p99: percentile(lat, 99),
  },
};

if (!JSON_ONLY) {
  const pct = (x: number): string => `${(x * 100).toFixed(0)}%`;
  const table = [['measure', 'median', 'target']];
  for (const r of ring) {
    table.push(
      [
        `ring text kept / ring size, ${r.line_bytes}-byte lines, one write each`,
        `${pct(r.text_kept_vs_ring)} (${mib(r.text_kept_bytes)} of ${mib(DEFAULT_LOG_BYTES)})`,
        '≥ 75%',
      ],
      [
        `daemon RSS growth / text kept, ${r.line_bytes}-byte lines`,
        `${r.rss_growth_vs_text.toFixed(2)}× (${mib(r.rss_growth_bytes)}; ${mib(r.rss_growth_min_ring_bytes)} with a 64 KiB ring)`,
        '',
      ],
      [
        `the ring's own memory / text kept, ${r.line_bytes}-byte lines (in process)`,
        `${r.ring_memory_vs_text.toFixed(2)}×`,
        '≤ 1.5×',
      ],
    );
  }
  if (rows.length > 0) {
    table.push(
      ['writer to /dev/null', `${result.devnull_mb_s.toFixed(0)} MB/s`, ''],
      [
        'writer to a pipe read by cat',
        `${result.pipe_to_cat_mb_s.toFixed(0)} MB/s (${pct(result.cat_vs_devnull)})`,
        '',
      ],
      [
        'writer as an sminit service',
        `${result.sminit_mb_s.toFixed(0)} MB/s (${pct(result.sminit_vs_devnull)})`,
        '≥ 80%',
      ],
      ['daemon CPU per MB captured', `${result.daemon_cpu_ms_per_mb.toFixed(2)} ms`, '≤ 5 ms'],
    );
  }
  if (lat.length > 0) {
    table.push([
      'follow latency (written → printed)',
      `${result.follow_latency_ms.median.toFixed(3)} ms (p99 ${result.follow_latency_ms.p99.toFixed(3)})`,
      '< 1 ms',
    ]);
  }
  const w = [0, 1, 2].map((i) => Math.max(...table.map((r) => (r[i] as string).length)));
  for (const r of table)
    console.log(
      r
        .map((c, i) => c.padEnd(w[i] as number))
        .join('  ')
        .trimEnd(),
    );
  console.log();
}
console.log(JSON.stringify(result, null, 2));
process.exit(0);
