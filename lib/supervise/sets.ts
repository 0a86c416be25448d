// Which services a request over many names means: exact names (a
// replicated service's name meaning its replicas), shell-style patterns
// over the tracked names, or all of them; and what each one came to. Reads
// the tracked services; changes nothing.

import { Errors, type SminitError } from '../core/errors.js';
import { checkName, matcher } from '../core/names.js';
import type { Services } from './services.js';
import type { ServiceView } from './view.js';

/** Services by name, by pattern, or every one. */
export interface Selection {
  readonly names?: readonly string[];
  readonly patterns?: readonly string[];
  readonly all?: boolean;
}

/** What one service of a set came to: done (with its state after, where asked), or why not. */
export interface Outcome {
  readonly name: string;
  readonly error: SminitError | null;
  readonly view: ServiceView | null;
}

export interface Selected {
  /** Tracked services, each once, in the order the selection names them. */
  readonly names: readonly string[];
  /** Exact names that are not tracked (a start may make them from a template). */
  readonly untracked: readonly string[];
  /** Patterns that matched nothing, and names of replicated services that have no replicas now. */
  readonly failed: readonly Outcome[];
}

export function failure(name: string, error: SminitError): Outcome {
  return { name, error, view: null };
}

/** The services `sel` names among those tracked; throws when it names nothing at all. */
export function select(services: Services, sel: Selection, method: string): Selected {
  if (!sel.all && (sel.names?.length ?? 0) === 0 && (sel.patterns?.length ?? 0) === 0) {
    throw Errors.noSelection(method);
  }
  const names = new Set<string>();
  const untracked: string[] = [];
  const failed: Outcome[] = [];
  if (sel.all) for (const n of services.names()) names.add(n);
  for (const name of sel.names ?? []) {
    checkName(name);
    if (services.has(name)) names.add(name);
    else if (services.isReplicated(name)) {
      const replicas = services.replicasOf(name);
      if (replicas.length === 0) failed.push(failure(name, Errors.runsAsReplicas(name, 0)));
      for (const r of replicas) names.add(r);
    } else if (!untracked.includes(name)) untracked.push(name);
  }
  for (const pattern of sel.patterns ?? []) {
    const matches = matcher(pattern);
    const found = services.names().filter(matches);
    if (found.length === 0) failed.push(failure(pattern, Errors.noMatch(pattern)));
    for (const n of found) names.add(n);
  }
  return { names: [...names], untracked, failed };
}
