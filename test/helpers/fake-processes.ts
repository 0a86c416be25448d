// A fake operating system behind the supervisor's process seam, for unit
// tests of the manager and workers that run in milliseconds: children are
// objects that exit when told to (or when signalled), groups are a set, and
// every spawn and signal is recorded in order. Nothing here touches a real
// process; the end-to-end suites do.

import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import { LIFECYCLE_DEFAULTS, type ServiceDef } from '../../lib/core/definition.js';
import type { SignalName } from '../../lib/core/signals.js';
import type {
  Child,
  EarlierRun,
  Ended,
  Network,
  NotifyMessage,
  NotifySocket,
  Processes,
  Sender,
  ServiceBox,
  SpawnSpec,
} from '../../lib/supervise/seam.js';

export class FakeChild extends EventEmitter implements Child {
  readonly stdout = new PassThrough();
  readonly stderr = new PassThrough();
  /** The read end of `notify: fd:N`, when the spec asked for one. */
  readonly notify: PassThrough | null;
  exited = false;
  constructor(
    readonly pid: number | undefined,
    readonly spec: SpawnSpec,
  ) {
    super();
    this.notify = spec.notifyFd === undefined ? null : new PassThrough();
  }

  /** Ends the process: its pipes close, then it exits. */
  exit(code: number | null, signal: string | null = null): void {
    if (this.exited) return;
    this.exited = true;
    this.stdout.end();
    this.stderr.end();
    this.notify?.end();
    setImmediate(() => this.emit('exit', code, signal));
  }

  /** Writes a line to its stdout. */
  say(text: string): void {
    this.stdout.write(text + '\n');
  }
}

/**
 * A service's cgroup: its members are the service's live children plus
 * `escaped`, processes that left its process group (only the group's kill
 * reaches them). `oom` is the OOM killer's count, raised by a test.
 */
export class FakeBox implements ServiceBox {
  readonly path: string;
  escaped = 0;
  oom = 0;
  kills = 0;
  removed = 0;
  constructor(
    private readonly procs: FakeProcesses,
    private readonly service: string,
  ) {
    this.path = `/fake/${service}`;
  }
  private members(): FakeChild[] {
    return this.procs.children.filter((c) => !c.exited && c.spec.setup?.service === this.service);
  }
  populated(): boolean {
    return this.escaped > 0 || this.members().length > 0;
  }
  async whenEmpty(deadline: number): Promise<boolean> {
    while (this.populated()) {
      if (Date.now() >= deadline) return false;
      await new Promise((r) => setTimeout(r, 1));
    }
    return true;
  }
  kill(): number {
    const live = this.members();
    const n = live.length + this.escaped;
    this.kills++;
    this.escaped = 0;
    for (const c of live) c.exit(null, 'SIGKILL');
    return n;
  }
  killTest(): void {}
  signalOutside(): number {
    return this.escaped;
  }
  oomKills(): number | null {
    return this.oom;
  }
  usage() {
    const pids = this.members().map((c) => c.pid ?? 0);
    if (pids.length === 0) return null;
    return {
      path: this.path,
      pids,
      tasks: pids.length,
      cpuUsec: 0,
      memoryBytes: null,
      oomKills: this.oom,
    };
  }
  remove(): void {
    this.removed++;
  }
}

export interface Event {
  readonly kind: 'spawn' | 'signal' | 'end-earlier';
  readonly argv0: string;
  readonly pid: number;
  readonly signal?: SignalName | 0;
}

export class FakeProcesses implements Processes {
  readonly children: FakeChild[] = [];
  readonly events: Event[] = [];
  /** Groups with a member alive. */
  private readonly groups = new Map<number, FakeChild>();
  /** argv[0]s whose processes ignore their stop signal (they need SIGKILL). */
  readonly stubborn = new Set<string>();
  /** argv[0]s whose spawn fails with this errno code. */
  readonly failing = new Map<string, string>();
  private nextPid = 1000;

  spawn(spec: SpawnSpec): Child {
    const argv0 = spec.argv[0] ?? '';
    const failure = this.failing.get(argv0);
    if (failure !== undefined) {
      const child = new FakeChild(undefined, spec);
      const err: NodeJS.ErrnoException = Object.assign(new Error(`spawn ${argv0} ${failure}`), {
        code: failure,
      });
      process.nextTick(() => child.emit('error', err));
      return child;
    }
    const child = new FakeChild(this.nextPid++, spec);
    this.children.push(child);
    this.groups.set(child.pid as number, child);
    child.once('exit', () => this.groups.delete(child.pid as number));
    this.events.push({ kind: 'spawn', argv0, pid: child.pid as number });
    return child;
  }

  signalGroup(pgid: number, signal: SignalName | 0): boolean {
    const child = this.groups.get(pgid);
    if (child === undefined || child.exited) return false;
    if (signal === 0) return true;
    this.events.push({ kind: 'signal', argv0: child.spec.argv[0] ?? '', pid: pgid, signal });
    const ignores = this.stubborn.has(child.spec.argv[0] ?? '') && signal !== 'SIGKILL';
    if (!ignores) child.exit(null, signal);
    return true;
  }

  groupExists(pgid: number): boolean {
    return this.groups.has(pgid);
  }

  groupSize(pgid: number): Promise<number> {
    return Promise.resolve(this.groups.has(pgid) ? 1 : 0);
  }

  marker(service: string): string {
    return `fake:${service}`;
  }

  /** Each service's fake cgroup, when made with `withBoxes`; none by default (marker tracking). */
  readonly boxes = new Map<string, FakeBox>();
  withBoxes = false;

  box(service: string): ServiceBox | null {
    if (!this.withBoxes) return null;
    let b = this.boxes.get(service);
    if (b === undefined) this.boxes.set(service, (b = new FakeBox(this, service)));
    return b;
  }

  mayHaveEscaped(): Promise<boolean> {
    return Promise.resolve(false);
  }

  sweepMarked(): Promise<number> {
    return Promise.resolve(0);
  }

  killLeftovers(): Promise<number> {
    return Promise.resolve(0);
  }

  /** What earlier daemons left, as findEarlier reports it. */
  readonly earlier: EarlierRun[] = [];
  /** When set, endEarlier waits until the test calls `done` on its ending. */
  holdEarlier = false;
  /** Each endEarlier asked for, in order. */
  readonly endings: {
    readonly run: EarlierRun;
    readonly signal: SignalName;
    readonly timeoutMs: number;
    done(result?: Ended): void;
  }[] = [];

  findEarlier(): Promise<readonly EarlierRun[]> {
    return Promise.resolve(this.earlier);
  }

  endEarlier(run: EarlierRun, signal: SignalName, timeoutMs: number): Promise<Ended> {
    this.events.push({ kind: 'end-earlier', argv0: run.service, pid: 0, signal });
    return new Promise<Ended>((resolve) => {
      const done = (result?: Ended): void =>
        resolve(result ?? { ended: run.processes.length, stuck: 0 });
      this.endings.push({ run, signal, timeoutMs, done });
      if (!this.holdEarlier) done();
    });
  }

  describeSpawnError(err: NodeJS.ErrnoException, argv0: string): string {
    return `cannot run '${argv0}': ${err.code ?? err.message}`;
  }

  /** Open notification sockets, by service. */
  readonly sockets = new Map<string, (m: NotifyMessage) => void>();
  /** Senders that are not one of our children: pid → who they are. */
  readonly strangers = new Map<number, Sender>();

  openNotify(service: string, onMessage: (m: NotifyMessage) => void): NotifySocket {
    this.sockets.set(service, onMessage);
    return { path: `/fake/notify/${service}`, close: () => this.sockets.delete(service) };
  }

  senderOf(pid: number): Sender | null {
    const child = this.groups.get(pid);
    if (child) return { session: pid, marked: true, comm: child.spec.argv[0] ?? '' };
    return this.strangers.get(pid) ?? null;
  }

  /** A datagram from `pid` on `service`'s socket. */
  send(service: string, pid: number, text: string): void {
    this.sockets.get(service)?.({ pid, text });
  }

  /** The live children whose argv[0] is `argv0`. */
  running(argv0: string): FakeChild[] {
    return this.children.filter((c) => !c.exited && c.spec.argv[0] === argv0);
  }

  /** Spawns and signals as `verb argv0` lines, in order. */
  trace(): string[] {
    return this.events.map((e) =>
      e.kind === 'spawn'
        ? `spawn ${e.argv0}`
        : e.kind === 'end-earlier'
          ? `end-earlier ${e.argv0} ${String(e.signal)}`
          : `${String(e.signal)} ${e.argv0}`,
    );
  }
}

/** The network of probes, answering what each URL or address is set to (default: refused). */
export class FakeNetwork implements Network {
  readonly http = new Map<string, number | string>();
  readonly tcp = new Map<string, string | null>();
  readonly calls: string[] = [];

  httpGet(url: string): Promise<{ status: number } | { error: string }> {
    this.calls.push(`GET ${url}`);
    const r = this.http.get(url) ?? 'connection refused';
    return Promise.resolve(typeof r === 'number' ? { status: r } : { error: r });
  }

  tcpConnect(host: string, port: number): Promise<string | null> {
    this.calls.push(`TCP ${host}:${port}`);
    const r = this.tcp.get(`${host}:${port}`);
    return Promise.resolve(r === undefined ? 'connection refused' : r);
  }
}

/** Leftovers of `service` from the daemon `daemonPid`, `count` processes. */
export function earlierRun(service: string, count: number, daemonPid = 5963): EarlierRun {
  return {
    service,
    daemons: [daemonPid],
    processes: Array.from({ length: count }, (_, i) => ({
      pid: 90_000 + i,
      startTime: 1,
      service,
      daemonPid,
    })),
  };
}

/** What a file with none of the sandbox keys asks for. */
export const NO_SANDBOX: ServiceDef['sandbox'] = {
  umask: null,
  nice: null,
  oomScoreAdj: null,
  rlimits: {},
  limits: { memoryMax: null, memoryHigh: null, pidsMax: null, cpuMax: null, cpuWeight: null },
};

/** A service definition with sminit's defaults and quick timings, `over` applied. */
export function def(name: string, over: Partial<ServiceDef> = {}): ServiceDef {
  return {
    name,
    file: `<test>/${name}.yaml`,
    exec: [name],
    test: null,
    oneshot: false,
    restart: 'always',
    after: [],
    stopSignal: 'SIGTERM',
    log: { kind: 'ring' },
    env: {},
    envFiles: [],
    user: null,
    sandbox: NO_SANDBOX,
    dir: '/',
    shutdownTimeoutMs: 50,
    testIntervalMs: 5,
    testTimeoutMs: 1000,
    restartDelayMs: 5,
    restartMaxDelayMs: 20,
    stableAfterMs: 60_000,
    ...LIFECYCLE_DEFAULTS,
    ...over,
  };
}
