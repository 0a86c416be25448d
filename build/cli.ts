// Build step: bundle the CLI's common path (bin/sminit.js and what it imports
// statically: argument parsing, the client, formatting) into one CommonJS
// file, dist/bin/sminit.cjs. Node starts a CommonJS file without its ES
// module loader, and one file is one read and one compile instead of a
// dozen resolved, read and linked one by one: `sminit status NAME` takes
// about 70% of the time. What the common path imports lazily (log,
// top, graph, help and yargs, check and the validator) stays out of the
// bundle and is imported from dist/lib as built. Run after tsc: `npm run build`.
// Such a lazy module gets its own copy of what it imports (format, core):
// a class from the bundle, such as the client's errors, is not the class it
// would import, so it must not test the bundle's objects with instanceof.

import { build, type Plugin } from 'esbuild';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * A lazy `import('./x.js')` stays a lazy import, of the module tsc built,
 * its path rewritten from where the importer was to where the bundle is.
 */
function lazyImportsStayOut(outDir: string): Plugin {
  return {
    name: 'lazy-imports-stay-out',
    setup(b) {
      b.onResolve({ filter: /.*/ }, (args) => {
        if (args.kind !== 'dynamic-import') return undefined;
        if (!args.path.startsWith('.')) return { path: args.path, external: true };
        const rel = relative(outDir, resolve(args.resolveDir, args.path));
        return { path: rel.startsWith('.') ? rel : `./${rel}`, external: true };
      });
    },
  };
}

/** Bundles dist/bin/sminit.js into dist/bin/sminit.cjs. */
export async function bundleCli(dist: string): Promise<void> {
  const outDir = join(dist, 'bin');
  await build({
    entryPoints: [join(outDir, 'sminit.js')],
    outfile: join(outDir, 'sminit.cjs'),
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    // The one use of import.meta, the path of sminitd.js beside this file.
    define: { 'import.meta.url': '__sminitUrl' },
    banner: {
      js: "'use strict';\nconst __sminitUrl = require('node:url').pathToFileURL(__filename).href;",
    },
    plugins: [lazyImportsStayOut(outDir)],
    logLevel: 'warning',
  });
}

const self = fileURLToPath(import.meta.url);
if (process.argv[1] !== undefined && resolve(process.argv[1]) === self) {
  await bundleCli(join(dirname(self), '..'));
}
