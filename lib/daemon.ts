// sminitd's life: load the config directory, serve the socket, start the
// services, and on a signal or a shutdown request stop them all in order and
// exit. It wires the modules together and contains every stray exception; it
// owns no service state itself.

import { unlink } from 'node:fs/promises';
import { loadDir } from './config.js';
import { messageOf } from './errors.js';
import { findCycles, formatCycle } from './graph.js';
import { HttpEndpoint } from './http.js';
import { LogStore } from './logs.js';
import { Manager } from './manager.js';
import { Rpc } from './rpc.js';
import { checkSocketFree, listen } from './server.js';
import { textHandler } from './textproto.js';
import { formatProblem } from './types.js';

export interface DaemonOptions {
  readonly configDir: string;
  readonly socket: string;
  readonly bufferBytes: number;
  /** Container mode: SIGHUP also means stop everything and exit. */
  readonly container: boolean;
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
  process.stderr.write(`${stamp()} ${service ?? 'sminitd'}: ${text}\n`);
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

  const logs = new LogStore(opts.bufferBytes);
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
    stdout: (line) => process.stdout.write(line + '\n'),
  });

  let exitCode: number | null = null;
  let resolveExit: (code: number) => void = () => undefined;
  const exited = new Promise<number>((r) => (resolveExit = r));
  let signals = 0;

  const shutdown = async (why: string, reboot: boolean): Promise<void> => {
    if (manager.isShuttingDown) return;
    report(null, `${why}: stopping every service`);
    const clean = await manager.shutdown();
    await http.dispose();
    server.close();
    await unlink(opts.socket).catch(() => undefined);
    if (reboot)
      report(null, 'reboot requested; sminitd is not the machine init here, so it exits instead');
    report(null, clean ? 'clean shutdown' : 'shutdown done; some services had to be killed');
    exitCode = clean ? 0 : 1;
    resolveExit(exitCode);
  };

  const rpc: Rpc = new Rpc({
    manager,
    logs,
    report,
    onShutdown: (reboot) =>
      void shutdown(reboot ? 'reboot requested' : 'shutdown requested', reboot),
    http: {
      start: (address) => http.start(address),
      stop: () => http.stop(),
    },
  });
  const http = new HttpEndpoint({
    rpc,
    report,
    generatedTokenPath: `${opts.socket}.token`,
    publicReads: opts.http?.publicReads ?? false,
    ...(opts.http?.tokenFile !== undefined ? { tokenFile: opts.http.tokenFile } : {}),
  });

  // Queued before the socket opens, so every request waits behind the load.
  const loaded = manager.load(defs.filter((d) => !rejected.has(d.name)));

  let server: Awaited<ReturnType<typeof listen>>;
  try {
    server = await listen({
      path: opts.socket,
      rpc,
      report,
      text: textHandler({ rpc, logs }),
    });
  } catch (err) {
    process.stderr.write(`sminitd: cannot serve ${opts.socket}: ${messageOf(err)}\n`);
    await manager.shutdown();
    return 1;
  }
  if (opts.http?.address !== undefined) {
    try {
      await http.start(opts.http.address);
    } catch (err) {
      process.stderr.write(`sminitd: --http ${opts.http.address}: ${messageOf(err)}\n`);
      server.close();
      await unlink(opts.socket).catch(() => undefined);
      await manager.shutdown();
      return 1;
    }
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

  await loaded;
  return exited;
}
