// The version sminit reports, rpc.discover and `sminitd --version` alike: the
// package's own, read from package.json, so a release changes it in one place.
// dist/ mirrors the tree, so the same relative path serves lib/ and dist/lib/.

import pkg from '../../package.json' with { type: 'json' };

export const VERSION: string = pkg.version;
