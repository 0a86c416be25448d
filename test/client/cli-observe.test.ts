// The CLI's views of a real daemon: `graph` in each format (DOT rendered by
// Graphviz's dot), `why` naming the root cause at the end of a chain and the
// critical chain of a start, `list` in colour on a real terminal (util-linux
// `script` gives it one) and plain when piped or with NO_COLOR, and
// `--version` of both commands.

import t from 'tap';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Graph, Why } from '../../lib/api/wire.js';
import { SMINIT, SMINITD, runCli, startDaemon, tempDir } from '../helpers/daemon.js';
import { waitFor } from '../helpers/wait.js';
import pkg from '../../package.json' with { type: 'json' };

t.test('graph: DOT that dot renders, Mermaid, JSON', async (t) => {
  const d = await startDaemon(t, {
    setup: "exec: sh -c 'exit 0'\noneshot: true\n",
    db: 'exec: sleep 1000\ntest: "true"\n',
    web: 'exec: sleep 1000\nafter: [setup, db, cache]\n',
  });
  await d.waitStatus('db', (s) => s.status === 'running', 'running');
  const dot = await d.cli('graph', '--format', 'dot');
  t.equal(dot.code, 0, dot.stderr);
  t.match(dot.stdout, /^digraph sminit \{/);
  t.match(dot.stdout, /"web" -> "db" \[label="ready"\];/, 'a met condition: a plain edge');
  t.match(
    dot.stdout,
    /"web" -> "cache" \[label="tracked", style=dashed\];/,
    'an unmet one: dashed',
  );
  t.match(dot.stdout, /"cache" \[label="cache\\nuntracked"/, 'an untracked dependency is drawn');
  const svg = spawnSync('dot', ['-Tsvg'], { input: dot.stdout, encoding: 'utf8' });
  t.equal(svg.status, 0, svg.stderr);
  t.equal(svg.stderr, '', 'dot says nothing against it');
  t.match(svg.stdout, /<svg[\s\S]*>web<[\s\S]*<\/svg>/);
  t.equal((await d.cli('graph')).stdout, dot.stdout, 'DOT by default');
  const mermaid = await d.cli('graph', '--format', 'mermaid');
  t.match(mermaid.stdout, /^flowchart LR\n/);
  const json = JSON.parse((await d.cli('graph', '--format', 'json')).stdout) as Graph;
  t.same(
    json.edges.map((e) => [e.from, e.to, e.condition]),
    [
      ['web', 'setup', 'succeeded'],
      ['web', 'db', 'ready'],
      ['web', 'cache', 'tracked'],
    ],
  );
  t.match(
    json.nodes.find((n) => n.name === 'web'),
    { status: 'blocked', target: 'Up' },
  );
  const bad = await d.cli('graph', '--format', 'png');
  t.equal(bad.code, 2);
  t.equal(bad.stderr, "sminit: --format wants one of dot, mermaid, json, got 'png'\n");
});

t.test('why: down the chain to the root cause; the critical chain once up', async (t) => {
  const dir = tempDir(t);
  const flag = join(dir, 'db-ready');
  const d = await startDaemon(t, {
    db: `exec: sleep 1000\ntest: sh -c 'test -f ${flag} || { echo connection refused >&2; exit 1; }'\ntest_interval: 100ms\n`,
    api: 'exec: sleep 1000\nafter: [db]\n',
    web: 'exec: sleep 1000\nafter: [api]\n',
  });
  await d.waitStatus('db', (s) => s.reason.includes('(4x)'), 'failing 4 times');
  const why = await d.cli('why', 'web');
  t.equal(why.code, 0, why.stderr);
  t.match(
    why.stdout,
    /^web is blocked: waiting for api\n {2}web waits for api, which waits for db, whose health test has failed \d+ times: exited with code 1\n/,
  );
  t.match(why.stdout, /web has not come up since sminitd started/);
  writeFileSync(flag, '');
  await d.waitStatus('web', (s) => s.status === 'running', 'running');
  const w = JSON.parse((await d.cli('why', 'web', '--json')).stdout) as Why;
  t.same(
    w.critical?.map((l) => l.service),
    ['web', 'api', 'db'],
    'each waited for the next',
  );
  t.ok(
    (w.critical ?? []).every((l, i, all) => i === 0 || l.at_ms <= (all[i - 1]?.at_ms ?? 0)),
    'each came up before the one that waited for it',
  );
  const text = await d.cli('why', 'web');
  t.match(text.stdout, /^web is running: up\n\nThe critical chain of its last start/);
  t.match(text.stdout, /\nweb @\S+ \+\S+\n└─api @\S+ \+\S+\n {2}└─db @\S+ \+\S+\n$/);
  const none = await d.cli('why', 'nosuch');
  t.equal(none.code, 1);
  t.equal(none.stderr, "sminit: service 'nosuch' is not tracked\n");
});

t.test('list: colours on a terminal, plain when piped or with NO_COLOR', async (t) => {
  const d = await startDaemon(t, {
    up: 'exec: sleep 1000\n',
    bad: "exec: sh -c 'exit 1'\nrestart: never\n",
  });
  await d.waitStatus('bad', (s) => s.status === 'exited', 'exited');
  await waitFor('up running', async () => (await d.status('up')).status === 'running');
  const onTerminal = (env: NodeJS.ProcessEnv): string =>
    spawnSync(
      'script',
      ['-qec', `${process.execPath} ${SMINIT} -s ${d.socket} list`, '/dev/null'],
      {
        encoding: 'utf8',
        env: { ...env, TERM: 'xterm' },
      },
    ).stdout;
  const { NO_COLOR: _n, FORCE_COLOR: _f, ...env } = process.env;
  const tty = onTerminal(env);
  t.match(tty, /\x1b\[32mrunning\x1b\[0m/, 'running in green');
  t.match(tty, /\x1b\[31mexited\x1b\[0m/, 'exited in red');
  t.notMatch(onTerminal({ ...env, NO_COLOR: '1' }), /\x1b\[/, 'NO_COLOR: none');
  const piped = await runCli(['-s', d.socket, 'list'], env);
  t.notMatch(piped.stdout, /\x1b\[/, 'piped: none');
  t.match(piped.stdout, /^bad +exited +\S+ +- +- +0 +exited with code 1$/m);
});

t.test('--version: both commands, and sminit needs no daemon for it', async (t) => {
  const cli = await runCli(['--version']);
  t.same(cli, { code: 0, stdout: `${pkg.version}\n`, stderr: '' });
  const daemon = spawnSync(process.execPath, [SMINITD, '--version'], { encoding: 'utf8' });
  t.equal(daemon.status, 0);
  t.equal(daemon.stdout, `${pkg.version}\n`);
  const help = await runCli(['--help']);
  t.match(help.stdout, /--version/);
});
