// The reload plan as a pure decision: what sminitd took, what it tracks and
// the directory as read give exactly one plan, with the per-key rule for
// restarts, refusals that leave the rest standing, and replicas and templates.

import t from 'tap';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Problem, ServiceDef, Source } from '../../lib/core/definition.js';
import { KEY_EFFECTS, type PlanInput, changes, planReload } from '../../lib/core/reload.js';
import { makeInstance, makeReplica } from '../../lib/core/instances.js';
import { def } from '../helpers/fake-processes.js';

const svc = (d: ServiceDef): Source => ({ kind: 'service', def: d });
const group = (d: ServiceDef, replicas: number): Source => ({ kind: 'replicas', def: d, replicas });
const template = (d: ServiceDef): Source => ({ kind: 'template', def: d });

/** The tracked services a set of plain sources makes, as a start would. */
function tracking(sources: readonly ServiceDef[]): Map<string, ServiceDef> {
  return new Map(sources.map((d) => [d.name, d]));
}

function input(over: Partial<PlanInput> & Pick<PlanInput, 'next'>): PlanInput {
  return { known: new Map(), tracked: new Map(), counts: new Map(), refused: new Map(), ...over };
}

/** Each entry as its table line would read, without the padding. */
const lines = (i: PlanInput): string[] =>
  planReload(i).entries.map((e) => `${e.action} ${e.name}: ${e.why}`);

t.test('unchanged files: nothing at all', async (t) => {
  const defs = [def('a'), def('b', { after: ['a'] })];
  const known = new Map(defs.map((d) => [d.name, svc(d)]));
  const plan = planReload(input({ known, tracked: tracking(defs), next: new Map(known) }));
  t.same(plan.entries, []);
  t.equal(plan.unchanged, 2);
  t.same([...plan.known.keys()], ['a', 'b']);
});

t.test('new, removed, changed: start, stop, restart or no restart, per key', async (t) => {
  const a = def('a');
  const b = def('b');
  const c = def('c');
  const d = def('d');
  const old = new Map([a, b, c, d].map((x) => [x.name, svc(x)]));
  const next = new Map<string, Source>([
    ['b', svc(def('b', { exec: ['b', '--new'], env: { X: '1' } }))],
    ['c', svc(def('c', { after: ['b'], shutdownTimeoutMs: 1 }))],
    ['d', svc(d)],
    ['e', svc(def('e'))],
  ]);
  const plan = planReload(input({ known: old, tracked: tracking([a, b, c, d]), next }));
  t.same(lines(input({ known: old, tracked: tracking([a, b, c, d]), next })), [
    'start e: new',
    'restart b: exec, env changed',
    'update c: after, shutdown_timeout changed',
    'stop a: removed',
  ]);
  t.equal(plan.unchanged, 1, 'd');
  t.same([...plan.known.keys()].sort(), ['b', 'c', 'd', 'e']);
  t.match(plan.entries.find((e) => e.name === 'b')?.def, { exec: ['b', '--new'] });
});

t.test('changes(): the table, and a key it does not know restarts', async (t) => {
  const base = def('x');
  t.same(changes(base, base), { keys: [], restart: false });
  t.same(changes(base, { ...base, test: ['t'] }), { keys: ['test'], restart: false });
  t.same(changes(base, { ...base, stopSignal: 'SIGINT' }), {
    keys: ['signal.stop'],
    restart: false,
  });
  t.same(changes(base, { ...base, log: { kind: 'stdout' } }), { keys: ['log'], restart: false });
  t.same(
    changes(base, { ...base, log: { kind: 'none' } }),
    { keys: ['log'], restart: true },
    'to none',
  );
  t.same(
    changes({ ...base, log: { kind: 'none' } }, base),
    { keys: ['log'], restart: true },
    'from none',
  );
  t.same(changes(base, { ...base, oneshot: true }), { keys: ['oneshot'], restart: true });
  const withUser = { ...base, runAs: 'nobody' } as ServiceDef;
  t.same(changes(base, withUser), { keys: ['run_as'], restart: true }, 'unknown: restart');
  for (const key of Object.keys(KEY_EFFECTS)) t.type(KEY_EFFECTS[key]?.why, 'string', key);
});

t.test('changes(): the lifecycle keys', async (t) => {
  const base = def('x', { after: ['db'], conditions: { db: 'up' } });
  const probe = {
    check: { kind: 'exec', argv: ['check'] },
    periodMs: 1000,
    timeoutMs: 1000,
    initialDelayMs: 0,
    successThreshold: 1,
    failureThreshold: 3,
  } as const;
  const taken = (over: Partial<ServiceDef>, keys: string[]): void => {
    t.same(changes(base, { ...base, ...over }), { keys, restart: false }, keys.join(', '));
  };
  taken({ readiness: probe }, ['readiness']);
  taken({ liveness: probe }, ['liveness']);
  taken({ readyLog: 'listening' }, ['ready_log']);
  taken({ restartLimit: { count: 3, windowMs: 60_000 } }, ['restart_limit']);
  taken({ restartCooldownMs: 5000 }, ['restart_cooldown']);
  taken({ successCodes: { codes: [0, 3], signals: [] } }, ['success_exit_codes']);
  taken({ conditions: { db: 'started' } }, ['after']);
  taken({ after: ['db', 'net'], conditions: { db: 'up', net: 'up' } }, ['after']);
  t.same(changes(base, { ...base, notify: { kind: 'systemd' } }), {
    keys: ['notify'],
    restart: true,
  });
  t.same(changes(base, { ...base, watchdogMs: 5000 }), { keys: ['watchdog'], restart: true });
  const daily = { ...base, oneshot: true, schedule: { cron: '@daily', timezone: null } };
  const hourly = { ...daily, schedule: { cron: '@hourly', timezone: null } };
  t.same(changes(daily, hourly), { keys: ['schedule'], restart: false }, 'a new time');
  t.same(
    changes({ ...daily, schedule: null }, daily),
    { keys: ['schedule'], restart: true },
    'a schedule added',
  );
});

t.test('a refused file keeps its service as it is; the rest is applied', async (t) => {
  const a = def('a');
  const b = def('b');
  const known = new Map([a, b].map((x) => [x.name, svc(x)]));
  const problem: Problem = { file: '/etc/a.yaml', line: 3, column: 1, message: 'unknown key' };
  const i = input({
    known,
    tracked: tracking([a, b]),
    next: new Map([['b', svc(def('b', { exec: ['b2'] }))]]),
    refused: new Map([['a', [problem]]]),
  });
  const plan = planReload(i);
  t.same(lines(i), ['restart b: exec changed', 'refuse a: does not load']);
  t.same(plan.entries.at(-1)?.problems, [problem]);
  t.equal(
    plan.known.get('a'),
    known.get('a'),
    'the old file is what the next reload compares with',
  );
});

t.test('a change that closes a cycle is refused with the cycle; the rest stands', async (t) => {
  const a = def('a');
  const b = def('b', { after: ['a'] });
  const known = new Map([a, b].map((x) => [x.name, svc(x)]));
  const i = input({
    known,
    tracked: tracking([a, b]),
    next: new Map([
      ['a', svc(def('a', { after: ['b'] }))],
      ['b', svc(b)],
      ['c', svc(def('c'))],
    ]),
  });
  const plan = planReload(i);
  t.same(lines(i), ['start c: new', 'refuse a: would close a dependency cycle a -> b -> a']);
  t.same(plan.entries[1]?.cycle, ['a', 'b', 'a']);
  t.equal(plan.known.get('a'), known.get('a'), 'a is tried again next time');
  t.ok(plan.known.has('c'));
});

t.test('a new service that closes a cycle is not added', async (t) => {
  const a = def('a', { after: ['n'] });
  const known = new Map([['a', svc(a)]]);
  const i = input({
    known,
    tracked: tracking([a]),
    next: new Map([
      ['a', svc(a)],
      ['n', svc(def('n', { after: ['a'] }))],
    ]),
  });
  t.same(lines(i), ['refuse n: would close a dependency cycle a -> n -> a']);
  t.notOk(planReload(i).known.has('n'));
});

t.test('deleted and created through the API: the next reload leaves them alone', async (t) => {
  const x = def('x');
  const known = new Map([['x', svc(x)]]);
  t.same(lines(input({ known, next: new Map(known) })), [], 'forgotten, file unchanged: nothing');
  const edited = new Map([['x', svc(def('x', { exec: ['x2'] }))]]);
  t.same(lines(input({ known, next: edited })), ['none x: changed; not tracked, so left alone']);
  t.same(
    lines(input({ tracked: tracking([x]), next: new Map() })),
    [],
    'file deleted, still tracked: nothing',
  );
});

t.test('replicas: new, more, fewer, a scale kept, a change to all of them', async (t) => {
  const web = def('web', { exec: ['web', '${instance}'] });
  const replicas = (n: number): ServiceDef[] =>
    Array.from({ length: n }, (_, i) => {
      const m = makeReplica(web, i + 1);
      if (!m.ok) throw new Error('replica');
      return m.def;
    });
  t.same(lines(input({ next: new Map([['web', group(web, 2)]]) })), [
    'start web@1: new',
    'start web@2: new',
  ]);
  const known = new Map([['web', group(web, 3)]]);
  const three = { known, tracked: tracking(replicas(3)), counts: new Map([['web', 3]]) };
  t.same(lines(input({ ...three, next: new Map([['web', group(web, 5)]]) })), [
    'start web@4: replicas 3 → 5',
    'start web@5: replicas 3 → 5',
  ]);
  const fewer = planReload(input({ ...three, next: new Map([['web', group(web, 1)]]) }));
  t.same(
    fewer.entries.map((e) => `${e.action} ${e.name}: ${e.why}`),
    ['stop web@2: replicas 3 → 1', 'stop web@3: replicas 3 → 1'],
  );
  t.equal(fewer.counts.get('web'), 1);
  // Scaled to 5 at run time; the file still says 3.
  const scaled = { known, tracked: tracking(replicas(5)), counts: new Map([['web', 5]]) };
  t.same(
    lines(input({ ...scaled, next: new Map(known) })),
    [],
    'an unchanged file keeps the scale',
  );
  const changedExec = def('web', { exec: ['web2', '${instance}'] });
  const plan = planReload(input({ ...scaled, next: new Map([['web', group(changedExec, 3)]]) }));
  t.same(
    plan.entries.map((e) => `${e.action} ${e.name}`),
    ['restart web@1', 'restart web@2', 'restart web@3', 'restart web@4', 'restart web@5'],
    'the count stays at the scale while replicas is unchanged',
  );
  t.same(plan.entries[3]?.def?.exec, ['web2', '4']);
  t.equal(plan.counts.get('web'), 5);
});

t.test('a plain file turned into replicas, and back', async (t) => {
  const web = def('web');
  const i = input({
    known: new Map([['web', svc(web)]]),
    tracked: tracking([web]),
    next: new Map([['web', group(web, 2)]]),
  });
  t.same(lines(i), [
    'start web@1: new',
    'start web@2: new',
    'stop web: now runs as replicas of <test>/web.yaml',
  ]);
  const r1 = makeReplica(web, 1);
  if (!r1.ok) throw new Error('replica');
  const back = input({
    known: new Map([['web', group(web, 1)]]),
    tracked: tracking([r1.def]),
    counts: new Map([['web', 1]]),
    next: new Map([['web', svc(web)]]),
  });
  t.same(lines(back), ['start web: new', 'stop web@1: no longer a replica']);
});

t.test('templates: instances follow their template; after names new ones', async (t) => {
  const tpl = def('db@', { exec: ['db', '${instance}'] });
  const main = makeInstance(tpl, 'db@main');
  if (!main.ok) throw new Error('instance');
  const known = new Map([['db@', template(tpl)]]);
  const tracked = tracking([main.def]);
  const edited = template(def('db@', { exec: ['db2', '${instance}'] }));
  const plan = planReload(input({ known, tracked, next: new Map([['db@', edited]]) }));
  t.same(
    plan.entries.map((e) => `${e.action} ${e.name}: ${e.why}`),
    ['restart db@main: exec changed'],
  );
  t.same(plan.entries[0]?.def?.exec, ['db2', 'main']);
  t.same(lines(input({ known, tracked, next: new Map() })), ['stop db@main: removed']);
  const web = def('web', { after: ['db@main', 'db@test'] });
  const named = input({ known, tracked, next: new Map([...known, ['web', svc(web)]]) });
  t.same(lines(named), ['start db@test: an instance named in after', 'start web: new']);
  const own = input({
    known,
    tracked,
    next: new Map([...known, ['db@main', svc(def('db@main', { exec: ['db', 'main'] }))]]),
  });
  t.same(lines(own), ['update db@main: file changed'], 'a file of its own takes it over');
});

t.test("the README's table of keys across a reload is KEY_EFFECTS", async (t) => {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const start = readme.indexOf('What a changed key does to a running service');
  t.ok(start > 0, 'the table is there');
  const rows = readme
    .slice(start)
    .split('\n')
    .slice(2)
    .filter((l, i, all) => l.startsWith('|') && all.slice(0, i).every((x) => x.startsWith('|')))
    .slice(2);
  const documented = new Map<string, boolean>();
  for (const row of rows) {
    const [keys, restart] = row.split('|').slice(1, 3);
    for (const m of (keys ?? '').matchAll(/`([^`]+)`/g))
      documented.set(m[1] as string, restart?.trim() === 'yes');
  }
  // The timezone is part of the schedule; `file` is no key of a file.
  documented.delete('schedule_timezone');
  const table = new Map(
    Object.entries(KEY_EFFECTS)
      .filter(([k]) => k !== 'file')
      .map(([k, e]) => [k, e.restart]),
  );
  t.same(Object.fromEntries([...documented].sort()), Object.fromEntries([...table].sort()));
});
