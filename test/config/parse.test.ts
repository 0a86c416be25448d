// One service file's text (or an RPC object) to a ServiceDef: defaults,
// every key, zinit's examples, and every problem at its exact place.

import t from 'tap';
import { DEFAULTS } from '../../lib/config/normalise.js';
import { parseServiceObject, parseServiceText } from '../../lib/config/parse.js';
import { LIFECYCLE_DEFAULTS, formatProblem, type ServiceDef } from '../../lib/core/definition.js';

function def(text: string, name = 'web'): ServiceDef {
  const r = parseServiceText(name, 'web.yaml', text);
  if (!r.ok) throw new Error(r.problems.map(formatProblem).join('\n'));
  return r.def;
}

function problems(text: string, name = 'web'): string[] {
  const r = parseServiceText(name, 'web.yaml', text);
  return r.ok ? [] : r.problems.map(formatProblem);
}

t.test('defaults', async (t) => {
  t.same(def('exec: sleep 1\n'), {
    name: 'web',
    file: 'web.yaml',
    exec: ['sleep', '1'],
    test: null,
    oneshot: false,
    restart: 'always',
    after: [],
    stopSignal: 'SIGTERM',
    log: { kind: 'ring' },
    env: {},
    envFiles: [],
    user: null,
    sandbox: {
      umask: null,
      nice: null,
      oomScoreAdj: null,
      rlimits: {},
      limits: { memoryMax: null, memoryHigh: null, pidsMax: null, cpuMax: null, cpuWeight: null },
    },
    dir: '/',
    shutdownTimeoutMs: 10_000,
    testIntervalMs: 1_000,
    testTimeoutMs: 5_000,
    restartDelayMs: 100,
    restartMaxDelayMs: 30_000,
    stableAfterMs: 10_000,
    // None of the lifecycle keys: zinit's behaviour.
    ...LIFECYCLE_DEFAULTS,
  });
  t.equal(DEFAULTS.logMaxSize, 10 * 1024 * 1024);
});

t.test('every key', async (t) => {
  const d = def(`exec: /bin/server --port "8 0" 'a b'
test: curl -f http://localhost/
restart: on-failure
after: [db, cache]
signal: {stop: int}
log: {file: /var/log/web.log, max_size: 512KiB, keep: 2}
env: {PORT: 8080, DEBUG: true, NAME: web}
dir: /srv/web
shutdown_timeout: 2.5
test_interval: 250ms
test_timeout: 3s
restart_delay: 1s
restart_max_delay: 1m30s
stable_after: 1h
`);
  t.same(d.exec, ['/bin/server', '--port', '8 0', 'a b']);
  t.same(d.test, ['curl', '-f', 'http://localhost/']);
  t.equal(d.restart, 'on-failure');
  t.same(d.after, ['db', 'cache']);
  t.equal(d.stopSignal, 'SIGINT');
  t.same(d.log, { kind: 'file', path: '/var/log/web.log', maxSize: 512 * 1024, keep: 2 });
  t.same(d.env, { PORT: '8080', DEBUG: 'true', NAME: 'web' });
  t.equal(d.dir, '/srv/web');
  t.equal(d.shutdownTimeoutMs, 2500);
  t.equal(d.testIntervalMs, 250);
  t.equal(d.testTimeoutMs, 3000);
  t.equal(d.restartDelayMs, 1000);
  t.equal(d.restartMaxDelayMs, 90_000);
  t.equal(d.stableAfterMs, 3_600_000);
  t.same(def('exec: x\nlog: {file: out.log}\n').log, {
    kind: 'file',
    path: 'out.log',
    maxSize: 10 * 1024 * 1024,
    keep: 5,
  });
  t.same(def('exec: x\nlog: stdout\n').log, { kind: 'stdout' });
  t.same(def('exec: x\nlog: none\n').log, { kind: 'none' });
  t.same(def('exec: x\nlog: ring\n').log, { kind: 'ring' });
  t.equal(
    def('exec: x\nrestart_delay: 1m\n').restartMaxDelayMs,
    60_000,
    'cap follows a long delay',
  );
});

t.test("zinit's documented examples", async (t) => {
  const redis = def('exec: redis-server --port 7777\ntest: redis-cli -p 7777 PING\n', 'redis');
  t.same(redis.exec, ['redis-server', '--port', '7777']);
  t.same(redis.test, ['redis-cli', '-p', '7777', 'PING']);
  const init = def('exec: sh -c "echo started"\noneshot: true\n', 'init');
  t.same(init.exec, ['sh', '-c', 'echo started']);
  t.equal(init.oneshot, true);
  t.equal(init.restart, 'never');
  const web = def(`exec: python3 -m http.server 8080
after:
  - init
  - redis
signal:
  stop: sighup
log: null
env:
  KEY: VALUE
dir: /tmp
shutdown_timeout: 30
`);
  t.same(web.after, ['init', 'redis']);
  t.equal(web.stopSignal, 'SIGHUP');
  t.same(web.log, { kind: 'none' });
  t.same(web.env, { KEY: 'VALUE' });
  t.equal(web.dir, '/tmp');
  t.equal(web.shutdownTimeoutMs, 30_000);
});

t.test('cmd and healthcheck are other spellings of exec and test', async (t) => {
  const d = def('cmd: sleep 5\nhealthcheck: "true"\n');
  t.same(d.exec, ['sleep', '5']);
  t.same(d.test, ['true']);
  for (const s of ['TERM', 'SIGTERM', 'term', 'sigterm', 'Term']) {
    t.equal(def(`exec: x\nsignal: {stop: ${s}}\n`).stopSignal, 'SIGTERM', s);
  }
});

t.test('exact messages', async (t) => {
  const cases: [string, string[]][] = [
    [
      'exce: sleep 1\n',
      [
        "web.yaml:1:1: unknown key 'exce' (did you mean 'exec'?)",
        "web.yaml:1:1: missing required key 'exec'",
      ],
    ],
    ['exec: x\nfrobnicate: 1\n', ["web.yaml:2:1: unknown key 'frobnicate'"]],
    ['dir: /\n', ["web.yaml:1:1: missing required key 'exec'"]],
    [
      'exec: a\ncmd: b\n',
      ["web.yaml:2:1: both 'exec' and 'cmd' are given; they are one key, keep one"],
    ],
    [
      'cmd: b\nexec: a\ntest: t\nhealthcheck: h\n',
      [
        "web.yaml:2:1: both 'exec' and 'cmd' are given; they are one key, keep one",
        "web.yaml:4:1: both 'test' and 'healthcheck' are given; they are one key, keep one",
      ],
    ],
    ['exec: "  "\n', ['web.yaml:1:7: exec: must not be empty or only whitespace']],
    ['exec: ""\n', ['web.yaml:1:7: exec: must not be empty']],
    ["exec: echo 'hi\n", ['web.yaml:1:7: exec: unterminated single quote at character 6']],
    [
      'exec: x\nsignal:\n  stop: FOO\n',
      [
        "web.yaml:3:9: signal.stop: unknown signal 'FOO'; signal names are like TERM, SIGTERM or term",
      ],
    ],
    [
      'exec: x\nsignal: {stp: TERM}\n',
      ["web.yaml:2:10: signal: unknown key 'stp' (did you mean 'stop'?)"],
    ],
    ['exec: x\nafter: [web]\n', ["web.yaml:2:9: after[0]: 'web' cannot come after itself"]],
    [
      'exec: x\nafter: [db, cache, db]\n',
      ["web.yaml:2:20: after[2]: 'db' is listed twice (first as after[0])"],
    ],
    [
      'exec: x\nafter: db\n',
      ['web.yaml:2:8: after: must be a list of strings, or a mapping, got "db"'],
    ],
    [
      'exec: x\noneshot: true\ntest: "true"\n',
      [
        "web.yaml:3:7: test: oneshot services have no health test (one is done when it exits 0); remove 'test'",
      ],
    ],
    [
      'healthcheck: x\ncmd: y\noneshot: true\n',
      [
        "web.yaml:1:14: healthcheck: oneshot services have no health test (one is done when it exits 0); remove 'healthcheck'",
      ],
    ],
    [
      'exec: x\noneshot: true\nrestart: always\n',
      [
        "web.yaml:3:10: restart: oneshot services never restart; remove 'restart' or set it to never",
      ],
    ],
    [
      'exec: x\nlog: rng\n',
      [
        'web.yaml:2:6: log: must be one of ring, stdout, none, null, or a mapping, got "rng" (did you mean \'ring\'?)',
      ],
    ],
    [
      'exec: x\nrestart: sometimes\n',
      ['web.yaml:2:10: restart: must be one of always, on-failure, never, got "sometimes"'],
    ],
    [
      'exec: x\nrestart_delay: 5s\nrestart_max_delay: 1s\n',
      ['web.yaml:3:20: restart_max_delay: must be at least restart_delay (5s)'],
    ],
    [
      'exec: x\ntest_interval: 2d\n',
      [
        'web.yaml:2:16: test_interval: expected a duration (seconds, or a string like 100ms, 2s, 1.5m, 1h, 1m30s), got "2d"',
      ],
    ],
    [
      'exec: x\nshutdown_timeout: 48h\n',
      ['web.yaml:2:19: shutdown_timeout: expected a duration of at most 1 day, got "48h"'],
    ],
    [
      'exec: x\nshutdown_timeout: 100000\n',
      ['web.yaml:2:19: shutdown_timeout: expected a duration of at most 1 day, got 100000'],
    ],
    [
      'exec: x\ntest_timeout: 0\n',
      ['web.yaml:2:15: test_timeout: expected a duration of more than 0, got 0'],
    ],
    [
      'exec: x\ntest_interval: 0ms\n',
      ['web.yaml:2:16: test_interval: expected a duration of more than 0, got "0ms"'],
    ],
    [
      'exec: x\nrestart_delay: 0\n',
      ['web.yaml:2:16: restart_delay: expected a duration of more than 0, got 0'],
    ],
    [
      'exec: x\nstable_after: 0s\n',
      ['web.yaml:2:15: stable_after: expected a duration of more than 0, got "0s"'],
    ],
    [
      'exec: x\nrestart_delay: 1s1s\nstable_after: 30m1h\n',
      [
        'web.yaml:2:16: restart_delay: expected a duration (seconds, or a string like 100ms, 2s, 1.5m, 1h, 1m30s), got "1s1s"',
        'web.yaml:3:15: stable_after: expected a duration (seconds, or a string like 100ms, 2s, 1.5m, 1h, 1m30s), got "30m1h"',
      ],
    ],
    [
      'exec: x\nlog: {file: a.log, max_size: lots}\n',
      [
        'web.yaml:2:30: log.max_size: expected a size (bytes, or a string like 10MiB, 512KiB, 1MB, 100k), got "lots"',
      ],
    ],
    [
      'exec: x\nenv:\n  PORT: [80]\n  "A=B": 1\n',
      [
        'web.yaml:3:9: env.PORT: must be a string, number or boolean, got a list',
        "web.yaml:4:3: env: invalid key 'A=B': environment variable names must not be empty or contain '='",
      ],
    ],
    ['exec: x\nexec: y\n', ["web.yaml:2:1: duplicate key 'exec' (first at line 1)"]],
    [
      'exec: x\nsignal:\n  stop: TERM\n  stop: INT\n',
      ["web.yaml:4:3: signal: duplicate key 'stop' (first at line 3)"],
    ],
    ['', ['web.yaml: empty service file: expected a mapping with at least exec']],
    ['# nothing\n', ['web.yaml: empty service file: expected a mapping with at least exec']],
    [
      '- exec: x\n',
      ['web.yaml:1:1: the top level must be a mapping of keys to values, got a list'],
    ],
    ['exec: x\n---\nexec: y\n', ['web.yaml:3:1: expected one YAML document, found several']],
    [
      'exec: x\noneshot: yes\ndir: 5\n',
      [
        'web.yaml:2:10: oneshot: must be true or false, got "yes"',
        'web.yaml:3:6: dir: must be a string, got 5',
      ],
    ],
  ];
  for (const [text, expected] of cases) t.same(problems(text), expected, JSON.stringify(text));
});

t.test('several problems in one file come together, in file order', async (t) => {
  t.same(
    problems(`exce: sleep 1
signal:
  stop: nope
after: [web, "../etc", db, db]
log: {file: x.log, keep: -1}
restart_delay: fast
`),
    [
      "web.yaml:1:1: unknown key 'exce' (did you mean 'exec'?)",
      "web.yaml:1:1: missing required key 'exec'",
      "web.yaml:3:9: signal.stop: unknown signal 'nope'; signal names are like TERM, SIGTERM or term",
      "web.yaml:4:9: after[0]: 'web' cannot come after itself",
      "web.yaml:4:14: after[1]: invalid service name \"../etc\": names use letters, digits, '_', '@' and '-' (not first), at most 128 characters",
      "web.yaml:4:28: after[3]: 'db' is listed twice (first as after[2])",
      'web.yaml:5:26: log.keep: must be at least 0, got -1',
      'web.yaml:6:16: restart_delay: expected a duration (seconds, or a string like 100ms, 2s, 1.5m, 1h, 1m30s), got "fast"',
    ],
  );
});

t.test('YAML syntax errors carry their position', async (t) => {
  t.same(problems('exec: x\n  dir: /\n'), [
    'web.yaml:2:6: invalid YAML: bad indentation of a mapping entry',
  ]);
  t.same(problems('exec: [a, b\n'), ['web.yaml:2:1: invalid YAML: deficient indentation']);
  // Lines are counted at LF, as everywhere else: a lone CR does not start one.
  t.same(problems('a\rb: [\n'), [
    'web.yaml:1:4: invalid YAML: end of the stream or a document separator is expected',
  ]);
  t.same(problems('exec: x\r\ndir: [\n'), ['web.yaml:3:1: invalid YAML: deficient indentation']);
});

t.test('the name is checked too', async (t) => {
  t.same(problems('exec: x\n', 'bad name'), [
    "web.yaml: invalid service name \"bad name\": names use letters, digits, '_', '@' and '-' (not first), at most 128 characters",
  ]);
});

t.test('env values reach the process as written, not as YAML reads them', async (t) => {
  const d = def(`exec: x
env:
  V1: 1.10
  V2: 0777
  V10: 007
  V6: 0x1F
  V4: 12345678901234567890
  E: 1e3
  T: TRUE
  PORT: 8080
  Q: "0777"
  A: &a 01.50
  B: *a
`);
  t.same(d.env, {
    V1: '1.10',
    V2: '0777',
    V10: '007',
    V6: '0x1F',
    V4: '12345678901234567890',
    E: '1e3',
    T: 'TRUE',
    PORT: '8080',
    Q: '0777',
    A: '01.50',
    B: '01.50',
  });
  t.same(
    def('exec: x\nenv: {V: 1.10, W: 2.50}\n', 'w').env,
    { V: '1.10', W: '2.50' },
    'flow style',
  );
});

t.test('an env key YAML does not read as a string is refused, not renamed', async (t) => {
  t.same(problems('exec: x\nenv:\n  ~: a\n  1: b\n  true: c\n  "2": ok\n  !!str 3: ok\n'), [
    "web.yaml:3:3: env: invalid key '~': YAML reads it as null; quote it to use it as a name",
    "web.yaml:4:3: env: invalid key '1': YAML reads it as a number; quote it to use it as a name",
    "web.yaml:5:3: env: invalid key 'true': YAML reads it as true or false; quote it to use it as a name",
  ]);
  t.same(def('exec: x\nenv: {"~": a, "null": b}\n').env, { '~': 'a', null: 'b' }, 'quoted');
});

t.test('objects sent over RPC', async (t) => {
  const ok = parseServiceObject('api', '<rpc>', { exec: 'node server.js', env: { N: 1 } });
  t.ok(ok.ok);
  if (ok.ok)
    t.same([ok.def.exec, ok.def.env, ok.def.file], [['node', 'server.js'], { N: '1' }, '<rpc>']);
  const bad = parseServiceObject('api', '<rpc>', {
    exec: 'x',
    signal: { stop: 'nope' },
    after: ['api'],
  });
  t.same(bad.ok ? [] : bad.problems.map(formatProblem), [
    "<rpc>: /after/0: 'api' cannot come after itself",
    "<rpc>: /signal/stop: unknown signal 'nope'; signal names are like TERM, SIGTERM or term",
  ]);
  const notMap = parseServiceObject('api', '<rpc>', 'exec: x');
  t.same(notMap.ok ? [] : notMap.problems.map(formatProblem), [
    '<rpc>: the top level must be a mapping of keys to values, got "exec: x"',
  ]);
});
