// JsonSplitter: JSON values out of a byte stream, one per line or back to
// back, split anywhere, with garbage lines and a size bound.

import t from 'tap';
import { type Frame, JsonSplitter } from '../../lib/transport/framing.js';

const frames = (s: JsonSplitter, ...chunks: (string | Buffer)[]): Frame[] =>
  chunks.flatMap((c) => s.push(typeof c === 'string' ? Buffer.from(c) : c));
const json = (text: string): Frame => ({ kind: 'json', text });

t.test('JsonSplitter', async (t) => {
  t.test('one value per line', async (t) => {
    t.same(frames(new JsonSplitter(), '{"a":1}\n{"b":2}\r\n  [3]\n'), [
      json('{"a":1}'),
      json('{"b":2}'),
      json('[3]'),
    ]);
  });
  t.test('values back to back with no delimiter', async (t) => {
    t.same(frames(new JsonSplitter(), '{"a":1}{"b":{"c":[]}}[1,[2]]{}'), [
      json('{"a":1}'),
      json('{"b":{"c":[]}}'),
      json('[1,[2]]'),
      json('{}'),
    ]);
  });
  t.test('strings holding braces, brackets, quotes and backslashes', async (t) => {
    const tricky = [
      '{"a":"}"}',
      '{"a":"{{{[["}',
      '{"a":"\\"}"}',
      '{"a":"\\\\"}',
      '{"a":"\\\\\\"}"}',
      '["]",{"b":"\\u007d"}]',
    ];
    const got = frames(new JsonSplitter(), tricky.join(''));
    t.same(got, tricky.map(json));
    for (const f of got) {
      const text = f.kind === 'json' ? f.text : '';
      t.doesNotThrow(() => JSON.parse(text), text);
    }
  });
  t.test('split across chunks at every byte', async (t) => {
    const text = '{"id":1,"s":"a}\\"b{"}\n[{"x":"]"}]{"é":"ü"}\nhello}\n{"z":[]}';
    const bytes = Buffer.from(text);
    const whole = frames(new JsonSplitter(), bytes);
    t.equal(whole.length, 5);
    let same = 0;
    for (let k = 0; k <= bytes.length; k++) {
      const got = frames(new JsonSplitter(), bytes.subarray(0, k), bytes.subarray(k));
      if (JSON.stringify(got) === JSON.stringify(whole)) same++;
      else t.same(got, whole, `split at ${k}`);
    }
    t.equal(same, bytes.length + 1, 'every two-way split gives the same frames');
    const s = new JsonSplitter();
    const oneByOne = [...bytes].flatMap((b) => s.push(Buffer.from([b])));
    t.same(oneByOne, whole, 'a byte at a time');
    t.equal(s.pending, 0, 'nothing left over');
    t.same(whole[2], json('{"é":"ü"}'), 'multi-byte characters split across chunks survive');
  });
  t.test('garbage lines', async (t) => {
    t.same(frames(new JsonSplitter(), 'hello}\n{"a":1}\n  junk {"b":2}\n[]'), [
      { kind: 'garbage', text: 'hello}' },
      json('{"a":1}'),
      { kind: 'garbage', text: 'junk {"b":2}' },
      json('[]'),
    ]);
    const s = new JsonSplitter();
    t.same(frames(s, 'abc'), [], 'garbage waits for its newline');
    t.same(frames(s, 'def\n{}'), [{ kind: 'garbage', text: 'abcdef' }, json('{}')]);
  });
  t.test('an unfinished value is held', async (t) => {
    const s = new JsonSplitter();
    t.same(frames(s, '{"a":'), []);
    t.equal(s.pending, 5);
    t.same(frames(s, '1}'), [json('{"a":1}')]);
    t.equal(s.pending, 0);
  });
  t.test('the size limit', async (t) => {
    const s = new JsonSplitter(32);
    t.same(frames(s, '{"a":"' + 'x'.repeat(20) + '"}'), [json('{"a":"' + 'x'.repeat(20) + '"}')]);
    t.throws(() => s.push(Buffer.from('{"a":"' + 'x'.repeat(40))), RangeError);
    const g = new JsonSplitter(16);
    t.throws(() => frames(g, 'garbage that never ends'), RangeError, 'garbage counts too');
    const slow = new JsonSplitter(16);
    t.same(frames(slow, '{"a":"12345'), []);
    t.throws(() => slow.push(Buffer.from('678901234567')), /larger than 16 bytes/);
  });
});
