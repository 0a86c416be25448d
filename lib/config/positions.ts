// Where things are in a YAML service file: source offsets as line:column,
// JSON pointers as the spot of a value (and of its key), and duplicate keys
// named with their first place. Pure: reads the parser's events, never a
// file, and judges nothing about what the values mean.

import { EVENT_ID, SCALAR_STYLE, getScalarValue, type Event } from 'js-yaml';

export interface Spot {
  readonly line: number;
  readonly column: number;
}

/** Where a JSON pointer's value (and, inside a mapping, its key) sits in the source. */
export interface Located {
  readonly key?: Spot;
  readonly value: Spot;
}

export type Locate = (pointer: string) => Located | undefined;
export type SpotOf = (offset: number) => Spot | undefined;

export interface LocateResult {
  readonly spots: Map<string, Located>;
  readonly problems: { spot: Spot | undefined; message: string }[];
  documents: number;
  secondDocument: Spot | undefined;
}

type NodeEvent = Exclude<Event, { type: typeof EVENT_ID.DOCUMENT | typeof EVENT_ID.POP }>;

type Frame =
  | { kind: 'doc' }
  | { kind: 'seq'; path: string | null; index: number }
  | {
      kind: 'map';
      path: string | null;
      /** undefined: the next node is a key; null: a key that is not a plain scalar. */
      key: string | null | undefined;
      keySpot: Spot | undefined;
      seen: Map<string, Spot>;
    };

/**
 * Walks the parser's events to find where every value (and key) starts, by
 * JSON pointer, and reports duplicate keys by name: js-yaml's own duplicate
 * error names neither the key nor the first occurrence.
 */
export function locate(text: string, events: readonly Event[], spotOf: SpotOf): LocateResult {
  const walk = new Walk(text, spotOf);
  for (const ev of events) walk.event(ev);
  return walk.out;
}

/** The walk's state: a stack of open collections, each knowing its pointer. */
class Walk {
  readonly out: LocateResult = {
    spots: new Map(),
    problems: [],
    documents: 0,
    secondDocument: undefined,
  };
  private readonly stack: Frame[] = [];

  constructor(
    private readonly text: string,
    private readonly spotOf: SpotOf,
  ) {}

  event(ev: Event): void {
    if (ev.type === EVENT_ID.DOCUMENT) {
      this.out.documents++;
      this.stack.push({ kind: 'doc' });
    } else if (ev.type === EVENT_ID.POP) this.stack.pop();
    else this.node(ev);
  }

  private node(ev: NodeEvent): void {
    const top = this.stack.at(-1);
    if (!top) return;
    const spot = this.spotOf(startOf(ev));
    if (top.kind === 'map' && top.key === undefined) {
      this.key(top, ev, spot);
      return;
    }
    const [path, keySpot] = this.place(top, spot);
    const value = spot ?? keySpot;
    if (path !== null && value)
      this.out.spots.set(path, keySpot ? { key: keySpot, value } : { value });
    this.open(ev, path);
  }

  /** The pointer of a value in `top`, and its key's spot when in a mapping. */
  private place(top: Frame, spot: Spot | undefined): [string | null, Spot | undefined] {
    if (top.kind === 'doc') {
      if (this.out.documents === 1) return ['', undefined];
      this.out.secondDocument ??= spot;
      return [null, undefined];
    }
    if (top.kind === 'seq') {
      const path = top.path === null ? null : `${top.path}/${top.index}`;
      top.index++;
      return [path, undefined];
    }
    const path =
      top.key === null || top.key === undefined || top.path === null
        ? null
        : `${top.path}/${escapePointer(top.key)}`;
    const keySpot = top.keySpot;
    top.key = undefined;
    return [path, keySpot];
  }

  /** A mapping's key: remembered for its value, and reported when it repeats. */
  private key(top: Frame & { kind: 'map' }, ev: NodeEvent, spot: Spot | undefined): void {
    if (ev.type !== EVENT_ID.SCALAR) {
      // A key that is itself a collection: walked, but it has no pointer.
      top.key = null;
      this.open(ev, null);
      return;
    }
    const key = getScalarValue(this.text, ev);
    const first = top.seen.get(key);
    if (first && top.path !== null) {
      const where = top.path ? `${label(top.path)}: ` : '';
      this.out.problems.push({
        spot,
        message: `${where}duplicate key '${key}' (first at line ${first.line})`,
      });
    } else if (spot) top.seen.set(key, spot);
    top.key = key;
    top.keySpot = spot;
  }

  private open(ev: NodeEvent, path: string | null): void {
    if (ev.type === EVENT_ID.MAPPING)
      this.stack.push({ kind: 'map', path, key: undefined, keySpot: undefined, seen: new Map() });
    if (ev.type === EVENT_ID.SEQUENCE) this.stack.push({ kind: 'seq', path, index: 0 });
  }
}

/** Where a node's text begins, counting its anchor, tag and opening quote; -1 for an empty scalar. */
function startOf(ev: NodeEvent): number {
  let own: number;
  if (ev.type === EVENT_ID.SCALAR) {
    const quoted =
      ev.style === SCALAR_STYLE.SINGLE_QUOTED || ev.style === SCALAR_STYLE.DOUBLE_QUOTED;
    own = ev.valueStart < 0 ? -1 : ev.valueStart - (quoted ? 1 : 0);
  } else own = ev.type === EVENT_ID.ALIAS ? ev.anchorStart - 1 : ev.start;
  // anchorStart points past the `&`.
  const anchor = ev.type !== EVENT_ID.ALIAS && ev.anchorStart >= 0 ? ev.anchorStart - 1 : -1;
  const tag = ev.type !== EVENT_ID.ALIAS ? ev.tagStart : -1;
  const starts = [own, anchor, tag].filter((n) => n >= 0);
  return starts.length ? Math.min(...starts) : -1;
}

/** Offsets to 1-based line:column, lines counted at LF as every editor counts them. */
export function offsetToSpot(text: string): SpotOf {
  const lineStarts = [0];
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) lineStarts.push(i + 1);
  return (offset) => {
    if (offset < 0) return undefined;
    let lo = 0;
    let hi = lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((lineStarts[mid] ?? 0) <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: offset - (lineStarts[lo] ?? 0) + 1 };
  };
}

/** Line:column of a byte offset in text that is not UTF-8 (so cannot be decoded first). */
export function byteSpot(bytes: Uint8Array, offset: number): Spot {
  const lineStart = offset === 0 ? 0 : bytes.lastIndexOf(0x0a, offset - 1) + 1;
  const line = bytes.subarray(0, lineStart).reduce((n, x) => n + (x === 0x0a ? 1 : 0), 1);
  const column = new TextDecoder().decode(bytes.subarray(lineStart, offset)).length + 1;
  return { line, column };
}

export function escapePointer(key: string): string {
  return key.replaceAll('~', '~0').replaceAll('/', '~1');
}

/** `/signal/stop` → `signal.stop`, `/after/1` → `after[1]`: how a person names a key. */
export function label(pointer: string): string {
  return pointer
    .split('/')
    .slice(1)
    .map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'))
    .reduce((acc, s) => (/^[0-9]+$/.test(s) ? `${acc}[${s}]` : acc ? `${acc}.${s}` : s), '');
}
