// What people and other programs are shown of a line: display text with bad
// bytes escaped, the exact bytes on the wire, zinit's rendering.

import t from 'tap';
import { Capture } from '../../lib/logs/capture.js';
import { displayText, textOf, toWire, zinitLine } from '../../lib/logs/render.js';
import { type LogEntry, LogStore } from '../../lib/logs/ring.js';

const texts = (es: readonly LogEntry[]): string[] => es.map(textOf);

t.test('bytes that are not UTF-8 are kept, and shown escaped', async (t) => {
  const store = new LogStore();
  const cap = new Capture(store, 's', 'stdout', 1);
  const garbage = Buffer.from([0xff, 0xfe, 0x00, 0x80, 0x0a, 0xc3, 0xa9, 0x0a, 0xed, 0xa0, 0x80]);
  cap.push(garbage);
  cap.push(Buffer.from('after\n'));
  cap.flush();
  const es = store.read({}).entries;
  t.same(texts(es), ['\\xff\\xfe\u0000\\x80', 'é', '\\xed\\xa0\\x80after']);
  t.same(es[0]?.data, Buffer.from([0xff, 0xfe, 0x00, 0x80]), 'the exact bytes are kept');
  const w = toWire(es[0] as LogEntry);
  t.equal(Buffer.from(w.bytes ?? '', 'base64').toString('hex'), 'fffe0080');
  t.equal(toWire(es[1] as LogEntry).bytes, undefined, 'valid UTF-8 has no bytes field');
  t.equal(displayText(Buffer.from([0xf0, 0x9f, 0x98, 0x80])), '😀');
  t.equal(displayText(Buffer.from([0xf0, 0x9f, 0x98])), '\\xf0\\x9f\\x98', 'truncated sequence');
  t.equal(displayText(Buffer.from([0xc0, 0xaf])), '\\xc0\\xaf', 'overlong');
  t.equal(zinitLine(es[1] as LogEntry), '[+] s: é');
});
