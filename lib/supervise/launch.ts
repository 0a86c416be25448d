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
  role: 'main' | 'test' = 'main',
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
    env,
    marker: ctx.marker,
    run,
    stdio: kinds === null ? 'ignore' : 'pipe',
    setup: { service: def.name, role, sandbox: def.sandbox, user: def.user },
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
