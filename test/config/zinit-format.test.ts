// zinit's service files load unchanged: every example of zinit's documented
// format (its service-format reference and its examples page), checked
// against the definitions they must produce.

import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadDir } from '../../lib/config/load.js';
import { DEFAULTS } from '../../lib/config/normalise.js';
import { parseServiceText } from '../../lib/config/parse.js';
import { LIFECYCLE_DEFAULTS, type ServiceDef } from '../../lib/core/definition.js';
import { startDaemon, tempDir } from '../helpers/daemon.js';
import { NO_SANDBOX } from '../helpers/fake-processes.js';

/** zinit's documented examples, file name → text, as its docs print them. */
const EXAMPLES: Record<string, string> = {
  'simple.yaml': `exec: "/usr/bin/myservice --daemon"\n`,
  'nginx.yaml': `exec: "/usr/sbin/nginx -g 'daemon off;'"\ntest: "curl -s http://localhost > /dev/null"\n`,
  'postgres.yaml': `exec: "/usr/lib/postgresql/13/bin/postgres -D /var/lib/postgresql/13/main"
test: "pg_isready -q"
dir: "/var/lib/postgresql"
env:
  PGDATA: "/var/lib/postgresql/13/main"
`,
  'init-system.yaml': `exec: "sh -c 'echo System initialization started; sleep 2; echo Done'"\noneshot: true\n`,
  'db-migrate.yaml': `exec: "/usr/local/bin/migrate-database"
oneshot: true
after:
  - postgres
env:
  DB_HOST: "localhost"
  DB_USER: "postgres"
`,
  'cleanup.yaml': `exec: "/usr/local/bin/cleanup-temp-files"\noneshot: true\n`,
  'api.yaml': `exec: "/usr/local/bin/api-server --port 8080"
test: "curl -s http://localhost:8080/health > /dev/null"
after:
  - postgres
  - redis
`,
  'database.yaml': `exec: "/usr/bin/mysqld"\ntest: "mysqladmin ping -h localhost"\n`,
  'cache.yaml': `exec: "/usr/bin/redis-server /etc/redis/redis.conf"\ntest: "redis-cli ping"\n`,
  'backend.yaml': `exec: "/usr/local/bin/backend-app"
test: "curl -s http://localhost:5000/health"
after:
  - database
  - cache
`,
  'frontend.yaml': `exec: "/usr/local/bin/frontend-app"
test: "curl -s http://localhost:3000 > /dev/null"
after:
  - backend
`,
  'logging-stdout.yaml': `exec: "/usr/local/bin/verbose-service"\nlog: stdout\n`,
  'logging-ring.yaml': `exec: "/usr/local/bin/service-with-logs"\nlog: ring\n`,
  'silent.yaml': `exec: "/usr/local/bin/quiet-service"\nlog: null\n`,
  'graceful.yaml': `exec: "/usr/local/bin/graceful-app"
signal:
  stop: SIGINT  # Use SIGINT instead of SIGTERM
`,
  'slow-shutdown.yaml': `exec: "/usr/local/bin/slow-to-stop-app"
shutdown_timeout: 60  # 60 seconds instead of default 10
`,
  'custom-dir.yaml': `exec: "./start.sh"\ndir: "/opt/myapp"\n`,
  'env-vars.yaml': `exec: "/usr/local/bin/configurable-app"
env:
  PORT: "8080"
  DEBUG: "true"
  CONFIG_PATH: "/etc/myapp/config.json"
  NODE_ENV: "production"
`,
  'app.yaml': `exec: "/app/entrypoint.sh"\nlog: stdout\n`,
  'sidecar.yaml': `exec: "/usr/local/bin/sidecar-service"
after:
  - app
log: stdout
`,
  'networking.yaml': `exec: "sh -c 'ip link set eth0 up && dhclient eth0'"\noneshot: true\n`,
  'sshd.yaml': `exec: "/usr/sbin/sshd -D"
after:
  - networking
`,
  'cron.yaml': `exec: "/usr/sbin/cron -f"\n`,
  'redis-test.yaml': `exec: "redis-server --port 7777"\ntest: "redis-cli -p 7777 PING"\n`,
  'redis-init.yaml': `exec: "sh -c 'echo Prepare DB files for Redis'"\noneshot: true\n`,
  'redis.yaml': `exec: "redis-server --port 7777"
test: "redis-cli -p 7777 PING"
after:
  - redis-init
`,
  'redis-after.yaml': `exec: "sh -c 'echo Populating Redis with seed data; redis-cli -p 7777 SET key value'"
oneshot: true
after:
  - redis
`,
  'nodejs-api.yaml': `exec: "node /app/server.js"
test: "curl -s http://localhost:3000/health > /dev/null"
dir: "/app"
env:
  PORT: "3000"
  NODE_ENV: "production"
  DB_URL: "mongodb://localhost:27017/mydb"
`,
  'python-app.yaml': `exec: "gunicorn --workers 4 --bind 0.0.0.0:5000 app:app"
test: "curl -s http://localhost:5000/health"
dir: "/app/python"
env:
  FLASK_ENV: "production"
  DATABASE_URL: "postgresql://user:pass@localhost/db"
`,
  'go-service.yaml': `exec: "/app/bin/service"
test: "curl -s http://localhost:8080/ping"
env:
  CONFIG_FILE: "/etc/app/config.json"
  LOG_LEVEL: "info"
`,
  'health-script.yaml': `exec: "/usr/local/bin/complex-service"\ntest: "/usr/local/bin/health-check.sh"\n`,
  'service1.yaml': `exec: "/bin/service1"\nshutdown_timeout: 5\n`,
  'service2.yaml': `exec: "/bin/service2"
after:
  - service1
shutdown_timeout: 10
`,
  'service3.yaml': `exec: "/bin/service3"
after:
  - service2
shutdown_timeout: 15
`,
  // The reference page's own examples.
  'web-server.yaml': `exec: "/usr/bin/nginx -g 'daemon off;'"
test: "curl -s http://localhost > /dev/null"
after:
  - networking
log: stdout
`,
  'database-init.yaml': `exec: "sh -c 'echo Creating database schema && /usr/bin/db-migrate'"
oneshot: true
dir: "/opt/myapp"
env:
  DB_HOST: "localhost"
  DB_USER: "admin"
`,
  'myapp.yaml': `exec: "/usr/bin/myapp --config /etc/myapp.conf"
test: "curl -s http://localhost:8080/health > /dev/null"
after:
  - database
  - cache
signal:
  stop: SIGINT  # Use SIGINT for graceful shutdown
env:
  PORT: "8080"
shutdown_timeout: 20
`,
  'sigkill.yaml': `exec: "/usr/bin/stubborn"
signal:
  stop: SIGKILL  # signal sent on 'stop' action (default: SIGTERM)
`,
};

/** What each example must become: only the fields that differ from the defaults. */
const EXPECTED: Record<string, Partial<ServiceDef>> = {
  simple: { exec: ['/usr/bin/myservice', '--daemon'] },
  nginx: {
    exec: ['/usr/sbin/nginx', '-g', 'daemon off;'],
    test: ['curl', '-s', 'http://localhost', '>', '/dev/null'],
  },
  postgres: {
    exec: ['/usr/lib/postgresql/13/bin/postgres', '-D', '/var/lib/postgresql/13/main'],
    test: ['pg_isready', '-q'],
    dir: '/var/lib/postgresql',
    env: { PGDATA: '/var/lib/postgresql/13/main' },
  },
  'init-system': {
    exec: ['sh', '-c', 'echo System initialization started; sleep 2; echo Done'],
    oneshot: true,
    restart: 'never',
  },
  'db-migrate': {
    exec: ['/usr/local/bin/migrate-database'],
    oneshot: true,
    restart: 'never',
    after: ['postgres'],
    env: { DB_HOST: 'localhost', DB_USER: 'postgres' },
  },
  cleanup: { exec: ['/usr/local/bin/cleanup-temp-files'], oneshot: true, restart: 'never' },
  api: {
    exec: ['/usr/local/bin/api-server', '--port', '8080'],
    test: ['curl', '-s', 'http://localhost:8080/health', '>', '/dev/null'],
    after: ['postgres', 'redis'],
  },
  database: { exec: ['/usr/bin/mysqld'], test: ['mysqladmin', 'ping', '-h', 'localhost'] },
  cache: { exec: ['/usr/bin/redis-server', '/etc/redis/redis.conf'], test: ['redis-cli', 'ping'] },
  backend: {
    exec: ['/usr/local/bin/backend-app'],
    test: ['curl', '-s', 'http://localhost:5000/health'],
    after: ['database', 'cache'],
  },
  frontend: {
    exec: ['/usr/local/bin/frontend-app'],
    test: ['curl', '-s', 'http://localhost:3000', '>', '/dev/null'],
    after: ['backend'],
  },
  'logging-stdout': { exec: ['/usr/local/bin/verbose-service'], log: { kind: 'stdout' } },
  'logging-ring': { exec: ['/usr/local/bin/service-with-logs'], log: { kind: 'ring' } },
  silent: { exec: ['/usr/local/bin/quiet-service'], log: { kind: 'none' } },
  graceful: { exec: ['/usr/local/bin/graceful-app'], stopSignal: 'SIGINT' },
  'slow-shutdown': { exec: ['/usr/local/bin/slow-to-stop-app'], shutdownTimeoutMs: 60_000 },
  'custom-dir': { exec: ['./start.sh'], dir: '/opt/myapp' },
  'env-vars': {
    exec: ['/usr/local/bin/configurable-app'],
    env: {
      PORT: '8080',
      DEBUG: 'true',
      CONFIG_PATH: '/etc/myapp/config.json',
      NODE_ENV: 'production',
    },
  },
  app: { exec: ['/app/entrypoint.sh'], log: { kind: 'stdout' } },
  sidecar: { exec: ['/usr/local/bin/sidecar-service'], after: ['app'], log: { kind: 'stdout' } },
  networking: {
    exec: ['sh', '-c', 'ip link set eth0 up && dhclient eth0'],
    oneshot: true,
    restart: 'never',
  },
  sshd: { exec: ['/usr/sbin/sshd', '-D'], after: ['networking'] },
  cron: { exec: ['/usr/sbin/cron', '-f'] },
  'redis-test': {
    exec: ['redis-server', '--port', '7777'],
    test: ['redis-cli', '-p', '7777', 'PING'],
  },
  'redis-init': {
    exec: ['sh', '-c', 'echo Prepare DB files for Redis'],
    oneshot: true,
    restart: 'never',
  },
  redis: {
    exec: ['redis-server', '--port', '7777'],
    test: ['redis-cli', '-p', '7777', 'PING'],
    after: ['redis-init'],
  },
  'redis-after': {
    exec: ['sh', '-c', 'echo Populating Redis with seed data; redis-cli -p 7777 SET key value'],
    oneshot: true,
    restart: 'never',
    after: ['redis'],
  },
  'nodejs-api': {
    exec: ['node', '/app/server.js'],
    test: ['curl', '-s', 'http://localhost:3000/health', '>', '/dev/null'],
    dir: '/app',
    env: { PORT: '3000', NODE_ENV: 'production', DB_URL: 'mongodb://localhost:27017/mydb' },
  },
  'python-app': {
    exec: ['gunicorn', '--workers', '4', '--bind', '0.0.0.0:5000', 'app:app'],
    test: ['curl', '-s', 'http://localhost:5000/health'],
    dir: '/app/python',
    env: { FLASK_ENV: 'production', DATABASE_URL: 'postgresql://user:pass@localhost/db' },
  },
  'go-service': {
    exec: ['/app/bin/service'],
    test: ['curl', '-s', 'http://localhost:8080/ping'],
    env: { CONFIG_FILE: '/etc/app/config.json', LOG_LEVEL: 'info' },
  },
  'health-script': {
    exec: ['/usr/local/bin/complex-service'],
    test: ['/usr/local/bin/health-check.sh'],
  },
  service1: { exec: ['/bin/service1'], shutdownTimeoutMs: 5_000 },
  service2: { exec: ['/bin/service2'], after: ['service1'], shutdownTimeoutMs: 10_000 },
  service3: { exec: ['/bin/service3'], after: ['service2'], shutdownTimeoutMs: 15_000 },
  'web-server': {
    exec: ['/usr/bin/nginx', '-g', 'daemon off;'],
    test: ['curl', '-s', 'http://localhost', '>', '/dev/null'],
    after: ['networking'],
    log: { kind: 'stdout' },
  },
  'database-init': {
    exec: ['sh', '-c', 'echo Creating database schema && /usr/bin/db-migrate'],
    oneshot: true,
    restart: 'never',
    dir: '/opt/myapp',
    env: { DB_HOST: 'localhost', DB_USER: 'admin' },
  },
  myapp: {
    exec: ['/usr/bin/myapp', '--config', '/etc/myapp.conf'],
    test: ['curl', '-s', 'http://localhost:8080/health', '>', '/dev/null'],
    after: ['database', 'cache'],
    stopSignal: 'SIGINT',
    env: { PORT: '8080' },
    shutdownTimeoutMs: 20_000,
  },
  sigkill: { exec: ['/usr/bin/stubborn'], stopSignal: 'SIGKILL' },
};

const BASE = {
  test: null,
  oneshot: false,
  restart: 'always',
  after: [],
  stopSignal: 'SIGTERM',
  log: { kind: 'ring' },
  env: {},
  dir: '/',
  shutdownTimeoutMs: 10_000,
  testIntervalMs: DEFAULTS.testIntervalMs,
  testTimeoutMs: DEFAULTS.testTimeoutMs,
  restartDelayMs: DEFAULTS.restartDelayMs,
  restartMaxDelayMs: DEFAULTS.restartMaxDelayMs,
  stableAfterMs: DEFAULTS.stableAfterMs,
  // zinit's files use none of sminit's lifecycle keys…
  ...LIFECYCLE_DEFAULTS,
  // …nor its users, limits or env files.
  envFiles: [],
  user: null,
  sandbox: NO_SANDBOX,
};

t.test('every documented example loads, as the definition it describes', async (t) => {
  const dir = tempDir(t);
  for (const [file, text] of Object.entries(EXAMPLES)) writeFileSync(join(dir, file), text);
  const { defs, problems } = await loadDir(dir);
  t.same(problems, [], 'no problems');
  t.equal(defs.length, Object.keys(EXAMPLES).length, 'every file');
  t.same(Object.keys(EXPECTED).sort(), defs.map((d) => d.name).sort(), 'each one expected');
  for (const def of defs) {
    const expected = EXPECTED[def.name];
    // zinit's list of dependencies means sminit's `up` for each.
    const after = (expected?.after ?? []) as readonly string[];
    const conditions = Object.fromEntries(after.map((d) => [d, 'up']));
    t.same(
      def,
      { ...BASE, ...expected, conditions, name: def.name, file: join(dir, `${def.name}.yaml`) },
      def.name,
    );
  }
});

t.test('the spellings zinit accepts', async (t) => {
  const load = (text: string): ServiceDef => {
    const r = parseServiceText('x', 'x.yaml', text);
    if (!r.ok) throw new Error(JSON.stringify(r.problems));
    return r.def;
  };
  for (const log of ['null', '~', 'none', "'none'", '']) {
    t.same(load(`exec: a\nlog: ${log}\n`).log, { kind: 'none' }, `log: ${log}`);
  }
  for (const sig of ['SIGTERM', 'sigterm', 'term', 'TERM', 'SigTerm']) {
    t.equal(load(`exec: a\nsignal:\n  stop: ${sig}\n`).stopSignal, 'SIGTERM', sig);
  }
  for (const sig of ['SIGHUP', 'hup', 'sigusr1', 'USR2', 'kill', 'SIGINT']) {
    t.match(load(`exec: a\nsignal:\n  stop: ${sig}\n`).stopSignal, /^SIG[A-Z0-9]+$/, sig);
  }
  t.same(load('exec: a\nafter: []\n').after, []);
  t.equal(load('exec: a\noneshot: false\n').oneshot, false);
  t.same(load('exec: a\nenv: {N: 1, B: true}\n').env, { N: '1', B: 'true' });
  t.same(load('exec: a\nshutdown_timeout: 0\n').shutdownTimeoutMs, 0);
});

t.test('a zinit-style chain runs: oneshot init, a tested server, a oneshot after it', async (t) => {
  const d = await startDaemon(t, {
    'redis-init': `exec: "sh -c 'echo Prepare DB files'"\noneshot: true\n`,
    redis: `exec: "sleep 1000"\ntest: "true"\nafter:\n  - redis-init\nlog: ring\n`,
    'redis-after': `exec: "sh -c 'echo Populating'"\noneshot: true\nafter:\n  - redis\n`,
    silent: 'exec: "sleep 1000"\nlog: null\nsignal:\n  stop: sigint\n',
  });
  await d.waitStatus('redis-after', (s) => s.state === 'Success', 'Success');
  t.equal((await d.status('redis')).state, 'Running');
  t.equal((await d.status('redis-init')).state, 'Success');
  const silent = await d.waitStatus('silent', (s) => s.state === 'Running', 'Running');
  await d.client.stop('silent');
  t.equal((await d.status('silent')).state, `Error(Signaled(Pid(${silent.pid}), SIGINT, false))`);
  const lines = (await d.client.call('stream_currentLogs', {})) as string[];
  t.ok(lines.includes('[+] redis-after: Populating'));
  t.notOk(
    lines.some((l) => l.startsWith('[+] silent:')),
    'log: null keeps no output',
  );
});
