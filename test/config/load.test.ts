// Service files on disk: what is not a readable UTF-8 regular file, and a
// directory where a bad file never stops the others.

import t from 'tap';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { MAX_FILE_BYTES, loadDir, loadServiceFile } from '../../lib/config/load.js';
import { formatProblem } from '../../lib/core/definition.js';

t.test('files', async (t) => {
  const dir = t.testdir({
    'web.yaml': 'exec: sleep 1\n',
    'dir.yaml': {},
    'latin1.yaml': Buffer.from('exec: x\nenv: {A: "caf\xe9"}\n', 'latin1'),
    'ff.yaml': Buffer.from([0xff, 0x0a]),
    'big.yaml': 'exec: x\n' + '#'.repeat(MAX_FILE_BYTES),
  });
  symlinkSync('loop.yaml', join(dir, 'loop.yaml'));

  const web = await loadServiceFile(join(dir, 'web.yaml'));
  t.equal(web.name, 'web');
  t.equal(web.ok && web.def.file, resolve(dir, 'web.yaml'));

  const show = async (f: string) => {
    const r = await loadServiceFile(join(dir, f));
    return r.ok ? [] : r.problems.map((p) => formatProblem({ ...p, file: f }));
  };
  t.same(await show('latin1.yaml'), [
    'latin1.yaml:2:14: not UTF-8 text: invalid byte 0xe9 at offset 21',
  ]);
  t.same(await show('ff.yaml'), ['ff.yaml:1:1: not UTF-8 text: invalid byte 0xff at offset 0']);
  t.same(await show('big.yaml'), [
    `big.yaml: file is ${MAX_FILE_BYTES + 8} bytes; a service file may be at most 1048576 bytes (1 MiB)`,
  ]);
  t.same(await show('loop.yaml'), [
    'loop.yaml: cannot read: too many levels of symbolic links (a symlink loop?) (ELOOP)',
  ]);
  t.same(await show('dir.yaml'), ['dir.yaml: not a regular file (a directory)']);
  t.same(await show('gone.yaml'), ['gone.yaml: cannot read: no such file or directory (ENOENT)']);
});

t.test('loadDir', async (t) => {
  const dir = t.testdir({
    'b.yaml': 'exec: b\nafter: [a]\n',
    'a.yml': 'exec: a\n',
    'twice.yaml': 'exec: x\n',
    'twice.yml': 'exec: y\n',
    'broken.yaml': 'exce: x\n',
    'notes.txt': 'not a service',
    sub: { 'c.yaml': 'exec: c\n' },
  });
  const { defs, problems } = await loadDir(dir);
  t.same(
    defs.map((d) => d.name),
    ['a', 'b'],
  );
  t.same(
    problems.map((p) => formatProblem({ ...p, file: p.file.slice(dir.length + 1) })),
    [
      "broken.yaml:1:1: unknown key 'exce' (did you mean 'exec'?)",
      "broken.yaml:1:1: missing required key 'exec'",
      "twice.yaml: service 'twice' is defined by both twice.yaml and twice.yml; neither is loaded",
      "twice.yml: service 'twice' is defined by both twice.yaml and twice.yml; neither is loaded",
    ],
  );
  const missing = await loadDir(join(dir, 'nope'));
  t.same(missing.defs, []);
  t.match(missing.problems, [{ line: 0, message: /^cannot read config directory: .*ENOENT/ }]);
  mkdirSync(join(dir, 'empty'));
  t.same(await loadDir(join(dir, 'empty')), { defs: [], problems: [] });
  writeFileSync(join(dir, 'empty', 'x.yaml'), 'exec: x\n');
  t.equal((await loadDir(join(dir, 'empty'))).defs[0]?.file, resolve(dir, 'empty', 'x.yaml'));
});

t.test('two services may not write one log file, nor one the other rotates to', async (t) => {
  const dir = t.testdir({
    'a.yaml': 'exec: a\nlog: {file: /var/log/app.log}\n',
    'b.yaml': 'exec: b\ndir: /var/log\nlog: {file: app.log}\n',
    'c.yaml': 'exec: c\nlog: {file: /var/log/c.log, keep: 2}\n',
    'd.yaml': 'exec: d\nlog: {file: /var/log/c.log.2}\n',
    'e.yaml': 'exec: e\nlog: {file: /var/log/c.log.3}\n',
    'f.yaml': 'exec: f\nlog: stdout\n',
    'g.yaml': 'exec: g\nlog: stdout\n',
  });
  const { defs, problems } = await loadDir(dir);
  t.same(
    defs.map((d) => d.name),
    ['e', 'f', 'g'],
  );
  const at = (f: string): string => join(dir, f);
  t.same(problems.map(formatProblem), [
    `${at('a.yaml')}: its log file /var/log/app.log is also written by ${at('b.yaml')}; a log file belongs to one service, so neither is loaded`,
    `${at('b.yaml')}: its log file /var/log/app.log is also written by ${at('a.yaml')}; a log file belongs to one service, so neither is loaded`,
    `${at('c.yaml')}: its log file /var/log/c.log.2 is also written by ${at('d.yaml')}; a log file belongs to one service, so neither is loaded`,
    `${at('d.yaml')}: its log file /var/log/c.log.2 is also written by ${at('c.yaml')}; a log file belongs to one service, so neither is loaded`,
  ]);
});

t.test('a relative dir is taken from the config directory, not from the cwd', async (t) => {
  const dir = t.testdir({
    'rel.yaml': 'exec: x\ndir: work/here\nlog: {file: out.log}\n',
    'dot.yaml': 'exec: x\ndir: .\n',
    'abs.yaml': 'exec: x\ndir: /srv\n',
    'none.yaml': 'exec: x\n',
  });
  const dirOf = async (f: string): Promise<string | false> => {
    const r = await loadServiceFile(join(dir, f));
    return r.ok && r.def.dir;
  };
  t.equal(await dirOf('rel.yaml'), join(dir, 'work/here'));
  t.equal(await dirOf('dot.yaml'), dir);
  t.equal(await dirOf('abs.yaml'), '/srv');
  t.equal(await dirOf('none.yaml'), '/');
});
