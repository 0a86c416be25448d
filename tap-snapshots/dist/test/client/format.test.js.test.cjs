/* IMPORTANT
 * This snapshot file is auto-generated, but designed for humans.
 * It should be checked into source control and tracked carefully.
 * Re-generate by setting TAP_SNAPSHOT=1 and running tests.
 * Make sure to inspect the output below.  Do not ignore changes!
 */
'use strict'
exports[`dist/test/client/format.test.js > TAP > formatList > list table 1`] = `
NAME              STATE    READY  PID   UPTIME  RESTARTS  REASON
db                running  ready  7     59s     0         up
web               running  ready  4242  1h02m   2         up
worker-long-name  backoff  -      -     -       17        exited with code 1; restarting in 400 ms
old               running  ready  1     3d05h   0         up
`

exports[`dist/test/client/format.test.js > TAP > formatStatus > a scheduled oneshot 1`] = `
name:      web
state:     scheduled (last run succeeded; next run 2024-05-02T03:30:00.000Z)
since:     2024-05-01T10:00:00.000Z
pid:       -
target:    Up
uptime:    -
restarts:  2
schedule:  0 30 3 * * * (Europe/Paris); next run 2024-05-02T03:30:00.000Z; last run succeeded
last exit: signal SIGKILL (pid 4100) at 2024-05-01T09:59:59.000Z
after:     db (running), cache (untracked)
file:      /etc/sminit/web.yaml
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
ready:     yes
last exit: signal SIGKILL (pid 4100) at 2024-05-01T09:59:59.000Z
after:     db (running), cache (untracked)
file:      /etc/sminit/web.yaml
recent log:
  2024-05-01T10:00:00.123Z + listening
  2024-05-01T10:00:01.000Z - warn: x
`

exports[`dist/test/client/format.test.js > TAP > formatStatus > status with probes, notify and a restart limit 1`] = `
name:      web
state:     running (running, not ready: readiness failed 3 times: HTTP 503 from http://127.0.0.1:8080/health)
since:     2024-05-01T10:00:00.000Z
pid:       4242
target:    Up
uptime:    1h02m
restarts:  2 (2 within 1m; limit 5, then again after 10m)
ready:     no
readiness: http http://127.0.0.1:8080/health: failing (last: HTTP 503 at 2024-05-01T10:00:05.000Z); 3 failures in a row; next 2024-05-01T10:00:06.000Z
liveness:  tcp 127.0.0.1:8080: passing (last: connected at 2024-05-01T10:00:01.000Z); 0 failures in a row; next 2024-05-01T10:00:11.000Z
notify:    systemd, status "serving 12 clients", main pid 4242, watchdog 30s (due by 2024-05-01T10:00:30.000Z)
last exit: signal SIGKILL (pid 4100) at 2024-05-01T09:59:59.000Z
after:     db (running; needs ready), cache (untracked)
file:      /etc/sminit/web.yaml
`
