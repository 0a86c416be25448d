// The service-file validator is compiled from the schema at build time. It
// must be exactly what the current schema compiles to, and judge files as
// ajv compiling the schema at run time would.

import t from 'tap';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import schema from '../../schemas/service.schema.json' with { type: 'json' };
import { VALIDATOR_OPTIONS, validatorSource } from '../../build/validator.js';
import { validate } from '../../lib/config/validator.js';

t.test('the shipped validator is the current schema, compiled', async (t) => {
  const shipped = readFileSync(
    fileURLToPath(new URL('../../lib/config/validator.js', import.meta.url)),
    'utf8',
  );
  t.equal(shipped, validatorSource(), 'rebuilt from schemas/service.schema.json');
});

t.test('it reports what ajv at run time reports', async (t) => {
  const live = new Ajv(VALIDATOR_OPTIONS).compile(schema);
  const inputs: unknown[] = [
    { exec: 'sleep 1' },
    { exec: ['sleep', '1'], after: ['db'], test: 'true', oneshot: false },
    { exec: 'x', restart: 'sometimes' },
    { exec: 'x', shutdown_timeout: '5 parsecs', env: { 'A=B': 'c' } },
    { exac: 'typo' },
    { exec: 42, log: 'everywhere', after: 'db' },
    {},
  ];
  for (const input of inputs) {
    const a = validate(input);
    const b = live(input);
    t.equal(a, b, `same verdict for ${JSON.stringify(input)}`);
    t.same(
      (validate.errors ?? []).map((e) => [e.instancePath, e.keyword, e.message]),
      (live.errors ?? []).map((e) => [e.instancePath, e.keyword, e.message]),
      'same errors',
    );
  }
});
