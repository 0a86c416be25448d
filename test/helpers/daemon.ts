// The one harness every end-to-end test uses: write service files into a
// temp dir, start the real sminitd on a temp socket, talk to it through the
// real client or CLI, wait for conditions with deadlines, and tear down every
// process the test started (the daemon's services included).

import { type ChildProcess, spawn } from 'node:child_process';
import { connect } from 'node:net';
import {
  chownSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, RpcError } from '../../lib/client/client.js';
import { findByEnv, processTable, readStat } from '../../lib/os/procfs.js';
import { cgroupMounts, ownGroups, removeTree } from '../../lib/os/cgroup-layout.js';
import { daemonOfGroup } from '../../lib/os/cgroup-tree.js';
import { signalAll } from '../../lib/os/kill.js';
import { DAEMON_VAR, SOCKET_VAR, daemonId } from '../../lib/os/markers.js';
import type { ServiceStatus } from '../../lib/api/wire.js';
import { waitFor } from './wait.js';

const here = dirname(fileURLToPath(import.meta.url));
/** dist/ root: tests run compiled, next to the compiled bins. */
export const DIST = resolve(here, '../..');
export const SMINITD = join(DIST, 'bin/sminitd.js');
export const SMINIT = join(DIST, 'bin/sminit.cjs');

/** What a tap test gives us: just teardown. */
interface Teardown {
  teardown(fn: () => void | Promise<void>): void;
}

export interface Daemon {
  readonly dir: string;
  readonly socket: string;
  /** What the test spawned: sminitd itself, or `unshare` around it. */
  readonly proc: ChildProcess;
  /** sminitd's pid as this test sees it (in a PID namespace it calls itself 1). */
  readonly pid: number;
  readonly client: Client;
  /** Everything sminitd wrote to stderr so far. */
  stderr(): string;
  /** Write (or overwrite) a service file. */
  write(name: string, yaml: string): void;
  status(name: string): Promise<ServiceStatus>;
  /** Wait until the service's status satisfies `pred`. */
  waitStatus(
    name: string,
    pred: (s: ServiceStatus) => boolean,
    what: string,
    timeoutMs?: number,
  ): Promise<ServiceStatus>;
  /** Run the CLI against this daemon. */
  cli(...args: string[]): Promise<CliResult>;
  /** Resolves with the daemon's exit code. */
  exited: Promise<number | null>;
  /** Resolves with how the daemon ended (unshare ends the same way as the init it ran). */
  ended: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface DaemonOptions {
  /**
   * Run sminitd as PID 1 of a new PID namespace, as a container runtime
   * would: `unshare --pid --fork --mount-proc`. Teardown kills the
   * namespace's init, which takes every process in it along.
   */
  readonly pidNamespace?: boolean;
  readonly env?: NodeJS.ProcessEnv;
  /** Shell commands run just before sminitd is exec'd in their place (to set up odd inheritance). */
  readonly viaShell?: string;
  /** Prepare the config directory (files that are not plain text: links, FIFOs…) before sminitd reads it. */
  readonly setup?: (dir: string) => void;
  /**
   * Run sminitd as this unprivileged uid (and gid), through setpriv; its
   * directory is handed over to it. Limits such as RLIMIT_NPROC bind only
   * such a user.
   */
  readonly user?: number;
  /**
   * Start on another daemon's directory and socket (`root`, the parent of its
   * `dir`): a daemon started again after its predecessor died.
   */
  readonly root?: string;
}

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export function tempDir(t: Teardown, prefix = 'sminit-'): string {
  // Short paths: a unix socket path must fit in 108 bytes.
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * The record of its cgroup trees a running daemon keeps beside its socket
 * (`s.sock.cgroups`), by name, when it tracks services by cgroup (its
 * start-up line says so); none otherwise.
 */
export function cgroupRecord(d: Daemon): string[] {
  return /tracking each service in its own cgroup/.test(d.stderr())
    ? [`${basename(d.socket)}.cgroups`]
    : [];
}

export function runCli(
  args: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<CliResult> {
  return new Promise((res) => {
    const p = spawn(process.execPath, [SMINIT, ...args], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('close', (code) => res({ code, stdout, stderr }));
  });
}

/** One JSON-RPC request on its own connection; the parsed answer. */
export function rawCall(socket: string, request: object): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const s = connect(socket);
    let buf = '';
    s.on('error', reject);
    s.on('data', (d: Buffer) => {
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl !== -1) {
        s.destroy();
        resolve(JSON.parse(buf.slice(0, nl)) as Record<string, unknown>);
      }
    });
    s.write(JSON.stringify({ jsonrpc: '2.0', id: 1, ...request }) + '\n');
  });
}

/**
 * Kill every process any service of a daemon started, wherever it went. Takes
 * the daemon's id (`daemonId(pid)`, read while it runs), since its pid alone
 * does not name it once it is gone.
 */
export async function sweep(id: string): Promise<void> {
  const table = await processTable();
  signalAll(await findByEnv(table, DAEMON_VAR, id), 'SIGKILL');
}

/** Kill every process any daemon on `socket` started, whichever daemon it was and wherever it went. */
export async function sweepSocket(socket: string): Promise<void> {
  const table = await processTable();
  signalAll(await findByEnv(table, SOCKET_VAR, resolve(socket)), 'SIGKILL');
}

/** A group as /proc/PID/cgroup names it (`0::/sminit.1.2/web`), as a directory of the v2 mount. */
export function unifiedDir(group: string): string {
  const m = cgroupMounts(readFileSync('/proc/self/mountinfo', 'utf8')).find(
    (x) => x.fstype === 'cgroup2',
  );
  if (m === undefined) throw new Error('no cgroup2 mount');
  return join(m.point, m.root === '/' ? group : group.slice(m.root.length));
}

/**
 * Remove the cgroups a daemon made (`sminit.PID.START` under this test's
 * own groups), killing what is left in them: a daemon that was SIGKILLed
 * could not remove them itself. `pid` is the daemon's pid as it sees it (1
 * in its own namespace): start times alone are clock ticks, and two tests
 * run in parallel can start their daemons in the same one.
 */
export function removeDaemonCgroups(pid: number, startTime: number): void {
  const own = ownGroups(readFileSync('/proc/self/cgroup', 'utf8'));
  for (const m of cgroupMounts(readFileSync('/proc/self/mountinfo', 'utf8'))) {
    const list =
      m.fstype === 'cgroup2'
        ? ''
        : [...own.keys()].find((k) => m.options.some((o) => k.split(',').includes(o)));
    const path = list === undefined ? undefined : own.get(list);
    if (path === undefined) continue;
    const parent = join(m.point, m.root === '/' ? path : path.slice(m.root.length));
    let names: string[] = [];
    try {
      names = readdirSync(parent);
    } catch {
      continue;
    }
    for (const n of names) {
      const d = daemonOfGroup(n);
      if (d?.pid === pid && d.startTime === startTime) removeTree(join(parent, n), true);
    }
  }
}

export async function startDaemon(
  t: Teardown,
  files: Record<string, string>,
  extraArgs: readonly string[] = [],
  options: DaemonOptions = {},
): Promise<Daemon> {
  const root = options.root ?? tempDir(t);
  const dir = join(root, 'etc');
  const socket = join(root, 's.sock');
  mkdirSync(dir, { recursive: true });
  const write = (name: string, yaml: string): void =>
    writeFileSync(join(dir, name.includes('.') ? name : `${name}.yaml`), yaml);
  for (const [name, yaml] of Object.entries(files)) write(name, yaml);
  options.setup?.(dir);
  const asUser =
    options.user === undefined
      ? []
      : ['setpriv', `--reuid=${options.user}`, `--regid=${options.user}`, '--clear-groups', '--'];
  if (options.user !== undefined)
    for (const d of [root, dir]) chownSync(d, options.user, options.user);
  const daemonArgv = [...asUser, process.execPath, SMINITD, '-c', dir, '-s', socket, ...extraArgs];
  const argv =
    options.viaShell === undefined
      ? daemonArgv
      : ['sh', '-c', `${options.viaShell}; exec "$@"`, 'sh', ...daemonArgv];
  const ns = options.pidNamespace === true;
  const [file, ...args] = ns
    ? ['unshare', '--pid', '--fork', '--mount-proc', '--kill-child', '--', ...argv]
    : argv;
  const proc = spawn(file!, args, {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: options.env ?? process.env,
  });
  let err = '';
  proc.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    proc.once('exit', (code, signal) => r({ code, signal })),
  );
  const exited = ended.then((e) => e.code);
  const running = (): boolean => proc.exitCode === null && proc.signalCode === null;
  // In a namespace, sminitd is unshare's only child.
  const pid = ns
    ? await waitFor(
        'unshare to start sminitd',
        async () =>
          (await processTable()).find((p) => p.ppid === proc.pid)?.pid ?? (running() ? null : -1),
        10000,
      )
    : (proc.pid ?? 0);
  if (pid === -1) throw new Error(`unshare exited: ${err}`);
  const id = daemonId(pid);
  const startTime = readStat(pid)?.startTime ?? -1;
  t.teardown(async () => {
    if (running()) {
      if (ns) {
        // SIGKILL to a namespace's init ends every process in it.
        signalAll([pid], 'SIGKILL');
      } else {
        proc.kill('SIGTERM');
      }
      const deadline = setTimeout(() => proc.kill('SIGKILL'), 15000);
      await ended;
      clearTimeout(deadline);
    }
    if (!ns) await sweep(id);
    // What a killed daemon left and nobody ended (a test that failed half-way).
    await sweepSocket(socket);
    removeDaemonCgroups(ns ? 1 : pid, startTime);
  });
  const client = await waitFor(
    `sminitd to listen on ${socket} (stderr: ${err})`,
    () => Client.connect(socket).catch(() => null),
    10000,
    20,
  );
  t.teardown(() => client.close());
  const status = (name: string): Promise<ServiceStatus> => client.status(name);
  return {
    dir,
    socket,
    proc,
    pid,
    client,
    stderr: () => err,
    write,
    status,
    waitStatus: async (name, pred, what, timeoutMs = 10000) => {
      let last: ServiceStatus | null = null;
      try {
        return await waitFor(
          `${name} to be ${what}`,
          async () => {
            // Connections are accepted a moment before the services are loaded.
            const s = await status(name).catch((e: unknown) => {
              if (e instanceof RpcError && e.code === -32000) return null;
              throw e;
            });
            last = s;
            return s && pred(s) ? s : null;
          },
          timeoutMs,
        );
      } catch (e) {
        throw new Error(`${(e as Error).message}; last status: ${JSON.stringify(last)}`);
      }
    },
    cli: (...args) => runCli(['-s', socket, ...args]),
    exited,
    ended,
  };
}
