// The pure core, without processes or sockets: JSON framing, the state
// machine's decisions and zinit renderings, log lines and the log ring, CLI
// argument parsing and formatting, parameter checking, and service names.

import t, { type Test } from 'tap';
import { type CliArgs, parseArgs } from '../lib/client/args.js';
import { formatList, formatStatus } from '../lib/client/format.js';
import { SminitError } from '../lib/core/errors.js';
import { Code, codeOf } from '../lib/api/errors.js';
import { type Frame, JsonSplitter } from '../lib/transport/framing.js';
import { nameError } from '../lib/core/names.js';
import { normaliseParams } from '../lib/api/params.js';
import {
  type ExitInfo,
  type ServiceState,
  backoff,
  reasonOf,
  shouldRestart,
  zinitState,
} from '../lib/core/state.js';
import type { LogLine, MethodName, ServiceStatus } from '../lib/api/wire.js';

// --- JsonSplitter -------------------------------------------------------------------

const frames = (s: JsonSplitter, ...chunks: (string | Buffer)[]): Frame[] =>
  chunks.flatMap((c) => s.push(typeof c === 'string' ? Buffer.from(c) : c));
const json = (text: string): Frame => ({ kind: 'json', text });

t.test('JsonSplitter', async (t) => {
  t.test('one value per line', async (t) => {
    t.same(frames(new JsonSplitter(), '{"a":1}\n{"b":2}\r\n  [3]\n'), [
      json('{"a":1}'),
      json('{"b":2}'),
      json('[3]'),
    ]);
  });
  t.test('values back to back with no delimiter', async (t) => {
    t.same(frames(new JsonSplitter(), '{"a":1}{"b":{"c":[]}}[1,[2]]{}'), [
      json('{"a":1}'),
      json('{"b":{"c":[]}}'),
      json('[1,[2]]'),
      json('{}'),
    ]);
  });
  t.test('strings holding braces, brackets, quotes and backslashes', async (t) => {
    const tricky = [
      '{"a":"}"}',
      '{"a":"{{{[["}',
      '{"a":"\\"}"}',
      '{"a":"\\\\"}',
      '{"a":"\\\\\\"}"}',
      '["]",{"b":"\\u007d"}]',
    ];
    const got = frames(new JsonSplitter(), tricky.join(''));
    t.same(got, tricky.map(json));
    for (const f of got) {
      const text = f.kind === 'json' ? f.text : '';
      t.doesNotThrow(() => JSON.parse(text), text);
    }
  });
  t.test('split across chunks at every byte', async (t) => {
    const text = '{"id":1,"s":"a}\\"b{"}\n[{"x":"]"}]{"é":"ü"}\nhello}\n{"z":[]}';
    const bytes = Buffer.from(text);
    const whole = frames(new JsonSplitter(), bytes);
    t.equal(whole.length, 5);
    let same = 0;
    for (let k = 0; k <= bytes.length; k++) {
      const got = frames(new JsonSplitter(), bytes.subarray(0, k), bytes.subarray(k));
      if (JSON.stringify(got) === JSON.stringify(whole)) same++;
      else t.same(got, whole, `split at ${k}`);
    }
    t.equal(same, bytes.length + 1, 'every two-way split gives the same frames');
    const s = new JsonSplitter();
    const oneByOne = [...bytes].flatMap((b) => s.push(Buffer.from([b])));
    t.same(oneByOne, whole, 'a byte at a time');
    t.equal(s.pending, 0, 'nothing left over');
    t.same(whole[2], json('{"é":"ü"}'), 'multi-byte characters split across chunks survive');
  });
  t.test('garbage lines', async (t) => {
    t.same(frames(new JsonSplitter(), 'hello}\n{"a":1}\n  junk {"b":2}\n[]'), [
      { kind: 'garbage', text: 'hello}' },
      json('{"a":1}'),
      { kind: 'garbage', text: 'junk {"b":2}' },
      json('[]'),
    ]);
    const s = new JsonSplitter();
    t.same(frames(s, 'abc'), [], 'garbage waits for its newline');
    t.same(frames(s, 'def\n{}'), [{ kind: 'garbage', text: 'abcdef' }, json('{}')]);
  });
  t.test('an unfinished value is held', async (t) => {
    const s = new JsonSplitter();
    t.same(frames(s, '{"a":'), []);
    t.equal(s.pending, 5);
    t.same(frames(s, '1}'), [json('{"a":1}')]);
    t.equal(s.pending, 0);
  });
  t.test('the size limit', async (t) => {
    const s = new JsonSplitter(32);
    t.same(frames(s, '{"a":"' + 'x'.repeat(20) + '"}'), [json('{"a":"' + 'x'.repeat(20) + '"}')]);
    t.throws(() => s.push(Buffer.from('{"a":"' + 'x'.repeat(40))), RangeError);
    const g = new JsonSplitter(16);
    t.throws(() => frames(g, 'garbage that never ends'), RangeError, 'garbage counts too');
    const slow = new JsonSplitter(16);
    t.same(frames(slow, '{"a":"12345'), []);
    t.throws(() => slow.push(Buffer.from('678901234567')), /larger than 16 bytes/);
  });
});

// --- state ---------------------------------------------------------------------------

const exit = (over: Partial<ExitInfo> = {}): ExitInfo => ({
  pid: 12,
  code: 1,
  signal: null,
  at: 1000,
  ...over,
});

t.test('backoff', async (t) => {
  const def = { restartDelayMs: 100, restartMaxDelayMs: 1000, stableAfterMs: 10_000 };
  const delays: number[] = [];
  let attempt = 0;
  for (let i = 0; i < 7; i++) {
    const b = backoff(def, attempt, 50);
    delays.push(b.delayMs);
    t.equal(b.nextAttempt, attempt + 1);
    attempt = b.nextAttempt;
  }
  t.same(delays, [100, 200, 400, 800, 1000, 1000, 1000], 'doubles up to the maximum');
  t.same(backoff(def, 6, 10_000), { delayMs: 0, nextAttempt: 0 }, 'a stable run resets');
  t.same(backoff(def, 6, 9_999), { delayMs: 1000, nextAttempt: 7 }, 'just short of stable');
  t.same(backoff(def, 0, 0), { delayMs: 100, nextAttempt: 1 }, 'after a reset, from the start');
  t.equal(backoff(def, 1e6, 0).delayMs, 1000, 'no overflow for huge attempt numbers');
  t.equal(
    backoff({ ...def, restartMaxDelayMs: Number.MAX_SAFE_INTEGER }, 1e6, 0).delayMs,
    100 * 2 ** 30,
    'the exponent is capped',
  );
});

t.test('shouldRestart', async (t) => {
  const fail = exit({ code: 3 });
  const ok = exit({ code: 0 });
  const killed = exit({ code: null, signal: 'SIGKILL' });
  t.same(
    [shouldRestart('always', ok), shouldRestart('always', fail), shouldRestart('always', killed)],
    [true, true, true],
  );
  t.same(
    [
      shouldRestart('on-failure', ok),
      shouldRestart('on-failure', fail),
      shouldRestart('on-failure', killed),
    ],
    [false, true, true],
    'on-failure: non-zero status or a signal',
  );
  t.same(
    [shouldRestart('never', ok), shouldRestart('never', fail), shouldRestart('never', killed)],
    [false, false, false],
  );
});

t.test('zinitState', async (t) => {
  const cases: [ServiceState, string][] = [
    [{ kind: 'exited', since: 0, lastExit: exit() }, 'Error(Exited(Pid(12), 1))'],
    [
      { kind: 'exited', since: 0, lastExit: exit({ code: null, signal: 'SIGTERM' }) },
      'Error(Signaled(Pid(12), SIGTERM, false))',
    ],
    [{ kind: 'blocked', since: 0, waitingFor: ['db'] }, 'Blocked'],
    [{ kind: 'success', since: 0, lastExit: exit({ code: 0 }) }, 'Success'],
    [{ kind: 'running', since: 0, pid: 5 }, 'Running'],
    [{ kind: 'stopping', since: 0, pid: 5, killAt: 10 }, 'Running'],
    [{ kind: 'starting', since: 0, pid: 5, testFailures: 0, lastTestError: null }, 'Spawned'],
    [{ kind: 'starting', since: 0, pid: 5, testFailures: 2, lastTestError: 'x' }, 'TestFailure'],
    [{ kind: 'stopped', since: 0, lastExit: null }, 'Unknown'],
    [{ kind: 'stopped', since: 0, lastExit: exit({ code: 0 }) }, 'Error(Exited(Pid(12), 0))'],
    [
      { kind: 'backoff', since: 0, retryAt: 5, lastExit: exit({ code: 2 }), error: null },
      'Error(Exited(Pid(12), 2))',
    ],
    [{ kind: 'backoff', since: 0, retryAt: 5, lastExit: null, error: 'ENOENT' }, 'Failure'],
    [{ kind: 'failed', since: 0, error: 'ENOENT', retryAt: null }, 'Failure'],
  ];
  for (const [state, want] of cases) t.equal(zinitState(state), want, `${state.kind} → ${want}`);
});

t.test('reasonOf', async (t) => {
  t.equal(reasonOf({ kind: 'running', since: 0, pid: 1 }, 0), 'up');
  t.equal(reasonOf({ kind: 'blocked', since: 0, waitingFor: ['a', 'b'] }, 0), 'waiting for a, b');
  t.equal(
    reasonOf({ kind: 'backoff', since: 0, retryAt: 1500, lastExit: exit(), error: null }, 1000),
    'exited with code 1; restarting in 500 ms',
  );
  t.equal(
    reasonOf({ kind: 'stopping', since: 0, pid: 1, killAt: 900 }, 1000),
    'stopping (SIGKILL in 0 ms)',
    'never negative',
  );
  t.equal(
    reasonOf({ kind: 'stopped', since: 0, lastExit: exit({ code: null, signal: 'SIGTERM' }) }, 0),
    'stopped (killed by SIGTERM)',
  );
  t.equal(
    reasonOf({ kind: 'failed', since: 0, error: 'no such file', retryAt: null }, 0),
    'no such file',
  );
});

// --- cli -------------------------------------------------------------------------------

const env = { SMINIT_SOCKET: '/env.sock' };
const args = (argv: string[]): CliArgs => {
  const r = parseArgs(argv, env);
  if (r === 'help') throw new Error('help');
  return r;
};

t.test('parseArgs', async (t) => {
  t.match(args(['-s', '/x.sock', 'list']), { verb: 'list', socket: '/x.sock', args: [] });
  t.match(args(['--socket', '/x.sock', 'list']), { socket: '/x.sock' });
  t.match(args(['--socket=/y.sock', 'status', 'web']), {
    verb: 'status',
    socket: '/y.sock',
    args: ['web'],
  });
  t.match(args(['list']), { socket: '/env.sock' }, 'SMINIT_SOCKET');
  t.match(parseArgs(['list'], {}), { socket: '/run/sminit.sock' }, 'the default socket');
  t.match(args(['log', '-s', 'web']), {
    verb: 'log',
    snapshot: true,
    socket: '/env.sock',
    args: ['web'],
  });
  t.match(args(['-s', '/x', 'log', '-s', '-n', '5', 'web', 'db']), {
    verb: 'log',
    socket: '/x',
    snapshot: true,
    lines: 5,
    args: ['web', 'db'],
  });
  t.match(args(['log', '--snapshot', '--lines', '0']), { snapshot: true, lines: 0, args: [] });
  t.match(args(['log']), { snapshot: false, lines: null });
  t.match(args(['list', '--json']), { json: true });
  t.match(args(['monitor', 'web']), { verb: 'add', args: ['web'] }, 'alias');
  t.match(args(['forget', 'web']), { verb: 'delete' }, 'alias');
  t.match(args(['kill', 'web', 'SIGHUP']), { args: ['web', 'SIGHUP'] });
  t.match(args(['check']), { verb: 'check', args: [] });
  t.match(args(['status', '--', '-x']), { args: ['-x'] }, 'after --, not an option');
  t.equal(parseArgs([], env), 'help');
  t.equal(parseArgs(['--help'], env), 'help');
  t.equal(parseArgs(['-h', 'list'], env), 'help');
  t.throws(() => parseArgs(['status'], env), { message: 'usage: sminit status <name>' });
  t.throws(() => parseArgs(['status', 'a', 'b'], env), { message: 'usage: sminit status <name>' });
  t.match(args(['kill', 'a']), { verb: 'kill', args: ['a'] }, 'the signal is optional');
  t.throws(() => parseArgs(['kill'], env), { message: 'usage: sminit kill <name> [signal]' });
  t.throws(() => parseArgs(['list', 'a'], env), { message: 'usage: sminit list' });
  t.throws(() => parseArgs(['check', 'a', 'b'], env), { message: 'usage: sminit check [dir]' });
  t.throws(() => parseArgs(['frob'], env), { message: "unknown command 'frob'" });
  t.throws(() => parseArgs(['list', '-x'], env), { message: "unknown option '-x'" });
  t.throws(() => parseArgs(['list', '-n', '2'], env), /unknown option '-n'/, '-n only for log');
  t.throws(() => parseArgs(['log', '-n', 'x'], env), /-n wants a number of lines, got 'x'/);
  t.throws(() => parseArgs(['log', '-n'], env), /-n needs a value/);
  t.throws(() => parseArgs(['-s'], env), /-s needs a value/);
});

const status: ServiceStatus = {
  name: 'web',
  pid: 4242,
  state: 'Running',
  target: 'Up',
  after: { db: 'Running', cache: 'Unknown' },
  status: 'running',
  reason: 'up',
  since: '2024-05-01T10:00:00.000Z',
  uptime_ms: 3_723_000,
  restarts: 2,
  oneshot: false,
  last_exit: { pid: 4100, code: null, signal: 'SIGKILL', at: '2024-05-01T09:59:59.000Z' },
  next_attempt: null,
  dependencies: { db: 'running', cache: 'untracked' },
  file: '/etc/sminit/web.yaml',
};

t.test('formatList', async (t) => {
  const rows: ServiceStatus[] = [
    { ...status, name: 'db', pid: 7, uptime_ms: 59_999, restarts: 0, after: {}, dependencies: {} },
    status,
    {
      ...status,
      name: 'worker-long-name',
      pid: 0,
      status: 'backoff',
      state: 'Error(Exited(Pid(9), 1))',
      reason: 'exited with code 1; restarting in 400 ms',
      uptime_ms: null,
      restarts: 17,
    },
    {
      ...status,
      name: 'old',
      pid: 1,
      uptime_ms: 3 * 86_400_000 + 5 * 3_600_000,
      restarts: 0,
    },
  ];
  const text = formatList(rows);
  t.same(text.split('\n')[0]?.split(/ {2,}/), [
    'NAME',
    'STATE',
    'PID',
    'UPTIME',
    'RESTARTS',
    'REASON',
  ]);
  t.notOk(/ \n| $/.test(text), 'no trailing spaces');
  t.matchSnapshot(text, 'list table');
  t.equal(formatList([]), 'no services tracked');
});

t.test('formatStatus', async (t) => {
  const recent: LogLine[] = [
    {
      seq: 1,
      time: '2024-05-01T10:00:00.123Z',
      service: 'web',
      stream: 'stdout',
      run: 3,
      text: 'listening',
    },
    {
      seq: 2,
      time: '2024-05-01T10:00:01.000Z',
      service: 'web',
      stream: 'stderr',
      run: 3,
      text: 'warn: x',
    },
  ];
  const text = formatStatus(status, recent);
  t.match(text, /^state: {5}running \(up\)$/m);
  t.match(text, /^after: {5}db \(running\), cache \(untracked\)$/m);
  t.matchSnapshot(text, 'status with everything');
  const bare = formatStatus({
    ...status,
    pid: 0,
    status: 'backoff',
    reason: 'exited with code 1; restarting in 400 ms',
    uptime_ms: null,
    last_exit: { pid: 4100, code: 1, signal: null, at: '2024-05-01T09:59:59.000Z' },
    next_attempt: '2024-05-01T10:00:00.400Z',
    after: {},
    dependencies: {},
  });
  t.matchSnapshot(bare, 'status backing off');
});

// --- rpc params -------------------------------------------------------------------------

function paramsError(t: Test, method: MethodName, raw: unknown, message: RegExp): void {
  const what = `${method} ${JSON.stringify(raw)}`;
  try {
    normaliseParams(method, raw);
    t.fail(`${what} should be refused`);
  } catch (err) {
    t.ok(err instanceof SminitError, `${what}: a coded error`);
    t.equal(codeOf(err as SminitError), Code.InvalidParams, `${what}: -32602`);
    t.match((err as Error).message, message, `${what}: ${message}`);
  }
}

t.test('normaliseParams', async (t) => {
  t.same(normaliseParams('service_status', ['web']), { name: 'web' }, 'positional');
  t.same(normaliseParams('service_status', { name: 'web' }), { name: 'web' }, 'named');
  t.same(normaliseParams('service_kill', ['web', 'HUP']), { name: 'web', signal: 'HUP' });
  t.same(normaliseParams('service_list', undefined), {}, 'no params');
  t.same(normaliseParams('service_list', null), {});
  t.same(normaliseParams('service_list', []), {});
  t.same(normaliseParams('service_list', {}), {});
  t.same(normaliseParams('stream_currentLogs', []), {}, 'optional, absent');
  t.same(normaliseParams('stream_currentLogs', [null]), {}, 'optional, null');
  t.same(normaliseParams('log_read', { names: ['a', 'b'], n: 0, from: 3 }), {
    names: ['a', 'b'],
    n: 0,
    from: 3,
  });
  t.same(normaliseParams('log_read', [['a'], 5]), { names: ['a'], n: 5 }, 'positional, partial');
  paramsError(t, 'service_status', undefined, /missing parameter 'name'/);
  paramsError(t, 'service_status', [], /missing parameter 'name'/);
  paramsError(t, 'service_status', { name: null }, /parameter 'name' must be a string/);
  paramsError(t, 'service_kill', ['web'], /missing parameter 'signal'/);
  paramsError(t, 'service_status', [42], /parameter 'name' must be a string/);
  paramsError(t, 'service_status', [['web']], /must be a string/);
  paramsError(t, 'log_read', { n: 1.5 }, /'n' must be a non-negative integer/);
  paramsError(t, 'log_read', { n: -1 }, /non-negative integer/);
  paramsError(t, 'log_read', { n: '5' }, /non-negative integer/);
  paramsError(t, 'log_read', { names: 'web' }, /an array of strings/);
  paramsError(t, 'log_read', { names: [1] }, /an array of strings/);
  paramsError(t, 'log_read', { names: ['ok', '../x'] }, /invalid service name/);
  paramsError(t, 'stream_unsubscribeLogs', ['1'], /'id' must be an integer/);
  paramsError(t, 'service_status', { name: 'web', extra: 1 }, /unknown parameter 'extra'/);
  paramsError(t, 'service_status', ['web', 'db'], /at most 1 parameters, got 2/);
  paramsError(t, 'service_list', ['x'], /at most 0 parameters, got 1/);
  paramsError(t, 'service_status', 'web', /must be an array or an object/);
  paramsError(t, 'service_status', ['../x'], /invalid service name "..\/x"/);
  paramsError(t, 'stream_subscribeLogs', { filter: 'a/b' }, /invalid service name/);
  paramsError(t, 'service_status', [''], /service name is empty/);
});

// --- names ---------------------------------------------------------------------------------

t.test('nameError', async (t) => {
  for (const ok of ['web', 'a', '0', '_x', '@host', 'a-b', 'a_b@c-1', 'x'.repeat(128)])
    t.equal(nameError(ok), null, `${ok.slice(0, 20)} is valid`);
  for (const bad of ['-a', 'a.b', 'a/b', '../x', 'a\\b', 'a b', 'é', 'a\0', 'x'.repeat(129)])
    t.match(nameError(bad), /^invalid service name ".*": names use letters/, JSON.stringify(bad));
  t.equal(nameError(''), 'service name is empty');
  t.equal(nameError(42), 'service name must be a string');
  t.equal(nameError(null), 'service name must be a string');
  t.equal(
    nameError('.'.repeat(50)),
    `invalid service name "${'.'.repeat(40)}…": names use letters, digits, '_', '@' and '-' (not first), at most 128 characters`,
    'a long name is shortened in the message',
  );
});
