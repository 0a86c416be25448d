/* IMPORTANT
 * This snapshot file is auto-generated, but designed for humans.
 * It should be checked into source control and tracked carefully.
 * Re-generate by setting TAP_SNAPSHOT=1 and running tests.
 * Make sure to inspect the output below.  Do not ignore changes!
 */
'use strict'
exports[`dist/test/client/format.test.js > TAP > formatList > list table 1`] = `
NAME              STATE    PID   UPTIME  RESTARTS  REASON
db                running  7     59s     0         up
web               running  4242  1h02m   2         up
worker-long-name  backoff  -     -       17        exited with code 1; restarting in 400 ms
old               running  1     3d05h   0         up
`

exports[`dist/test/client/format.test.js > TAP > formatStatus > status backing off 1`] = `
name:      web
state:     backoff (exited with code 1; restarting in 400 ms)
since:     2024-05-01T10:00:00.000Z
pid:       -
target:    Up
uptime:    -
restarts:  2
last exit: code 1 (pid 4100) at 2024-05-01T09:59:59.000Z
next try:  2024-05-01T10:00:00.400Z
after:     -
file:      /etc/sminit/web.yaml
`

exports[`dist/test/client/format.test.js > TAP > formatStatus > status with everything 1`] = `
name:      web
state:     running (up)
since:     2024-05-01T10:00:00.000Z
pid:       4242
target:    Up
uptime:    1h02m
restarts:  2
last exit: signal SIGKILL (pid 4100) at 2024-05-01T09:59:59.000Z
after:     db (running), cache (untracked)
file:      /etc/sminit/web.yaml
recent log:
  2024-05-01T10:00:00.123Z + listening
  2024-05-01T10:00:01.000Z - warn: x
`
