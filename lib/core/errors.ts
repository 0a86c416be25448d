// The error catalogue: every error the domain raises is one named definition
// here, with its message template, so a message is written once and a
// reader finds every failure a client can see in one page. An error carries
// a kind (what went wrong, in the domain's words); the JSON-RPC code of each
// kind is chosen once, at the API edge (api/errors.ts). No I/O.

import { type Problem, formatProblem } from './definition.js';

/** What went wrong, as the domain sees it. */
export type ErrorKind =
  /** No such service is tracked, or it has no file in the config directory. */
  | 'unknown-service'
  /** The service is tracked already. */
  | 'already-tracked'
  /** The service has no process to act on. */
  | 'not-running'
  /** A signal name or number this system does not have. */
  | 'bad-signal'
  /** A change the configuration cannot take (a cycle, content that is no service file, a token file). */
  | 'refused-change'
  /** The daemon is shutting down and starts nothing. */
  | 'shutting-down'
  /** A service file of that name exists already. */
  | 'file-exists'
  /** A service file on disk that cannot be read, written or parsed. */
  | 'file-error'
  /** An argument that is not what the call takes. */
  | 'bad-argument'
  /** A bound was reached (followers, subscriptions) or the call does not fit the current state. */
  | 'refused'
  /** What was asked for is not offered here (no HTTP endpoint, no streams over HTTP). */
  | 'unavailable';

export class SminitError extends Error {
  constructor(
    readonly kind: ErrorKind,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
    this.name = 'SminitError';
  }
}

const make =
  <A extends unknown[]>(kind: ErrorKind, message: (...args: A) => string) =>
  (...args: A): SminitError =>
    new SminitError(kind, message(...args));

/** Every domain error, by name. A test fails when one is defined and never raised. */
export const Errors = {
  // services
  notTracked: make('unknown-service', (name: string) => `service '${name}' is not tracked`),
  notLoaded: make(
    'unknown-service',
    (name: string, why: string) => `service '${name}' is not loaded: ${why}`,
  ),
  noServiceFile: make(
    'unknown-service',
    (name: string, dir: string) =>
      `no service file for '${name}' in ${dir} (tried ${name}.yaml and ${name}.yml)`,
  ),
  noTemplate: make(
    'unknown-service',
    (name: string, template: string, dir: string) =>
      `no service file for '${name}' in ${dir}, and no template ${template}.yaml to make it from`,
  ),
  /**
   * A replicated service's own name, where one service is meant; the data
   * names it, so a client can ask again for its replicas.
   */
  runsAsReplicas: (name: string, count: number): SminitError =>
    new SminitError(
      'unknown-service',
      count === 0
        ? `service '${name}' runs as replicas, and has none now (sminit scale ${name} N)`
        : `service '${name}' runs as replicas: ${name}@1${count > 1 ? ` … ${name}@${count}` : ''}`,
      { replicated: name },
    ),
  notReplicated: make(
    'refused-change',
    (name: string) =>
      `service '${name}' has no replicas; give its file a 'replicas' key to scale it`,
  ),
  isTemplate: make(
    'bad-argument',
    (name: string) =>
      `'${name}' is a template: it runs as its instances, started by name (sminit start ${name}NAME)`,
  ),
  noMatch: make('unknown-service', (pattern: string) => `no service matches '${pattern}'`),
  alreadyTracked: make('already-tracked', (name: string) => `service '${name}' is already tracked`),
  notRunning: make('not-running', (name: string) => `service '${name}' is not running`),
  badSignal: make('bad-signal', (signal: string) => `invalid signal '${signal}'`),
  wouldCloseCycle: make(
    'refused-change',
    (name: string, cycle: string) => `service '${name}' would close a dependency cycle: ${cycle}`,
  ),
  sharedLogFile: make(
    'refused-change',
    (file: string, path: string, other: string) =>
      `${file}: its log file ${path} is also written by ${other}; a log file belongs to one service`,
  ),
  shuttingDown: make('shutting-down', () => 'sminit is shutting down'),
  alreadyShuttingDown: make('shutting-down', () => 'already shutting down'),
  badName: make('bad-argument', (why: string) => why),
  badPattern: make(
    'bad-argument',
    (pattern: string, why: string) => `invalid pattern ${JSON.stringify(pattern)}: ${why}`,
  ),
  noSelection: make(
    'bad-argument',
    (method: string) => `${method}: give 'names', 'patterns' or 'all'`,
  ),
  cannotReadConfig: make(
    'file-error',
    (dir: string, why: string) =>
      `cannot read config directory ${dir}: ${why}; nothing was reloaded`,
  ),

  // service files
  fileExists: make('file-exists', (file: string) => `service file ${file} already exists`),
  /** A file on disk with problems: every one at file:line:col, and the list as data. */
  fileProblems: (problems: readonly Problem[]): SminitError =>
    new SminitError('file-error', problems.map(formatProblem).join('\n'), problems),
  /** Content given to be written that is no valid service file. */
  contentProblems: (problems: readonly Problem[]): SminitError =>
    new SminitError('refused-change', problems.map(formatProblem).join('\n'), problems),
  cannotRead: make('file-error', (file: string, why: string) => `cannot read ${file}: ${why}`),
  cannotWrite: make('file-error', (file: string, why: string) => `cannot write ${file}: ${why}`),
  cannotRemove: make('file-error', (file: string, why: string) => `cannot remove ${file}: ${why}`),
  notYaml: make(
    'refused-change',
    (file: string, why: string) => `${file}: cannot write as YAML: ${why}`,
  ),
  fileTooLarge: make(
    'refused-change',
    (file: string, max: number) => `${file}: larger than ${max} bytes`,
  ),

  // requests
  badParams: make('bad-argument', (why: string) => why),
  noSubscription: make('bad-argument', (id: number) => `no subscription ${id}`),
  tooManyFollowers: make(
    'refused',
    (max: number) => `too many log followers (at most ${max} in all); try again later`,
  ),
  tooManySubscriptions: make(
    'refused',
    (max: number) => `too many subscriptions on this connection (at most ${max})`,
  ),
  needsStream: make(
    'unavailable',
    (method: string) => `${method} needs a persistent connection: subscribe over the unix socket`,
  ),
  badFaultKind: make(
    'bad-argument',
    (kinds: readonly string[]) => `debug_fault: kind must be one of ${kinds.join(', ')}`,
  ),

  // the HTTP endpoint
  noHttpEndpoint: make('unavailable', () => 'this daemon serves no HTTP endpoint'),
  badAddress: make(
    'bad-argument',
    (address: string) =>
      `invalid address ${JSON.stringify(address)}: expected host:port, [v6addr]:port or a port`,
  ),
  cannotListen: make(
    'bad-argument',
    (address: string, why: string) => `cannot listen on ${address}: ${why}`,
  ),
  httpRunning: make(
    'refused',
    (url: string) => `the HTTP server is already running at ${url}; stop it first`,
  ),
  httpNotRunning: make('refused', () => 'no HTTP server is running'),
  cannotReadToken: make(
    'refused-change',
    (file: string, why: string) => `cannot read token file ${file}: ${why}`,
  ),
  badToken: make(
    'refused-change',
    (file: string, empty: boolean) =>
      `token file ${file} holds ${empty ? 'no token' : 'a token shorter than 16 characters'}`,
  ),
  cannotWriteToken: make(
    'refused-change',
    (file: string, why: string) => `cannot write token file ${file}: ${why}`,
  ),
} as const;

export type ErrorName = keyof typeof Errors;

/** The message of anything thrown, for logs and replies. */
export function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
