// `sminit top` as a person sees it: run in a detached tmux session of a
// known size (Debian's tmux, its own server per test: `tmux -L`), the screen
// read with capture-pane and keys sent with send-keys, against a real
// daemon. A stop from the keyboard ends the process (/proc agrees), the view
// follows changes made elsewhere, filters, tails a log, resizes with the
// window, and q or SIGTERM gives the terminal back as it was.

import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Daemon, SMINIT, startDaemon, tempDir } from '../helpers/daemon.js';
import { waitFor } from '../helpers/wait.js';

let sessions = 0;

interface Tmux {
  /** What the pane shows now, one string, lines joined by \n. */
  screen(): string;
  keys(...keys: string[]): void;
  /** A format variable of the pane (`alternate_on`, `cursor_flag`…). */
  pane(variable: string): string;
  resize(width: number, height: number): void;
  /** Wait until the screen matches `re`; the screen then. */
  until(re: RegExp, what: string): Promise<string>;
}

function tmux(t: Test, dir: string, command: string, width = 100, height = 24): Tmux {
  const server = `sminit-top-${process.pid}-${++sessions}`;
  const run = (...args: string[]): string => {
    const r = spawnSync('tmux', ['-L', server, '-f', '/dev/null', ...args], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`tmux ${args[0]}: ${r.stderr}`);
    return r.stdout;
  };
  const size = ['-x', String(width), '-y', String(height)];
  run('new-session', '-d', '-s', 'top', ...size, '-c', dir, command);
  run('set-option', '-g', 'remain-on-exit', 'on');
  t.teardown(() => void spawnSync('tmux', ['-L', server, 'kill-server']));
  const screen = (): string => run('capture-pane', '-p', '-t', 'top');
  return {
    screen,
    keys: (...keys) => void run('send-keys', '-t', 'top', ...keys),
    pane: (v) => run('display-message', '-p', '-t', 'top', `#{${v}}`).trim(),
    resize: (w, h) => void run('resize-window', '-t', 'top', '-x', String(w), '-y', String(h)),
    until: (re, what) =>
      waitFor(
        what,
        () => {
          const s = screen();
          return re.test(s) ? s : null;
        },
        10_000,
        50,
      ),
  };
}

const FILES = {
  db: 'exec: sleep 1000\n',
  web: "exec: sh -c 'while :; do echo tick-$$; sleep 0.2; done'\nafter: [db]\n",
  crash: "exec: sh -c 'exit 3'\nrestart: never\n",
};

/** top in a shell that says how it ended and whether the terminal is canonical again. */
function topCommand(d: Daemon, pidFile: string): string {
  const inner = `echo $$ > ${pidFile}; exec ${process.execPath} ${SMINIT} -s ${d.socket} top`;
  return `sh -c '${inner}'; echo "top exited $?"; stty -a | grep -o -- "-*icanon"; sleep 1000`;
}

async function started(t: Test): Promise<{ d: Daemon; term: Tmux; pidFile: string }> {
  const d = await startDaemon(t, FILES);
  await d.waitStatus('web', (s) => s.status === 'running', 'running');
  await d.waitStatus('crash', (s) => s.status === 'exited', 'exited');
  const dir = tempDir(t);
  const pidFile = join(dir, 'top.pid');
  const term = tmux(t, dir, topCommand(d, pidFile));
  await term.until(/^web +running/m, 'top to list web');
  return { d, term, pidFile };
}

const rowOf = (screen: string, name: string): string =>
  screen.split('\n').find((l) => l.startsWith(`${name} `)) ?? '';

t.test('top lists the services; x stops the selected one; q gives the shell back', async (t) => {
  const { d, term } = await started(t);
  let screen = term.screen();
  t.match(screen.split('\n')[0], /sminit top .* 3 services: 2 running, 1 exited/, 'the header');
  t.match(screen, /NAME +STATE +READY +PID +UPTIME +RST +CPU% +MEM +REASON/);
  t.match(rowOf(screen, 'crash'), /exited .*exited with code 3/);
  const web = await d.status('web');
  t.match(rowOf(screen, 'web'), new RegExp(`running +yes +${web.pid} `), 'its pid');
  t.equal(term.pane('alternate_on'), '1', 'on the alternate screen');
  t.equal(term.pane('cursor_flag'), '0', 'the cursor hidden');
  await term.until(/^web +running +yes +\d+ +\S+ +0 +\d+\.\d +\d/m, 'CPU and memory');

  // crash, db, web: two down to web.
  term.keys('Down', 'Down');
  t.ok(existsSync(`/proc/${web.pid}`), 'web runs');
  term.keys('x');
  await waitFor('web to leave /proc', () => !existsSync(`/proc/${web.pid}`), 10_000);
  screen = await term.until(/^web +stopped/m, 'web shown stopped');
  t.equal((await d.status('web')).target, 'Down');
  await term.until(/web stopped/, 'the outcome on the key line');

  // A change made elsewhere shows without a key.
  t.equal((await d.cli('stop', 'db')).code, 0);
  await term.until(/^db +stopped/m, 'db shown stopped');
  term.keys('Up', 's');
  await term.until(/^db +running/m, 'db started from top');

  term.keys('q');
  screen = await term.until(/top exited 0\n-*icanon/, 'top to end');
  t.notMatch(screen, /NAME +STATE/, 'the view is gone from the screen');
  t.match(screen, /^icanon$/m, 'the terminal is canonical again');
  t.equal(term.pane('alternate_on'), '0', 'off the alternate screen');
  t.equal(term.pane('cursor_flag'), '1', 'the cursor shown');
});

t.test('top filters, tails the selected log and resizes with the window', async (t) => {
  const { term } = await started(t);
  term.keys('/', 'w', 'e');
  await term.until(/^\/we/m, 'the filter being typed');
  term.keys('Enter');
  let screen = await term.until(/^web +running/m, 'web');
  t.equal(rowOf(screen, 'db'), '', 'db filtered out');
  t.equal(rowOf(screen, 'crash'), '', 'crash filtered out');
  term.keys('l');
  screen = await term.until(
    /── log: web [\s\S]*tick-\d+[\s\S]*tick-\d+/,
    'the log pane following web',
  );
  const times = (s: string): string[] => s.match(/\d\d:\d\d:\d\d +tick/g) ?? [];
  const seen = new Set(times(screen));
  t.ok(seen.size >= 1, 'lines in the pane');
  await waitFor(
    'a new line in the pane',
    () => times(term.screen()).some((x) => !seen.has(x)),
    10_000,
    50,
  );
  term.keys('Escape', 'l');
  screen = await term.until(/^crash +exited/m, 'the filter cleared');
  t.notMatch(screen, /── log:/, 'the pane closed');

  term.resize(60, 12);
  screen = await term.until(/^ sminit top.{40,} live\s*$/m, 'the header at the new width');
  const lines = screen.split('\n');
  t.ok(
    lines.every((l) => [...l].length <= 60),
    'nothing wider than the window',
  );
  t.match(lines[11] ?? '', /q:quit/, 'the key line, short, on the last row');
  term.keys('q');
  await term.until(/top exited 0/, 'top to end');
});

t.test('SIGTERM to top gives the terminal back too', async (t) => {
  const { term, pidFile } = await started(t);
  const pid = Number(readFileSync(pidFile, 'utf8'));
  process.kill(pid, 'SIGTERM');
  const screen = await term.until(/top exited 143\n-*icanon/, 'top to end on SIGTERM');
  t.match(screen, /^icanon$/m, 'canonical again');
  t.equal(term.pane('alternate_on'), '0', 'off the alternate screen');
  t.equal(term.pane('cursor_flag'), '1', 'the cursor shown');
});

t.test('when sminitd goes away top says so and gives the terminal back', async (t) => {
  const { d, term } = await started(t);
  d.proc.kill('SIGTERM');
  await d.exited;
  const screen = await term.until(/top exited 1\n-*icanon/, 'top to end with the daemon');
  t.match(screen, /sminit: sminitd closed the connection/);
  t.match(screen, /^icanon$/m, 'canonical again');
  t.equal(term.pane('alternate_on'), '0', 'off the alternate screen');
});

t.test('top without a terminal says so', async (t) => {
  const d = await startDaemon(t, { db: 'exec: sleep 1000\n' });
  const r = await d.cli('top');
  t.equal(r.code, 2);
  t.match(r.stderr, /^sminit: top needs a terminal/);
});
