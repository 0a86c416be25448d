// `sminit top`: the full-screen live view. Owns the terminal while it runs
// (alternate screen, hidden cursor, raw keys) and gives it back on every way
// out — q, a signal, the daemon going away, an error. State comes from the
// event stream; only CPU and memory are re-read, on a slow timer that runs
// only while top does. Loaded only for `top`: none of it is on the CLI's path.

import type { CliArgs } from './args.js';
import type { Client, ServiceStatus, SminitEvent } from './client.js';
import { escapeControls } from './format.js';
import { type Measured, type TopModel, render, visible } from './top-screen.js';

const STATS_MS = 2000;
const LOG_KEEP = 500;

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
type Shown = ServiceStatus & { readonly upSince: number | null };

const SEQUENCES: Readonly<Record<string, string>> = {
  '\x1b[A': 'up',
  '\x1b[B': 'down',
  '\x1bOA': 'up',
  '\x1bOB': 'down',
  '\x1b[5~': 'pageup',
  '\x1b[6~': 'pagedown',
  '\x1b[H': 'home',
  '\x1b[F': 'end',
  '\x1b[1~': 'home',
  '\x1b[4~': 'end',
  '\x1bOH': 'home',
  '\x1bOF': 'end',
};

/** The keys in one read from a raw terminal, by name (`up`, `enter`…) or as the character typed. */
export function keysOf(chunk: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < chunk.length;) {
    if (chunk[i] === '\x1b') {
      const m = /^\x1b(?:\[[0-9;]*[A-Za-z~]|O[A-Za-z])/.exec(chunk.slice(i));
      out.push(m ? (SEQUENCES[m[0]] ?? 'unknown') : 'escape');
      i += m ? m[0].length : 1;
      continue;
    }
    const c = String.fromCodePoint(chunk.codePointAt(i) ?? 0);
    i += c.length;
    const named: Record<string, string> = { '\r': 'enter', '\n': 'enter', '\x7f': 'backspace' };
    out.push(named[c] ?? (c === '\b' ? 'backspace' : c === '\x03' ? 'ctrl-c' : c));
  }
  return out;
}

/** The terminal, taken and given back exactly once. */
class Terminal {
  private taken = false;

  constructor(
    readonly input: NodeJS.ReadStream,
    readonly output: NodeJS.WriteStream,
  ) {}

  get size(): { width: number; height: number } {
    return { width: this.output.columns || 80, height: this.output.rows || 24 };
  }

  take(): void {
    this.taken = true;
    this.output.write('\x1b[?1049h\x1b[?25l\x1b[2J');
    this.input.setRawMode(true);
    this.input.setEncoding('utf8');
    this.input.resume();
  }

  /** Safe to call from anywhere, any number of times, even from an exit handler (writes to a TTY are synchronous). */
  giveBack(): void {
    if (!this.taken) return;
    this.taken = false;
    try {
      this.input.setRawMode(false);
    } catch {
      // The terminal may be gone already (a hang-up): nothing to restore then.
    }
    this.input.pause();
    this.output.write('\x1b[0m\x1b[?25h\x1b[?1049l');
  }
}

class Top {
  readonly model: Mutable<TopModel>;
  readonly finished: Promise<{ code: number; why: string }>;
  private finish!: (r: { code: number; why: string }) => void;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly pending = new Set<string>();
  private stopLog: (() => Promise<void>) | null = null;
  private readonly services = new Map<string, Shown>();
  private drawQueued = false;
  private over = false;

  constructor(
    private readonly c: Client,
    private readonly term: Terminal,
  ) {
    this.model = {
      ...term.size,
      now: Date.now(),
      daemon: '',
      services: this.services,
      stats: {},
      selected: null,
      filter: '',
      filtering: false,
      logOpen: false,
      log: [],
      message: '',
      live: true,
    };
    this.finished = new Promise((r) => (this.finish = r));
  }

  /** The picture now and the cursor to follow on after. */
  async load(): Promise<number> {
    const st = await this.c.systemStatus();
    this.model.daemon = `${st.version} · pid ${st.pid}`;
    this.services.clear();
    for (const s of st.services) this.services.set(s.name, shown(s));
    this.keepSelection();
    this.draw();
    return st.cursor;
  }

  async follow(cursor: number): Promise<void> {
    await this.c.followEvents(
      { after: cursor },
      (e) => this.onEvent(e),
      () => void this.load().catch((err: unknown) => this.end(1, String(err))),
    );
    this.c.onClose(() => this.end(1, 'sminitd closed the connection'));
    this.term.input.on('data', (chunk: string) => this.onKeys(keysOf(chunk)));
    this.term.output.on('resize', () => {
      Object.assign(this.model, this.term.size);
      this.draw();
    });
    this.every(1000, () => this.draw());
    void this.measure();
  }

  end(code: number, why = ''): void {
    if (this.over) return;
    this.over = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.finish({ code, why });
  }

  draw(): void {
    if (this.drawQueued || this.over) return;
    this.drawQueued = true;
    setImmediate(() => {
      this.drawQueued = false;
      if (this.over) return;
      this.model.now = Date.now();
      this.term.output.write(render(this.model));
    });
  }

  private every(ms: number, fn: () => void): void {
    const t = setInterval(fn, ms);
    this.timers.add(t);
  }

  private later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  private keepSelection(): void {
    const names = visible(this.model);
    const sel = this.model.selected;
    if (sel === null || !names.includes(sel)) this.select(names[0] ?? null);
  }

  private onEvent(e: SminitEvent): void {
    if (e.service === null) {
      if (e.kind === 'daemon' && e.action !== 'started') this.say(`sminitd: ${e.detail}`);
      return;
    }
    const s = this.model.services.get(e.service);
    if (e.kind === 'state' && s) {
      const upSince = e.to === 'running' ? Date.parse(e.time) : e.pid > 0 ? s.upSince : null;
      const next = { ...s, status: e.to, pid: e.pid, reason: e.reason, upSince };
      this.services.set(e.service, next as Shown);
      this.draw();
    }
    this.refresh(e.service);
  }

  /** Re-read what a burst of events touched, once: exact restarts, readiness, uptime. */
  private refresh(name: string): void {
    if (this.pending.size === 0) this.later(30, () => void this.flush());
    this.pending.add(name);
  }

  private async flush(): Promise<void> {
    const names = [...this.pending];
    this.pending.clear();
    await Promise.all(
      names.map(async (n) => {
        const s = await this.c.status(n).catch(() => null);
        if (s) this.services.set(n, shown(s));
        else this.services.delete(n);
      }),
    );
    this.keepSelection();
    this.draw();
  }

  /** CPU and memory of every running service, then again in STATS_MS; only while top runs. */
  private async measure(): Promise<void> {
    const running = [...this.model.services.values()].filter((s) => s.pid > 0);
    const stats: Record<string, Measured> = {};
    await Promise.all(
      running.map(async (s) => {
        const st = await this.c.stats(s.name).catch(() => null);
        if (!st) return;
        const tree = [st, ...st.children];
        stats[s.name] = {
          cpu: tree.reduce((a, p) => a + p.cpu_usage, 0),
          memory: tree.reduce((a, p) => a + p.memory_usage, 0),
        };
      }),
    );
    if (this.over) return;
    this.model.stats = stats;
    this.draw();
    this.later(STATS_MS, () => void this.measure());
  }

  private onKeys(keys: readonly string[]): void {
    for (const k of keys) {
      if (this.over) return;
      if (this.model.filtering) this.filterKey(k);
      else this.key(k);
    }
    this.draw();
  }

  private filterKey(k: string): void {
    if (k === 'enter') this.model.filtering = false;
    else if (k === 'escape' || k === 'ctrl-c')
      Object.assign(this.model, { filter: '', filtering: false });
    else if (k === 'backspace') this.model.filter = [...this.model.filter].slice(0, -1).join('');
    else if ([...k].length === 1 && k >= ' ') this.model.filter += k;
    this.keepSelection();
  }

  private key(k: string): void {
    const sel = this.model.selected;
    const moves: Record<string, number> = {
      up: -1,
      k: -1,
      down: 1,
      j: 1,
      pageup: -10,
      pagedown: 10,
    };
    if (k === 'q' || k === 'ctrl-c') return this.end(0);
    if (moves[k] !== undefined) return this.move(moves[k]);
    if (k === 'home' || k === 'end') return this.move(k === 'home' ? -Infinity : Infinity);
    if (k === '/') return void Object.assign(this.model, { filtering: true, filter: '' });
    if (k === 'escape') return void (this.model.filter = '');
    if (k === 'l') return this.toggleLog();
    if (sel === null) return;
    if (k === 's') this.act(`start ${sel}`, this.c.start(sel), `${sel}: start asked`);
    else if (k === 'x') this.act(`stop ${sel}`, this.c.stop(sel), `${sel} stopped`);
    else if (k === 'r') this.act(`restart ${sel}`, this.c.restart(sel), `${sel} restarted`);
  }

  private act(what: string, call: Promise<unknown>, done: string): void {
    this.say(`${what}…`);
    call.then(
      () => this.say(done),
      (err: unknown) => this.say(`${what}: ${err instanceof Error ? err.message : String(err)}`),
    );
  }

  private say(message: string): void {
    this.model.message = escapeControls(message);
    this.draw();
  }

  private move(by: number): void {
    const names = visible(this.model);
    if (names.length === 0) return;
    const at = this.model.selected === null ? 0 : names.indexOf(this.model.selected);
    const to = Math.min(names.length - 1, Math.max(0, (at === -1 ? 0 : at) + by));
    this.select(names[to] ?? null);
  }

  private select(name: string | null): void {
    if (name === this.model.selected) return;
    this.model.selected = name;
    if (this.model.logOpen) this.openLog();
  }

  private toggleLog(): void {
    this.model.logOpen = !this.model.logOpen;
    if (this.model.logOpen) this.openLog();
    else this.closeLog();
  }

  private closeLog(): void {
    void this.stopLog?.().catch(() => undefined);
    this.stopLog = null;
    this.model.log = [];
  }

  private openLog(): void {
    this.closeLog();
    const name = this.model.selected;
    if (name === null) return;
    const lines: string[] = [];
    this.model.log = lines;
    const add = (text: string): void => {
      if (this.model.log !== lines) return;
      lines.push(text);
      if (lines.length > LOG_KEEP) lines.splice(0, lines.length - LOG_KEEP);
      this.draw();
    };
    this.c
      .followLogs(
        { names: [name], n: 200 },
        (l) =>
          add(
            `${l.time.slice(11, 19)} ${l.stream === 'stderr' ? '!' : ' '} ${escapeControls(l.text)}`,
          ),
        (n) => add(`… ${n} lines dropped`),
      )
      .then(
        (stop) => {
          if (this.model.log === lines) this.stopLog = stop;
          else void stop().catch(() => undefined);
        },
        (err: unknown) => add(`log: ${err instanceof Error ? err.message : String(err)}`),
      );
  }
}

function shown(s: ServiceStatus): Shown {
  return { ...s, upSince: s.uptime_ms === null ? null : Date.now() - s.uptime_ms };
}

const SIGNALS = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 } as const;

/** Runs the view until q, a signal or the daemon's going; the exit code. */
export async function top(c: Client, _a: CliArgs): Promise<number> {
  const { stdin, stdout } = process;
  if (!stdin.isTTY || !stdout.isTTY) {
    process.stderr.write(
      'sminit: top needs a terminal (for a stream of changes: sminit events -f)\n',
    );
    return 2;
  }
  const term = new Terminal(stdin, stdout);
  const view = new Top(c, term);
  const cursor = await view.load();
  const giveBack = (): void => term.giveBack();
  const onSignal = (sig: keyof typeof SIGNALS): void => view.end(SIGNALS[sig]);
  process.once('exit', giveBack);
  for (const sig of Object.keys(SIGNALS) as (keyof typeof SIGNALS)[]) process.on(sig, onSignal);
  try {
    term.take();
    view.draw();
    await view.follow(cursor);
    const { code, why } = await view.finished;
    term.giveBack();
    if (why) process.stderr.write(`sminit: ${why}\n`);
    return code;
  } finally {
    term.giveBack();
    process.off('exit', giveBack);
    for (const sig of Object.keys(SIGNALS)) process.off(sig, onSignal);
  }
}
