// The CLI's command line: verbs, arity, the socket, log's options.

import t from 'tap';
import { type CliArgs, parseArgs } from '../../lib/client/args.js';

const env = { SMINIT_SOCKET: '/env.sock' };
const args = (argv: string[]): CliArgs => {
  const r = parseArgs(argv, env);
  if (r === 'help' || r === 'usage') throw new Error(r);
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
  t.equal(parseArgs([], env), 'usage', 'no command: the usage, as an error');
  t.equal(parseArgs(['-s', '/x.sock'], env), 'usage');
  t.equal(parseArgs(['--help'], env), 'help');
  t.equal(parseArgs(['-h', 'list'], env), 'help');
  t.throws(() => parseArgs(['status'], env), {
    message: 'usage: sminit status <name|pattern>... | --all',
  });
  t.match(args(['status', 'a', 'b']), { verb: 'status', args: ['a', 'b'] }, 'several names');
  t.match(args(['stop', '--all']), { verb: 'stop', args: [], all: true });
  t.throws(() => parseArgs(['stop', '--all', 'web'], env), {
    message: 'usage: sminit stop <name|pattern>... | --all',
  });
  t.throws(() => parseArgs(['add', '--all'], env), { message: "unknown option '--all'" });
  t.match(args(['kill', '--all', 'HUP']), { verb: 'kill', args: ['HUP'], all: true });
  t.match(args(['reload', '--dry-run']), { verb: 'reload', dryRun: true });
  t.throws(() => parseArgs(['list', '--dry-run'], env), { message: "unknown option '--dry-run'" });
  t.match(args(['scale', 'web', '3']), { verb: 'scale', args: ['web', '3'] });
  t.throws(() => parseArgs(['scale', 'web'], env), {
    message: 'usage: sminit scale <name> <replicas>',
  });
  t.match(args(['kill', 'a']), { verb: 'kill', args: ['a'] }, 'the signal is optional');
  const killUsage = 'usage: sminit kill <name|pattern>... [signal] | --all [signal]';
  t.throws(() => parseArgs(['kill'], env), { message: killUsage });
  t.throws(
    () => parseArgs(['kill', 'a', 'SIGHUP', 'b'], env),
    { message: killUsage },
    'signal last',
  );
  t.throws(() => parseArgs(['list', 'a'], env), { message: 'usage: sminit list' });
  t.throws(() => parseArgs(['check', 'a', 'b'], env), {
    message: 'usage: sminit check [dir|file]',
  });
  t.throws(() => parseArgs(['frob'], env), { message: "unknown command 'frob'" });
  t.throws(() => parseArgs(['list', '-x'], env), { message: "unknown option '-x'" });
  t.throws(() => parseArgs(['list', '-n', '2'], env), /unknown option '-n'/, '-n only for log');
  t.throws(() => parseArgs(['log', '-n', 'x'], env), /-n wants a number of lines, got 'x'/);
  t.throws(() => parseArgs(['log', '-n'], env), /-n needs a value/);
  t.throws(() => parseArgs(['-s'], env), /-s needs a value/);
});
