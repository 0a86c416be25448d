// What an orchestrator asks of the daemon: GET /healthz (it answers and its
// command queue moves: a liveness probe) and GET /readyz (every service whose
// target is up is up: a readiness probe), as a status and a few lines of
// text. Reads through the manager's queue; changes nothing.

import { isUp, reasonOf } from '../core/state.js';
import { count } from '../core/plural.js';
import type { Manager } from '../supervise/manager.js';

/** A probe's answer: 200 when `ok`, else 503; `text` says why, a line each. */
export interface ProbeAnswer {
  readonly ok: boolean;
  readonly text: string;
}

/** How long the queue may take to reach a health check before the daemon counts as stuck. */
export const HEALTH_TIMEOUT_MS = 2000;

export class Probes {
  /** The check in the queue now: a stuck queue must not pile up one per probe. */
  private inFlight: Promise<void> | null = null;

  constructor(private readonly manager: Manager) {}

  async health(): Promise<ProbeAnswer> {
    const moved = await this.queueMoves();
    if (!moved) {
      return { ok: false, text: `the command queue has not moved in ${HEALTH_TIMEOUT_MS} ms` };
    }
    const what = this.manager.isShuttingDown ? 'shutting down' : 'ok';
    return { ok: true, text: `${what}: sminitd answers and its command queue moves` };
  }

  async readiness(): Promise<ProbeAnswer> {
    const o = await this.manager.overview();
    if (o.shuttingDown) return { ok: false, text: 'not ready: sminitd is shutting down' };
    const now = Date.now();
    const wanted = o.views.filter((v) => v.target === 'up');
    // A scheduled oneshot is where it should be between its runs, whatever the last did.
    const waiting = wanted.filter((v) => !isUp(v.state) && v.state.kind !== 'scheduled');
    if (waiting.length === 0) {
      return { ok: true, text: `ready: ${count(wanted.length, 'service')} up` };
    }
    const lines = waiting.map(
      (v) =>
        `${v.name}: ${v.state.kind} (${reasonOf(v.state, now, v.def.successCodes, v.def.oneshot)})`,
    );
    return {
      ok: false,
      text: [`not ready: ${count(waiting.length, 'service')}`, ...lines].join('\n'),
    };
  }

  /** True once a no-op has run through the queue, false if it has not within the timeout. */
  private async queueMoves(): Promise<boolean> {
    this.inFlight ??= this.manager.ping().finally(() => (this.inFlight = null));
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), HEALTH_TIMEOUT_MS);
    });
    try {
      return await Promise.race([this.inFlight.then(() => true), timedOut]);
    } finally {
      clearTimeout(timer);
    }
  }
}
