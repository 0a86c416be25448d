// The order a set of services is stopped in: each once every dependant of
// it in the set is down, services unrelated to each other together, and a
// dependency cycle never waiting on itself. Used by the shutdown, by verbs
// over many services and by a reload. Owns no state: the stopping itself
// is the caller's.

/**
 * Runs `stop` for each of `names` once the stops of its dependants among
 * them are over. `deps` gives each service's dependencies. Returns each
 * service's stop, by name.
 */
export function inStopOrder(
  names: Iterable<string>,
  deps: (name: string) => readonly string[],
  stop: (name: string) => Promise<void>,
): Map<string, Promise<void>> {
  const set = new Set(names);
  const dependants = new Map<string, string[]>();
  for (const name of set) {
    for (const d of deps(name)) {
      if (!set.has(d) || d === name) continue;
      const list = dependants.get(d) ?? [];
      list.push(name);
      dependants.set(d, list);
    }
  }
  const stops = new Map<string, Promise<void>>();
  const visiting = new Set<string>();
  const stopOne = (name: string): Promise<void> => {
    const known = stops.get(name);
    if (known) return known;
    visiting.add(name);
    // A dependency cycle must not make a stop wait on itself.
    const first = (dependants.get(name) ?? []).filter((d) => !visiting.has(d) || stops.has(d));
    const p = Promise.all(first.map(stopOne)).then(() => stop(name));
    stops.set(name, p);
    return p;
  };
  for (const name of set) stopOne(name);
  return stops;
}
