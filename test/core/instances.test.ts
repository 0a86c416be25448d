// Templates, instances and replicas by name, `${instance}` and the instance
// a definition makes: pure, so checked directly.

import t from 'tap';
import {
  expandAfter,
  isTemplateName,
  makeInstance,
  makeReplica,
  namedInstances,
  replicaNumber,
  servicesOf,
  splitInstance,
  substitute,
  templateOf,
} from '../../lib/core/instances.js';
import { def } from '../helpers/fake-processes.js';

t.test('names', async (t) => {
  t.ok(isTemplateName('web@'));
  for (const n of ['web', '@', 'a@b@', 'web@main', '@x@']) t.notOk(isTemplateName(n), n);
  t.same(splitInstance('web@main'), { base: 'web', id: 'main' });
  t.same(splitInstance('a@b@c'), { base: 'a', id: 'b@c' }, 'the first @ splits');
  for (const n of ['web', 'web@', '@web']) t.equal(splitInstance(n), null, n);
  t.equal(templateOf('db@main'), 'db@');
  t.equal(templateOf('db'), null);
  t.equal(replicaNumber('web', 'web@3'), 3);
  for (const n of ['web@0', 'web@03', 'web@x', 'api@3', 'web'])
    t.equal(replicaNumber('web', n), null, n);
});

t.test('substitute', async (t) => {
  t.equal(substitute('--port 80${instance}', '1'), '--port 801');
  t.equal(substitute('${instance}-${instance}', 'a'), 'a-a');
  t.equal(substitute('$${instance} stays', 'a'), '${instance} stays', '$$ escapes it');
  t.equal(
    substitute('$instance ${INSTANCE} ${ instance }', 'a'),
    '$instance ${INSTANCE} ${ instance }',
  );
});

const probe = {
  periodMs: 1000,
  timeoutMs: 1000,
  initialDelayMs: 0,
  successThreshold: 1,
  failureThreshold: 3,
} as const;

t.test('an instance of a template', async (t) => {
  const template = def('db@', {
    exec: ['db', '--name', '${instance}'],
    test: ['check', '${instance}'],
    env: { NAME: 'db-${instance}', PLAIN: 'x' },
    dir: '/srv/${instance}',
    after: ['net', 'vol@${instance}'],
    conditions: { net: 'up', 'vol@${instance}': 'ready' },
    log: { kind: 'file', path: '/var/log/db-${instance}.log', maxSize: 10, keep: 1 },
    readiness: {
      ...probe,
      check: { kind: 'http', url: 'http://127.0.0.1/${instance}', statuses: null },
    },
    liveness: { ...probe, check: { kind: 'exec', argv: ['alive', '${instance}'] } },
  });
  const made = makeInstance(template, 'db@main');
  t.ok(made.ok);
  if (!made.ok) return;
  t.same(made.def, {
    ...template,
    name: 'db@main',
    exec: ['db', '--name', 'main'],
    test: ['check', 'main'],
    env: { NAME: 'db-main', PLAIN: 'x' },
    dir: '/srv/main',
    after: ['net', 'vol@main'],
    conditions: { net: 'up', 'vol@main': 'ready' },
    log: { kind: 'file', path: '/var/log/db-main.log', maxSize: 10, keep: 1 },
    readiness: { ...probe, check: { kind: 'http', url: 'http://127.0.0.1/main', statuses: null } },
    liveness: { ...probe, check: { kind: 'exec', argv: ['alive', 'main'] } },
    instance: { kind: 'template', of: 'db@', id: 'main' },
  });
});

t.test('what substitution spoils is refused, naming the instance', async (t) => {
  const self = makeInstance(def('a@', { after: ['a@${instance}'] }), 'a@x');
  t.match(self, {
    ok: false,
    problems: [{ message: "a@x: after: 'a@${instance}' makes it come after itself" }],
  });
  const twice = makeInstance(def('a@', { after: ['b@${instance}', 'b@x'] }), 'a@x');
  t.match(twice, { ok: false, problems: [{ message: "a@x: after: 'b@x' is listed twice" }] });
  const long = makeInstance(def('a@'), `a@${'x'.repeat(130)}`);
  t.match(long, { ok: false, problems: [{ message: /invalid service name/ }] });
});

t.test('replicas and expansion', async (t) => {
  const web = def('web', { exec: ['web', '--port', '80${instance}'] });
  const r2 = makeReplica(web, 2);
  t.match(r2, { ok: true, def: { name: 'web@2', exec: ['web', '--port', '802'] } });
  t.match(r2.ok && r2.def.instance, { kind: 'replica', of: 'web', id: '2' });
  const three = servicesOf({ kind: 'replicas', def: web, replicas: 3 }, 3);
  t.same(
    three.defs.map((d) => d.name),
    ['web@1', 'web@2', 'web@3'],
  );
  t.same(servicesOf({ kind: 'replicas', def: web, replicas: 3 }, 0).defs, [], 'scaled to none');
  const groups = new Map([['web', ['web@1', 'web@2']]]);
  t.same(
    expandAfter(['db', 'web', 'web@1'], (n) => groups.get(n) ?? null),
    ['db', 'web@1', 'web@2'],
  );
  const named = namedInstances(
    [def('a', { after: ['db@main', 'db@main', 'x@y', 'web@1'] })],
    (n) => n === 'web@1',
    (t) => t === 'db@',
  );
  t.same(named, ['db@main'], 'each once; only with a template; not what exists');
});
