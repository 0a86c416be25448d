// A service file's env in the words it was written: YAML reads `0777`,
// `1.10` or `0x1F` as numbers and would hand the process `777`, `1.1` and
// `31`; here each env value keeps its source text, and keys YAML reads as
// something other than a string (`~`, `1`, `true`) are found to be refused.
// Pure: reads the parser's events, never a file.

import { CORE_SCHEMA, eventsToAst, type Event, type Node } from 'js-yaml';

export interface EnvSource {
  /** Each env value that is a scalar, as written, by key (the last of a repeated key). */
  readonly texts: ReadonlyMap<string, string>;
  /** Scalar keys that YAML does not read as a string: their text, and what YAML reads instead. */
  readonly badKeys: readonly { readonly text: string; readonly reads: string }[];
  /** `umask` as written (`0027` is octal there, where YAML reads the number 27). */
  readonly umask?: string;
}

const NOTHING: EnvSource = { texts: new Map(), badKeys: [] };
const NOT_STRING = /^(?:tag:yaml\.org,2002:|!!)(null|bool|int|float)$/;
const READS: Readonly<Record<string, string>> = {
  null: 'null',
  bool: 'true or false',
  int: 'a number',
  float: 'a number',
};

/** The env of the first document, in source words; nothing when there is no env mapping. */
export function envSource(text: string, events: Event[]): EnvSource {
  const root = eventsToAst(events, { source: text, schema: CORE_SCHEMA })[0]?.contents;
  const anchors = new Map<string, Node | null>();
  if (root) collectAnchors(root, anchors);
  const deref = (n: Node | null | undefined): Node | undefined =>
    n?.kind === 'alias' ? (anchors.get(n.anchor) ?? undefined) : (n ?? undefined);
  const top = deref(root);
  if (top?.kind !== 'mapping') return NOTHING;
  const valueOf = (name: string): Node | undefined =>
    deref(
      top.items.findLast((i) => {
        const key = deref(i.key);
        return key?.kind === 'scalar' && key.value === name && !NOT_STRING.test(key.tag);
      })?.value,
    );
  const mask = valueOf('umask');
  const umask = mask?.kind === 'scalar' ? { umask: mask.value } : {};
  const env = valueOf('env');
  if (env?.kind !== 'mapping') return { ...NOTHING, ...umask };
  const texts = new Map<string, string>();
  const badKeys: { text: string; reads: string }[] = [];
  for (const { key, value } of env.items) {
    const k = deref(key);
    const v = deref(value);
    // A list or mapping as a key is refused by the constructor already.
    if (k?.kind !== 'scalar') continue;
    const reads = NOT_STRING.exec(k.tag)?.[1];
    if (reads !== undefined) badKeys.push({ text: k.value, reads: READS[reads] ?? reads });
    else if (v?.kind === 'scalar') texts.set(k.value, v.value);
  }
  return { texts, badKeys, ...umask };
}

/** Anchors by name; one defined twice is left out, as its aliases could mean either. */
function collectAnchors(node: Node, anchors: Map<string, Node | null>): void {
  if (node.kind === 'alias') return;
  if (node.anchor !== undefined) anchors.set(node.anchor, anchors.has(node.anchor) ? null : node);
  if (node.kind === 'sequence') for (const n of node.items) collectAnchors(n, anchors);
  if (node.kind === 'mapping') {
    for (const { key, value } of node.items) {
      collectAnchors(key, anchors);
      collectAnchors(value, anchors);
    }
  }
}
