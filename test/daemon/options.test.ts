// sminitd's command line: what each form asks for (run with these options,
// or print and exit with a code), read in-process; and the real binary's exit
// codes and output for the forms a person types first: help, --version, a
// typo, an extra word, a value it cannot take.

import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import t from 'tap';
import pkg from '../../package.json' with { type: 'json' };
import { readCommandLine } from '../../lib/daemon/options.js';
import { SMINITD, tempDir } from '../helpers/daemon.js';

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function sminitd(args: readonly string[]): Promise<Run> {
  return new Promise((done) => {
    const p = spawn(process.execPath, [SMINITD, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('close', (code) => done({ code, stdout, stderr }));
  });
}

t.test('the plain forms run the daemon with those options', async (t) => {
  const line = await readCommandLine(['-c', 'etc', '--socket', 's.sock', '--container']);
  if (line.kind !== 'run') throw new Error(`expected to run, got ${JSON.stringify(line)}`);
  t.equal(line.options.configDir, resolve('etc'));
  t.equal(line.options.socket, resolve('s.sock'));
  t.equal(line.options.container, true);
  t.same(line.warnings, []);
});

t.test('a command line sminitd cannot take: exit code 2 and why', async (t) => {
  const cases: [string[], RegExp][] = [
    [['--bogus'], /Unknown argument: bogus/],
    [['extra'], /Unknown argument: extra/],
    [['-c'], /Not enough arguments following: c/],
    [['--http', '99999'], /^sminitd: --http 99999: invalid address "99999"/],
    [['--http', 'localhost:65536'], /^sminitd: --http localhost:65536: invalid address/],
    [['--max-connections', '0'], /^sminitd: --max-connections 0: must be a whole number/],
    [['--request-timeout', '0'], /^sminitd: --request-timeout 0: must be more than 0/],
    [['--event-history', '0'], /^sminitd: --event-history 0: must be a whole number, at least 1/],
    [['--event-history', '2000000'], /^sminitd: --event-history 2000000: at most 1000000/],
    [
      ['--http-open', 'healthz,admin'],
      /^sminitd: --http-open healthz,admin: expected a list of healthz, readyz, metrics, or none; got "admin"/,
    ],
    [['--http-open', ','], /^sminitd: --http-open ,: expected a list of/],
    [['--http-host', 'a b'], /^sminitd: --http-host a b: expected host names/],
  ];
  for (const [args, message] of cases) {
    const line = await readCommandLine(args);
    t.match(line, { kind: 'exit', code: 2, stderr: message }, args.join(' '));
  }
});

t.test('the HTTP options: tokens, open paths, hosts; their defaults', async (t) => {
  const line = await readCommandLine([
    '--http',
    '0.0.0.0:8080',
    '--http-read-token-file',
    'read',
    '--http-open',
    '/metrics,healthz',
    '--http-host',
    'sminit.example.com,10.0.0.5:8080',
    '--event-history',
    '500',
  ]);
  if (line.kind !== 'run') throw new Error(`expected to run, got ${JSON.stringify(line)}`);
  t.match(line.options.http, {
    address: '0.0.0.0:8080',
    readTokenFile: resolve('read'),
    open: ['metrics', 'healthz'],
    hosts: ['sminit.example.com', '10.0.0.5:8080'],
    publicReads: false,
  });
  t.equal(line.options.eventHistory, 500);
  const plain = await readCommandLine([]);
  if (plain.kind !== 'run') throw new Error('expected to run');
  t.same(plain.options.http?.open, ['healthz', 'readyz'], 'the probes are open by default');
  t.same(plain.options.http?.hosts, []);
  t.equal(plain.options.eventHistory, 10000);
  const none = await readCommandLine(['--http-open', 'none']);
  t.match(none, { kind: 'run', options: { http: { open: [] } } });
});

t.test('--help and --version print to stdout and exit 0', async (t) => {
  const help = await readCommandLine(['--help']);
  t.match(help, { kind: 'exit', code: 0, stdout: /^sminitd \[options\]/ });
  t.match(help, { stdout: /--version/ }, 'the help lists --version');
  t.same(await readCommandLine(['--version']), {
    kind: 'exit',
    code: 0,
    stdout: `${pkg.version}\n`,
  });
});

t.test('sminitd itself: exit codes and output', async (t) => {
  const dir = tempDir(t);
  const base = ['-c', dir, '-s', `${dir}/s.sock`];
  for (const extra of [['--bogus'], ['extra'], ['--http', '99999']]) {
    const run = await sminitd([...base, ...extra]);
    t.equal(run.code, 2, `${extra.join(' ')}: exit code 2`);
    t.not(run.stderr, '', 'says why');
    t.equal(run.stdout, '');
  }
  const version = await sminitd(['--version']);
  t.same(version, { code: 0, stdout: `${pkg.version}\n`, stderr: '' });
  const help = await sminitd(['--help']);
  t.equal(help.code, 0);
  t.match(help.stdout, /Run the sminit service manager in the foreground/);
});
