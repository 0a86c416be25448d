// Node's floor for answering requests: a bare server on a unix socket that
// answers every line it reads with the same answer, given as bytes, and
// does nothing else. What the daemon's answers cost beyond it (parsing,
// the queue, reading the service's group) is sminit's; the rest is what
// Node and this machine allow. Prints `ready` once listening; ends on
// SIGTERM, or when its stdin (a pipe from the bench) closes.
//
// usage: node floor-rpc.js SOCKET ANSWER_FILE

import { readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';

const [socket, answerFile] = process.argv.slice(2);
if (socket === undefined || answerFile === undefined) {
  process.stderr.write('usage: floor-rpc SOCKET ANSWER_FILE\n');
  process.exit(2);
}
const answer = readFileSync(answerFile);

const server = createServer((s) => {
  s.on('data', (d: Buffer) => {
    for (let i = d.indexOf(10); i !== -1; i = d.indexOf(10, i + 1)) s.write(answer);
  });
  s.on('error', () => s.destroy());
});
rmSync(socket, { force: true });
server.listen(socket, () => process.stdout.write('ready\n'));
// Its stdin is a pipe from the bench: when the bench is gone, so is this.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
process.on('SIGTERM', () => {
  rmSync(socket, { force: true });
  process.exit(0);
});
