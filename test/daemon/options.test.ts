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
  ];
  for (const [args, message] of cases) {
    const line = await readCommandLine(args);
    t.match(line, { kind: 'exit', code: 2, stderr: message }, args.join(' '));
  }
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
