// Command lines split shell-style: quotes, backslashes, nothing expanded.

import t from 'tap';
import { split } from '../../lib/core/shellwords.js';

t.test('shellwords', async (t) => {
  const ok = (line: string) => {
    const r = split(line);
    return r.ok ? r.argv : r.error;
  };
  t.same(ok('a  b\tc'), ['a', 'b', 'c']);
  t.same(ok('\'a b\' "c d"'), ['a b', 'c d']);
  t.same(ok('\'\' "" x'), ['', '', 'x']);
  t.same(ok('a\\ b c\\"d'), ['a b', 'c"d']);
  t.same(ok('"a\\"b\\\\c\\$d\\`e\\n"'), ['a"b\\c$d`e\\n']);
  t.same(ok("'no \\escapes $HOME'"), ['no \\escapes $HOME']);
  t.same(ok('echo $HOME *.txt ~'), ['echo', '$HOME', '*.txt', '~']);
  t.same(ok('x"y"\'z\''), ['xyz']);
  t.same(ok('"line\\\ncont"'), ['linecont']);
  t.same(ok('   '), []);
  t.equal(ok('echo "hi'), 'unterminated double quote at character 6');
  t.equal(ok("it's"), 'unterminated single quote at character 3');
  t.equal(ok('x \\'), 'trailing backslash escapes nothing');
});
