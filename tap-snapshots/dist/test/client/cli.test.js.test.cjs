/* IMPORTANT
 * This snapshot file is auto-generated, but designed for humans.
 * It should be checked into source control and tracked carefully.
 * Re-generate by setting TAP_SNAPSHOT=1 and running tests.
 * Make sure to inspect the output below.  Do not ignore changes!
 */
'use strict'
exports[`dist/test/client/cli.test.js > TAP > check DIR > a bad file and a cycle > check output 1`] = `
<DIR>/bad.yaml:3:1: unknown key 'exce' (did you mean 'exec'?)
<DIR>: dependency cycle a -> b -> a
2 problems in <DIR>

`
