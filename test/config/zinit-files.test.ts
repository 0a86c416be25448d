// zinit's file API: service_create / service_delete / service_get, as
// functions on a temp directory and through the daemon.

import t from 'tap';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadServiceFile } from '../../lib/config/load.js';
import { parseServiceObject } from '../../lib/config/parse.js';
import { SminitError } from '../../lib/core/errors.js';
import { codeOf } from '../../lib/api/errors.js';
import type { RpcError } from '../../lib/client/client.js';
import {
  createServiceFile,
  deleteServiceFile,
  readServiceFile,
} from '../../lib/config/zinit-files.js';
import { startDaemon, tempDir } from '../helpers/daemon.js';
import { waitFor } from '../helpers/wait.js';

const code = (c: number) => ({ code: c });
/** A domain error as a client sees it: with its JSON-RPC code. */
const coded = <T>(p: Promise<T>): Promise<T> =>
  p.catch((e: unknown) => {
    throw e instanceof SminitError ? Object.assign(new Error(e.message), { code: codeOf(e) }) : e;
  });

t.test('create writes a file the loader reads as the object it was given', async (t) => {
  const dir = tempDir(t);
  const content = {
    exec: 'sh -c "echo hi; sleep 1"',
    test: 'true',
    after: ['db'],
    signal: { stop: 'sigint' },
    log: null,
    env: { PORT: '8080', DEBUG: true },
    shutdown_timeout: 20,
  };
  t.equal(await createServiceFile(dir, 'web', content), "Service 'web' created successfully");
  const file = join(dir, 'web.yaml');
  const loaded = await loadServiceFile(file);
  const direct = parseServiceObject('web', file, content);
  t.ok(loaded.ok && direct.ok);
  if (loaded.ok && direct.ok) t.same(loaded.def, direct.def);
  t.same(readdirSync(dir), ['web.yaml'], 'no temporary file left behind');
  t.same(
    await readServiceFile(dir, 'web'),
    { ...content, env: { PORT: '8080', DEBUG: 'true' } },
    'get returns what was created, env values as the process gets them',
  );
});

t.test('get answers env values in the words of the file', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'a.yaml'), 'exec: x\nenv: {V1: 1.10, V2: 0777, V6: 0x1F, P: 8080}\n');
  t.same(await readServiceFile(dir, 'a'), {
    exec: 'x',
    env: { V1: '1.10', V2: '0777', V6: '0x1F', P: '8080' },
  });
  const big = { exec: 'x', env: { BIG: 1e21, F: 0.5, B: false } };
  await createServiceFile(dir, 'b', big);
  const loaded = await loadServiceFile(join(dir, 'b.yaml'));
  t.same(loaded.ok && loaded.def.env, { BIG: '1e+21', F: '0.5', B: 'false' }, 'as it was checked');
});

t.test('create refuses a name that exists, as .yaml or .yml', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'a.yaml'), 'exec: old\n');
  writeFileSync(join(dir, 'b.yml'), 'exec: old\n');
  await t.rejects(coded(createServiceFile(dir, 'a', { exec: 'new' })), code(-32007));
  await t.rejects(coded(createServiceFile(dir, 'b', { exec: 'new' })), code(-32007));
  t.equal(readFileSync(join(dir, 'a.yaml'), 'utf8'), 'exec: old\n', 'untouched');
  t.same(readdirSync(dir).sort(), ['a.yaml', 'b.yml']);
});

t.test('create validates exactly as a file on disk, every problem at once', async (t) => {
  const dir = tempDir(t);
  const err = (await createServiceFile(dir, 'x', {
    exce: 'sleep 1',
    signal: { stop: 'TREM' },
    oneshot: 'yes',
  }).catch((e: unknown) => e)) as SminitError;
  t.equal(codeOf(err), -32005);
  t.match(err.message, /unknown key 'exce' \(did you mean 'exec'\?\)/);
  t.match(err.message, /missing required key 'exec'/);
  t.match(err.message, /oneshot/);
  t.ok(Array.isArray(err.data), 'the problems as data');
  await t.rejects(
    coded(createServiceFile(dir, 'x', 'exec: sleep 1')),
    code(-32005),
    'not an object',
  );
  await t.rejects(coded(createServiceFile(dir, 'x', { exec: 'a', cmd: 'b' })), code(-32005));
  t.same(readdirSync(dir), [], 'nothing written');
});

t.test('no name can leave the directory', async (t) => {
  const root = tempDir(t);
  const dir = join(root, 'etc');
  mkdirSync(dir);
  for (const name of ['../x', 'a/b', 'a.b', '..', '.hidden', '', 'a\\b', 'a\0b', '-x']) {
    await t.rejects(
      coded(createServiceFile(dir, name, { exec: 'x' })),
      code(-32602),
      `create ${name}`,
    );
    await t.rejects(coded(deleteServiceFile(dir, name)), code(-32602), `delete ${name}`);
    await t.rejects(coded(readServiceFile(dir, name)), code(-32602), `get ${name}`);
  }
  t.same(readdirSync(root), ['etc']);
  t.same(readdirSync(dir), []);
});

t.test('delete and get', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'a.yml'), 'exec: sleep 1\n');
  writeFileSync(join(dir, 'bad.yaml'), 'exec: [\n');
  writeFileSync(join(dir, 'invalid.yaml'), 'exec: sleep 1\nsignal: {stop: NOPE}\n');
  t.same(await readServiceFile(dir, 'a'), { exec: 'sleep 1' });
  await t.rejects(coded(readServiceFile(dir, 'nosuch')), code(-32000));
  await t.rejects(coded(readServiceFile(dir, 'bad')), code(-32008));
  await t.rejects(coded(readServiceFile(dir, 'invalid')), {
    code: -32008,
    message: /invalid.yaml:2:/,
  });
  t.equal(await deleteServiceFile(dir, 'a'), "Service 'a' deleted successfully");
  await t.rejects(coded(deleteServiceFile(dir, 'a')), code(-32000));
  t.same(readdirSync(dir).sort(), ['bad.yaml', 'invalid.yaml']);
});

t.test('through the daemon: create, monitor, delete leaves it tracked', async (t) => {
  const d = await startDaemon(t, {});
  const c = d.client;
  t.equal(
    await c.call('service_create', { name: 'made', content: { exec: 'sleep 1000' } }),
    "Service 'made' created successfully",
  );
  await t.rejects(c.status('made'), code(-32000), 'created, not tracked');
  d.write(
    'env',
    'exec: sh -c \'echo "$V1 $V2 $V6 $V4"; exec sleep 1000\'\nenv: {V1: 1.10, V2: 0777, V6: 0x1F, V4: 12345678901234567890}\n',
  );
  await c.monitor('env');
  await waitFor('the env line', async () =>
    (await c.readLogs({ names: ['env'], stream: 'stdout' })).lines.some(
      (l) => l.text === '1.10 0777 0x1F 12345678901234567890',
    ),
  );
  t.same(await c.call('service_get', { name: 'env' }), {
    exec: 'sh -c \'echo "$V1 $V2 $V6 $V4"; exec sleep 1000\'',
    env: { V1: '1.10', V2: '0777', V6: '0x1F', V4: '12345678901234567890' },
  });
  await c.forget('env');
  await c.call('service_delete', { name: 'env' });
  t.same(await c.call('service_get', { name: 'made' }), { exec: 'sleep 1000' });
  await c.monitor('made');
  await d.waitStatus('made', (s) => s.status === 'running', 'running');
  t.equal(await c.call('service_delete', { name: 'made' }), "Service 'made' deleted successfully");
  t.equal((await c.status('made')).status, 'running', 'service_delete only removes the file');
  await t.rejects(c.call('service_get', { name: 'made' }), code(-32000));
  await t.rejects(c.call('service_create', { name: 'bad', content: { exec: '' } }), code(-32005));
  await t.rejects(
    c.call('service_create', {
      name: 'x',
      content: ['exec'] as unknown as Record<string, unknown>,
    }),
    code(-32602),
    'content must be an object',
  );
  // Many creates at once: each name exactly once, nothing half-written.
  const names = Array.from({ length: 20 }, (_, i) => `n${i}`);
  const results = await Promise.allSettled(
    [...names, ...names].map((name) =>
      c.call('service_create', { name, content: { exec: `sleep ${name.slice(1)}` } }),
    ),
  );
  t.equal(results.filter((r) => r.status === 'fulfilled').length, names.length);
  t.equal(
    results.filter((r) => r.status === 'rejected' && (r.reason as RpcError).code === -32007).length,
    names.length,
  );
  await waitFor('files', () => readdirSync(d.dir).length === names.length);
  t.same(readdirSync(d.dir).sort(), names.map((n) => `${n}.yaml`).sort());
});
