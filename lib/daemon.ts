// sminitd's life: load the config directory, serve the socket, start the
// services, and on a signal or a shutdown request stop them all in order and
// exit. It wires the modules together and contains every stray exception; it
// owns no service state itself.

import { createWriteStream, fstatSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { BoundedWriter } from './filelog.js';
import { loadDir } from './config.js';
import { messageOf } from './errors.js';
import { findCycles, formatCycle } from './graph.js';
import { LogStore } from './logs.js';
import { Manager } from './manager.js';
import { Rpc } from './rpc.js';
import { SocketInUseError, listen } from './server.js';
import { formatProblem } from './types.js';

export interface DaemonOptions {
  readonly configDir: string;
  readonly socket: string;
  readonly bufferBytes: number;
  /** Also bound the log ring in lines (sminitd -b with a bare number). */
  readonly bufferLines?: number;
  /** Container mode: SIGHUP also means stop everything and exit. */
  readonly container: boolean;
}

function stamp(): string {
  return new Date().toISOString();
}

export function report(service: string | null, text: string): void {
  process.stderr.write(`${stamp()} ${service ?? 'sminitd'}: ${text}\n`);
}

let stdoutOut: BoundedWriter | null = null;
/**
 * sminitd's stdout for `log: stdout` services, as a stream that never
 * blocks: Node writes to a TTY or a file synchronously, so those get a
 * stream of their own; a pipe (a container's log collector) is asynchronous.
 */
function stdoutWriter(): BoundedWriter {
  if (stdoutOut) return stdoutOut;
  let out: Writable = process.stdout;
  try {
    const st = fstatSync(1);
    if (!st.isFIFO() && !st.isSocket()) out = createWriteStream('', { fd: 1, autoClose: false });
  } catch {
    // No stdout at all: the writer drops and counts.
  }
  out.on('error', () => undefined);
  stdoutOut = new BoundedWriter(out);
  return stdoutOut;
}

/** Runs until shutdown; resolves to the process exit code. */
export async function runDaemon(opts: DaemonOptions): Promise<number> {
  process.on('uncaughtException', (err) =>
    report(null, `internal error (contained): ${err.stack ?? err.message}`),
  );
  process.on('unhandledRejection', (err) =>
    report(null, `internal error (contained): ${messageOf(err)}`),
  );

  const logs = new LogStore({
    maxBytes: opts.bufferBytes,
    ...(opts.bufferLines !== undefined ? { maxLines: opts.bufferLines } : {}),
  });
  const { defs, problems } = await loadDir(opts.configDir);
  for (const p of problems) report(null, formatProblem(p));

  // A cycle rejects its members; everything outside it loads.
  const graph = new Map(defs.map((d) => [d.name, [...d.after]]));
  const rejected = new Set<string>();
  for (const cycle of findCycles(graph)) {
    report(
      null,
      `dependency cycle ${formatCycle(cycle)}: not starting ${[...new Set(cycle)].join(', ')}`,
    );
    for (const n of cycle) rejected.add(n);
  }

  const manager = new Manager({
    configDir: opts.configDir,
    logs,
    report,
    stdout: (data, lines) => void stdoutWriter().write(data, lines),
  });

  let exitCode: number | null = null;
  let resolveExit: (code: number) => void = () => undefined;
  const exited = new Promise<number>((r) => (resolveExit = r));
  let signals = 0;

  const shutdown = async (why: string, reboot: boolean): Promise<void> => {
    if (manager.isShuttingDown) return;
    report(null, `${why}: stopping every service`);
    const clean = await manager.shutdown();
    server.close();
    await unlink(opts.socket).catch(() => undefined);
    if (reboot)
      report(null, 'reboot requested; sminitd is not the machine init here, so it exits instead');
    report(null, clean ? 'clean shutdown' : 'shutdown done; some services had to be killed');
    exitCode = clean ? 0 : 1;
    resolveExit(exitCode);
  };

  const rpc = new Rpc({
    manager,
    logs,
    report,
    onShutdown: (reboot) =>
      void shutdown(reboot ? 'reboot requested' : 'shutdown requested', reboot),
  });

  let server: Awaited<ReturnType<typeof listen>>;
  try {
    server = await listen({ path: opts.socket, rpc, report });
  } catch (err) {
    if (err instanceof SocketInUseError || (err as NodeJS.ErrnoException).code !== undefined) {
      process.stderr.write(`sminitd: ${messageOf(err)}\n`);
      return 1;
    }
    throw err;
  }
  report(null, `listening on ${opts.socket}; config ${opts.configDir}`);

  const onSignal = (sig: NodeJS.Signals): void => {
    signals++;
    if (signals === 1) {
      void shutdown(`received ${sig}`, false);
    } else if (signals === 2) {
      report(null, `received ${sig} again: still stopping in order (a third signal forces exit)`);
    } else {
      report(null, `received ${sig} a third time: forcing exit`);
      resolveExit(130);
    }
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  if (opts.container) process.on('SIGHUP', onSignal);
  else process.on('SIGHUP', () => report(null, 'SIGHUP ignored (use --container to stop on it)'));

  await manager.load(defs.filter((d) => !rejected.has(d.name)));
  return exited;
}
