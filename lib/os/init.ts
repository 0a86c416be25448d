// The duties of an init, set up before any service starts: no descriptor of
// ours reaches a child, orphans are reaped (as PID 1, or as a subreaper
// anywhere else), and at the end the right final act: exit, or power off /
// reboot the machine when sminitd is its init. It decides what sminitd is
// (container, machine init, plain daemon) and owns the reaper; it knows
// nothing about services.

import { loadNative, type Native, type RebootKind, SPAWN_VAR } from './native.js';
import { Spawner } from './spawn.js';
import { Reaper } from './reaper.js';

export type Role =
  /** PID 1 of a machine (or of a PID namespace) without --container: the end is a power-off or reboot. */
  | 'machine-init'
  /** --container: the end is an exit, with the shutdown's status. */
  | 'container'
  /** Anything else: a daemon under another init; the end is an exit. */
  | 'daemon';

export interface Init {
  readonly role: Role;
  readonly reaper: Reaper | null;
  /** Spawns every child; its children are reaped by `reaper` (or by libuv without it). */
  readonly spawner: Spawner;
  /**
   * The last act after every service stopped. Returns only when sminitd
   * should exit instead, after saying why.
   */
  finish(kind: RebootKind | 'exit'): void;
}

export interface InitOptions {
  readonly container: boolean;
  readonly report: (service: string | null, text: string) => void;
}

export class InitError extends Error {}

export const TINI_HINT = 'tini -s -g -- sminitd --container …';

export async function setupInit(opts: InitOptions): Promise<Init> {
  const { report } = opts;
  const pid1 = process.pid === 1;
  const role: Role = opts.container ? 'container' : pid1 ? 'machine-init' : 'daemon';
  const native = await loadNative();
  if (typeof native === 'string') {
    if (pid1) {
      // Zombies would pile up for ever: better no start than a slow leak.
      throw new InitError(
        `${native}; as PID 1 sminitd must reap orphans and cannot here. ` +
          `Run it under an init that reaps, e.g. ${TINI_HINT}`,
      );
    }
    report(null, `${native}; orphans of services go to this system's init instead`);
    return { role, reaper: null, spawner: new Spawner(), finish: () => undefined };
  }

  // Descriptors inherited from whoever started us (a runtime's, a shell's)
  // would otherwise pass on to every service: libuv opens its own with
  // O_CLOEXEC but leaves inherited ones alone.
  try {
    native.cloexecFrom(3);
  } catch (err) {
    report(null, `could not mark inherited descriptors close-on-exec: ${String(err)}`);
  }

  const spawner = new Spawner();
  if (pid1) {
    spawner.adoptsOrphans = true;
  } else {
    try {
      native.setChildSubreaper();
      spawner.adoptsOrphans = true;
    } catch (err) {
      report(
        null,
        `cannot become a child subreaper (${String(err)}); orphans go to the system's init`,
      );
    }
  }
  // Listening before the first spawn: services are spawned through
  // posix_spawn from here on, and this reaper delivers their exits.
  const reaper = new Reaper({
    native,
    owned: (pid) => spawner.isLibuvChild(pid),
    exited: (pid, status) => spawner.childExited(pid, status),
    report,
  });
  reaper.start();
  spawner.useNative(native);
  sayHowItSpawns(native, report);

  return { role, reaper, spawner, finish: (kind) => finish(native, role, kind, report) };
}

/** Said once at start where boxed services go through the wrapper. */
function sayHowItSpawns(
  native: Native,
  report: (service: string | null, text: string) => void,
): void {
  if (native.spawn === null || native.spawnsBoxed) return;
  const why =
    process.env[SPAWN_VAR] === 'posix_spawn' ? `not used: ${SPAWN_VAR}=posix_spawn` : 'not built';
  report(
    null,
    `spawning through posix_spawn: a service with a cgroup, limits or a user starts through a /bin/sh wrapper (the spawn library is ${why})`,
  );
}

function finish(
  native: Native,
  role: Role,
  kind: RebootKind | 'exit',
  report: (service: string | null, text: string) => void,
): void {
  if (kind === 'exit') return;
  if (role !== 'machine-init') {
    // For a daemon, shutting down means exiting; only a reboot asked for more.
    if (kind === 'restart') {
      const why =
        role === 'container'
          ? 'in container mode sminitd does not reboot the machine; it exits'
          : 'sminitd is not PID 1, so not this machine’s init; it exits instead';
      report(null, `reboot requested: ${why}`);
    }
    return;
  }
  report(null, kind === 'restart' ? 'rebooting' : 'powering off');
  native.sync();
  const err = native.reboot(kind);
  report(null, `${err.message}; exiting instead`);
}
