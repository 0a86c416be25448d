/* IMPORTANT
 * This snapshot file is auto-generated, but designed for humans.
 * It should be checked into source control and tracked carefully.
 * Re-generate by setting TAP_SNAPSHOT=1 and running tests.
 * Make sure to inspect the output below.  Do not ignore changes!
 */
'use strict'
exports[`dist/test/client/observe-format.test.js > TAP > every kind of event has a sentence > plain 1`] = `
2025-01-01T12:00:00.000Z #7 sminitd: sminitd 0.1.0 started (pid 1)
2025-01-01T12:00:00.000Z #7 web: tracked (/etc/sminit/web.yaml)
2025-01-01T12:00:00.000Z #7 web: untracked
2025-01-01T12:00:00.000Z #7 web: running → backoff (exited with code 1; restarting in 400 ms)
2025-01-01T12:00:00.000Z #7 web: backoff → running, pid 42 (up)
2025-01-01T12:00:00.000Z #7 web: run 3 (pid 41) exited with code 1 after 1m01s
2025-01-01T12:00:00.000Z #7 web: run 3 (pid 41) killed by SIGKILL after 500 ms
2025-01-01T12:00:00.000Z #7 web: restart 2 in 400 ms (exited with code 1)
2025-01-01T12:00:00.000Z #7 db: health test failing: exited with code 1
2025-01-01T12:00:00.000Z #7 db: health test passed after 1 failure
2025-01-01T12:00:00.000Z #7 api: readiness probe failing: HTTP 503
2025-01-01T12:00:00.000Z #7 api: liveness probe passing again
2025-01-01T12:00:00.000Z #7 api: not ready: readiness failed 3 times: HTTP 503
2025-01-01T12:00:00.000Z #7 api: ready again
2025-01-01T12:00:00.000Z #7 flaky: gave up: 5 restarts within 1m00s; trying again in 10m00s
2025-01-01T12:00:00.000Z #7 flaky: gave up: 5 restarts within 1m00s
`

exports[`dist/test/client/observe-format.test.js > TAP > graph: DOT that Graphviz renders, and Mermaid > dot 1`] = `
digraph sminit {
  rankdir=LR;
  node [shape=box, style="rounded,filled", fontname="sans-serif"];
  edge [fontname="sans-serif", fontsize=10];
  "web" [label="web\\nblocked", fillcolor="#fff3bf"];
  "db" [label="db\\nstarting", fillcolor="#ffe8a1"];
  "setup" [label="setup (oneshot)\\nsuccess", fillcolor="#d8f3dc"];
  "cache@1" [label="cache@1\\nuntracked", fillcolor="#ffffff", style="rounded,dashed"];
  "web" -> "db" [label="ready", style=dashed];
  "web" -> "setup" [label="succeeded"];
  "web" -> "cache@1" [label="tracked", style=dashed];
}
`

exports[`dist/test/client/observe-format.test.js > TAP > graph: DOT that Graphviz renders, and Mermaid > mermaid 1`] = `
flowchart LR
  n0["web<br/>blocked"]:::blocked
  n1["db<br/>starting"]:::starting
  n2["setup (oneshot)<br/>success"]:::success
  n3["cache@1<br/>untracked"]:::untracked
  n0 -.->|ready| n1
  n0 -->|succeeded| n2
  n0 -.->|tracked| n3
  classDef running fill:#b7e4c7,stroke:#555,color:#000
  classDef success fill:#d8f3dc,stroke:#555,color:#000
  classDef starting fill:#ffe8a1,stroke:#555,color:#000
  classDef backoff fill:#ffd6a5,stroke:#555,color:#000
  classDef blocked fill:#fff3bf,stroke:#555,color:#000
  classDef stopping fill:#ffe8a1,stroke:#555,color:#000
  classDef failed fill:#ffadad,stroke:#555,color:#000
  classDef exited fill:#ffc9c9,stroke:#555,color:#000
  classDef stopped fill:#e9ecef,stroke:#555,color:#000
  classDef scheduled fill:#dbe4ff,stroke:#555,color:#000
  classDef untracked fill:#ffffff,stroke:#555,color:#000
`

exports[`dist/test/client/observe-format.test.js > TAP > why: the chains, then the critical chain > blocked, with a chain from its last start 1`] = `
web is blocked: waiting for api
  web waits for api, which waits for db, whose health test has failed 4 times: connection refused

The critical chain of its last start (@ up after sminitd started, + time to come up):
web @2.310s +203ms
└─api @2.107s +1.002s
  └─db @1.105s +1.100s
`

exports[`dist/test/client/observe-format.test.js > TAP > why: the chains, then the critical chain > never up 1`] = `
db is in backoff: exited with code 1; restarting in 400 ms

db has not come up since sminitd started: no critical chain yet
`
