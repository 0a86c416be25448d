// A method's params, positional or named, checked against wire.ts's table:
// each refusal is a coded error (-32602) that says what was wrong.

import t, { type Test } from 'tap';
import { SminitError } from '../../lib/core/errors.js';
import { Code, codeOf } from '../../lib/api/errors.js';
import { normaliseParams } from '../../lib/api/params.js';
import type { MethodName } from '../../lib/api/wire.js';

function paramsError(t: Test, method: MethodName, raw: unknown, message: RegExp): void {
  const what = `${method} ${JSON.stringify(raw)}`;
  try {
    normaliseParams(method, raw);
    t.fail(`${what} should be refused`);
  } catch (err) {
    t.ok(err instanceof SminitError, `${what}: a coded error`);
    t.equal(codeOf(err as SminitError), Code.InvalidParams, `${what}: -32602`);
    t.match((err as Error).message, message, `${what}: ${message}`);
  }
}

t.test('normaliseParams', async (t) => {
  t.same(normaliseParams('service_status', ['web']), { name: 'web' }, 'positional');
  t.same(normaliseParams('service_status', { name: 'web' }), { name: 'web' }, 'named');
  t.same(normaliseParams('service_kill', ['web', 'HUP']), { name: 'web', signal: 'HUP' });
  t.same(normaliseParams('service_list', undefined), {}, 'no params');
  t.same(normaliseParams('service_list', null), {});
  t.same(normaliseParams('service_list', []), {});
  t.same(normaliseParams('service_list', {}), {});
  t.same(normaliseParams('stream_currentLogs', []), {}, 'optional, absent');
  t.same(normaliseParams('stream_currentLogs', [null]), {}, 'optional, null');
  t.same(normaliseParams('log_read', { names: ['a', 'b'], n: 0, from: 3 }), {
    names: ['a', 'b'],
    n: 0,
    from: 3,
  });
  t.same(normaliseParams('log_read', [['a'], 5]), { names: ['a'], n: 5 }, 'positional, partial');
  t.same(normaliseParams('log_read', { stream: 'test' }), { stream: 'test' });
  t.same(normaliseParams('log_follow', { stream: ['stdout', 'stderr'] }), {
    stream: ['stdout', 'stderr'],
  });
  paramsError(
    t,
    'log_read',
    { stream: ['stdout', 'stdin'] },
    /^log_read: parameter 'stream' must be one of stdout, stderr, test, event, or an array of stdout, stderr, test, event$/,
  );
  paramsError(t, 'log_read', { stream: 'stdin' }, /'stream' must be one of stdout/);
  paramsError(t, 'service_status', undefined, /missing parameter 'name'/);
  paramsError(t, 'service_status', [], /missing parameter 'name'/);
  paramsError(t, 'service_status', { name: null }, /parameter 'name' must be a string/);
  paramsError(t, 'service_kill', ['web'], /missing parameter 'signal'/);
  paramsError(t, 'service_status', [42], /parameter 'name' must be a string/);
  paramsError(t, 'service_status', [['web']], /must be a string/);
  paramsError(t, 'log_read', { n: 1.5 }, /'n' must be a non-negative integer/);
  paramsError(t, 'log_read', { n: -1 }, /non-negative integer/);
  paramsError(t, 'log_read', { n: '5' }, /non-negative integer/);
  paramsError(t, 'log_read', { names: 'web' }, /an array of strings/);
  paramsError(t, 'log_read', { names: [1] }, /an array of strings/);
  paramsError(t, 'log_read', { names: ['ok', '../x'] }, /invalid service name/);
  paramsError(t, 'stream_unsubscribeLogs', ['1'], /'id' must be an integer/);
  paramsError(t, 'service_status', { name: 'web', extra: 1 }, /unknown parameter 'extra'/);
  paramsError(t, 'service_status', ['web', 'db'], /at most 1 parameters, got 2/);
  paramsError(t, 'service_list', ['x'], /at most 0 parameters, got 1/);
  paramsError(t, 'service_status', 'web', /must be an array or an object/);
  paramsError(t, 'service_status', ['../x'], /invalid service name "..\/x"/);
  paramsError(t, 'stream_subscribeLogs', { filter: 'a/b' }, /invalid service name/);
  paramsError(t, 'service_status', [''], /service name is empty/);
});
