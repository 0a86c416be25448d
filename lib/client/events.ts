// `sminit events`: the event history read page by page up to the cursor of
// its first read (then exit), or followed until interrupted, the connection
// ends or the reader of stdout goes. The lines are format.ts's; the stdout
// flow control and the reader watch are the log verb's.

import type { Client } from './client.js';
import type { CliArgs } from './args.js';
import { formatEvent, useColour } from './format.js';
import { LineOut, followUntilEnd } from './log.js';
import type { EventQuery, SminitEvent } from '../api/wire.js';
import { count } from '../core/plural.js';

interface Printer {
  event(e: SminitEvent): void;
  lost(n: number): void;
}

export async function events(c: Client, a: CliArgs): Promise<number> {
  const query: EventQuery = {
    ...(a.args.length > 0 ? { names: [...a.args] } : {}),
    ...(a.after !== null ? { after: a.after } : {}),
    ...(a.since !== null ? { since: a.since } : {}),
    ...(a.lines !== null ? { n: a.lines } : {}),
  };
  const tty = process.stdout.isTTY === true;
  const colour = !a.json && useColour(a.color, tty);
  const w = new LineOut();
  const print: Printer = {
    event: (e) => w.line(a.json ? JSON.stringify(e) : formatEvent(e, colour, !a.json && tty)),
    lost: (n) =>
      w.line(
        a.json
          ? JSON.stringify({ lost: n })
          : `-- ${count(n, 'event')} lost: the history no longer reaches back that far --`,
      ),
  };
  process.stdout.on('error', (err: { code?: string }) => {
    if (err.code === 'EPIPE') process.exit(0);
  });
  if (!a.follow) return history(c, query, print, w);
  return follow(c, query, print);
}

/** Page by page up to the newest cursor at the first read: it ends even while events come. */
async function history(c: Client, query: EventQuery, print: Printer, w: LineOut): Promise<number> {
  let page = await c.readEvents(query);
  const end = page.end;
  for (;;) {
    if (page.lost) print.lost(page.lost);
    for (const e of page.events) print.event(e);
    await w.drained();
    if (page.next >= end) break;
    const { n: _n, ...rest } = query;
    page = await c.readEvents({ ...rest, after: page.next });
  }
  await w.flush();
  return 0;
}

function follow(c: Client, query: EventQuery, print: Printer): Promise<number> {
  return followUntilEnd(c, () => c.followEvents(query, print.event, print.lost));
}
