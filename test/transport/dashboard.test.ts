// The dashboard in a real browser: Debian's chromium, headless, driven by
// puppeteer-core, against a real daemon on 127.0.0.1. The page lists the
// services, follows a change made with the CLI without a reload, stops a
// service on a click (and /proc agrees), tails a log, shows a reload's plan
// before applying it, fits a phone, and a read token watches without being
// able to stop or reload anything. Screenshots go to
// .tap/artifacts/ (or $SMINIT_ARTIFACTS).

import t, { type Test } from 'tap';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { DIST, type Daemon, startDaemon, tempDir } from '../helpers/daemon.js';
import { waitFor } from '../helpers/wait.js';

const CHROMIUM = '/usr/bin/chromium';

/** What the functions run in the page touch, typed without the DOM library (this program is Node's). */
interface PageGlobals {
  readonly document: {
    readonly documentElement: { readonly scrollWidth: number; readonly clientWidth: number };
  };
  getComputedStyle(el: unknown): { readonly display: string };
}

const ARTIFACTS = process.env.SMINIT_ARTIFACTS ?? resolve(DIST, '..', '.tap', 'artifacts');

async function httpDaemon(
  t: Test,
  files: Record<string, string>,
  args: string[] = [],
): Promise<{ d: Daemon; url: string; token: string }> {
  const d = await startDaemon(t, files, ['--http', '127.0.0.1:0', ...args]);
  const url = await waitFor(
    'the HTTP address',
    () => /HTTP server listening on (http:\/\/127\.0\.0\.1:\d+\/)/.exec(d.stderr())?.[1],
  );
  return { d, url, token: readFileSync(`${d.socket}.token`, 'utf8').trim() };
}

async function browser(t: Test): Promise<Browser> {
  const b = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    userDataDir: tempDir(t, 'sminit-chromium-'),
    // Root in a container has no user namespace for chromium's sandbox.
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'],
  });
  t.teardown(() => b.close());
  return b;
}

/** Opens the dashboard and gives it a token through its form, as a person would. */
async function open(b: Browser, url: string, token: string): Promise<Page> {
  const page = await b.newPage();
  await page.setViewport({ width: 1280, height: 800 });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(url);
  await page.waitForSelector('#token-form:not([hidden])');
  await page.type('#token-input', token);
  await page.click('#token-form button[type=submit]');
  await page.waitForSelector('#services tbody tr');
  if (errors.length > 0) throw new Error(`the page threw: ${errors.join('; ')}`);
  return page;
}

const stateOf = (page: Page, name: string): Promise<string | null> =>
  page.$eval(`tr[data-service="${name}"]`, (tr) => tr.getAttribute('data-state'));

async function waitState(page: Page, name: string, state: string): Promise<void> {
  await page.waitForSelector(`tr[data-service="${name}"][data-state="${state}"]`, {
    timeout: 10_000,
  });
}

async function shows(page: Page, selector: string, re: RegExp): Promise<boolean> {
  return re.test(await page.$eval(selector, (el) => el.textContent ?? ''));
}

function screenshot(page: Page, name: string): Promise<unknown> {
  mkdirSync(ARTIFACTS, { recursive: true });
  return page.screenshot({ path: join(ARTIFACTS, name) as `${string}.png`, fullPage: true });
}

const FILES = {
  db: "exec: sh -c 'echo db is up; exec sleep 1000'\n",
  api: "exec: sh -c 'echo api listening on :8080; exec sleep 1000'\nafter: [db]\n",
  web: "exec: sh -c 'echo hello-from-web; exec sleep 1000'\nafter: [api]\n",
  cache: 'exec: sleep 1000\n',
  migrate: "exec: sh -c 'echo migrated'\noneshot: true\nafter: [db]\n",
};

t.test('the page lists services, follows the CLI, stops one on a click', async (t) => {
  const { d, url, token } = await httpDaemon(t, FILES);
  await d.waitStatus('web', (s) => s.status === 'running', 'running');
  await d.waitStatus('migrate', (s) => s.status === 'success', 'done');
  const page = await open(await browser(t), url, token);

  const names = await page.$$eval('#services tbody tr', (rows) =>
    rows.map((r) => r.getAttribute('data-service')),
  );
  t.same(names, ['api', 'cache', 'db', 'migrate', 'web'], 'every service, by name');
  t.equal(await stateOf(page, 'web'), 'running');
  const pid = (await d.status('web')).pid;
  t.equal(
    await page.$eval('tr[data-service="web"] td:nth-child(4)', (td) => td.textContent),
    String(pid),
    'its pid',
  );
  t.equal(await page.$$eval('#graph g.node', (g) => g.length), 5, 'the graph draws each node');
  t.equal(await page.$$eval('#graph path.edge', (p) => p.length), 3, 'and each edge');
  await waitFor(
    'CPU from the stats stream',
    () => shows(page, 'tr[data-service="web"] td:nth-child(7)', /%$/),
    10_000,
  );

  // A change made elsewhere arrives without a reload.
  t.equal((await d.cli('stop', 'cache')).code, 0);
  await waitState(page, 'cache', 'stopped');
  t.equal((await d.cli('start', 'cache')).code, 0);
  await waitState(page, 'cache', 'running');

  // The log tail of the service clicked.
  await page.click('tr[data-service="web"] td.name');
  await waitFor('the log tail', () => shows(page, '#log', /hello-from-web/), 10_000);
  await screenshot(page, 'dashboard.png');

  // A click on stop stops the process.
  t.ok(existsSync(`/proc/${pid}`), 'web runs');
  await page.click('tr[data-service="web"] button[data-action="stop"]');
  await waitFor('web to leave /proc', () => !existsSync(`/proc/${pid}`), 10_000);
  await waitState(page, 'web', 'stopped');
  t.equal((await d.status('web')).target, 'Down', 'stopped on purpose');
  await page.click('tr[data-service="web"] button[data-action="start"]');
  await waitState(page, 'web', 'running');
  t.ok((await d.status('web')).pid > 0, 'started again from the page');
});

t.test('the reload button shows the plan, and Apply starts the new service', async (t) => {
  const { d, url, token } = await httpDaemon(t, FILES);
  const before = await d.waitStatus('web', (s) => s.status === 'running', 'running');
  const page = await open(await browser(t), url, token);
  writeFileSync(join(d.dir, 'extra.yaml'), "exec: sh -c 'echo extra is up; exec sleep 1000'\n");

  await page.click('#reload-button');
  await page.waitForSelector(
    '#reload-panel:not([hidden]) .plan-group[data-action="start"] li[data-service="extra"]',
    { timeout: 10_000 },
  );
  t.ok(await shows(page, '#reload-summary', /1 change, 0 refused, 5 unchanged/), 'the counts');
  t.ok(await shows(page, '#reload-summary', /nothing is changed yet/), 'a dry run');
  t.equal(await page.$('tr[data-service="extra"]'), null, 'not tracked before Apply');
  await screenshot(page, 'dashboard-reload.png');

  await page.click('#reload-apply');
  await waitFor('the outcome', () => shows(page, '#reload-summary', /^Applied: 1 change,/), 10_000);
  await waitState(page, 'extra', 'running');
  const { pid } = await d.waitStatus('extra', (s) => s.pid > 0, 'a pid');
  t.ok(existsSync(`/proc/${pid}`), 'its process runs');
  t.match(readFileSync(`/proc/${pid}/cmdline`, 'utf8'), /sleep/, "the new file's command");
  t.equal((await d.status('web')).pid, before.pid, 'the rest untouched');
  t.ok(await page.$eval('#reload-apply', (b) => b.hasAttribute('hidden')), 'nothing more to apply');

  // A second look finds nothing to do.
  await page.click('#reload-cancel');
  await page.waitForSelector('#reload-panel[hidden]');
  await page.click('#reload-button');
  await page.waitForSelector('#reload-panel:not([hidden])', { timeout: 10_000 });
  await waitFor(
    'an empty plan',
    () => shows(page, '#reload-summary', /Nothing to change \(6 unchanged\)/),
    10_000,
  );
});

t.test('reload without the control token asks for it', async (t) => {
  const { d, url } = await httpDaemon(t, { cache: 'exec: sleep 1000\n' }, ['--http-public-reads']);
  await d.waitStatus('cache', (s) => s.status === 'running', 'running');
  const page = await (await browser(t)).newPage();
  await page.goto(url);
  await page.waitForSelector('tr[data-service="cache"]');
  writeFileSync(join(d.dir, 'extra.yaml'), 'exec: sleep 1000\n');
  await page.click('#reload-button');
  await waitFor(
    'the request for a token',
    () => shows(page, '#notice', /To reload, give the control token/),
    10_000,
  );
  t.ok(await page.$eval('#reload-panel', (el) => el.hasAttribute('hidden')), 'no plan shown');
  t.not((await d.cli('status', 'extra')).code, 0, 'nothing reloaded');
});

t.test('on a phone-sized screen nothing runs off the side', async (t) => {
  const { d, url, token } = await httpDaemon(t, FILES);
  await d.waitStatus('web', (s) => s.status === 'running', 'running');
  const page = await open(await browser(t), url, token);
  await page.setViewport({ width: 390, height: 844, isMobile: true, hasTouch: true });
  await waitState(page, 'web', 'running');
  const overflow = await page.evaluate(() => {
    const { documentElement: e } = (globalThis as unknown as PageGlobals).document;
    return e.scrollWidth - e.clientWidth;
  });
  t.equal(overflow, 0, 'no horizontal scrolling');
  const display = await page.$eval(
    '#services thead',
    (el) => (globalThis as unknown as PageGlobals).getComputedStyle(el).display,
  );
  t.equal(display, 'none', 'the table turns into cards');
  await screenshot(page, 'dashboard-phone.png');
  writeFileSync(join(d.dir, 'extra.yaml'), 'exec: sleep 1000\n');
  await page.click('#reload-button');
  await page.waitForSelector('#reload-panel:not([hidden]) li[data-service="extra"]', {
    timeout: 10_000,
  });
  const wide = await page.evaluate(() => {
    const { documentElement: e } = (globalThis as unknown as PageGlobals).document;
    return e.scrollWidth - e.clientWidth;
  });
  t.equal(wide, 0, 'the reload plan fits too');
  await screenshot(page, 'dashboard-phone-reload.png');
});

t.test('a read token watches and cannot stop anything', async (t) => {
  const dir = tempDir(t);
  const readFile = join(dir, 'read.token');
  const readToken = 'wall-dashboard-read-token-0123';
  writeFileSync(readFile, readToken + '\n', { mode: 0o600 });
  const { d, url } = await httpDaemon(t, { cache: 'exec: sleep 1000\n' }, [
    '--http-read-token-file',
    readFile,
  ]);
  const { pid } = await d.waitStatus('cache', (s) => s.status === 'running', 'running');
  const page = await open(await browser(t), url, readToken);
  t.equal(await stateOf(page, 'cache'), 'running', 'it watches');
  writeFileSync(join(d.dir, 'extra.yaml'), 'exec: sleep 1000\n');
  await page.click('#reload-button');
  await waitFor(
    'the reload refused',
    () => shows(page, '#notice', /can watch, not control: give the control token to reload/),
    10_000,
  );
  t.ok(await page.$eval('#reload-panel', (el) => el.hasAttribute('hidden')), 'no plan shown');
  await page.click('tr[data-service="cache"] button[data-action="stop"]');
  await waitFor(
    'the refusal shown',
    () => shows(page, '#notice', /can watch, not control/),
    10_000,
  );
  t.ok(existsSync(`/proc/${pid}`), 'the process still runs');
  t.equal((await d.status('cache')).pid, pid, 'untouched');
});

t.test('the page and its assets are served, nothing else under web/', async (t) => {
  const { url } = await httpDaemon(t, { cache: 'exec: sleep 1000\n' });
  const page = await fetch(url);
  t.equal(page.status, 200);
  t.match(page.headers.get('content-type'), /^text\/html/);
  t.match(
    page.headers.get('content-security-policy'),
    /default-src 'none'.*frame-ancestors 'none'/,
  );
  t.match(await page.text(), /<title>sminit<\/title>/);
  for (const [path, type] of [
    ['dashboard.js', /javascript/],
    ['dashboard.css', /css/],
  ] as const) {
    const r = await fetch(url + path);
    t.equal(r.status, 200, path);
    t.match(r.headers.get('content-type'), type);
    await r.text();
  }
  const other = await fetch(url + 'index.html');
  t.equal(other.status, 404, 'only the named paths');
  await other.text();
  const stats = await fetch(url + 'stats');
  t.equal(stats.status, 401, 'the streams need a token');
  await stats.text();
});
