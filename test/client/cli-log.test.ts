// `sminit log` as people and tools use it: snapshots, follows, filters,
// JSON lines and colours, through the real CLI against a real daemon.

import t from 'tap';
import { spawn } from 'node:child_process';
import { parseArgs } from '../../lib/client/args.js';
import { formatLogLine, useColour } from '../../lib/client/format.js';
import type { LogLine } from '../../lib/api/wire.js';
import { SMINIT, startDaemon } from '../helpers/daemon.js';
import { waitFor } from '../helpers/wait.js';

const line: LogLine = {
  seq: 7,
  time: '2025-01-31T10:00:00.123Z',
  service: 'web',
  stream: 'stderr',
  run: 2,
  text: 'boom',
};

t.test('what a log line looks like', async (t) => {
  t.equal(formatLogLine(line), '2025-01-31T10:00:00.123Z - web: boom');
  t.equal(formatLogLine({ ...line, stream: 'stdout' }), '2025-01-31T10:00:00.123Z + web: boom');
  t.equal(formatLogLine({ ...line, stream: 'event' }), '2025-01-31T10:00:00.123Z * web: boom');
  t.equal(
    formatLogLine(line, true, true),
    '\x1b[2m2025-01-31T10:00:00.123Z\x1b[0m \x1b[31m-\x1b[0m \x1b[95mweb:\x1b[0m boom',
  );
  t.equal(useColour(null, true, {}), true, 'a terminal gets colour');
  t.equal(useColour(null, false, {}), false, 'a pipe does not');
  t.equal(useColour(null, true, { NO_COLOR: '1' }), false, 'NO_COLOR is respected');
  t.equal(useColour(true, false, { NO_COLOR: '1' }), true, '--color wins');
  t.equal(useColour(null, false, { FORCE_COLOR: '1' }), true);
});

t.test('log options parse, and bad ones are refused', async (t) => {
  const now = Date.UTC(2025, 0, 31, 12);
  const a = parseArgs(
    ['log', '-s', '-n', '5', '--since', '10m', '--stream', 'stderr', 'web', 'db'],
    {},
    now,
  );
  t.match(a, {
    verb: 'log',
    snapshot: true,
    lines: 5,
    since: now - 600_000,
    streams: ['stderr'],
    args: ['web', 'db'],
  });
  t.throws(() => parseArgs(['log', '--stream', 'stdin'], {}), /--stream wants one of/);
  t.match(
    parseArgs(['log', '--stream', 'stdout', '--stream', 'test', '--stream', 'stdout'], {}),
    { streams: ['stdout', 'test'] },
    'several, each once',
  );
  t.match(parseArgs(['log'], {}), { streams: [] });
  t.throws(() => parseArgs(['log', '--since', 'soon'], {}), /^--since: expected a duration/);
  t.throws(() => parseArgs(['log', '-n', 'x'], {}), /-n wants a number/);
});

t.test('sminit log against a daemon', async (t) => {
  const d = await startDaemon(t, {
    web: `exec: sh -c 'echo one; echo two; echo oops >&2; exec sleep 1000'\n`,
    db: `exec: sh -c 'echo ready; exec sleep 1000'\n`,
  });
  await waitFor('both to have written', async () => {
    const r = await d.client.readLogs({ stream: 'stdout' });
    return r.lines.length === 3;
  });

  const all = await d.cli('log', '-s');
  t.equal(all.code, 0);
  t.match(all.stdout, /\* web: started: pid \d+, run 1/);
  // Two writes of web's: another service's line may come between them.
  t.match(all.stdout, /\+ web: one\n(?:.*\n)*?.*\+ web: two\n/);
  t.notMatch(all.stdout, /\x1b\[/, 'no colour on a pipe');

  const web = await d.cli('log', '-s', '--stream', 'stdout', 'web');
  t.same(
    web.stdout
      .trim()
      .split('\n')
      .map((l) => l.replace(/^\S+ /, '')),
    ['+ web: one', '+ web: two'],
  );

  const both = await d.cli('log', '-s', '--stream', 'stdout', '--stream', 'stderr', 'web');
  t.same(
    both.stdout
      .trim()
      .split('\n')
      .map((l) => l.replace(/^\S+ /, '')),
    ['+ web: one', '+ web: two', '- web: oops'],
    'two streams, and not the events',
  );

  const last = await d.cli('log', '-s', '-n', '1', '--stream', 'stderr');
  t.match(last.stdout.trim(), /^\S+ - web: oops$/);

  const json = await d.cli('log', '-s', '--json', '--stream', 'stdout', 'db');
  const parsed = json.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as LogLine);
  t.match(parsed, [{ service: 'db', stream: 'stdout', run: 1, text: 'ready' }]);

  const future = await d.cli('log', '-s', '--since', new Date(Date.now() + 60_000).toISOString());
  t.equal(future.stdout, '', 'nothing since the future');
  const recent = await d.cli('log', '-s', '--since', '1h', '--stream', 'stdout', 'db');
  t.match(recent.stdout, /ready/);

  const coloured = await d.cli('log', '-s', '--color', '--stream', 'stdout', 'db');
  t.match(coloured.stdout, /\x1b\[\d+mdb:\x1b\[0m ready/);

  // Follow: the backlog, then new lines, until interrupted.
  const p = spawn(process.execPath, [SMINIT, '--socket', d.socket, 'log', '-n', '1', 'web'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => void p.kill('SIGKILL'));
  let out = '';
  p.stdout.on('data', (b: Buffer) => (out += b.toString()));
  await waitFor('the last buffered line', () => /oops/.test(out));
  await d.client.kill('web', 'SIGTERM');
  await waitFor('the exit to be followed', () => /\* web: killed by SIGTERM/.test(out));
  // What the restart (if it came: stable after 10 s) writes later is not the backlog.
  const backlog = out.split('killed by SIGTERM')[0] ?? '';
  t.notMatch(backlog, /one|two/, '-n 1: only the last line of the backlog');
  const exited = new Promise((r) => p.once('exit', r));
  p.kill('SIGINT');
  await exited;
});

t.test('an unknown name is an error, snapshot or follow', async (t) => {
  const d = await startDaemon(t, {
    web: `exec: sh -c 'echo hi; exec sleep 1000'\n`,
    old: `exec: sh -c 'echo bye; exec sleep 1000'\n`,
  });
  await waitFor('both to have written', async () => {
    const r = await d.client.readLogs({ stream: 'stdout' });
    return r.lines.length === 2;
  });
  // Bounded: before, a follow of an unknown name never ended.
  const cli = (...args: string[]) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const p = spawn(process.execPath, [SMINIT, '--socket', d.socket, ...args], {
        stdio: ['ignore', 'pipe', 'pipe'],
        timeout: 10_000,
      });
      let stdout = '';
      let stderr = '';
      p.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
      p.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
      p.on('close', (code) => resolve({ code, stdout, stderr }));
    });
  t.same(await cli('log', '-s', 'nosuch'), {
    code: 1,
    stdout: '',
    stderr: "sminit: service 'nosuch' is not tracked\n",
  });
  t.same(await cli('log', 'nosuch'), {
    code: 1,
    stdout: '',
    stderr: "sminit: service 'nosuch' is not tracked\n",
  });
  t.same(await cli('log', '-s', 'web', 'nosuch', 'other'), {
    code: 1,
    stdout: '',
    stderr: "sminit: service 'nosuch' is not tracked\nsminit: service 'other' is not tracked\n",
  });
  await d.client.forget('old');
  const gone = await cli('log', '-s', '--stream', 'stdout', 'old');
  t.equal(gone.code, 0, 'a forgotten service with lines can still be read');
  t.match(gone.stdout, /\+ old: bye\n/);
});

t.test('on a terminal, what a service wrote cannot drive it', async (t) => {
  const d = await startDaemon(t, {
    evil: `exec: sh -c 'printf "x\\033]0;pwned\\007\\033[2Jy\\n"; exec sleep 1000'\n`,
  });
  await waitFor(
    'the line',
    async () => (await d.client.readLogs({ names: ['evil'], stream: 'stdout' })).lines.length === 1,
  );
  // script(1) runs the CLI on a pseudo-terminal and copies what it prints.
  const onTty = (...args: string[]) =>
    new Promise<string>((resolve) => {
      const cmd = [process.execPath, SMINIT, '--socket', d.socket, ...args].join(' ');
      const p = spawn('script', ['-qec', cmd, '/dev/null'], {
        stdio: ['ignore', 'pipe', 'ignore'],
        env: { ...process.env, NO_COLOR: '1' },
      });
      let out = '';
      p.stdout.on('data', (b: Buffer) => (out += b.toString('latin1')));
      p.on('close', () => resolve(out));
    });
  const raw = /\x1b\]0;pwned\x07\x1b\[2J/;
  const log = await onTty('log', '-s', '--stream', 'stdout', 'evil');
  t.match(log, / \+ evil: x\\x1b\]0;pwned\\x07\\x1b\[2Jy\r\n/, 'escaped on a terminal');
  t.notMatch(log, raw);
  const status = await onTty('status', 'evil');
  t.match(status, /x\\x1b\]0;pwned\\x07\\x1b\[2Jy/);
  t.notMatch(status, raw);
  const piped = await d.cli('log', '-s', '--stream', 'stdout', 'evil');
  t.match(piped.stdout, raw, 'a pipe gets the bytes as they are');
  const json = await onTty('log', '-s', '--json', '--stream', 'stdout', 'evil');
  t.match(json, /"text":"x\\u001b\]0;pwned\\u0007\\u001b\[2Jy"/, 'JSON as it is');
});

t.test('a follow ends when its reader goes, with no line to write', async (t) => {
  const d = await startDaemon(t, {
    quiet: `exec: sh -c 'echo one; echo two; exec sleep 1000'\n`,
  });
  await waitFor('both lines', async () => {
    const { lines } = await d.client.readLogs({ names: ['quiet'], stream: 'stdout' });
    return lines.length === 2;
  });
  const sminit = `"${process.execPath}" "${SMINIT}" --socket "${d.socket}"`;
  // The shell waits for both ends of its pipeline: it exits once sminit has.
  const piped = spawn('sh', ['-c', `${sminit} log quiet | head -1`], {
    stdio: ['ignore', 'pipe', 'ignore'],
    timeout: 10_000,
  });
  let out = '';
  piped.stdout.on('data', (b: Buffer) => (out += b.toString()));
  const outEnded = new Promise((resolve) => piped.stdout.on('end', resolve));
  const [code, signal] = await new Promise<[number | null, string | null]>((resolve) =>
    piped.on('exit', (c, s) => resolve([c, s])),
  );
  await outEnded;
  t.same([code, signal], [0, null], 'sminit | head -1 ends when head does');
  t.match(out, /^\S+ \* quiet: started: pid \d+, run 1: sh -c/);
  t.equal(out.split('\n').length, 2, 'one line');

  // A socket for stdout (as Node's own 'pipe' gives a child): the same.
  const direct = spawn(process.execPath, [SMINIT, '--socket', d.socket, 'log', 'quiet'], {
    stdio: ['ignore', 'pipe', 'ignore'],
    timeout: 10_000,
  });
  await new Promise((resolve) => direct.stdout.once('data', resolve));
  direct.stdout.destroy();
  const exited = await new Promise<[number | null, string | null]>((resolve) =>
    direct.on('exit', (c, s) => resolve([c, s])),
  );
  t.same(exited, [0, null], 'ends when the socket it writes to is closed');
});

t.test('a follower whose sminitd dies says so and fails', async (t) => {
  const d = await startDaemon(t, { web: `exec: sh -c 'echo up; exec sleep 1000'\n` });
  const p = spawn(process.execPath, [SMINIT, '--socket', d.socket, 'log', 'web'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 10_000,
  });
  let out = '';
  let err = '';
  p.stdout.on('data', (b: Buffer) => (out += b.toString()));
  p.stderr.on('data', (b: Buffer) => (err += b.toString()));
  const closed = new Promise<number | null>((resolve) => p.on('close', resolve));
  await waitFor('the follow to print', () => / \+ web: up\n/.test(out));
  d.proc.kill('SIGKILL');
  t.equal(await closed, 1, 'a non-zero exit');
  t.equal(err, 'sminit: connection closed by sminitd\n');
});
