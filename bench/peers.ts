// Other supervisors running the same workload as sminit's steady state (N
// `sleep 100000` services): whichever of pm2, supervisord, runit and s6 is
// installed. Each peer here only lays out its files and knows its commands;
// bench.ts measures them all the same way. Nothing here is needed at run time.

import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** One peer's supervisor, started over one directory of N services. */
export interface PeerRun {
  /** The supervisor's own processes (not the services): RSS and wake-ups are theirs. */
  supervisors(): number[];
  /** The pids of the services that are up now. */
  up(): Promise<number[]>;
  /** Stop every service with as few commands as the peer offers; resolves when they return. */
  stopAll(): Promise<void>;
  /** Tear everything down. */
  kill(): Promise<void>;
}

export interface Peer {
  readonly name: string;
  /** The command that says whether it is installed. */
  readonly binary: string;
  /** How `stopAll` stops everything, for the table. */
  readonly stopHow: string;
  version(): string;
  start(dir: string, n: number): PeerRun;
}

const SLEEP = 'sleep 100000';

/** The children of every thread of `pid`. */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const tid of readdirTasks(pid)) {
      const text = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
      for (const c of text.split(' ')) if (c !== '') out.push(Number(c));
    }
  } catch {
    // Gone.
  }
  return out;
}

function readdirTasks(pid: number): string[] {
  return readdirSync(`/proc/${pid}/task`);
}

function comm(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

/** Every process under `root` (itself included), split into the services (`sleep`) and the rest. */
export function tree(root: number): { supervisors: number[]; services: number[] } {
  const supervisors: number[] = [];
  const services: number[] = [];
  const todo = [root];
  while (todo.length > 0) {
    const p = todo.pop() as number;
    if (comm(p) === 'sleep') services.push(p);
    else supervisors.push(p);
    todo.push(...childrenOf(p));
  }
  return { supervisors, services };
}

function daemonRun(
  proc: ChildProcess,
  stopAll: () => Promise<unknown>,
  up?: () => Promise<number[]>,
): PeerRun {
  const root = proc.pid ?? 0;
  return {
    supervisors: () => tree(root).supervisors,
    up: up ?? (async () => tree(root).services),
    stopAll: async () => void (await stopAll()),
    kill: async () => {
      const { supervisors, services } = tree(root);
      for (const p of [...supervisors, ...services]) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
      if (proc.exitCode === null && proc.signalCode === null) {
        await new Promise((r) => proc.once('exit', r));
      }
    },
  };
}

const supervisord: Peer = {
  name: 'supervisord',
  binary: 'supervisord',
  stopHow: '`supervisorctl stop all`',
  version: () => execFileSync('supervisord', ['--version'], { encoding: 'utf8' }).trim(),
  start(dir, n) {
    const conf = join(dir, 'supervisord.conf');
    const sock = join(dir, 'supervisor.sock');
    const lines = [
      `[unix_http_server]\nfile=${sock}`,
      `[supervisord]\nlogfile=${join(dir, 'supervisord.log')}\npidfile=${join(dir, 'pid')}\nnodaemon=true`,
      '[rpcinterface:supervisor]\nsupervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface',
      `[supervisorctl]\nserverurl=unix://${sock}`,
    ];
    for (let i = 0; i < n; i++) {
      lines.push(
        `[program:s${i}]\ncommand=${SLEEP}\nstartsecs=0\nautorestart=true\nstdout_logfile=NONE\nstderr_logfile=NONE`,
      );
    }
    writeFileSync(conf, lines.join('\n\n') + '\n');
    const proc = spawn('supervisord', ['-c', conf], { stdio: 'ignore' });
    return daemonRun(proc, () => run('supervisorctl', ['-c', conf, 'stop', 'all']));
  },
};

function serviceDirs(dir: string, n: number): string[] {
  const dirs: string[] = [];
  for (let i = 0; i < n; i++) {
    const d = join(dir, `s${i}`);
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, 'run'), `#!/bin/sh\nexec ${SLEEP}\n`, { mode: 0o755 });
    dirs.push(d);
  }
  return dirs;
}

const runit: Peer = {
  name: 'runit',
  binary: 'runsvdir',
  stopHow: '`sv down` with every service on one command line',
  version: () => 'runit (Debian ' + debVersion('runit') + ')',
  start(dir, n) {
    const dirs = serviceDirs(dir, n);
    const proc = spawn('runsvdir', ['-P', dir], { stdio: 'ignore' });
    return daemonRun(proc, () => run('sv', ['down', ...dirs], { maxBuffer: 1 << 24 }));
  },
};

const s6: Peer = {
  name: 's6',
  binary: 's6-svscan',
  stopHow: '`s6-svc -d` once per service (it takes one directory)',
  version: () => 's6 (Debian ' + debVersion('s6') + ')',
  start(dir, n) {
    const dirs = serviceDirs(dir, n);
    // s6-svscan supervises at most 500 services unless told more.
    const proc = spawn('s6-svscan', ['-c', String(2 * n + 16), dir], { stdio: 'ignore' });
    return daemonRun(proc, () =>
      run('sh', ['-c', 'for d in "$@"; do s6-svc -d "$d"; done', 'sh', ...dirs]),
    );
  },
};

const pm2: Peer = {
  name: 'pm2',
  binary: 'pm2',
  stopHow: '`pm2 stop all`',
  version: () => 'pm2 ' + execFileSync('pm2', ['--version'], { encoding: 'utf8' }).trim(),
  start(dir, n) {
    const env = { ...process.env, PM2_HOME: join(dir, '.pm2') };
    const apps = Array.from({ length: n }, (_, i) => ({
      name: `s${i}`,
      script: 'sleep',
      args: '100000',
      interpreter: 'none',
      autorestart: true,
    }));
    const eco = join(dir, 'ecosystem.json');
    writeFileSync(eco, JSON.stringify({ apps }));
    // pm2-runtime keeps pm2's daemon in the foreground under this process: its tree is ours to measure.
    const proc = spawn('pm2-runtime', ['start', eco], { stdio: 'ignore', env });
    return daemonRun(proc, () => run('pm2', ['stop', 'all'], { env, maxBuffer: 1 << 26 }));
  },
};

function debVersion(pkg: string): string {
  try {
    return execFileSync('dpkg-query', ['-W', '-f=${Version}', pkg], { encoding: 'utf8' }).trim();
  } catch {
    return '?';
  }
}

export const PEERS: readonly Peer[] = [pm2, supervisord, runit, s6];

export function installed(p: Peer): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${p.binary}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
