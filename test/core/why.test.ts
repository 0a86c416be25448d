// Why a service waits, from states alone: each chain of waiting down to its
// root cause, the sentence for it, and the critical chain of a start.

import t from 'tap';
import type { ServiceState } from '../../lib/core/state.js';
import {
  type WhyGraph,
  type WhyNode,
  chainSentence,
  criticalChain,
  waitChains,
} from '../../lib/core/why.js';

const node = (
  name: string,
  state: ServiceState,
  after: string[] = [],
  more: Partial<WhyNode> = {},
): WhyNode => ({ name, state, target: 'up', oneshot: false, after, lastUp: null, ...more });

const blocked = (...waitingFor: string[]): ServiceState => ({
  kind: 'blocked',
  since: 0,
  waitingFor,
});
const failing = (n: number, why: string): ServiceState => ({
  kind: 'starting',
  since: 0,
  pid: 7,
  testFailures: n,
  lastTestError: why,
});

const graph = (...nodes: WhyNode[]): WhyGraph => new Map(nodes.map((n) => [n.name, n]));

t.test('the chain down to the root cause, as one sentence', async (t) => {
  const g = graph(
    node('web', blocked('api'), ['api']),
    node('api', blocked('db'), ['db']),
    node('db', failing(4, 'connection refused')),
  );
  t.same(waitChains(g, 'web'), [['web', 'api', 'db']]);
  t.equal(
    chainSentence(g, ['web', 'api', 'db'], 0),
    'web waits for api, which waits for db, whose health test has failed 4 times: connection refused',
  );
  t.same(waitChains(g, 'db'), [['db']], 'a service that waits for nothing is its own chain');
  t.equal(
    chainSentence(g, ['db'], 0),
    'db is starting: health test failing (4x): connection refused',
  );
});

t.test('several dependencies: a chain each, in the order of after', async (t) => {
  const g = graph(
    node('web', blocked('cache', 'db'), ['cache', 'db']),
    node('cache', { kind: 'stopped', since: 0, lastExit: null }, [], { target: 'down' }),
    node('db', blocked('disk'), ['disk']),
  );
  const chains = waitChains(g, 'web');
  t.same(chains, [
    ['web', 'cache'],
    ['web', 'db', 'disk'],
  ]);
  t.same(
    chains.map((c) => chainSentence(g, c, 0)),
    [
      'web waits for cache, which is stopped (start it: sminit start cache)',
      'web waits for db, which waits for disk, which is not tracked (no service file of that name is loaded: sminit add disk)',
    ],
  );
});

t.test('root causes in their own words', async (t) => {
  const exit = { pid: 1, code: 3, signal: null, at: 0 };
  const cases: [ServiceState, Partial<WhyNode>, string][] = [
    [failing(1, 'timed out'), {}, 'whose health test has failed 1 time: timed out'],
    [failing(0, ''), {}, 'whose health test has not passed yet'],
    [
      failing(0, ''),
      { oneshot: true },
      'which is still running (a oneshot: it must succeed first)',
    ],
    [
      { ...failing(4, 'connection refused'), awaiting: 'its readiness probe' } as ServiceState,
      {},
      'whose readiness has failed 4 times: connection refused',
    ],
    [{ ...failing(0, ''), awaiting: 'READY=1' } as ServiceState, {}, 'which waits for READY=1'],
    [
      { kind: 'running', since: 0, pid: 2, unready: 'readiness failed 3 times: HTTP 503' },
      {},
      'which is running but not ready: readiness failed 3 times: HTTP 503',
    ],
    [
      { kind: 'exited', since: 0, lastExit: exit },
      {},
      'which exited with code 3 and is not restarted',
    ],
    [
      { kind: 'backoff', since: 0, retryAt: 500, lastExit: exit, error: null },
      {},
      'which is in backoff: exited with code 3; restarting in 500 ms',
    ],
    [
      { kind: 'failed', since: 0, error: 'not found', retryAt: null },
      {},
      'which cannot be started: not found',
    ],
  ];
  for (const [state, more, said] of cases) {
    const g = graph(node('web', blocked('db'), ['db']), node('db', state, [], more));
    t.equal(chainSentence(g, ['web', 'db'], 0), `web waits for db, ${said}`);
  }
  const own = graph(node('web', blocked('web (previous instance stopping)')));
  t.equal(
    chainSentence(own, waitChains(own, 'web')[0] ?? [], 0),
    'web waits for web (previous instance stopping), whose previous instance is still stopping',
  );
});

t.test('a shared dependency is followed once; a cycle ends where it closes', async (t) => {
  const g = graph(
    node('top', blocked('a', 'b'), ['a', 'b']),
    node('a', blocked('base'), ['base']),
    node('b', blocked('base'), ['base']),
    node('base', blocked('top'), ['top']),
  );
  t.same(waitChains(g, 'top'), [
    ['top', 'a', 'base', 'top'],
    ['top', 'b', 'base'],
  ]);
});

t.test('the critical chain: the dependency that came up last before each start', async (t) => {
  const up = (spawnedAt: number, upAt: number): Partial<WhyNode> => ({
    lastUp: { spawnedAt, upAt },
  });
  const running: ServiceState = { kind: 'running', since: 0, pid: 1 };
  const g = graph(
    node('web', running, ['setup', 'db', 'late'], up(2000, 2200)),
    node('setup', running, [], up(0, 1000)),
    node('db', running, ['disk'], up(500, 1900)),
    node('disk', running, [], up(0, 400)),
    // Restarted after web started: it did not gate web's start.
    node('late', running, [], up(3000, 3100)),
  );
  t.same(criticalChain(g, 'web'), [
    { name: 'web', spawnedAt: 2000, upAt: 2200 },
    { name: 'db', spawnedAt: 500, upAt: 1900 },
    { name: 'disk', spawnedAt: 0, upAt: 400 },
  ]);
  t.equal(criticalChain(graph(node('x', blocked('y'), ['y'])), 'x'), null, 'never up: none');
});
