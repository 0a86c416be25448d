// The verbs over many services, reload and scale: one request each, one
// line of result per service, and one exit code that says which failed.
// Loaded only when a command names several services, a pattern or --all,
// so the common one-service path stays as small as it was.

import type { Client } from './client.js';
import type { CliArgs } from './args.js';
import type { ManyResult, ServiceResult, ServiceStatus } from '../api/wire.js';
import { isPattern } from '../core/names.js';
import { planTable } from '../api/plan.js';
import { escapeControls, formatStatus } from './format.js';

const out = (s: string): void => void process.stdout.write(s + '\n');
const err = (s: string): void => void process.stderr.write(s + '\n');
const shown = (s: string): string => (process.stdout.isTTY === true ? escapeControls(s) : s);

type ManyVerb = 'start' | 'stop' | 'restart' | 'kill' | 'forget' | 'status';
const VERB: Readonly<Record<string, ManyVerb>> = {
  start: 'start',
  stop: 'stop',
  restart: 'restart',
  kill: 'kill',
  delete: 'forget',
  status: 'status',
};

/**
 * `kill NAME... SIGNAL`: with two arguments or more the last is the signal
 * (zinit's `kill NAME SIGNAL`), so a mistyped one is refused before any
 * service is signalled; `kill --all [SIGNAL]`.
 */
function killArgs(a: CliArgs): { names: readonly string[]; signal: string } {
  const { args } = a;
  if (a.all) return { names: [], signal: args[0] ?? 'SIGTERM' };
  if (args.length >= 2) return { names: args.slice(0, -1), signal: args.at(-1) ?? 'SIGTERM' };
  return { names: args, signal: 'SIGTERM' };
}

/** Runs one verb over the services the command line names; the exit code. */
export async function manyVerb(c: Client, a: CliArgs): Promise<number> {
  const verb = VERB[a.verb] ?? 'status';
  const { names: given, signal } =
    verb === 'kill' ? killArgs(a) : { names: a.args, signal: undefined };
  const names = given.filter((n) => !isPattern(n));
  const patterns = given.filter(isPattern);
  const which = {
    ...(names.length > 0 ? { names } : {}),
    ...(patterns.length > 0 ? { patterns } : {}),
    ...(a.all ? { all: true } : {}),
    ...(verb === 'restart' && a.timeoutMs !== null ? { timeout: a.timeoutMs } : {}),
  };
  const r = await c.many(verb, which, signal);
  if (a.json) out(JSON.stringify(r, null, 2));
  else if (verb === 'status') statusBlocks(r);
  else for (const res of r.results) line(res, verb, signal ?? 'SIGTERM');
  const failed = [
    ...r.failed,
    ...(verb === 'restart' ? r.results.filter(notUp).map((x) => x.name) : []),
  ];
  if (failed.length === 0) return 0;
  err(`sminit: ${failed.length} of ${r.results.length} failed: ${failed.join(', ')}`);
  return 1;
}

function notUp(r: ServiceResult): boolean {
  const s = r.status?.status;
  return r.ok && s !== undefined && s !== 'running' && s !== 'success' && s !== 'starting';
}

const DONE: Readonly<Record<ManyVerb, string>> = {
  start: 'started',
  stop: 'stopped',
  restart: 'restarted',
  kill: 'sent',
  forget: 'stopped and untracked',
  status: '',
};

/** One result as a line: `web: stopped`; a failure on stderr: `x: service 'x' is not tracked`. */
function line(r: ServiceResult, verb: ManyVerb, signal: string): void {
  if (!r.ok) {
    err(`${r.name}: ${r.error?.message ?? 'failed'}`);
    return;
  }
  const state = r.status ? stateOf(r.status) : '';
  if (verb === 'kill') out(`${r.name}: sent ${signal}`);
  else if (verb === 'restart' && notUp(r)) err(`${r.name}: did not come up: ${state}`);
  else out(`${r.name}: ${DONE[verb]}${state && verb !== 'stop' ? ` (${state})` : ''}`);
}

function stateOf(s: ServiceStatus): string {
  return s.reason === 'up' ? s.status : `${s.status}: ${shown(s.reason)}`;
}

function statusBlocks(r: ManyResult): void {
  const blocks = r.results.flatMap((x) =>
    x.status ? [formatStatus(x.status, [], process.stdout.isTTY === true)] : [],
  );
  if (blocks.length > 0) out(blocks.join('\n\n'));
  for (const x of r.results) if (!x.ok) err(`${x.name}: ${x.error?.message ?? 'failed'}`);
}

/** `reload [--dry-run]`: the plan as a table (or JSON); non-zero when something was refused. */
export async function reload(c: Client, a: CliArgs): Promise<number> {
  const r = await c.reload(a.dryRun);
  if (a.json) out(JSON.stringify(r, null, 2));
  else {
    const table = planTable(r);
    for (const l of table.slice(0, -1))
      (l.startsWith('!') || l.startsWith('    ') ? err : out)(shown(l));
    out(table.at(-1) ?? '');
  }
  if (r.refused === 0) return 0;
  err(
    `sminit: ${r.refused} refused: ${r.changes
      .filter((x) => x.action === 'refuse')
      .map((x) => x.name)
      .join(', ')}`,
  );
  return 1;
}

/** `scale NAME N`. */
export async function scale(c: Client, a: CliArgs): Promise<number> {
  const [name = '', count = ''] = a.args;
  if (!/^\d+$/.test(count)) {
    err(`sminit: scale wants a number of replicas, got '${count}'`);
    return 2;
  }
  const r = await c.scale(name, Number(count));
  if (a.json) out(JSON.stringify(r, null, 2));
  else {
    for (const n of r.started) out(`${n}: started`);
    for (const n of r.stopped) out(`${n}: stopped`);
    out(`${r.name}: ${r.replicas} replica${r.replicas === 1 ? '' : 's'}`);
  }
  return 0;
}
