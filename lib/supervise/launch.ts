// One way to start a process for a service, whether its main process or a
// health test: its environment (env files read now), spawned in a group of
// its own and in the service's sandbox through the process seam, its pipes
// captured, its end reported only once its output is in. The caller
// decides what the exit means.

import { serviceEnv } from '../config/envfile.js';
import type { ServiceDef } from '../core/definition.js';
import type { LogStream } from '../core/logline.js';
import { EXIT_OUTPUT_GRACE_MS, type Pipe, type ServiceOutput, afterOutput } from './output.js';
import type { Child, Processes } from './seam.js';

export interface LaunchContext {
  readonly procs: Processes;
  readonly output: ServiceOutput;
  readonly marker: string;
}

/** What a service's main process is spawned with beyond its definition (notify, watchdog). */
export interface SpawnExtras {
  /** Added over the service's environment (its env files, its user's variables, `env`). */
  readonly env?: Readonly<Record<string, string>>;
  /** The main process, or a health test or exec probe (in the service's test group). */
  readonly role?: 'main' | 'test';
  readonly notifyFd?: number;
  readonly pidVars?: readonly string[];
}

const merged = new WeakMap<object, { base: object; env: Readonly<Record<string, string>> }>();

/**
 * The service's environment with a run's additions over it, the same object
 * for the same two, so the spawner's environment cache keeps hitting.
 */
function runEnv(
  def: ServiceDef,
  base: Readonly<Record<string, string>>,
  extra: Readonly<Record<string, string>> | undefined,
): Readonly<Record<string, string>> {
  // `env` itself is in the base already, over the env files.
  if (extra === undefined || extra === def.env) return base;
  const known = merged.get(extra);
  if (known?.base === base) return known.env;
  const env = { ...base, ...extra };
  merged.set(extra, { base, env });
  return env;
}

export interface RunHandlers {
  /** The spawn failed: what a person reads, a tick after the call. */
  failed(error: string, err: NodeJS.ErrnoException): void;
  /** The process ended and its output is in (or the grace for it passed). */
  exited(code: number | null, signal: string | null): void;
  /** An error on a process that did start (a pipe, a kill). */
  error?(err: Error): void;
}

/**
 * Spawn `argv` as run `run` of `def`, its stdout and stderr captured as
 * `kinds` (null: output discarded). Returns the child when it started; when
 * it did not, null, and `failed` follows on the next tick.
 */
export function launch(
  ctx: LaunchContext,
  def: ServiceDef,
  argv: readonly string[],
  run: number,
  kinds: readonly [LogStream, LogStream] | null,
  h: RunHandlers,
  extras: SpawnExtras = {},
): Child | null {
  const env = serviceEnv(def);
  if (typeof env === 'string') {
    const err: NodeJS.ErrnoException = new Error(env);
    process.nextTick(() => h.failed(env, err));
    return null;
  }
  const child = ctx.procs.spawn({
    argv,
    cwd: def.dir,
    env: runEnv(def, env, extras.env),
    marker: ctx.marker,
    run,
    stdio: kinds === null ? 'ignore' : 'pipe',
    setup: { service: def.name, role: extras.role ?? 'main', sandbox: def.sandbox, user: def.user },
    ...(extras.notifyFd !== undefined ? { notifyFd: extras.notifyFd } : {}),
    ...(extras.pidVars !== undefined ? { pidVars: extras.pidVars } : {}),
  });
  if (child.pid === undefined) {
    child.once('error', (err) =>
      h.failed(ctx.procs.describeSpawnError(err, argv[0] ?? '', def.dir), err),
    );
    return null;
  }
  child.on('error', (err) => h.error?.(err));
  const pipes = [
    ctx.output.capture(def, child.stdout, kinds?.[0] ?? 'stdout', run),
    ctx.output.capture(def, child.stderr, kinds?.[1] ?? 'stderr', run),
  ].filter((o): o is Pipe => o !== null);
  child.once('exit', (code, signal) =>
    afterOutput(pipes, EXIT_OUTPUT_GRACE_MS, () => h.exited(code, signal)),
  );
  return child;
}
