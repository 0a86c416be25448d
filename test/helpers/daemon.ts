// The one harness every end-to-end test uses: write service files into a
// temp dir, start the real sminitd on a temp socket, talk to it through the
// real client or CLI, wait for conditions with deadlines, and tear down every
// process the test started (the daemon's services included).

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, RpcError } from '../../lib/client.js';
import { findByEnv, processTable, signalAll } from '../../lib/proc.js';
import { DAEMON_VAR } from '../../lib/process.js';
import type { ServiceStatus } from '../../lib/wire.js';
import { waitFor } from './wait.js';

const here = dirname(fileURLToPath(import.meta.url));
/** dist/ root: tests run compiled, next to the compiled bins. */
export const DIST = resolve(here, '../..');
export const SMINITD = join(DIST, 'bin/sminitd.js');
export const SMINIT = join(DIST, 'bin/sminit.js');

/** What a tap test gives us: just teardown. */
interface Teardown {
  teardown(fn: () => void | Promise<void>): void;
}

export interface Daemon {
  readonly dir: string;
  readonly socket: string;
  readonly proc: ChildProcess;
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

/** Kill every process any service of daemon `pid` started, wherever it went. */
export async function sweep(pid: number): Promise<void> {
  const table = await processTable();
  signalAll(await findByEnv(table, DAEMON_VAR, String(pid)), 'SIGKILL');
}

export async function startDaemon(
  t: Teardown,
  files: Record<string, string>,
  extraArgs: readonly string[] = [],
): Promise<Daemon> {
  const root = tempDir(t);
  const dir = join(root, 'etc');
  const socket = join(root, 's.sock');
  mkdirSync(dir);
  const write = (name: string, yaml: string): void =>
    writeFileSync(join(dir, name.includes('.') ? name : `${name}.yaml`), yaml);
  for (const [name, yaml] of Object.entries(files)) write(name, yaml);
  const proc = spawn(process.execPath, [SMINITD, '-c', dir, '-s', socket, ...extraArgs], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  proc.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  const pid = proc.pid ?? 0;
  t.teardown(async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM');
      const deadline = setTimeout(() => proc.kill('SIGKILL'), 15000);
      await exited;
      clearTimeout(deadline);
    }
    await sweep(pid);
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
  };
}
