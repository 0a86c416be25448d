// sminitd's life: load the config directory, serve the socket, start the
// services, and on a signal or a shutdown request stop them all in order and
// exit. It wires the modules together and contains every stray exception; it
// owns no service state itself.

import { createWriteStream, fstatSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Server } from 'node:net';
import type { Writable } from 'node:stream';
import { BoundedWriter } from '../logs/file.js';
import { type Config, loadConfig } from '../config/directory.js';
import { planTable, reloadResult } from '../api/plan.js';
import { messageOf } from '../core/errors.js';
import { formatCycle } from '../core/graph.js';
import { HttpEndpoint, type HttpObserver, type OpenPath } from '../transport/http.js';
import { METRICS_CONTENT_TYPE, metricsText } from '../api/metrics.js';
import { Probes } from '../api/probes.js';
import { LogStore } from '../logs/ring.js';
import { Manager } from '../supervise/manager.js';
import { EventLog } from '../supervise/events.js';
import { VERSION } from '../api/version.js';
import { Rpc } from '../api/dispatch.js';
import {
  type ServerLimits,
  checkSocketFree,
  listen,
  resolveGroup,
  socketPathProblem,
} from '../transport/socket.js';
import { textHandler } from '../transport/text.js';
import { debugMethods, faultsEnabled } from '../api/faults.js';
import { type Init, InitError, setupInit } from '../os/init.js';
import { loadNative, loadedNative } from '../os/native.js';
import { systemProcesses } from '../os/system.js';
import { setSocketMarker } from '../os/markers.js';
import { pruneRecord } from '../os/recover-cgroup.js';
import { type HostSetup, setupHost } from '../os/host.js';
import type { Host } from '../core/host.js';
import { systemNetwork } from '../os/network.js';
import { NotifySockets } from '../os/notify.js';
import type { RebootKind } from '../os/native.js';
import { USAGE } from './options.js';
import { type ServiceDef, formatProblem } from '../core/definition.js';
import { count } from '../core/plural.js';
import { collectAfterStartup } from './collect.js';

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
  /** Bounds on the socket's connections; defaults in transport/socket.ts. */
  readonly limits?: Partial<ServerLimits>;
  /** Events kept in the history (`sminitd --event-history`); the default when absent. */
  readonly eventHistory?: number;
  /** JSON-RPC over HTTP: served from start-up when `address` is given. */
  readonly http?: {
    readonly address?: string;
    readonly tokenFile?: string;
    readonly readTokenFile?: string;
    readonly publicReads: boolean;
    /** GET paths served without a token; DEFAULT_OPEN when absent. */
    readonly open?: readonly OpenPath[];
    /** Names the Host header may carry besides the address listened on. */
    readonly hosts?: readonly string[];
  };
}

let stampMs = -1;
let stampText = '';
function stamp(): string {
  const ms = Date.now();
  if (ms !== stampMs) {
    stampMs = ms;
    stampText = new Date(ms).toISOString();
  }
  return stampText;
}

/** Lines reported in this turn of the event loop, written together at its end. */
let pending: string[] = [];
let pendingBytes = 0;
const FLUSH_BYTES = 64 * 1024;

export function report(service: string | null, text: string): void {
  const line = `${stamp()} ${service ?? 'sminitd'}: ${text}\n`;
  if (pending.length === 0) {
    // One write per turn, not one per line: a stop of a thousand services reports thrice as many.
    setImmediate(flushReports);
    if (!flushOnExit) {
      flushOnExit = true;
      process.on('exit', flushReports);
    }
  }
  pending.push(line);
  pendingBytes += line.length;
  if (pendingBytes >= FLUSH_BYTES) flushReports();
}
let flushOnExit = false;

/** A report written at once, not at the end of the turn. */
function reportNow(service: string | null, text: string): void {
  report(service, text);
  flushReports();
}

function flushReports(): void {
  if (pending.length === 0) return;
  const text = pending.length === 1 ? (pending[0] as string) : pending.join('');
  pending = [];
  pendingBytes = 0;
  say(process.stderr, text);
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
  containStrayErrors();
  try {
    await checkSocketPath(opts.socket);
    // Refuse before starting anything: a second daemon must not run the services twice.
    await refuseTakenSocket(opts.socket);
    // Every service process carries the socket: a daemon started again on it
    // knows what its predecessor left from what another daemon runs.
    setSocketMarker(resolve(opts.socket));
    const init = await becomeInit(opts.container);
    const socketGroup = await socketGroupId(opts.socketGroup);
    const native = await loadNative();
    const box = setupHost(typeof native === 'string' ? null : native);
    report(null, box.summary);
    try {
      const config = await loadServiceFiles(opts.configDir, box.host);
      return await new Daemon(opts, init, box).run(config, socketGroup);
    } finally {
      if (box.cgroups !== null) {
        box.cgroups.removeAll();
        pruneRecord(resolve(opts.socket));
      }
    }
  } catch (err) {
    if (!(err instanceof StartFailure)) throw err;
    flushReports();
    process.stderr.write(`sminitd: ${err.message}\n`);
    return err.code;
  }
}

/** Why sminitd stops before it serves anything, and the exit code that says so. */
class StartFailure extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

/** An exception outside any request is reported, and the daemon goes on. */
function containStrayErrors(): void {
  process.on('uncaughtException', (err) =>
    report(null, `internal error (contained): ${err.stack ?? err.message}`),
  );
  process.on('unhandledRejection', (err) =>
    report(null, `internal error (contained): ${messageOf(err)}`),
  );
}

/** A socket path that cannot work is a command line that cannot work. */
async function checkSocketPath(path: string): Promise<void> {
  const problem = await socketPathProblem(path);
  if (problem) throw new StartFailure(USAGE, `cannot serve ${path}: ${problem}`);
}

async function refuseTakenSocket(path: string): Promise<void> {
  try {
    await checkSocketFree(path);
  } catch (err) {
    throw new StartFailure(1, messageOf(err));
  }
}

/**
 * PID 1 duties first: before any child exists, descriptors are made
 * close-on-exec and the orphan reaper listens.
 */
async function becomeInit(container: boolean): Promise<Init> {
  let init: Init;
  try {
    // Written at once: a machine's init reports its reboot just before the call.
    init = await setupInit({ container, report: reportNow });
  } catch (err) {
    if (!(err instanceof InitError)) throw err;
    throw new StartFailure(1, err.message);
  }
  if (init.role !== 'daemon') report(null, `running as ${init.role} (pid ${process.pid})`);
  return init;
}

async function socketGroupId(spec: string | undefined): Promise<number | undefined> {
  if (spec === undefined) return undefined;
  try {
    return await resolveGroup(spec, await loadNative());
  } catch (err) {
    throw new StartFailure(USAGE, `--socket-group ${spec}: ${messageOf(err)}`);
  }
}

/**
 * The service files to load: every problem is reported, and a dependency
 * cycle rejects its members while everything outside it loads.
 */
async function loadServiceFiles(dir: string, host: Host): Promise<Config> {
  const config = await loadConfig(dir, host);
  const { problems, cycles } = config;
  for (const p of problems) report(null, formatProblem(p));
  for (const c of cycles) {
    report(null, `dependency cycle ${formatCycle(c.path)}: not starting ${c.members.join(', ')}`);
  }
  return config;
}

/** The running daemon's parts, how it serves, and how it ends. */
class Daemon {
  private readonly manager: Manager;
  private readonly notifySockets: NotifySockets;
  private readonly rpc: Rpc;
  private readonly http: HttpEndpoint;
  private server: Server | null = null;
  private resolveExit: (code: number) => void = () => undefined;
  private readonly exited = new Promise<number>((r) => (this.resolveExit = r));
  private extraSignals = 0;
  private cancelCollect: () => void = () => undefined;

  constructor(
    private readonly opts: DaemonOptions,
    private readonly init: Init,
    box: HostSetup,
  ) {
    const logs = new LogStore({
      maxBytes: opts.bufferBytes,
      ...(opts.bufferLines !== undefined ? { maxLines: opts.bufferLines } : {}),
    });
    // Beside the daemon's own socket: `notify: systemd` services' sockets, made when one needs it.
    this.notifySockets = new NotifySockets(
      `${opts.socket}.notify`,
      () => loadedNative()?.notify ?? null,
    );
    this.manager = new Manager({
      configDir: opts.configDir,
      logs,
      events: new EventLog(opts.eventHistory),
      report,
      stdout: (data, lines) => void stdoutWriter().write(data, lines),
      procs: systemProcesses(init.spawner, this.notifySockets, box.cgroups),
      host: box.host,
      net: systemNetwork(),
    });
    this.rpc = this.dispatcher(logs);
    const http = opts.http;
    this.http = new HttpEndpoint({
      rpc: this.rpc,
      report,
      generatedTokenPath: `${opts.socket}.token`,
      publicReads: http?.publicReads ?? false,
      observe: this.observer(logs),
      ...(http?.open !== undefined ? { open: http.open } : {}),
      ...(http?.hosts !== undefined ? { hosts: http.hosts } : {}),
      ...(http?.tokenFile !== undefined ? { tokenFile: http.tokenFile } : {}),
      ...(http?.readTokenFile !== undefined ? { readTokenFile: http.readTokenFile } : {}),
    });
  }

  /** Serve, start the services, and resolve to the exit code once everything has stopped. */
  async run(config: Config, socketGroup: number | undefined): Promise<number> {
    // Loading is queued ahead of any request (a client must never find the
    // services missing just after the socket appears) but runs only once the
    // socket is ours: with another daemon live, nothing starts.
    let socketIsOurs: () => void = () => undefined;
    this.manager.hold(new Promise<void>((r) => (socketIsOurs = r)));
    const loaded = this.manager.load(config.defs, config.notLoaded, config.sources, config.cache);
    await this.serveSocket(socketGroup);
    await this.serveHttp();
    const mode = socketGroup !== undefined ? `0660, group ${socketGroup}` : '0600';
    report(null, `listening on ${this.opts.socket} (mode ${mode}); config ${this.opts.configDir}`);
    const detail = `sminitd ${VERSION} started (pid ${process.pid}); config ${this.opts.configDir}`;
    this.manager.events.record({ kind: 'daemon', service: null, action: 'started', detail });
    socketIsOurs();
    this.handleSignals();
    await loaded;
    this.cancelCollect = collectAfterStartup(() => this.manager.starting());
    return this.exited;
  }

  /** What the HTTP endpoint reads for orchestrators: the metrics and the two probes. */
  private observer(logs: LogStore): HttpObserver {
    const probes = new Probes(this.manager);
    const source = { manager: this.manager, logs, served: () => this.rpc.served };
    return {
      metrics: async () => ({ type: METRICS_CONTENT_TYPE, text: await metricsText(source) }),
      health: () => probes.health(),
      readiness: () => probes.readiness(),
    };
  }

  private dispatcher(logs: LogStore): Rpc {
    const faults = faultsEnabled();
    if (faults) report(null, 'debug faults enabled (SMINIT_DEBUG_FAULTS=1): debug_fault accepted');
    return new Rpc({
      manager: this.manager,
      logs,
      report,
      onShutdown: (reboot) =>
        void this.shutdown(
          reboot ? 'reboot requested' : 'shutdown requested',
          reboot ? 'restart' : 'power-off',
        ),
      http: {
        start: (address) => this.http.start(address),
        stop: () => this.http.stop(),
      },
      ...(faults ? { extraMethods: debugMethods(this.manager) } : {}),
    });
  }

  private async serveSocket(group: number | undefined): Promise<void> {
    try {
      this.server = await listen({
        path: this.opts.socket,
        rpc: this.rpc,
        report,
        text: textHandler({ rpc: this.rpc }),
        ...(group !== undefined ? { group } : {}),
        ...(this.opts.limits ? { limits: this.opts.limits } : {}),
      });
    } catch (err) {
      // Nothing has started: the load waits for the socket.
      throw new StartFailure(1, `cannot serve ${this.opts.socket}: ${messageOf(err)}`);
    }
  }

  private async serveHttp(): Promise<void> {
    const address = this.opts.http?.address;
    if (address === undefined) return;
    try {
      await this.http.start(address);
    } catch (err) {
      this.server?.close();
      await unlink(this.opts.socket).catch(() => undefined);
      throw new StartFailure(1, `--http ${address}: ${messageOf(err)}`);
    }
  }

  /** Stop everything in order, then the final act: exit, or power off / reboot as the machine's init. */
  private async shutdown(why: string, end: RebootKind): Promise<void> {
    if (this.manager.isShuttingDown) return;
    this.cancelCollect();
    report(null, `${why}: stopping every service`);
    const clean = await this.manager.shutdown();
    this.notifySockets.dispose();
    await this.http.dispose();
    this.server?.close();
    await unlink(this.opts.socket).catch(() => undefined);
    const { reaper } = this.init;
    if (reaper) {
      await reaper.settle();
      report(
        null,
        `reaped ${count(reaper.reaped, 'orphaned process', 'orphaned processes')} since start`,
      );
    }
    report(null, clean ? 'clean shutdown' : 'shutdown done; some services had to be killed');
    flushReports();
    this.init.finish(end);
    this.resolveExit(clean ? 0 : 1);
  }

  private handleSignals(): void {
    const onSignal = (sig: NodeJS.Signals): void => this.onSignal(sig);
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    // A container's runtime means "stop" by SIGHUP; elsewhere it means what
    // it means to every daemon: read the configuration again.
    if (this.opts.container) process.on('SIGHUP', onSignal);
    else process.on('SIGHUP', () => void this.reload());
  }

  /** SIGHUP: a reload, its plan in the log line by line. */
  private async reload(): Promise<void> {
    report(null, 'received SIGHUP: reloading the config directory');
    try {
      const { plan, applied } = await this.manager.reload();
      for (const line of planTable(reloadResult(plan, applied))) report(null, `reload: ${line}`);
    } catch (err) {
      report(null, `reload: ${messageOf(err)}`);
    }
  }

  // The first stop signal starts the ordered stop; one more is reported and
  // changes nothing; the next cuts the grace periods short (SIGKILL to all).
  private onSignal(sig: NodeJS.Signals): void {
    if (!this.manager.isShuttingDown) {
      // As the machine's init, SIGINT asks for a reboot and SIGTERM for a power-off.
      const end: RebootKind =
        this.init.role === 'machine-init' && sig === 'SIGINT' ? 'restart' : 'power-off';
      void this.shutdown(`received ${sig}`, end);
      return;
    }
    this.extraSignals++;
    if (this.extraSignals === 1) {
      report(null, `received ${sig} during shutdown: still stopping in order (one more forces it)`);
    } else {
      report(null, `received ${sig} again: forcing the shutdown (SIGKILL to every service)`);
      this.manager.force();
    }
  }
}
