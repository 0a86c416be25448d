// The one name rule: what a service name may be, and the message when not.

import t from 'tap';
import { isPattern, matcher, nameError, patternError } from '../../lib/core/names.js';

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

t.test('patterns over names', async (t) => {
  const names = ['web-1', 'web-2', 'web-10', 'db', 'db@main', 'db@test', 'api'];
  const pick = (p: string): string[] => names.filter(matcher(p));
  t.same(pick('web-*'), ['web-1', 'web-2', 'web-10']);
  t.same(pick('web-?'), ['web-1', 'web-2']);
  t.same(pick('db@*'), ['db@main', 'db@test']);
  t.same(pick('[ad]*'), ['db', 'db@main', 'db@test', 'api']);
  t.same(pick('[!w]*'), ['db', 'db@main', 'db@test', 'api']);
  t.same(pick('[^w]??'), ['api']);
  t.same(pick('web-[1-2]'), ['web-1', 'web-2']);
  t.same(pick('*'), names);
  t.same(pick('db'), ['db'], 'no metacharacter: the name itself');
  t.ok(isPattern('a*') && isPattern('a?') && isPattern('[a]'));
  t.notOk(isPattern('web@main'));
  t.equal(patternError('web-*'), null);
  const bad: [string, string][] = [
    ['', 'the pattern is empty'],
    ['../*', '"." cannot be in a service name, so not in a pattern'],
    ['a/*', '"/" cannot be in a service name, so not in a pattern'],
    ['web-[', "unclosed '[' at character 5"],
    ['[z-a]', "'[z-a]' is not a set of name characters"],
    ['[.]', "'[.]' is not a set of name characters"],
    ['x'.repeat(300), 'a pattern is at most 256 characters'],
  ];
  for (const [p, why] of bad) {
    t.equal(patternError(p), `invalid pattern ${JSON.stringify(p)}: ${why}`, JSON.stringify(p));
    t.throws(() => matcher(p), { name: 'SminitError', message: /^invalid pattern/ });
  }
});
