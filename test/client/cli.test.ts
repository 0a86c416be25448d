// The real `sminit` command against the real daemon: what people read (tables,
// status, errors), exit codes, and the verbs that change state.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { parseArgs } from '../../lib/client/args.js';
import { formatLogLine } from '../../lib/client/format.js';
import type { ServiceStatus } from '../../lib/api/wire.js';
import { runCli, startDaemon, tempDir } from '../helpers/daemon.js';
import { waitFor } from '../helpers/wait.js';

const usr1 =
  'exec: >-\n' +
  '  sh -c \'trap "echo got-usr1" USR1; echo ready; while :; do sleep 1 & wait; done\'\n';

const d = await startDaemon(t, {
  db: 'exec: sleep 1000\n',
  web: 'exec: sleep 1000\nafter:\n  - db\n',
  talk: "exec: sh -c 'echo one; echo two; echo three; exec sleep 1000'\n",
  trap: usr1,
});
for (const n of ['db', 'web', 'talk', 'trap'])
  await d.waitStatus(n, (s) => s.status === 'running', 'running');

t.test('list prints a table with a row per service', async (t) => {
  const r = await d.cli('list');
  t.equal(r.code, 0);
  t.equal(r.stderr, '');
  const lines = r.stdout.trimEnd().split('\n');
  t.same(lines[0]?.split(/ {2,}/), [
    'NAME',
    'STATE',
    'READY',
    'PID',
    'UPTIME',
    'RESTARTS',
    'REASON',
  ]);
  t.equal(lines.length, 5, 'a header and four rows');
  const rows = lines.slice(1).map((l) => l.split(/ {2,}/));
  t.same(
    rows.map((r) => r[0]),
    ['db', 'talk', 'trap', 'web'],
    'sorted by name',
  );
  const web = await d.status('web');
  const row = rows.find((r) => r[0] === 'web');
  t.same(row?.slice(0, 4), ['web', 'running', 'ready', String(web.pid)]);
  t.match(row?.[4], /^\d+[smhd]/, 'an uptime');
  t.equal(row?.[5], '0');
  t.equal(row?.[6], 'up');
  // Columns line up: each header starts where its values do.
  const at = (l: string, i: number): number => {
    const m = [...l.matchAll(/\S+/g)];
    return m[i]?.index ?? -1;
  };
  for (const l of lines.slice(1)) t.equal(at(l, 3), at(lines[0] as string, 3), 'PID aligned');
});

t.test('list --json is the status array', async (t) => {
  const r = await d.cli('list', '--json');
  t.equal(r.code, 0);
  const all = JSON.parse(r.stdout) as ServiceStatus[];
  t.ok(Array.isArray(all));
  t.same(
    all.map((s) => s.name),
    ['db', 'talk', 'trap', 'web'],
  );
  t.match(all[3], { name: 'web', state: 'Running', status: 'running', after: { db: 'Running' } });
});

t.test('status NAME in human form', async (t) => {
  const r = await d.cli('status', 'web');
  t.equal(r.code, 0);
  t.equal(r.stderr, '');
  const web = await d.status('web');
  t.match(r.stdout, /^name: {6}web$/m);
  t.match(r.stdout, /^state: {5}running \(up\)$/m);
  t.match(r.stdout, new RegExp(`^pid: {7}${web.pid}$`, 'm'));
  t.match(r.stdout, /^after: {5}db \(running\)$/m);
  t.match(r.stdout, /^target: {4}Up$/m);
  t.match(r.stdout, /^file: {6}.*web\.yaml$/m);
  const db = await d.cli('status', 'db');
  t.match(db.stdout, /^after: {5}-$/m, 'no dependencies: a dash');
  const talk = await d.cli('status', 'talk');
  t.match(talk.stdout, /^recent log:\n(?: {2}.*\n)*.* \+ three$/m, 'recent log lines');
});

t.test('status --json', async (t) => {
  const r = await d.cli('status', 'web', '--json');
  t.equal(r.code, 0);
  t.match(JSON.parse(r.stdout), { name: 'web', target: 'Up', dependencies: { db: 'running' } });
});

t.test('status of an untracked service', async (t) => {
  const r = await d.cli('status', 'nosuch');
  t.equal(r.code, 1);
  t.equal(r.stdout, '');
  t.equal(r.stderr, "sminit: service 'nosuch' is not tracked\n");
});

t.test('an invalid name is refused', async (t) => {
  const r = await d.cli('status', '../etc/passwd');
  t.equal(r.code, 1);
  t.match(r.stderr, /^sminit: invalid service name "\.\.\/etc\/passwd"/);
});

t.test('no daemon on the socket', async (t) => {
  const dir = tempDir(t);
  const sock = join(dir, 'none.sock');
  for (const args of [
    ['-s', sock, 'list'],
    [`--socket=${sock}`, 'status', 'web'],
  ]) {
    const r = await runCli(args);
    t.equal(r.code, 1, args.join(' '));
    t.equal(r.stdout, '');
    t.equal(r.stderr, `sminit: cannot connect to ${sock}: is sminitd running?\n`);
  }
  const r = await runCli(['list'], { ...process.env, SMINIT_SOCKET: sock });
  t.equal(r.code, 1);
  t.equal(r.stderr, `sminit: cannot connect to ${sock}: is sminitd running?\n`, 'SMINIT_SOCKET');
});

t.test('stop and start', async (t) => {
  const before = await d.status('db');
  const stop = await d.cli('stop', 'db');
  t.equal(stop.code, 0);
  t.equal(stop.stdout + stop.stderr, '');
  const stopped = await d.status('db');
  t.equal(stopped.status, 'stopped', 'stop answers once stopped');
  t.equal(stopped.target, 'Down');
  t.equal(stopped.pid, 0);
  t.match(
    (await d.cli('status', 'db')).stdout,
    /^state: {5}stopped \(stopped \(killed by SIGTERM\)\)$/m,
  );
  const start = await d.cli('start', 'db');
  t.equal(start.code, 0);
  const up = await d.waitStatus('db', (s) => s.status === 'running', 'running');
  t.not(up.pid, before.pid, 'a new process');
  t.equal(up.target, 'Up');
});

t.test('restart: 0 once up; 1, saying why, when it is not up within --timeout', async (t) => {
  const own = await startDaemon(t, {
    fine: 'exec: sleep 1000\n',
    sick: "exec: sleep 1000\ntest: 'false'\ntest_interval: 50ms\n",
  });
  await own.waitStatus('fine', (s) => s.status === 'running', 'running');
  const ok = await own.cli('restart', 'fine');
  t.equal(ok.code, 0, ok.stderr);
  const sick = await own.cli('restart', 'sick', '--timeout', '300ms');
  t.equal(sick.code, 1, 'a service whose health test fails is not up');
  t.match(
    sick.stderr,
    /^sminit: service 'sick' not up within 300ms: starting \(health test failing \(\d+x\): exited with code 1\)\n$/,
  );
  t.match(parseArgs(['restart', 'x', '--timeout', '2m']), { verb: 'restart', timeoutMs: 120_000 });
  t.throws(
    () => parseArgs(['restart', 'x', '--timeout', '0']),
    /--timeout 0: expected a duration of more than 0/,
  );
});

t.test('stop of an untracked service', async (t) => {
  const r = await d.cli('stop', 'nosuch');
  t.equal(r.code, 1);
  t.equal(r.stderr, "sminit: service 'nosuch' is not tracked\n");
});

t.test('kill NAME SIGUSR1 reaches a service that traps it', async (t) => {
  const logged = async (text: string): Promise<boolean> =>
    (await d.client.readLogs({ names: ['trap'] })).lines.some(
      (l) => l.stream === 'stdout' && l.text === text,
    );
  await waitFor('trap to be ready', () => logged('ready'));
  const r = await d.cli('kill', 'trap', 'SIGUSR1');
  t.equal(r.code, 0);
  t.equal(r.stderr, '');
  await waitFor('got-usr1 in the log', () => logged('got-usr1'));
  const log = await d.cli('log', '-s', 'trap');
  t.equal(log.code, 0);
  t.match(log.stdout, / \+ trap: got-usr1\n/, 'the line appears in log -s');
  t.equal((await d.status('trap')).status, 'running', 'still running');
  const bad = await d.cli('kill', 'trap', 'SIGNOPE');
  t.equal(bad.code, 1);
  t.equal(bad.stderr, "sminit: invalid signal 'SIGNOPE'\n");
});

t.test('log -s -n 2 prints exactly the last two lines', async (t) => {
  await waitFor('talk to print three', async () => {
    const { lines } = await d.client.readLogs({ names: ['talk'] });
    return lines.some((l) => l.text === 'three');
  });
  const r = await d.cli('log', '-s', '-n', '2', 'talk');
  t.equal(r.code, 0);
  const { lines } = await d.client.readLogs({ names: ['talk'], n: 2 });
  t.equal(lines.length, 2);
  t.equal(r.stdout, lines.map((l) => formatLogLine(l) + '\n').join(''));
  t.equal(r.stdout.split('\n').length, 3, 'two lines');
  const all = await d.cli('log', '-s', 'talk');
  t.match(all.stdout, /\+ talk: one\n(?:.*\n)*.*\+ talk: two\n.*\+ talk: three\n/);
  const json = await d.cli('log', '-s', '-n', '1', '--json', 'talk');
  t.same(JSON.parse(json.stdout), lines[1], '--json prints the line as sent');
});

t.test('check DIR', async (t) => {
  t.test('a good directory', async (t) => {
    const dir = tempDir(t);
    writeFileSync(join(dir, 'a.yaml'), 'exec: sleep 1\n');
    writeFileSync(join(dir, 'b.yaml'), 'exec: sleep 1\nafter: [a]\n');
    const r = await runCli(['check', dir]);
    t.equal(r.code, 0);
    t.equal(r.stderr, '');
    t.match(r.stdout, /no problems/);
    t.equal(r.stdout, `${dir}: 2 services, no problems\n`);
  });
  t.test('a bad file and a cycle', async (t) => {
    const dir = join(tempDir(t), 'etc');
    mkdirSync(dir);
    writeFileSync(join(dir, 'a.yaml'), 'exec: sleep 1\nafter: [b]\n');
    writeFileSync(join(dir, 'b.yaml'), 'exec: sleep 1\nafter:\n  - a\n');
    writeFileSync(join(dir, 'bad.yaml'), '# a typo\nexec: sleep 1\nexce: sleep 2\n');
    const r = await runCli(['check', dir]);
    t.equal(r.code, 1);
    t.equal(r.stdout, '');
    t.match(r.stderr, `${join(dir, 'bad.yaml')}:3:1: unknown key 'exce' (did you mean 'exec'?)`);
    t.match(r.stderr, 'dependency cycle a -> b -> a');
    t.matchSnapshot(r.stderr.split(dir).join('<DIR>'), 'check output');
  });
  t.test('two services writing one log file', async (t) => {
    const dir = tempDir(t);
    writeFileSync(join(dir, 'a.yaml'), `exec: sleep 1\nlog: {file: ${dir}/x.log}\n`);
    writeFileSync(join(dir, 'b.yaml'), `exec: sleep 1\ndir: ${dir}\nlog: {file: x.log}\n`);
    const r = await runCli(['check', dir]);
    t.equal(r.code, 1);
    const a = join(dir, 'a.yaml');
    const b = join(dir, 'b.yaml');
    t.equal(
      r.stderr,
      `${a}: its log file ${dir}/x.log is also written by ${b}; a log file belongs to one service, so neither is loaded\n` +
        `${b}: its log file ${dir}/x.log is also written by ${a}; a log file belongs to one service, so neither is loaded\n` +
        `2 problem(s) in ${dir}\n`,
    );
  });
  t.test('check --json', async (t) => {
    const dir = tempDir(t);
    writeFileSync(join(dir, 'a.yaml'), 'exec: sleep 1\n');
    const good = await runCli(['check', dir, '--json']);
    t.equal(good.code, 0);
    t.equal(good.stderr, '');
    t.same(JSON.parse(good.stdout), {
      ok: true,
      path: dir,
      kind: 'directory',
      services: ['a'],
      problems: [],
    });
    writeFileSync(join(dir, 'b.yaml'), 'exec: sleep 1\nexce: x\nafter: [nosuch]\n');
    const bad = await runCli(['check', '--json', dir]);
    t.equal(bad.code, 1);
    t.equal(bad.stderr, '');
    t.same(JSON.parse(bad.stdout), {
      ok: false,
      path: dir,
      kind: 'directory',
      services: ['a'],
      problems: [
        {
          file: join(dir, 'b.yaml'),
          line: 2,
          column: 1,
          message: "unknown key 'exce' (did you mean 'exec'?)",
        },
      ],
    });
  });
  t.test('check FILE checks that file alone', async (t) => {
    const dir = tempDir(t);
    const good = join(dir, 'web.yaml');
    writeFileSync(good, 'exec: sleep 1\nafter: [db]\n');
    const r = await runCli(['check', good]);
    t.equal(r.code, 0);
    t.equal(r.stdout, `${good}: service 'web', no problems\n`);
    const bad = join(dir, 'bad.yml');
    writeFileSync(bad, 'exec: sleep 1\nsignal: {stop: TREM}\n');
    const b = await runCli(['check', bad]);
    t.equal(b.code, 1);
    t.equal(
      b.stderr,
      `${bad}:2:16: signal.stop: unknown signal 'TREM'; signal names are like TERM, SIGTERM or term\n1 problem(s) in ${bad}\n`,
    );
    const gone = join(dir, 'gone.yaml');
    const g = await runCli(['check', gone, '--json']);
    t.equal(g.code, 1);
    t.match(JSON.parse(g.stdout), {
      ok: false,
      kind: 'file',
      problems: [{ file: gone, message: 'cannot read: no such file or directory (ENOENT)' }],
    });
  });
  t.test('check needs no daemon and ignores the socket', async (t) => {
    const dir = tempDir(t);
    const r = await runCli(['-s', join(dir, 'none.sock'), 'check', dir]);
    t.equal(r.code, 0);
    t.equal(r.stdout, `${dir}: 0 services, no problems\n`);
  });
});

t.test('usage', async (t) => {
  // Every usage error is one line, as every other error.
  const unknown = await d.cli('frobnicate');
  t.equal(unknown.code, 2);
  t.equal(unknown.stdout, '');
  t.equal(unknown.stderr, "sminit: unknown command 'frobnicate'\n");
  const arity = await d.cli('status');
  t.equal(arity.code, 2);
  t.equal(arity.stderr, 'sminit: usage: sminit status <name|pattern>... | --all\n');
  const extra = await d.cli('kill', 'web', 'SIGHUP', 'more');
  t.equal(extra.code, 2);
  t.equal(
    extra.stderr,
    'sminit: usage: sminit kill <name|pattern>... [signal] | --all [signal]\n',
    'a signal among the names',
  );
  const option = await d.cli('list', '--frob');
  t.equal(option.code, 2);
  t.equal(option.stderr, "sminit: unknown option '--frob'\n");
  const since = await d.cli('log', '--since', '25:99');
  t.equal(since.code, 2);
  t.equal(since.stderr.split('\n').length, 2, 'one line');
  const help = await runCli(['--help']);
  t.equal(help.code, 0);
  t.equal(help.stderr, '');
  t.match(help.stdout, /Commands:/);
  for (const verb of ['list', 'status', 'start', 'stop', 'kill', 'log', 'check'])
    t.match(help.stdout, `sminit ${verb}`);
  const none = await runCli([]);
  t.equal(none.code, 2, 'no command: the usage on stderr, exit 2');
  t.equal(none.stdout, '');
  t.match(none.stderr, /Commands:/);
});

t.test('delete and add', async (t) => {
  const del = await d.cli('delete', 'talk');
  t.equal(del.code, 0);
  t.notOk(Object.hasOwn(await d.client.list(), 'talk'), 'untracked');
  const again = await d.cli('forget', 'talk');
  t.equal(again.code, 1);
  t.equal(again.stderr, "sminit: service 'talk' is not tracked\n");
  const add = await d.cli('add', 'talk');
  t.equal(add.code, 0);
  await d.waitStatus('talk', (s) => s.status === 'running', 'running');
  const dup = await d.cli('monitor', 'talk');
  t.equal(dup.code, 1);
  t.equal(dup.stderr, "sminit: service 'talk' is already tracked\n");
});

t.test('at the connection limit, the daemon says why, and the CLI prints it', async (t) => {
  // The harness's own client holds the one connection allowed.
  const full = await startDaemon(t, {}, ['--max-connections', '1']);
  for (let i = 0; i < 5; i++) {
    const r = await full.cli('list');
    t.same(
      [r.code, r.stdout, r.stderr],
      [1, '', 'sminit: too many connections (at most 1); try again later\n'],
      `try ${i + 1}`,
    );
  }
});

t.test('shutdown returns once sminitd has stopped everything; --no-wait at once', async (t) => {
  // Takes two seconds to stop after SIGTERM.
  const slow = `exec: sh -c 'trap "sleep 2; exit 0" TERM; while :; do sleep 1 & wait; done'\n`;
  const alive = (pid: number): boolean => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  const waits = await startDaemon(t, { slow });
  const { pid } = await waits.waitStatus('slow', (s) => s.status === 'running', 'running');
  const t0 = Date.now();
  const r = await waits.cli('shutdown');
  t.same([r.code, r.stdout, r.stderr], [0, '', '']);
  t.ok(Date.now() - t0 >= 1900, `waited for the stop (${Date.now() - t0} ms)`);
  t.notOk(alive(pid), 'the service is gone when shutdown returns');
  t.equal(await waits.exited, 0);

  const quick = await startDaemon(t, { slow });
  const up = await quick.waitStatus('slow', (s) => s.status === 'running', 'running');
  const q = await quick.cli('shutdown', '--no-wait');
  t.same([q.code, q.stderr], [0, '']);
  t.ok(alive(up.pid), 'with --no-wait, it returns while the service is still stopping');
  t.equal(await quick.exited, 0);
  t.throws(() => parseArgs(['list', '--no-wait'], {}), /unknown option '--no-wait'/);
});

t.test('services whose files did not load are shown as not loaded, with why', async (t) => {
  const own = await startDaemon(t, {
    fine: 'exec: sleep 1000\n',
    bad: 'exce: sleep 1000\n',
    loop1: 'exec: sleep 1000\nafter: [loop2]\n',
    loop2: 'exec: sleep 1000\nafter: [loop1]\n',
  });
  await own.waitStatus('fine', (s) => s.status === 'running', 'running');
  const list = await own.cli('list');
  t.equal(list.code, 0);
  const rows = list.stdout
    .trimEnd()
    .split('\n')
    .slice(1)
    .map((l) => l.split(/ {2,}/));
  t.same(
    rows.map((r) => [r[0], r[1]]),
    [
      ['fine', 'running'],
      ['bad', 'not loaded'],
      ['loop1', 'not loaded'],
      ['loop2', 'not loaded'],
    ],
  );
  t.match(rows[1]?.[5], /bad\.yaml:1:1: unknown key 'exce' \(did you mean 'exec'\?\)/);
  t.match(rows[2]?.[5], /loop1\.yaml: on a dependency cycle loop1 -> loop2 -> loop1/);
  const status = await own.cli('status', 'bad');
  t.equal(status.code, 1);
  t.match(
    status.stderr,
    /^sminit: service 'bad' is not loaded: .*bad\.yaml:1:1: unknown key 'exce'/,
  );
  const zinit = await own.client.list();
  t.same(Object.keys(zinit), ['fine'], "zinit's service_list has only what is tracked");
});
