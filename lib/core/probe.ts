// A probe's verdicts as data: what one check's result does to the run of
// passes and failures, when the probe flips between passing and failing,
// and how a check and its result read. Pure: running the checks (commands,
// HTTP, TCP) and their timers are supervise/probe.ts's.

import type { Probe, ProbeCheck } from './definition.js';

/** One check's outcome. `at` is epoch ms. */
export interface CheckResult {
  readonly ok: boolean;
  /** What a person reads: `HTTP 200`, `connection refused`, `exited with code 1`. */
  readonly reason: string;
  readonly at: number;
}

/** Where a probe stands: passing or not, and its current run of results. */
export interface Tally {
  readonly passing: boolean;
  /** Passes in a row (0 after a failure). */
  readonly successes: number;
  /** Failures in a row (0 after a pass). */
  readonly failures: number;
  readonly last: CheckResult | null;
}

/** A readiness probe starts failing (not ready yet); a liveness probe starts passing. */
export function initialTally(passing: boolean): Tally {
  return { passing, successes: 0, failures: 0, last: null };
}

/**
 * The tally after `r`, and whether the probe flipped: `failure_threshold`
 * failures in a row make a passing probe fail, `success_threshold` passes in
 * a row make a failing one pass.
 */
export function record(
  t: Tally,
  r: CheckResult,
  p: Pick<Probe, 'successThreshold' | 'failureThreshold'>,
): { tally: Tally; flipped: boolean } {
  const successes = r.ok ? t.successes + 1 : 0;
  const failures = r.ok ? 0 : t.failures + 1;
  let passing = t.passing;
  if (!passing && r.ok && successes >= p.successThreshold) passing = true;
  else if (passing && !r.ok && failures >= p.failureThreshold) passing = false;
  return { tally: { passing, successes, failures, last: r }, flipped: passing !== t.passing };
}

/** Whether an HTTP status passes: 200–399, or one of the probe's own list. */
export function httpPasses(status: number, statuses: readonly number[] | null): boolean {
  return statuses === null ? status >= 200 && status <= 399 : statuses.includes(status);
}

/** What a check looks at, as written: the command, the URL, `host:port`. */
export function probeTarget(check: ProbeCheck): string {
  switch (check.kind) {
    case 'exec':
      return check.argv.join(' ');
    case 'http':
      return check.url;
    case 'tcp':
      return check.host.includes(':')
        ? `[${check.host}]:${check.port}`
        : `${check.host}:${check.port}`;
  }
}

/** A failed check as the log and status say it: `HTTP 503 from http://…/health`. */
export function failureText(check: ProbeCheck, reason: string): string {
  return check.kind === 'exec'
    ? `${probeTarget(check)}: ${reason}`
    : `${reason} from ${probeTarget(check)}`;
}
