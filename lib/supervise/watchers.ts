// Everything that watches one run of a long-running service and tells its
// worker what it sees: when it is ready (zinit's `test`, a readiness probe,
// READY=1, a newline on fd N, a matching log line), when it stops being
// ready, when it must be restarted (liveness, the watchdog). It owns those
// checks, their timers and the notification socket, and the environment a
// run needs for them; the state they lead to is the worker's.

import type { ServiceDef } from '../core/definition.js';
import { formatDuration } from '../core/duration.js';
import { sameJson } from '../core/jsontype.js';
import { failureText } from '../core/probe.js';
import { type HealthResult, HealthTest } from './health.js';
import type { LaunchContext } from './launch.js';
import { type NotifyView, SystemdNotify } from './notify.js';
import { ProbeRunner, type ProbeView } from './probe.js';
import { ReadySignals } from './ready-signals.js';
import type { Child, Network } from './seam.js';
import { Watchdog } from './watchdog.js';

export interface WatchHooks {
  /** Run `run` is ready: for the first time, or again after it was not. */
  ready(run: number, how: string): void;
  /** Run `run` was ready and is no longer (its readiness probe fails). */
  unready(run: number, why: string): void;
  /** The check run `run` waits on failed again before it was ever ready. */
  notYet(run: number, failures: number, why: string): void;
  /** Run `run` must be restarted (liveness, watchdog): why, as the log says it. */
  restart(run: number, why: string): void;
  /** EXTEND_TIMEOUT_USEC while the run is stopping: SIGKILL no sooner than `ms` from now. */
  extendStop(run: number, ms: number): void;
  event(text: string): void;
}

/** What a run is spawned with beyond its definition. */
export interface RunExtras {
  readonly env: Readonly<Record<string, string>>;
  readonly notifyFd?: number;
  readonly pidVars?: readonly string[];
}

export interface WatchView {
  readonly probes: readonly ProbeView[];
  readonly notify: NotifyView | null;
  readonly watchdogDeadline: number | null;
}

export class RunWatchers {
  private run = 0;
  private readonly test: HealthTest;
  private readonly signals: ReadySignals;
  private readonly watchdog: Watchdog;
  private notify: SystemdNotify | null = null;
  private probesOf: ServiceDef | null = null;
  private readiness: ProbeRunner | null = null;
  private liveness: ProbeRunner | null = null;
  private extras: { def: ServiceDef; extras: RunExtras } | null = null;
  /** Whether the run has been ready once (liveness starts then). */
  private wasReady = false;

  constructor(
    private readonly ctx: LaunchContext & { readonly net: Network },
    private readonly def: () => ServiceDef,
    private readonly name: string,
    private readonly hooks: WatchHooks,
  ) {
    this.test = new HealthTest(
      ctx,
      def,
      (run) => this.run === run && !this.wasReady,
      (r) => this.tested(r),
    );
    this.signals = new ReadySignals(
      ctx.output,
      (run, how) => this.readyOnce(run, how),
      (text) => hooks.event(text),
    );
    this.watchdog = new Watchdog((ms) =>
      hooks.restart(this.run, `watchdog: no WATCHDOG=1 within ${formatDuration(ms)}`),
    );
  }

  /** The group of a health test now running, 0 when none. */
  get testPid(): number {
    return this.test.pid;
  }

  get view(): WatchView {
    this.probesFor(this.def());
    return {
      probes: [this.readiness, this.liveness].flatMap((p) => (p ? [p.view] : [])),
      notify: this.notify?.view ?? null,
      watchdogDeadline: this.watchdog.deadline,
    };
  }

  /** What readiness a starting run waits for, for its reason; null for zinit's test. */
  awaiting(def: ServiceDef): string | null {
    if (def.readiness) return 'its readiness probe';
    if (def.notify?.kind === 'systemd') return 'READY=1';
    if (def.notify?.kind === 'fd') return `a newline on fd ${def.notify.fd}`;
    if (def.readyLog !== null) return `a log line matching /${def.readyLog}/`;
    return null;
  }

  /**
   * The environment and descriptors a run of `def` needs (NOTIFY_SOCKET,
   * WATCHDOG_USEC, the fd:N pipe), made once per definition so spawns share
   * one environment; or why the notification socket cannot be had.
   */
  extrasFor(def: ServiceDef): RunExtras | string {
    if (this.extras?.def === def) return this.extras.extras;
    const env: Record<string, string> = { ...def.env };
    let pidVars: string[] | undefined;
    if (def.notify?.kind === 'systemd') {
      const path = this.notifier().open();
      if (typeof path !== 'string') return `cannot open its notification socket: ${path.error}`;
      env.NOTIFY_SOCKET = path;
      if (def.watchdogMs !== null) {
        env.WATCHDOG_USEC = String(def.watchdogMs * 1000);
        pidVars = ['WATCHDOG_PID'];
      }
    }
    const extras: RunExtras = {
      env: def.notify?.kind === 'systemd' ? env : def.env,
      ...(def.notify?.kind === 'fd' ? { notifyFd: def.notify.fd } : {}),
      ...(pidVars ? { pidVars } : {}),
    };
    this.extras = { def, extras };
    return extras;
  }

  /** Watch run `run` of `child`, just spawned: its readiness, or its liveness when it has none. */
  begin(run: number, child: Child, def: ServiceDef): void {
    this.end();
    this.run = run;
    this.wasReady = false;
    this.failures = 0;
    this.probesFor(def);
    if (def.notify?.kind === 'systemd') {
      this.notify?.attach(child.pid ?? 0);
      if (def.watchdogMs !== null) this.watchdog.begin(def.watchdogMs);
    }
    if (def.test !== null) this.test.run(run);
    else if (this.readiness) this.readiness.begin(run, this.readinessDelay(def));
    else if (def.notify?.kind === 'fd')
      this.signals.watchFd(run, child.notify ?? null, def.notify.fd);
    else if (def.readyLog !== null) this.signals.watchLog(run, def.readyLog);
    else if (def.notify === null) this.livenessFrom(run, def);
  }

  /** The run is over (it ended, or is being stopped): every check of it ends. */
  end(): void {
    this.run = 0;
    this.test.stop();
    this.signals.stop();
    this.watchdog.stop();
    this.notify?.detach();
    this.readiness?.stop();
    this.liveness?.stop();
  }

  /** Messages of a stopping run still count (EXTEND_TIMEOUT_USEC, STOPPING=1); its checks do not. */
  stopping(): void {
    this.test.stop();
    this.signals.stop();
    this.watchdog.stop();
    this.readiness?.stop();
    this.liveness?.stop();
  }

  /**
   * A reload changed how run `run` is checked (test, probes, ready_log;
   * notify and the watchdog restart it): the old checks end and the new
   * begin. A ready run stays ready, its new readiness probe starting from
   * passing; one not ready yet waits for the new check, and with none left
   * is ready now.
   */
  rewatch(run: number, def: ServiceDef, ready: boolean): void {
    if (this.run !== run) return;
    this.test.stop();
    if (def.notify === null) this.signals.stop();
    this.readiness?.stop();
    this.liveness?.stop();
    this.probesOf = null;
    this.probesFor(def);
    this.failures = 0;
    this.wasReady = ready;
    if (ready) {
      this.readiness?.begin(run, 0, true);
      this.livenessFrom(run, def);
    } else if (def.test !== null) this.test.run(run);
    else if (this.readiness) this.readiness.begin(run, this.readinessDelay(def));
    else if (def.readyLog !== null) this.signals.watchLog(run, def.readyLog);
    else if (def.notify === null) this.readyOnce(run, 'no readiness check since the reload');
  }

  /** The service is done with for now (stopped, untracked): the socket is closed too. */
  close(): void {
    this.end();
    this.notify?.close();
    this.notify = null;
    this.extras = null;
  }

  private readinessDelay(def: ServiceDef): number {
    return def.readiness?.initialDelayMs ?? 0;
  }

  private livenessFrom(run: number, def: ServiceDef): void {
    this.liveness?.begin(run, def.liveness?.initialDelayMs ?? 0);
  }

  private readyOnce(run: number, how: string): void {
    if (run !== this.run || this.wasReady) return;
    this.wasReady = true;
    this.hooks.ready(run, how);
    this.livenessFrom(run, this.def());
  }

  private tested(r: HealthResult): void {
    if (r.run !== this.run || this.wasReady) return;
    if (r.passed) {
      this.readyOnce(r.run, 'test passed');
      return;
    }
    this.failures++;
    this.hooks.notYet(r.run, this.failures, r.why ?? 'failed');
    this.test.again(r.run);
  }
  private failures = 0;

  private probesFor(def: ServiceDef): void {
    if (this.probesOf === def) return;
    // A reload's definition with the same probes keeps the runners (and their tallies).
    const was = this.probesOf;
    this.probesOf = def;
    if (was && sameJson(was.readiness, def.readiness) && sameJson(was.liveness, def.liveness))
      return;
    this.readiness?.stop();
    this.liveness?.stop();
    const make = (role: 'readiness' | 'liveness'): ProbeRunner | null => {
      const probe = def[role];
      if (probe === null) return null;
      return new ProbeRunner(role, probe, this.ctx, this.def, {
        result: (which, tally, flipped) => this.probed(which, tally, flipped),
      });
    };
    this.readiness = make('readiness');
    this.liveness = make('liveness');
  }

  private probed(
    role: 'readiness' | 'liveness',
    tally: ProbeView['tally'],
    flipped: boolean,
  ): void {
    const def = this.def();
    const probe = def[role];
    const last = tally.last;
    if (probe === null || last === null) return;
    const why = failureText(probe.check, last.reason);
    if (role === 'liveness') {
      if (flipped && !tally.passing)
        this.hooks.restart(this.run, `liveness failed ${tally.failures} times: ${why}`);
      return;
    }
    if (!this.wasReady) {
      if (tally.passing) this.readyOnce(this.run, `readiness probe passed (${last.reason})`);
      else if (!last.ok) this.hooks.notYet(this.run, tally.failures, why);
      return;
    }
    if (!flipped) return;
    if (tally.passing) this.hooks.ready(this.run, `readiness probe passed again (${last.reason})`);
    else this.hooks.unready(this.run, `readiness failed ${tally.failures} times: ${why}`);
  }

  private notifier(): SystemdNotify {
    this.notify ??= new SystemdNotify(this.ctx.procs, this.name, this.ctx.marker, {
      ready: () => this.readyOnce(this.run, 'READY=1'),
      watchdog: (kind) => {
        if (kind === 'ping') this.watchdog.ping();
        else this.hooks.restart(this.run, 'watchdog: the service sent WATCHDOG=trigger');
      },
      watchdogTimeout: (ms) => this.watchdog.retime(ms),
      extend: (ms) => {
        this.watchdog.extend(ms);
        this.hooks.extendStop(this.run, ms);
      },
      event: (text) => this.hooks.event(text),
    });
    return this.notify;
  }
}
