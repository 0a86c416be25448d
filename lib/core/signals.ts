// Signals by name and number: the one table sminit parses and prints them
// with. Linux numbers its signals alike on every architecture Node runs on
// (the generic table; a test checks it against Node's), so the table is
// data here and the core stays free of I/O. Pure.

/** In Node's order: among aliases the first is the name printed (SIGABRT, not SIGIOT). */
export const SIGNALS = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGILL: 4,
  SIGTRAP: 5,
  SIGABRT: 6,
  SIGIOT: 6,
  SIGBUS: 7,
  SIGFPE: 8,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGSEGV: 11,
  SIGUSR2: 12,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
  SIGCHLD: 17,
  SIGSTKFLT: 16,
  SIGCONT: 18,
  SIGSTOP: 19,
  SIGTSTP: 20,
  SIGTTIN: 21,
  SIGTTOU: 22,
  SIGURG: 23,
  SIGXCPU: 24,
  SIGXFSZ: 25,
  SIGVTALRM: 26,
  SIGPROF: 27,
  SIGWINCH: 28,
  SIGIO: 29,
  SIGPOLL: 29,
  SIGPWR: 30,
  SIGSYS: 31,
} as const;

/** A signal name sminit knows: a plain union, so declarations need no Node types. */
export type SignalName = keyof typeof SIGNALS;

/** glibc's SIGRTMIN: 32 and 33 are its own. */
export const SIGRTMIN = 34;
/** The last real-time signal. */
export const SIGRTMAX = 64;

const BY_NUMBER = new Map<number, SignalName>();
for (const [name, n] of Object.entries(SIGNALS) as [SignalName, number][]) {
  if (!BY_NUMBER.has(n)) BY_NUMBER.set(n, name);
}

/** `term`, `TERM`, `sigterm`, `SIGTERM` → `SIGTERM`; null when there is no such signal. */
export function signalByName(text: string): SignalName | null {
  const upper = text.trim().toUpperCase();
  const full = upper.startsWith('SIG') ? upper : `SIG${upper}`;
  return Object.hasOwn(SIGNALS, full) ? (full as SignalName) : null;
}

/** A name as signalByName takes it, or a number (`9`, 9); null when unknown. */
export function parseSignal(input: string | number): SignalName | null {
  if (typeof input === 'number' || /^\d+$/.test(input)) return BY_NUMBER.get(Number(input)) ?? null;
  return signalByName(input);
}

/** The name of signal `n` as `kill -l` prints it: real-time ones as `SIGRTMIN+k`. */
export function signalNameOf(n: number): string {
  return BY_NUMBER.get(n) ?? (n >= SIGRTMIN ? `SIGRTMIN+${n - SIGRTMIN}` : `SIG${n}`);
}
