// The dependency graph as plain data: cycles, missing dependencies, start and
// stop layers, the longest chain. A graph is a map from a service name to the
// names it starts after. Pure functions only: no I/O, no clocks, no mutation
// of the caller's map. Everything is iterative and linear in nodes + edges
// (plus sorting names for stable output), because a config directory may hold
// thousands of services and a recursive walk would overflow the stack.

export type Deps = ReadonlyMap<string, readonly string[]>;

/** The graph with names replaced by indices; edges to unknown names dropped. */
interface Indexed {
  readonly names: readonly string[];
  readonly index: ReadonlyMap<string, number>;
  /** out[i]: indices node i depends on (duplicates possible, harmless). */
  readonly out: readonly (readonly number[])[];
}

function indexed(deps: Deps, extra?: { name: string; after: readonly string[] }): Indexed {
  const names = [...deps.keys()];
  if (extra !== undefined && !deps.has(extra.name)) names.push(extra.name);
  const index = new Map<string, number>();
  names.forEach((n, i) => index.set(n, i));
  const out = names.map((n) => {
    const edges: number[] = [];
    for (const d of n === extra?.name ? extra.after : (deps.get(n) ?? [])) {
      const j = index.get(d);
      if (j !== undefined) edges.push(j);
    }
    return edges;
  });
  return { names, index, out };
}

interface Components {
  /** comp[i]: the component of node i, numbered in emission order. */
  readonly comp: Int32Array;
  readonly members: readonly (readonly number[])[];
}

/**
 * Strongly connected components (Tarjan, with an explicit stack). Components
 * come out dependencies-first: every component a node depends on is emitted
 * before the node's own, which is exactly a start order over the
 * condensation and lets the layering below be a single pass.
 */
function components(g: Indexed): Components {
  const n = g.names.length;
  const order = new Int32Array(n).fill(-1);
  const low = new Int32Array(n);
  const onStack = new Uint8Array(n);
  const comp = new Int32Array(n).fill(-1);
  const members: number[][] = [];
  const stack: number[] = [];
  // Call stack of the depth-first walk: node and the next edge to follow.
  const callNode: number[] = [];
  const callEdge: number[] = [];
  let counter = 0;

  for (let root = 0; root < n; root++) {
    if (order[root] !== -1) continue;
    callNode.push(root);
    callEdge.push(0);
    order[root] = low[root] = counter++;
    stack.push(root);
    onStack[root] = 1;

    while (callNode.length > 0) {
      const top = callNode.length - 1;
      const v = callNode[top]!;
      const edges = g.out[v]!;
      const e = callEdge[top]!;
      if (e < edges.length) {
        callEdge[top] = e + 1;
        const w = edges[e]!;
        if (order[w] === -1) {
          order[w] = low[w] = counter++;
          stack.push(w);
          onStack[w] = 1;
          callNode.push(w);
          callEdge.push(0);
        } else if (onStack[w] === 1 && order[w]! < low[v]!) {
          low[v] = order[w]!;
        }
        continue;
      }
      callNode.pop();
      callEdge.pop();
      if (low[v] === order[v]) {
        const id = members.length;
        const group: number[] = [];
        let w: number;
        do {
          w = stack.pop()!;
          onStack[w] = 0;
          comp[w] = id;
          group.push(w);
        } while (w !== v);
        members.push(group);
      }
      const parent = callNode[callNode.length - 1];
      if (parent !== undefined && low[v]! < low[parent]!) low[parent] = low[v]!;
    }
  }
  return { comp, members };
}

function isCyclic(g: Indexed, members: readonly number[]): boolean {
  if (members.length > 1) return true;
  const only = members[0]!;
  return g.out[only]!.includes(only);
}

/**
 * Shortest path from `from` to `to` following dependency edges, restricted to
 * nodes `allowed` accepts; the path includes both ends. Breadth-first, so the
 * cycle a user is shown is the tightest one, in the file order of `after`.
 */
function shortestPath(
  out: (i: number) => readonly number[],
  from: readonly number[],
  to: number,
  allowed: (i: number) => boolean,
): number[] | null {
  const parent = new Map<number, number>();
  const queue: number[] = [];
  for (const f of from) {
    if (!allowed(f) || parent.has(f)) continue;
    parent.set(f, -1);
    queue.push(f);
  }
  for (let head = 0; head < queue.length; head++) {
    const v = queue[head]!;
    if (v === to) {
      const path: number[] = [];
      for (let at = v; at !== -1; at = parent.get(at)!) path.push(at);
      return path.reverse();
    }
    for (const w of out(v)) {
      if (allowed(w) && !parent.has(w)) {
        parent.set(w, v);
        queue.push(w);
      }
    }
  }
  return null;
}

/**
 * One cycle per strongly connected component that has one (size > 1, or a
 * self-loop), as a closed path `[a, b, c, a]` starting at the component's
 * smallest name. A component with several cycles is reported by the shortest
 * one through that name: enough to show the user where to cut. Sorted by
 * first name, so the output does not depend on the map's order.
 */
export function findCycles(deps: Deps): string[][] {
  const g = indexed(deps);
  const { comp, members } = components(g);
  const cycles: string[][] = [];
  for (const group of members) {
    if (!isCyclic(g, group)) continue;
    let start = group[0]!;
    for (const m of group) if (g.names[m]! < g.names[start]!) start = m;
    const id = comp[start]!;
    const path = shortestPath(
      (i) => g.out[i]!,
      g.out[start]!,
      start,
      (i) => comp[i] === id,
    )!;
    cycles.push([start, ...path].map((i) => g.names[i]!));
  }
  return cycles.sort((a, b) => compare(a[0]!, b[0]!));
}

export function formatCycle(cycle: readonly string[]): string {
  return cycle.join(' -> ');
}

/**
 * Whether giving `name` the dependencies `after` (adding it, or replacing its
 * current ones) would put it on a cycle; the cycle `[name, …, name]` if so.
 * Cycles elsewhere in the graph that do not pass through `name` are not its
 * doing and are not reported.
 */
export function wouldCycle(deps: Deps, name: string, after: readonly string[]): string[] | null {
  // With `name` added as a node, edges other services already have to it
  // (while it was missing) count too.
  const g = indexed(deps, { name, after });
  const self = g.index.get(name)!;
  const path = shortestPath(
    (i) => g.out[i]!,
    g.out[self]!,
    self,
    () => true,
  );
  return path === null ? null : [name, ...path.map((i) => g.names[i]!)];
}

/** Services with dependencies that name no known service; complete ones are absent. */
export function missingDeps(deps: Deps): Map<string, string[]> {
  const missing = new Map<string, string[]>();
  for (const [name, after] of deps) {
    const gone = after.filter((d) => !deps.has(d));
    if (gone.length > 0) missing.set(name, [...new Set(gone)]);
  }
  return missing;
}

/** Services that list `name` as a dependency, sorted. */
export function dependants(deps: Deps, name: string): string[] {
  const r: string[] = [];
  for (const [n, after] of deps) if (after.includes(name)) r.push(n);
  return r.sort(compare);
}

/**
 * Layers for starting: the first holds services with no known dependencies,
 * each later one services whose dependencies all sit in earlier layers (the
 * layering Kahn's algorithm produces, computed in one pass over the
 * components). Every service appears exactly once. The members of a cycle
 * share one layer, placed after everything the cycle depends on, so the order
 * is total even for a broken graph; whether to start them is the caller's call.
 */
export function startOrder(deps: Deps): string[][] {
  const g = indexed(deps);
  const { comp, members } = components(g);
  const layer = new Int32Array(members.length);
  // Emission order is dependencies-first, so each component's dependencies
  // already have their layer when it is reached.
  members.forEach((group, id) => {
    let l = 0;
    for (const v of group)
      for (const w of g.out[v]!) if (comp[w] !== id) l = Math.max(l, layer[comp[w]!]! + 1);
    layer[id] = l;
  });
  return layered(g, members, layer);
}

/**
 * Layers for stopping: each service comes before everything it depends on.
 * The first layer holds services nothing depends on, so services unrelated to
 * one another stop together rather than waiting for the deepest chain.
 */
export function stopOrder(deps: Deps): string[][] {
  const g = indexed(deps);
  const { comp, members } = components(g);
  const layer = new Int32Array(members.length);
  // Reverse emission order visits every dependant before its dependencies;
  // push each component's layer down to what it depends on.
  for (let id = members.length - 1; id >= 0; id--) {
    for (const v of members[id]!)
      for (const w of g.out[v]!) {
        const c = comp[w]!;
        if (c !== id) layer[c] = Math.max(layer[c]!, layer[id]! + 1);
      }
  }
  return layered(g, members, layer);
}

function layered(
  g: Indexed,
  members: readonly (readonly number[])[],
  layer: Int32Array,
): string[][] {
  const layers: string[][] = [];
  members.forEach((group, id) => {
    const l = layer[id]!;
    while (layers.length <= l) layers.push([]);
    for (const v of group) layers[l]!.push(g.names[v]!);
  });
  for (const l of layers) l.sort(compare);
  return layers;
}

/**
 * The heaviest dependency chain: the largest sum of `weight` along any path
 * of dependencies. With shutdown timeouts as weights it bounds how long a
 * full stop can take. A cycle's members stop together, so a cycle counts
 * once, with its heaviest member.
 */
export function longestChain(deps: Deps, weight: (name: string) => number): number {
  const g = indexed(deps);
  const { comp, members } = components(g);
  const best = new Float64Array(members.length);
  let max = 0;
  members.forEach((group, id) => {
    let own = 0;
    let below = 0;
    for (const v of group) {
      own = Math.max(own, weight(g.names[v]!));
      for (const w of g.out[v]!) if (comp[w] !== id) below = Math.max(below, best[comp[w]!]!);
    }
    best[id] = own + below;
    max = Math.max(max, best[id]!);
  });
  return max;
}

/** Code-unit order: stable across locales, unlike localeCompare. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
