// The one name rule: what a service name may be, and the message when not.

import t from 'tap';
import { nameError } from '../../lib/core/names.js';

t.test('nameError', async (t) => {
  for (const ok of ['web', 'a', '0', '_x', '@host', 'a-b', 'a_b@c-1', 'x'.repeat(128)])
    t.equal(nameError(ok), null, `${ok.slice(0, 20)} is valid`);
  for (const bad of ['-a', 'a.b', 'a/b', '../x', 'a\\b', 'a b', 'é', 'a\0', 'x'.repeat(129)])
    t.match(nameError(bad), /^invalid service name ".*": names use letters/, JSON.stringify(bad));
  t.equal(nameError(''), 'service name is empty');
  t.equal(nameError(42), 'service name must be a string');
  t.equal(nameError(null), 'service name must be a string');
  t.equal(
    nameError('.'.repeat(50)),
    `invalid service name "${'.'.repeat(40)}…": names use letters, digits, '_', '@' and '-' (not first), at most 128 characters`,
    'a long name is shortened in the message',
  );
});
