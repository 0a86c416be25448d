// loadConfig: a directory as sminitd takes it — bad files reported, the
// members of a dependency cycle refused, missing dependencies listed.

import t from 'tap';
import { join } from 'node:path';
import { loadConfig } from '../../lib/config/directory.js';
import { formatProblem } from '../../lib/core/definition.js';

t.test('cycles refuse their members; the rest is accepted', async (t) => {
  const dir = t.testdir({
    'a.yaml': 'exec: a\nafter: [c]\n',
    'b.yaml': 'exec: b\nafter: [a]\n',
    'c.yaml': 'exec: c\nafter: [b]\n',
    'd.yaml': 'exec: d\nafter: [a]\n',
    'e.yaml': 'exec: e\nafter: [nosuch, gone]\n',
    'bad.yaml': 'exce: x\n',
  });
  const config = await loadConfig(dir);
  t.same(
    config.defs.map((d) => d.name),
    ['d', 'e'],
    'outside the cycle, even one waiting on it',
  );
  t.same(config.cycles, [{ path: ['a', 'c', 'b', 'a'], members: ['a', 'c', 'b'] }]);
  t.same(config.missing, [{ service: 'e', file: join(dir, 'e.yaml'), names: ['nosuch', 'gone'] }]);
  t.same(
    config.problems.map((p) => formatProblem({ ...p, file: p.file.slice(dir.length + 1) })),
    [
      "bad.yaml:1:1: unknown key 'exce' (did you mean 'exec'?)",
      "bad.yaml:1:1: missing required key 'exec'",
    ],
  );
});

t.test('a directory that cannot be read', async (t) => {
  const config = await loadConfig(join(t.testdir({}), 'nope'));
  t.same(config.defs, []);
  t.match(config.problems, [{ message: /^cannot read config directory: .*ENOENT/ }]);
});
