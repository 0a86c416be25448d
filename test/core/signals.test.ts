// The signal table is Linux's, as Node knows it on this machine; names and
// numbers parse both ways, and aliases print as Node prints them.

import t from 'tap';
import { constants } from 'node:os';
import { SIGNALS, parseSignal, signalByName, signalNameOf } from '../../lib/core/signals.js';

t.test("the table is Node's, in Node's order", async (t) => {
  t.same(Object.entries(SIGNALS), Object.entries(constants.signals));
});

t.test('names in any spelling; numbers; aliases print their first name', async (t) => {
  t.equal(signalByName('term'), 'SIGTERM');
  t.equal(signalByName(' SigHup '), 'SIGHUP');
  t.equal(signalByName('SIGIOT'), 'SIGIOT');
  t.equal(signalByName('9'), null, 'names only');
  t.equal(signalByName('NOPE'), null);
  t.equal(parseSignal('9'), 'SIGKILL');
  t.equal(parseSignal(6), 'SIGABRT');
  t.equal(parseSignal('usr1'), 'SIGUSR1');
  t.equal(parseSignal(99), null);
  t.equal(signalNameOf(29), 'SIGIO');
  t.equal(signalNameOf(34), 'SIGRTMIN+0');
  t.equal(signalNameOf(40), 'SIGRTMIN+6');
  t.equal(signalNameOf(32), 'SIG32', "glibc's own");
});
