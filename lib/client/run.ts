// Running one parsed command: connect (falling back to zinit's socket where
// only that exists), send the verb's request, print the reply, return the
// exit code. Every failure is one line on stderr; `check` needs no daemon.

import { Client, ConnectError, RpcError } from './client.js';
import { type CliArgs, ZINIT_SOCKET } from './args.js';
import { formatList, formatStats, formatStatus, useColour } from './format.js';
import { formatDuration } from '../core/duration.js';
import { RESTART_WAIT_MS } from '../core/state.js';

const out = (s: string): void => void process.stdout.write(s + '\n');
/** Only a terminal interprets control sequences: pipes and files get the bytes as they are. */
const onTerminal = (): boolean => process.stdout.isTTY === true;
const json = (v: unknown): void => out(JSON.stringify(v, null, 2));

/** Runs a parsed command; returns the exit code. Every failure is one line on stderr. */
export async function runVerb(a: CliArgs): Promise<number> {
  if (a.verb === 'check') return check(a);
  let client: Client;
  try {
    client = await connect(a);
  } catch (err) {
    process.stderr.write(`sminit: ${err instanceof ConnectError ? err.message : String(err)}\n`);
    return 1;
  }
  try {
    return await talk(client, a);
  } catch (err) {
    const msg = err instanceof RpcError || err instanceof Error ? err.message : String(err);
    process.stderr.write(`sminit: ${msg.replace(/\n/g, '\nsminit: ')}\n`);
    return 1;
  } finally {
    client.close();
  }
}

function connect(a: CliArgs): Promise<Client> {
  return Client.connect(a.socket).catch((err: unknown) => {
    // Where only zinit's socket exists, a zinit setup is being driven by sminit's CLI.
    if (!a.defaultSocket || !(err instanceof ConnectError)) throw err;
    if (err.cause.code !== 'ENOENT' && err.cause.code !== 'ECONNREFUSED') throw err;
    return Client.connect(ZINIT_SOCKET).catch(() => Promise.reject(err));
  });
}

type Verb = (c: Client, a: CliArgs, name: string) => Promise<number>;

function isReplicated(data: unknown): boolean {
  return typeof data === 'object' && data !== null && 'replicated' in data;
}

/** The verbs that take several services, patterns or --all. */
const MANY = new Set(['start', 'stop', 'restart', 'kill', 'delete', 'status']);

/**
 * One service by name (kill's signal after it, as zinit's `kill NAME
 * SIGNAL`): the one-service request, answered as it always was.
 */
function oneService(a: CliArgs): boolean {
  const names = a.verb === 'kill' && a.args.length >= 2 ? a.args.slice(0, -1) : a.args;
  return !a.all && names.length === 1 && !/[*?[]/.test(names[0] ?? '');
}

const done = (): number => 0;

const TALK: Readonly<Record<string, Verb>> = {
  list: async (c, a) => {
    const [all, notLoaded] = await Promise.all([c.listFull(), c.listUnloaded()]);
    if (a.json) json(all);
    else out(formatList(all, onTerminal(), notLoaded, useColour(a.color, onTerminal())));
    return 0;
  },
  status: async (c, a, name) => {
    if (a.json) {
      json(await c.status(name));
      return 0;
    }
    // Both requests at once: answers come in request order, so a status
    // that fails (no such service) is the error shown, one round trip sooner.
    const status = c.status(name);
    const logs = c.readLogs({ names: [name], n: 5 });
    logs.catch(() => undefined);
    const s = await status;
    out(formatStatus(s, (await logs).lines, onTerminal()));
    return 0;
  },
  start: (c, _a, name) => c.start(name).then(done),
  stop: (c, _a, name) => c.stop(name).then(done),
  restart: restart,
  add: (c, _a, name) => c.monitor(name).then(done),
  delete: (c, _a, name) => c.forget(name).then(done),
  kill: (c, a, name) => c.kill(name, a.args[1] ?? 'SIGTERM').then(done),
  stats: async (c, a, name) => {
    const s = await c.stats(name);
    out(a.json ? JSON.stringify(s, null, 2) : formatStats(s));
    return 0;
  },
  shutdown: (c, a) => stopDaemon(c, a, () => c.shutdown()),
  reboot: (c, a) => stopDaemon(c, a, () => c.call('system_reboot')),
  // Loaded only for log: the common path stays a few small modules.
  log: async (c, a) => (await import('./log.js')).log(c, a),
  events: async (c, a) => (await import('./events.js')).events(c, a),
  graph: async (c, a) => (await import('./graph.js')).graph(c, a),
  top: async (c, a) => (await import('./top.js')).top(c, a),
  why: async (c, a, name) => (await import('./graph.js')).why(c, a, name),
};

async function talk(c: Client, a: CliArgs): Promise<number> {
  // Loaded only for several services, reload and scale: the common path stays small.
  if (MANY.has(a.verb) && !oneService(a)) return (await import('./many.js')).manyVerb(c, a);
  if (MANY.has(a.verb)) {
    // A replicated service's name means its replicas: asked again, for all of them.
    const one = TALK[a.verb];
    if (one) {
      const tried = await one(c, a, a.args[0] ?? '').catch((err: unknown) => {
        if (err instanceof RpcError && isReplicated(err.data)) return null;
        throw err;
      });
      if (tried !== null) return tried;
      return (await import('./many.js')).manyVerb(c, a);
    }
  }
  if (a.verb === 'reload') return (await import('./many.js')).reload(c, a);
  if (a.verb === 'scale') return (await import('./many.js')).scale(c, a);
  const verb = TALK[a.verb];
  if (!verb) throw new Error(`unknown command '${a.verb}'`);
  return verb(c, a, a.args[0] ?? '');
}

/**
 * Ask sminitd to stop everything, then wait until it has: the connection
 * closes when the daemon exits, after the last service stopped.
 */
async function stopDaemon(c: Client, a: CliArgs, ask: () => Promise<null>): Promise<number> {
  const closed = new Promise<void>((resolve) => c.onClose(() => resolve()));
  await ask();
  if (a.wait) await closed;
  return 0;
}

async function restart(c: Client, a: CliArgs, name: string): Promise<number> {
  const s = await c.restart(name, a.timeoutMs ?? undefined);
  if (a.json) json(s);
  // Up means running, a oneshot that succeeded, or a scheduled one whose run
  // succeeded; still starting means the wait ran out.
  const up =
    s.status === 'running' ||
    s.status === 'success' ||
    (s.status === 'scheduled' && s.schedule?.last_run_succeeded !== false);
  if (up) return 0;
  const why =
    s.status === 'starting'
      ? `not up within ${formatDuration(a.timeoutMs ?? RESTART_WAIT_MS)}`
      : 'did not come up';
  process.stderr.write(`sminit: service '${name}' ${why}: ${s.status} (${s.reason})\n`);
  return 1;
}

async function check(a: CliArgs): Promise<number> {
  // Loaded only here: the validator and YAML parser are not on the common path.
  const { checkLines, checkPath } = await import('../config/check.js');
  // Users and groups are looked up as sminitd would (libc, so NSS too).
  const native = await (await import('../os/native.js')).loadNative();
  const accounts = typeof native === 'string' ? null : native.accounts;
  const path = a.args[0] ?? process.env.SMINIT_CONFIG ?? '/etc/sminit';
  const report = await checkPath(path, { accounts, self: null });
  if (a.json) json(report);
  else
    for (const line of checkLines(report))
      (report.ok ? process.stdout : process.stderr).write(line + '\n');
  return report.ok ? 0 : 1;
}
