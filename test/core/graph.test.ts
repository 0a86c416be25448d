import t, { type Test } from 'tap';
import {
  dependants,
  findCycles,
  formatCycle,
  longestChain,
  missingDeps,
  startOrder,
  stopOrder,
  wouldCycle,
} from '../../lib/core/graph.js';

type G = Map<string, string[]>;
const graph = (o: Record<string, string[]>): G => new Map(Object.entries(o));

/** Every service once, and each after all its known dependencies. */
function checkStart(t: Test, g: G, layers: string[][]): void {
  const at = new Map<string, number>();
  layers.forEach((l, i) => l.forEach((n) => at.set(n, i)));
  t.equal(layers.flat().length, g.size, 'every service exactly once');
  t.same([...at.keys()].sort(), [...g.keys()].sort());
  for (const [n, after] of g)
    for (const d of after)
      if (g.has(d) && d !== n && at.get(d) !== at.get(n))
        t.ok(at.get(d)! < at.get(n)!, `${d} before ${n}`);
}

t.test('findCycles', async (t) => {
  t.same(findCycles(graph({ a: [], b: ['a'], c: ['a', 'b'] })), [], 'a DAG has none');
  t.same(findCycles(graph({ x: ['a'], a: ['a'], b: ['a'] })), [['a', 'a']], 'self-loop');
  t.same(
    findCycles(graph({ z: ['b'], b: ['a'], a: ['b'], c: ['z'] })),
    [['a', 'b', 'a']],
    'two, with services outside',
  );
  t.same(
    findCycles(graph({ out: ['c'], c: ['a'], b: ['c', 'gone'], a: ['b'], d: ['out'] })),
    [['a', 'b', 'c', 'a']],
    'three, from the smallest, following edges, ignoring missing deps',
  );
  t.same(
    findCycles(graph({ q: ['p'], p: ['q'], b: ['a'], a: ['b'], s: ['s'] })),
    [
      ['a', 'b', 'a'],
      ['p', 'q', 'p'],
      ['s', 's'],
    ],
    'several, sorted',
  );
  t.same(
    findCycles(graph({ a: ['b', 'c'], b: ['c'], c: ['a'] })),
    [['a', 'c', 'a']],
    'one cycle per component, the shortest through its smallest name',
  );
  const order1 = findCycles(graph({ c: ['b'], b: ['a'], a: ['c'] }));
  const order2 = findCycles(graph({ a: ['c'], b: ['a'], c: ['b'] }));
  t.same(order1, order2, 'independent of map order');
  t.same(order1, [['a', 'c', 'b', 'a']]);
});

t.test('formatCycle', async (t) => {
  t.equal(formatCycle(['a', 'b', 'c', 'a']), 'a -> b -> c -> a');
  t.equal(formatCycle(['a', 'a']), 'a -> a');
});

t.test('wouldCycle', async (t) => {
  const g = graph({ a: [], b: ['a'], c: ['b'] });
  t.equal(wouldCycle(g, 'd', ['c']), null, 'new leaf');
  t.equal(wouldCycle(g, 'c', ['a']), null, 'replacing without a cycle');
  t.same(wouldCycle(g, 'a', ['c']), ['a', 'c', 'b', 'a'], 'closing a chain');
  t.same(wouldCycle(g, 'a', ['a']), ['a', 'a'], 'self');
  t.same(
    wouldCycle(graph({ x: ['new'] }), 'new', ['x']),
    ['new', 'x', 'new'],
    'a missing dependency becoming present',
  );
  t.equal(
    wouldCycle(graph({ p: ['q'], q: ['p'], a: [] }), 'b', ['a', 'p']),
    null,
    'an existing cycle elsewhere is not reported',
  );
});

t.test('missingDeps and dependants', async (t) => {
  const g = graph({ a: ['gone'], b: ['a', 'x', 'y', 'x'], c: ['a', 'b'], d: [] });
  t.same(
    [...missingDeps(g)],
    [
      ['a', ['gone']],
      ['b', ['x', 'y']],
    ],
  );
  t.same(dependants(g, 'a'), ['b', 'c']);
  t.same(dependants(g, 'b'), ['c']);
  t.same(dependants(g, 'd'), []);
  t.same(dependants(g, 'gone'), ['a'], 'works for missing names too');
});

t.test('start and stop layers', async (t) => {
  const g = graph({
    web: ['db', 'cache'],
    db: ['net'],
    cache: ['net'],
    net: [],
    lone: [],
    cron: ['db'],
  });
  const start = startOrder(g);
  t.same(start, [
    ['lone', 'net'],
    ['cache', 'db'],
    ['cron', 'web'],
  ]);
  checkStart(t, g, start);
  const stop = stopOrder(g);
  t.same(stop, [['cron', 'lone', 'web'], ['cache', 'db'], ['net']]);
  // Stop order is start order on the reversed graph.
  const reversed = new Map([...g.keys()].map((n) => [n, dependants(g, n)]));
  checkStart(t, reversed, stop);

  const chain = graph({ c: ['b'], b: ['a'], a: [] });
  t.same(stopOrder(chain), [...startOrder(chain)].reverse(), 'a chain stops in reverse');
  t.same(startOrder(new Map()), []);
  t.same(stopOrder(new Map()), []);
});

t.test('layers with cycles and missing deps terminate and include everyone', async (t) => {
  const g = graph({
    base: [],
    a: ['b', 'base'],
    b: ['a'],
    after: ['a'],
    self: ['self'],
    m: ['nowhere'],
  });
  const start = startOrder(g);
  t.same(start, [['base', 'm', 'self'], ['a', 'b'], ['after']]);
  checkStart(t, g, start);
  const stop = stopOrder(g);
  t.same(stop, [['after', 'm', 'self'], ['a', 'b'], ['base']]);
  t.equal(stop.flat().length, g.size);
});

t.test('10,000-node chain and cycle: no stack overflow', async (t) => {
  const n = 10_000;
  const chain: G = new Map();
  for (let i = 0; i < n; i++) chain.set(`s${i}`, i === 0 ? [] : [`s${i - 1}`]);
  const start = startOrder(chain);
  t.equal(start.length, n);
  t.same(start[0], ['s0']);
  t.same(stopOrder(chain)[0], [`s${n - 1}`]);
  t.same(findCycles(chain), []);
  t.equal(
    longestChain(chain, () => 1),
    n,
  );
  const closed = wouldCycle(chain, 's0', [`s${n - 1}`]);
  t.equal(closed?.length, n + 1);

  chain.set('s0', [`s${n - 1}`]);
  const cycles = findCycles(chain);
  t.equal(cycles.length, 1);
  t.equal(cycles[0]?.length, n + 1);
  t.equal(cycles[0]?.[0], 's0');
  t.equal(startOrder(chain).length, 1, 'one component, one layer');
  t.equal(
    longestChain(chain, () => 1),
    1,
  );
});

t.test('longestChain', async (t) => {
  const timeout: Record<string, number> = { web: 10, db: 30, cache: 5, net: 1, lone: 100 };
  const w = (n: string): number => timeout[n] ?? 0;
  t.equal(longestChain(new Map(), w), 0);
  t.equal(
    longestChain(graph({ web: ['db', 'cache'], db: ['net'], cache: ['net'], net: [] }), w),
    41,
  );
  t.equal(
    longestChain(graph({ web: ['db'], db: ['net'], net: [], lone: [] }), w),
    100,
    'a single heavy service',
  );
  t.equal(
    longestChain(graph({ web: ['db'], db: ['cache'], cache: ['db', 'net'], net: ['gone'] }), w),
    10 + 30 + 1,
    'a cycle counts once, by its heaviest member',
  );
});
