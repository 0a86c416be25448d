// The architecture, checked: every import in lib/ and bin/ is read (static,
// type-only and dynamic) and held against the layering ARCHITECTURE.md
// describes. The tree reads top-down: the pure core imports nothing with
// I/O, no layer imports one above it, supervision reaches the OS only
// through the seam it is given, the typed client needs nothing but `net` and
// the wire types, and nothing in lib/ imports bin/. ARCHITECTURE.md's code
// map names every file in lib/, and only files that exist.

import t from 'tap';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

interface Edge {
  readonly from: string;
  /** A path relative to the root for a relative import, else the package or `node:` name. */
  readonly to: string;
  readonly typeOnly: boolean;
  readonly dynamic: boolean;
}

function files(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return files(path);
    return e.name.endsWith('.ts') ? [path] : [];
  });
}

function edgesOf(file: string): Edge[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true);
  const out: Edge[] = [];
  const add = (spec: string, typeOnly: boolean, dynamic: boolean): void => {
    const to = spec.startsWith('.')
      ? relative(ROOT, resolve(ROOT, dirname(file), spec)).replace(/\.js$/, '.ts')
      : spec;
    out.push({ from: file, to, typeOnly, dynamic });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.importClause;
      const allTypes =
        clause !== undefined &&
        (clause.isTypeOnly ||
          (clause.name === undefined &&
            clause.namedBindings !== undefined &&
            ts.isNamedImports(clause.namedBindings) &&
            clause.namedBindings.elements.length > 0 &&
            clause.namedBindings.elements.every((e) => e.isTypeOnly)));
      add(node.moduleSpecifier.text, allTypes, false);
    } else if (
      ts.isExportDeclaration(node) &&
      node.moduleSpecifier !== undefined &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      add(node.moduleSpecifier.text, node.isTypeOnly, false);
    } else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] !== undefined &&
      ts.isStringLiteral(node.arguments[0])
    ) {
      add(node.arguments[0].text, false, true);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return out;
}

const LIB = files('lib').filter((f) => !f.endsWith('.d.ts'));
const ALL = [...LIB, ...files('bin')];
const EDGES = ALL.flatMap(edgesOf);

/** The folder under lib/ a file belongs to, or null for one outside lib/. */
const layerOf = (path: string): string | null => /^lib\/([^/]+)\//.exec(path)?.[1] ?? null;

/**
 * What each layer may import from lib/ at run time, lowest first. A layer
 * may import its own files and those of the layers listed.
 */
const MAY_IMPORT: Readonly<Record<string, readonly string[]>> = {
  core: [],
  os: ['core'],
  logs: ['core'],
  config: ['core'],
  supervise: ['core', 'logs', 'config'],
  api: ['core', 'logs', 'config', 'supervise', 'os'],
  transport: ['core', 'logs', 'api', 'os'],
  client: ['core', 'api'],
  daemon: ['core', 'logs', 'config', 'supervise', 'os', 'api', 'transport'],
};

const shown = (e: Edge): string =>
  `${e.from} → ${e.to}${e.typeOnly ? ' (type)' : ''}${e.dynamic ? ' (dynamic)' : ''}`;

t.test('every file in lib/ sits in a known layer', async (t) => {
  t.same(
    LIB.filter((f) => !Object.hasOwn(MAY_IMPORT, layerOf(f) ?? '')),
    [],
  );
});

t.test('no import runs back up a layer', async (t) => {
  const bad = EDGES.filter((e) => {
    const from = layerOf(e.from);
    const to = layerOf(e.to);
    if (from === null || to === null || from === to) return false;
    // Types describe, they do not run: supervision names the OS's types in its seam.
    if (e.typeOnly && from === 'supervise' && to === 'os') return false;
    // The CLI's offline `check` loads the config layer (and the OS layer's
    // user database for it), and only when asked.
    if (e.dynamic && from === 'client' && (to === 'config' || to === 'os')) return false;
    return !(MAY_IMPORT[from] ?? []).includes(to);
  });
  t.same(bad.map(shown), []);
});

t.test('the core imports nothing with I/O: no node:*, no package', async (t) => {
  const bad = EDGES.filter((e) => layerOf(e.from) === 'core' && layerOf(e.to) !== 'core');
  t.same(bad.map(shown), []);
});

t.test('supervision reaches the OS only through its seam: types, never code', async (t) => {
  const bad = EDGES.filter(
    (e) =>
      layerOf(e.from) === 'supervise' &&
      !e.typeOnly &&
      (layerOf(e.to) === 'os' || /^node:(child_process|net|dgram|os)$/.test(e.to)),
  );
  t.same(bad.map(shown), []);
});

t.test('the manager imports no transport', async (t) => {
  const bad = EDGES.filter(
    (e) => e.from.startsWith('lib/supervise/') && layerOf(e.to) === 'transport',
  );
  t.same(bad.map(shown), []);
});

t.test('the typed client needs nothing at run time but net and the wire types', async (t) => {
  const allowed = new Set(['node:net', 'lib/api/wire.ts']);
  // What the wire types themselves import at run time: pure shapes only.
  const wire = EDGES.filter((e) => e.from === 'lib/api/wire.ts' && !e.typeOnly);
  for (const e of wire) t.equal(layerOf(e.to), 'core', `wire.ts → ${e.to} is pure`);
  const bad = EDGES.filter(
    (e) => e.from === 'lib/client/client.ts' && !e.typeOnly && !allowed.has(e.to),
  );
  t.same(bad.map(shown), []);
});

t.test('nothing in lib/ imports bin/', async (t) => {
  const bad = EDGES.filter((e) => e.from.startsWith('lib/') && e.to.startsWith('bin/'));
  t.same(bad.map(shown), []);
});

/** Every file ARCHITECTURE.md's code map names, as a path from the root. */
function codeMap(): Set<string> {
  const text = readFileSync(join(ROOT, 'ARCHITECTURE.md'), 'utf8');
  const map = text.split('## Code map')[1]?.split('\n## ')[0] ?? '';
  const named = new Set<string>();
  let folder = '';
  for (const line of map.split('\n')) {
    const heading = /^### `([^`]+\/)`/.exec(line);
    if (heading) folder = heading[1] ?? '';
    if (!line.startsWith('|')) continue;
    const first = line.split('|')[1] ?? '';
    for (const [, name] of first.matchAll(/`([^`]+)`/g)) {
      if (name === undefined || name.endsWith('/')) continue;
      named.add(name.includes('/') ? name : folder + name);
    }
  }
  return named;
}

t.test(
  "ARCHITECTURE.md's code map names every file in lib/ and bin/, and only those",
  async (t) => {
    const named = codeMap();
    const inTree = [...files('lib'), ...files('bin')];
    t.same(
      inTree.filter((f) => !named.has(f)),
      [],
      'files the code map does not name (add a row: what it owns, what it must not do)',
    );
    t.same(
      [...named].filter(
        (f) => (f.startsWith('lib/') || f.startsWith('bin/')) && !inTree.includes(f),
      ),
      [],
      'rows naming files that do not exist',
    );
  },
);
