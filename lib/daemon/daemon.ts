// sminitd's life: load the config directory, serve the socket, start the
// services, and on a signal or a shutdown request stop them all in order and
// exit. It wires the modules together and contains every stray exception; it
// owns no service state itself.

import { createWriteStream, fstatSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { BoundedWriter } from '../logs/file.js';
import { loadDir } from '../config/load.js';
import { messageOf } from '../core/errors.js';
import { findCycles, formatCycle } from '../core/graph.js';
import { HttpEndpoint } from '../transport/http.js';
import { LogStore } from '../logs/ring.js';
import { Manager } from '../supervise/manager.js';
import { Rpc } from '../api/dispatch.js';
import { type ServerLimits, checkSocketFree, listen, resolveGroup } from '../transport/socket.js';
import { textHandler } from '../transport/text.js';
import { debugMethods, faultsEnabled } from '../api/faults.js';
import { InitError, setupInit } from '../os/init.js';
import { loadNative } from '../os/native.js';
import type { RebootKind } from '../os/native.js';
import { formatProblem } from '../core/definition.js';

export interface DaemonOptions {
  readonly configDir: string;
  readonly socket: string;
  readonly bufferBytes: number;
  /** Also bound the log ring in lines (sminitd -b with a bare number). */
  readonly bufferLines?: number;
  /** Container mode: SIGTERM, SIGINT and SIGHUP stop everything and exit; never a reboot. */
  readonly container: boolean;
  /** Give this group (a name or a gid) access to the socket: mode 0660 instead of 0600. */
  readonly socketGroup?: string;
  /** Bounds on the socket's connections; defaults in server.ts. */
  readonly limits?: Partial<ServerLimits>;
  /** JSON-RPC over HTTP: served from start-up when `address` is given. */
  readonly http?: {
    readonly address?: string;
    readonly tokenFile?: string;
    readonly publicReads: boolean;
  };
}

function stamp(): string {
  return new Date().toISOString();
}

export function report(service: string | null, text: string): void {
  say(process.stderr, `${stamp()} ${service ?? 'sminitd'}: ${text}\n`);
}

/**
 * Write to stdout or stderr unless whoever read it has gone away. A write
 * to a pipe with no reader fails with EPIPE as an 'error' event; unheeded,
 * that is an uncaught exception, whose report is another failing write:
 * the daemon would spin on its own error reports for ever.
 */
function say(stream: NodeJS.WriteStream, text: string): void {
  if (stream.destroyed || stream.errored) return;
  if (stream.listenerCount('error') === 0) stream.on('error', () => undefined);
  stream.write(text);
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

  // Refuse before starting anything: a second daemon must not run the services twice.
  try {
    await checkSocketFree(opts.socket);
  } catch (err) {
    process.stderr.write(`sminitd: ${messageOf(err)}\n`);
    return 1;
  }

  // PID 1 duties first: before any child exists, descriptors are made
  // close-on-exec and the orphan reaper listens.
  let init: Awaited<ReturnType<typeof setupInit>>;
  try {
    init = await setupInit({ container: opts.container, report });
  } catch (err) {
    if (!(err instanceof InitError)) throw err;
    process.stderr.write(`sminitd: ${err.message}\n`);
    return 1;
  }
  if (init.role !== 'daemon') report(null, `running as ${init.role} (pid ${process.pid})`);

  let socketGroup: number | undefined;
  if (opts.socketGroup !== undefined) {
    try {
      socketGroup = await resolveGroup(opts.socketGroup, await loadNative());
    } catch (err) {
      process.stderr.write(`sminitd: --socket-group ${opts.socketGroup}: ${messageOf(err)}\n`);
      return 2;
    }
  }

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

  let resolveExit: (code: number) => void = () => undefined;
  const exited = new Promise<number>((r) => (resolveExit = r));

  /** Stop everything in order, then the final act: exit, or power off / reboot as the machine's init. */
  const shutdown = async (why: string, end: RebootKind): Promise<void> => {
    if (manager.isShuttingDown) return;
    report(null, `${why}: stopping every service`);
    const clean = await manager.shutdown();
    await http.dispose();
    server.close();
    await unlink(opts.socket).catch(() => undefined);
    if (init.reaper) {
      await init.reaper.settle();
      report(null, `reaped ${init.reaper.reaped} orphaned processes since start`);
    }
    report(null, clean ? 'clean shutdown' : 'shutdown done; some services had to be killed');
    init.finish(end);
    resolveExit(clean ? 0 : 1);
  };

  const rpc: Rpc = new Rpc({
    manager,
    logs,
    report,
    onShutdown: (reboot) =>
      void shutdown(
        reboot ? 'reboot requested' : 'shutdown requested',
        reboot ? 'restart' : 'power-off',
      ),
    http: {
      start: (address) => http.start(address),
      stop: () => http.stop(),
    },
    ...(faultsEnabled() ? { extraMethods: debugMethods(manager) } : {}),
  });
  if (faultsEnabled())
    report(null, 'debug faults enabled (SMINIT_DEBUG_FAULTS=1): debug_fault accepted');
  const http = new HttpEndpoint({
    rpc,
    report,
    generatedTokenPath: `${opts.socket}.token`,
    publicReads: opts.http?.publicReads ?? false,
    ...(opts.http?.tokenFile !== undefined ? { tokenFile: opts.http.tokenFile } : {}),
  });

  // Loading is queued ahead of any request (a client must never find the
  // services missing just after the socket appears) but runs only once the
  // socket is ours: with another daemon live, nothing starts.
  let socketIsOurs: () => void = () => undefined;
  manager.hold(new Promise<void>((r) => (socketIsOurs = r)));
  const loaded = manager.load(defs.filter((d) => !rejected.has(d.name)));

  let server: Awaited<ReturnType<typeof listen>>;
  try {
    server = await listen({
      path: opts.socket,
      rpc,
      report,
      text: textHandler({ rpc }),
      ...(socketGroup !== undefined ? { group: socketGroup } : {}),
      ...(opts.limits ? { limits: opts.limits } : {}),
    });
  } catch (err) {
    // Nothing has started: the load waits for the socket.
    process.stderr.write(`sminitd: cannot serve ${opts.socket}: ${messageOf(err)}\n`);
    return 1;
  }
  if (opts.http?.address !== undefined) {
    try {
      await http.start(opts.http.address);
    } catch (err) {
      process.stderr.write(`sminitd: --http ${opts.http.address}: ${messageOf(err)}\n`);
      server.close();
      await unlink(opts.socket).catch(() => undefined);
      return 1;
    }
  }
  report(
    null,
    `listening on ${opts.socket} (mode ${socketGroup !== undefined ? `0660, group ${socketGroup}` : '0600'}); config ${opts.configDir}`,
  );
  socketIsOurs();

  // The first stop signal starts the ordered stop; one more is reported and
  // changes nothing; the next cuts the grace periods short (SIGKILL to all).
  let extraSignals = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (!manager.isShuttingDown) {
      // As the machine's init, SIGINT asks for a reboot and SIGTERM for a power-off.
      const end: RebootKind =
        init.role === 'machine-init' && sig === 'SIGINT' ? 'restart' : 'power-off';
      void shutdown(`received ${sig}`, end);
      return;
    }
    extraSignals++;
    if (extraSignals === 1) {
      report(null, `received ${sig} during shutdown: still stopping in order (one more forces it)`);
    } else {
      report(null, `received ${sig} again: forcing the shutdown (SIGKILL to every service)`);
      manager.force();
    }
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  if (opts.container) process.on('SIGHUP', onSignal);
  else process.on('SIGHUP', () => report(null, 'SIGHUP ignored (use --container to stop on it)'));

  await loaded;
  return exited;
}
