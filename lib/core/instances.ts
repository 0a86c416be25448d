// Templates, instances and replicas: `web@.yaml` is a template, `web@main`
// its instance `main`, and `web@1` … `web@N` the replicas of a `web.yaml`
// with `replicas: N`. Owns the naming, the `${instance}` substitution and the
// instance made from a definition. Pure: files are config's, tracking the manager's.

import type {
  DependencyCondition,
  InstanceOf,
  Probe,
  Problem,
  ServiceDef,
  Source,
} from './definition.js';
import { nameError } from './names.js';

/** What a template or a replicated file writes where the instance goes. */
export const INSTANCE_VAR = '${instance}';

/** The most replicas a file, or a scale, may ask for. */
export const MAX_REPLICAS = 1000;

/** A template's name: `web@`, one '@', last. */
export function isTemplateName(name: string): boolean {
  return name.length > 1 && name.indexOf('@') === name.length - 1;
}

/** `web@main` → `{ base: 'web', id: 'main' }`; null for a name with no instance part. */
export function splitInstance(name: string): { base: string; id: string } | null {
  const at = name.indexOf('@');
  if (at <= 0 || at === name.length - 1) return null;
  return { base: name.slice(0, at), id: name.slice(at + 1) };
}

/** The template an instance would be made from (`web@main` → `web@`), or null. */
export function templateOf(name: string): string | null {
  const s = splitInstance(name);
  return s ? `${s.base}@` : null;
}

export function replicaName(group: string, n: number): string {
  return `${group}@${n}`;
}

/** `web@3` → 3 when it is a replica number of `group`; null otherwise. */
export function replicaNumber(group: string, name: string): number | null {
  const s = splitInstance(name);
  if (!s || s.base !== group || !/^[1-9][0-9]*$/.test(s.id)) return null;
  return Number(s.id);
}

/** `${instance}` replaced; `$${instance}` is the text `${instance}` itself. */
export function substitute(text: string, id: string): string {
  return text.replace(/\$(\$?)\{instance\}/g, (_, escaped: string) =>
    escaped ? INSTANCE_VAR : id,
  );
}

/** The source a file is, from its stem and its `replicas` key. */
export function sourceOf(def: ServiceDef, replicas: number | null): Source {
  if (isTemplateName(def.name)) return { kind: 'template', def };
  return replicas === null ? { kind: 'service', def } : { kind: 'replicas', def, replicas };
}

export type Made = { ok: true; def: ServiceDef } | { ok: false; problems: Problem[] };

/**
 * The service `name` made from `def` (a template's, or a replicated
 * file's): `${instance}` replaced in exec, test, env values, dir, the log
 * file, the probes and after. What substitution makes of `after` is checked again, as a
 * file's own list is.
 */
export function instantiate(def: ServiceDef, name: string, origin: InstanceOf): Made {
  const sub = (s: string): string => substitute(s, origin.id);
  const problems: Problem[] = [];
  const problem = (message: string): number =>
    problems.push({ file: def.file, line: 0, column: 0, message: `${name}: ${message}` });
  const invalid = nameError(name);
  if (invalid) problem(invalid);
  const after: string[] = [];
  const conditions: Record<string, DependencyCondition> = {};
  for (const written of def.after) {
    const dep = sub(written);
    const bad = nameError(dep);
    if (bad) problem(`after: ${bad}`);
    else if (dep === name) problem(`after: '${written}' makes it come after itself`);
    else if (after.includes(dep)) problem(`after: '${dep}' is listed twice`);
    else {
      after.push(dep);
      conditions[dep] = def.conditions[written] ?? 'up';
    }
  }
  if (problems.length > 0) return { ok: false, problems };
  const env = Object.fromEntries(Object.entries(def.env).map(([k, v]) => [k, sub(v)]));
  const log = def.log.kind === 'file' ? { ...def.log, path: sub(def.log.path) } : def.log;
  const made: ServiceDef = {
    ...def,
    name,
    exec: def.exec.map(sub),
    test: def.test === null ? null : def.test.map(sub),
    after,
    conditions,
    env,
    dir: sub(def.dir),
    log,
    readiness: probeWith(def.readiness, sub),
    liveness: probeWith(def.liveness, sub),
    instance: origin,
  };
  return { ok: true, def: made };
}

/** A probe with `${instance}` replaced in its command, URL or host. */
function probeWith(probe: Probe | null, sub: (s: string) => string): Probe | null {
  if (probe === null) return null;
  const c = probe.check;
  const check =
    c.kind === 'exec'
      ? { ...c, argv: c.argv.map(sub) }
      : c.kind === 'http'
        ? { ...c, url: sub(c.url) }
        : { ...c, host: sub(c.host) };
  return { ...probe, check };
}

/** Replica `n` of a replicated file's service. */
export function makeReplica(def: ServiceDef, n: number): Made {
  return instantiate(def, replicaName(def.name, n), {
    kind: 'replica',
    of: def.name,
    id: String(n),
  });
}

/** The instance `name` of template `def` (whose name is `base@`); the name must be one of its. */
export function makeInstance(def: ServiceDef, name: string): Made {
  const id = splitInstance(name)?.id ?? '';
  return instantiate(def, name, { kind: 'template', of: def.name, id });
}

/**
 * `after` with replicated services named by their replicas: a dependant of
 * `web` waits for every one of them. `replicas(name)` lists a replicated
 * service's replicas, or gives null for any other name.
 */
export function expandAfter(
  after: readonly string[],
  replicas: (name: string) => readonly string[] | null,
): string[] {
  const out = new Set<string>();
  for (const d of after) {
    const members = replicas(d);
    if (members === null) out.add(d);
    else for (const m of members) out.add(m);
  }
  return [...out];
}

/**
 * The services `source` stands for: the service itself, replicas 1 …
 * `count`, or the template's instances named in `instances`. What cannot be
 * made (a name too long, an `after` that substitution spoils) is a problem.
 */
export function servicesOf(
  source: Source,
  count: number,
  instances: readonly string[] = [],
): { defs: ServiceDef[]; problems: Problem[] } {
  if (source.kind === 'service') return { defs: [source.def], problems: [] };
  const made =
    source.kind === 'replicas'
      ? Array.from({ length: count }, (_, i) => makeReplica(source.def, i + 1))
      : instances.map((name) => makeInstance(source.def, name));
  const defs: ServiceDef[] = [];
  const problems: Problem[] = [];
  for (const m of made) {
    if (m.ok) defs.push(m.def);
    else problems.push(...m.problems);
  }
  return { defs, problems };
}

/**
 * Instances of templates that `defs` name in `after` and that are not
 * services already (`have`), each once: a dependant's `after: [db@main]`
 * makes `db@main` from `db@.yaml`. Names whose template is not in
 * `templates` are left out (the dependant waits for them, blocked).
 */
export function namedInstances(
  defs: readonly ServiceDef[],
  have: (name: string) => boolean,
  templates: (template: string) => boolean,
): string[] {
  const out = new Set<string>();
  for (const def of defs) {
    for (const d of def.after) {
      const t = templateOf(d);
      if (t !== null && !have(d) && templates(t)) out.add(d);
    }
  }
  return [...out];
}
