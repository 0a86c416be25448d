// The service definition after parsing: the one shape every other module
// works with. Owns no behaviour; config/parse.ts produces it, nothing mutates it.

import type { SignalName } from './signals.js';

/** How a service's stdout/stderr are kept. */
export type LogMode =
  | { kind: 'ring' }
  | { kind: 'stdout' }
  | { kind: 'none' }
  | { kind: 'file'; path: string; maxSize: number; keep: number };

export type RestartPolicy = 'always' | 'on-failure' | 'never';

export interface ServiceDef {
  /** The file stem; validated by names.ts. */
  readonly name: string;
  /** The file it came from (absolute), or a description such as `<rpc>`. */
  readonly file: string;
  /** `exec` (or `cmd`) split shell-style into argv; never empty. */
  readonly exec: readonly string[];
  /** `test` (or `healthcheck`) split shell-style, or null when there is none. */
  readonly test: readonly string[] | null;
  readonly oneshot: boolean;
  /** `never` whenever oneshot is true. */
  readonly restart: RestartPolicy;
  /** Dependencies by name, each once, in file order. */
  readonly after: readonly string[];
  /** Canonical upper-case name with the SIG prefix, e.g. `SIGTERM`. */
  readonly stopSignal: SignalName;
  readonly log: LogMode;
  readonly env: Readonly<Record<string, string>>;
  /** Working directory; `/` when not given (as zinit); a relative one is from the file's directory. */
  readonly dir: string;
  readonly shutdownTimeoutMs: number;
  readonly testIntervalMs: number;
  readonly testTimeoutMs: number;
  /** First restart delay; doubles on each quick failure up to restartMaxDelayMs. */
  readonly restartDelayMs: number;
  readonly restartMaxDelayMs: number;
  /** Up this long, a service's next death restarts it at once and resets the backoff. */
  readonly stableAfterMs: number;
  /** Set when the service is an instance of a template or one of a file's replicas. */
  readonly instance?: InstanceOf;
}

/** What an instance was made from, and what `${instance}` stands for in it. */
export interface InstanceOf {
  /** `template`: from the file `NAME@.yaml`; `replica`: one of `NAME.yaml`'s `replicas`. */
  readonly kind: 'template' | 'replica';
  /** The template's name (`web@`), or the replicated service's (`web`). */
  readonly of: string;
  /** The instance: what follows the `@` in the service's name. */
  readonly id: string;
}

/**
 * A service file as read: one service; a template (`NAME@.yaml`) that
 * instances are made from; or a service run as `replicas` instances
 * (`NAME@1` … `NAME@N`). The def's name is the file's stem.
 */
export type Source =
  | { readonly kind: 'service'; readonly def: ServiceDef }
  | { readonly kind: 'template'; readonly def: ServiceDef }
  | { readonly kind: 'replicas'; readonly def: ServiceDef; readonly replicas: number };

/** One problem found in a service file, positions 1-based. */
export interface Problem {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly message: string;
}

export function formatProblem(p: Problem): string {
  return p.line > 0 ? `${p.file}:${p.line}:${p.column}: ${p.message}` : `${p.file}: ${p.message}`;
}
