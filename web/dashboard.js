// sminit's dashboard: the page's whole behaviour, plain JavaScript a browser
// runs as it is (no build step). It reads one picture (system_status), then
// follows the event stream from its cursor; CPU and memory come from /stats,
// a service's log from /logs. It never polls sminitd for state.

const TOKEN_KEY = 'sminit.token';
const LOG_LINES = 2000;
const COLOURS = {
  running: '#2e9d5b',
  success: '#2e9d5b',
  starting: '#c9a227',
  backoff: '#c9a227',
  blocked: '#c9a227',
  stopping: '#c9a227',
  failed: '#d0463b',
  exited: '#d0463b',
  stopped: '#5d6573',
  scheduled: '#4c8bf5',
  untracked: '#3a404c',
};

const $ = (id) => document.getElementById(id);
const view = {
  token: sessionStorage.getItem(TOKEN_KEY) ?? '',
  services: new Map(),
  rows: new Map(),
  stats: {},
  graph: null,
  selected: null,
  cursor: 0,
  streams: { events: null, stats: null, logs: null },
  denied: false,
};

class Refused extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function authHeaders(extra = {}) {
  return view.token ? { ...extra, authorization: `Bearer ${view.token}` } : extra;
}

let nextId = 0;
async function rpc(method, params = {}) {
  const res = await fetch('/', {
    method: 'POST',
    headers: authHeaders({ 'content-type': 'application/json' }),
    body: JSON.stringify({ jsonrpc: '2.0', id: ++nextId, method, params }),
  });
  const body = await res.json().catch(() => null);
  if (res.status === 401 || res.status === 403) {
    throw new Refused(res.status, body?.error?.message ?? res.statusText);
  }
  if (body?.error) throw new Error(body.error.message);
  return body?.result;
}

// ---- notices and the token ----

function notice(text) {
  const el = $('notice');
  el.textContent = text ?? '';
  el.hidden = !text;
}

function askToken(why) {
  notice(why);
  $('token-form').hidden = false;
  $('token-input').focus();
}

function useToken(token) {
  view.token = token;
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
  $('token-form').hidden = true;
  notice(null);
  if (view.denied) start();
}

// ---- server-sent events over fetch (so the token travels as a header) ----

function parseFrame(frame) {
  const out = { event: 'message', id: null, data: '' };
  for (const line of frame.split('\n')) {
    const colon = line.indexOf(':');
    if (colon === 0) continue;
    const field = colon === -1 ? line : line.slice(0, colon);
    const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') out.event = value;
    else if (field === 'id') out.id = value;
    else if (field === 'data') out.data += (out.data ? '\n' : '') + value;
  }
  return out;
}

/** Reads `path` as server-sent events until aborted; reconnects after a drop with the last id. */
function follow(path, handlers, lastId = null) {
  const ctl = new AbortController();
  (async () => {
    while (!ctl.signal.aborted) {
      try {
        const headers = authHeaders(lastId !== null ? { 'last-event-id': String(lastId) } : {});
        const res = await fetch(path, { headers, signal: ctl.signal, cache: 'no-store' });
        if (res.status === 401 || res.status === 403) {
          const body = await res.json().catch(() => null);
          return handlers.denied?.(body?.error?.message ?? res.statusText);
        }
        if (res.status >= 400 && res.status < 500) {
          const body = await res.json().catch(() => null);
          return handlers.failed?.(body?.error?.message ?? res.statusText);
        }
        if (!res.ok) throw new Error(`${path}: ${res.status}`);
        handlers.open?.();
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          for (let i; (i = buf.indexOf('\n\n')) !== -1;) {
            const frame = parseFrame(buf.slice(0, i));
            buf = buf.slice(i + 2);
            if (frame.id !== null) lastId = frame.id;
            if (frame.data !== '') handlers.message(frame.event, JSON.parse(frame.data));
          }
        }
      } catch {
        if (ctl.signal.aborted) return;
      }
      handlers.lost?.();
      await new Promise((r) => setTimeout(r, 2000));
    }
  })();
  return ctl;
}

// ---- the services table ----

function formatDuration(ms) {
  if (ms === null || ms === undefined || ms < 0) return '–';
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

function formatBytes(n) {
  if (n === undefined) return '–';
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

/** Ready where sminitd says (readiness probes); else a running service counts as ready. */
function readyOf(s) {
  if (typeof s.ready === 'boolean') return s.ready ? 'yes' : 'no';
  if (s.status === 'running' || s.status === 'success') return 'yes';
  return s.status === 'starting' ? 'no' : '–';
}

const CELLS = ['name', 'state', 'ready', 'pid', 'uptime', 'restarts', 'cpu', 'memory'];
const LABELS = { ready: 'ready', pid: 'pid', uptime: 'up', restarts: 'restarts', cpu: 'cpu' };

function makeRow(name) {
  const tr = document.createElement('tr');
  tr.dataset.service = name;
  const cells = {};
  for (const key of CELLS) {
    const td = document.createElement('td');
    td.className = key === 'name' ? 'name' : key === 'state' ? 'state-cell' : 'num';
    if (LABELS[key]) td.dataset.label = LABELS[key];
    tr.append(td);
    cells[key] = td;
  }
  cells.name.textContent = name;
  const cell = document.createElement('td');
  cell.className = 'actions';
  const actions = document.createElement('div');
  actions.className = 'buttons';
  cell.append(actions);
  for (const verb of ['start', 'stop', 'restart']) {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = verb;
    b.dataset.action = verb;
    b.addEventListener('click', (ev) => {
      ev.stopPropagation();
      act(verb, name);
    });
    actions.append(b);
    cells[verb] = b;
  }
  tr.append(cell);
  tr.addEventListener('click', () => select(name));
  view.rows.set(name, { tr, cells });
  return view.rows.get(name);
}

function fillRow(name) {
  const s = view.services.get(name);
  const row = view.rows.get(name) ?? makeRow(name);
  const { cells } = row;
  const badge = document.createElement('span');
  badge.className = 'state';
  badge.dataset.state = s.status;
  badge.textContent = s.status;
  const reason = document.createElement('span');
  reason.className = 'reason';
  reason.textContent = s.reason;
  reason.title = s.reason;
  cells.state.replaceChildren(badge, reason);
  cells.ready.textContent = readyOf(s);
  cells.pid.textContent = s.pid > 0 ? String(s.pid) : '–';
  cells.restarts.textContent = String(s.restarts ?? 0);
  const st = view.stats[name];
  cells.cpu.textContent = st && s.pid > 0 ? `${st.cpu.toFixed(1)}%` : '–';
  cells.memory.textContent = st && s.pid > 0 ? formatBytes(st.memory) : '–';
  cells.memory.dataset.label = 'mem';
  fillUptime(name);
  const up = ['running', 'starting', 'blocked', 'backoff'].includes(s.status);
  cells.start.disabled = up && s.target === 'Up';
  cells.stop.disabled = s.target === 'Down' && s.pid === 0;
  row.tr.classList.toggle('selected', view.selected === name);
  row.tr.dataset.state = s.status;
}

function fillUptime(name) {
  const s = view.services.get(name);
  const row = view.rows.get(name);
  if (!s || !row) return;
  const running = s.pid > 0 && s.upSince !== null;
  row.cells.uptime.textContent = running ? formatDuration(Date.now() - s.upSince) : '–';
}

function renderTable() {
  const body = document.querySelector('#services tbody');
  const names = [...view.services.keys()].sort();
  for (const name of names) fillRow(name);
  for (const [name, row] of view.rows) {
    if (!view.services.has(name)) {
      row.tr.remove();
      view.rows.delete(name);
    }
  }
  body.replaceChildren(...names.map((n) => view.rows.get(n).tr));
}

function remember(s) {
  const upSince =
    s.uptime_ms === null || s.uptime_ms === undefined ? null : Date.now() - s.uptime_ms;
  view.services.set(s.name, { ...s, upSince });
}

// ---- actions ----

/** Says why a control request did not happen; `what` names it for a failure of the request itself. */
function controlFailed(err, what, verbs) {
  if (err instanceof Refused && err.status === 403) {
    notice(`This token can watch, not control: give the control token to ${verbs}.`);
  } else if (err instanceof Refused) {
    askToken(`The token was refused: ${err.message}`);
  } else {
    notice(`${what}: ${err.message}`);
  }
}

async function act(verb, name) {
  if (!view.token) {
    askToken(`To ${verb} ${name}, give the control token (sminitd names its file at start).`);
    return;
  }
  try {
    await rpc(`service_${verb}`, { name });
    notice(null);
  } catch (err) {
    controlFailed(err, `${verb} ${name}`, 'start and stop');
  }
}

// ---- reload: the plan first (a dry run), applied only on a second click ----

const PLAN_GROUPS = [
  ['start', 'Add'],
  ['stop', 'Remove'],
  ['restart', 'Restart'],
  ['update', 'Change in place (no restart)'],
  ['none', 'Nothing to do'],
  ['refuse', 'Refused: left as they are'],
];

function planLine(line) {
  const li = document.createElement('li');
  li.dataset.service = line.name;
  li.dataset.action = line.action;
  const name = document.createElement('span');
  name.className = 'name';
  name.textContent = line.name;
  const why = document.createElement('span');
  why.className = 'muted';
  why.textContent = ` ${line.why}`;
  li.append(name, why);
  const details = [...line.problems];
  if (line.cycle) details.push(`cycle: ${line.cycle.join(' → ')}`);
  if (details.length > 0) {
    const ul = document.createElement('ul');
    ul.className = 'problems';
    for (const text of details) {
      const p = document.createElement('li');
      p.textContent = text;
      ul.append(p);
    }
    li.append(ul);
  }
  return li;
}

function planSummary(plan) {
  const n = plan.changes.length;
  const counts = `${n} ${n === 1 ? 'change' : 'changes'}, ${plan.refused} refused, ${plan.unchanged} unchanged`;
  if (plan.changes.length === 0) return `Nothing to change (${plan.unchanged} unchanged).`;
  return plan.applied ? `Applied: ${counts}.` : `Would do: ${counts}; nothing is changed yet.`;
}

function showPlan(plan) {
  const groups = [];
  for (const [action, title] of PLAN_GROUPS) {
    const lines = plan.changes.filter((l) => l.action === action);
    if (lines.length === 0) continue;
    const group = document.createElement('div');
    group.className = 'plan-group';
    group.dataset.action = action;
    const h = document.createElement('h3');
    h.textContent = title;
    const ul = document.createElement('ul');
    ul.append(...lines.map(planLine));
    group.append(h, ul);
    groups.push(group);
  }
  $('reload-plan').replaceChildren(...groups);
  $('reload-summary').textContent = planSummary(plan);
  const applicable = plan.changes.some((l) => l.action !== 'refuse' && l.action !== 'none');
  $('reload-apply').hidden = plan.applied || !applicable;
  $('reload-apply').disabled = false;
  $('reload-cancel').textContent = plan.applied || !applicable ? 'Close' : 'Cancel';
  $('reload-panel').hidden = false;
}

async function reload(dryRun) {
  if (!view.token) {
    askToken('To reload, give the control token (sminitd names its file at start).');
    return;
  }
  $('reload-apply').disabled = true;
  try {
    const plan = await rpc('system_reload', dryRun ? { dry_run: true } : {});
    notice(null);
    showPlan(plan);
    // The events bring each change too; one fresh picture makes new and removed rows certain.
    if (!dryRun) await load();
  } catch (err) {
    $('reload-apply').disabled = false;
    controlFailed(err, 'reload', 'reload');
  }
}

// ---- the dependency graph, drawn as SVG from service_graph ----

const SVG = 'http://www.w3.org/2000/svg';
function svg(tag, attrs = {}) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

/** Each node's column: 0 for what depends on nothing, else one right of its deepest dependency. */
function columns(graph) {
  const deps = new Map(graph.nodes.map((n) => [n.name, []]));
  for (const e of graph.edges) deps.get(e.from)?.push(e.to);
  const depth = new Map();
  const visit = (name, seen) => {
    if (depth.has(name)) return depth.get(name);
    if (seen.has(name)) return 0;
    seen.add(name);
    const d = Math.max(-1, ...(deps.get(name) ?? []).map((x) => visit(x, seen))) + 1;
    depth.set(name, d);
    return d;
  };
  for (const n of graph.nodes) visit(n.name, new Set());
  return depth;
}

function nodeStatus(node) {
  return view.services.get(node.name)?.status ?? node.status;
}

function renderGraph() {
  const graph = view.graph;
  const box = $('graph');
  if (!graph || graph.nodes.length === 0) return box.replaceChildren();
  const W = 128,
    H = 30,
    GX = 56,
    GY = 14,
    PAD = 8;
  const depth = columns(graph);
  const cols = [];
  for (const n of [...graph.nodes].sort((a, b) => a.name.localeCompare(b.name))) {
    (cols[depth.get(n.name)] ??= []).push(n);
  }
  const at = new Map();
  cols.forEach((col, x) =>
    col.forEach((n, y) => at.set(n.name, { x: PAD + x * (W + GX), y: PAD + y * (H + GY) })),
  );
  const width = PAD * 2 + cols.length * W + (cols.length - 1) * GX;
  const height = PAD * 2 + Math.max(...cols.map((c) => c.length)) * (H + GY) - GY;
  const root = svg('svg', { viewBox: `0 0 ${width} ${height}`, width, role: 'img' });
  const defs = svg('defs');
  const marker = svg('marker', {
    id: 'arrow',
    viewBox: '0 0 10 10',
    refX: 9,
    refY: 5,
    markerWidth: 7,
    markerHeight: 7,
    orient: 'auto-start-reverse',
  });
  marker.append(svg('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrow' }));
  defs.append(marker);
  root.append(defs);
  for (const e of graph.edges) {
    const a = at.get(e.to),
      b = at.get(e.from);
    if (!a || !b) continue;
    const x1 = a.x + W,
      y1 = a.y + H / 2,
      x2 = b.x,
      y2 = b.y + H / 2,
      mx = (x1 + x2) / 2;
    const path = svg('path', {
      d: `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2 - 2},${y2}`,
      class: e.met ? 'edge' : 'edge unmet',
      'marker-end': 'url(#arrow)',
    });
    const title = svg('title');
    title.textContent = `${e.from} needs ${e.to} ${e.condition}${e.met ? '' : ' (not yet)'}`;
    path.append(title);
    root.append(path);
  }
  for (const n of graph.nodes) {
    const p = at.get(n.name);
    const status = nodeStatus(n);
    const g = svg('g', {
      class: 'node',
      transform: `translate(${p.x},${p.y})`,
      'data-service': n.name,
    });
    g.append(svg('rect', { width: W, height: H, fill: COLOURS[status] ?? COLOURS.stopped }));
    const label = svg('text', { x: W / 2, y: H / 2 });
    label.textContent = n.name.length > 16 ? `${n.name.slice(0, 15)}…` : n.name;
    const title = svg('title');
    title.textContent = `${n.name}: ${status}${n.reason ? ` (${n.reason})` : ''}`;
    g.append(label, title);
    g.addEventListener('click', () => view.services.has(n.name) && select(n.name));
    root.append(g);
  }
  box.replaceChildren(root);
}

// ---- the log tail ----

function select(name) {
  if (view.selected === name) return;
  view.selected = name;
  for (const [n, row] of view.rows) row.tr.classList.toggle('selected', n === name);
  $('log-name').textContent = name;
  const log = $('log');
  log.replaceChildren();
  view.streams.logs?.abort();
  view.streams.logs = follow(`/logs?name=${encodeURIComponent(name)}&n=200`, {
    message: (event, data) => {
      if (event === 'message') appendLog(data);
      else if (event === 'dropped') appendText(`… ${data} lines dropped`, 'event');
    },
    failed: (why) => appendText(why, 'stderr'),
    denied: (why) => askToken(`A token is needed to read the log: ${why}`),
  });
}

function appendText(text, cls) {
  const log = $('log');
  const atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
  const line = document.createElement('div');
  line.className = cls;
  line.textContent = text;
  log.append(line);
  while (log.childElementCount > LOG_LINES) log.firstElementChild.remove();
  if (atEnd) log.scrollTop = log.scrollHeight;
}

function appendLog(l) {
  appendText(`${l.time.slice(11, 23)} ${l.text}`, l.stream);
}

// ---- following the daemon ----

const pending = new Set();
let flushTimer = null;

/** Re-read what events touched, in one go after a burst: exact counts, readiness, uptime. */
function refresh(name) {
  pending.add(name);
  flushTimer ??= setTimeout(flush, 50);
}

async function flush() {
  flushTimer = null;
  const names = [...pending];
  pending.clear();
  await Promise.all(
    names.map(async (name) => {
      try {
        remember(await rpc('service_status', { name }));
      } catch (err) {
        if (!(err instanceof Refused)) view.services.delete(name);
      }
    }),
  );
  view.graph = await rpc('service_graph').catch(() => view.graph);
  renderTable();
  renderGraph();
}

function onEvent(e) {
  view.cursor = e.cursor;
  const s = e.service === null ? undefined : view.services.get(e.service);
  if (e.kind === 'state' && s) {
    const upSince = e.to === 'running' ? Date.parse(e.time) : e.pid > 0 ? s.upSince : null;
    view.services.set(e.service, { ...s, status: e.to, pid: e.pid, reason: e.reason, upSince });
    fillRow(e.service);
    renderGraph();
  } else if (e.kind === 'restart' && s) {
    view.services.set(e.service, { ...s, restarts: e.restarts });
  } else if (e.kind === 'daemon') {
    if (e.action !== 'started') notice(`sminitd: ${e.detail}`);
    return;
  }
  if (e.service !== null) refresh(e.service);
}

async function load() {
  const status = await rpc('system_status');
  view.services.clear();
  for (const s of status.services) remember(s);
  view.cursor = status.cursor;
  view.daemon = status;
  $('daemon').textContent = `${status.version} · pid ${status.pid}`;
  view.graph = await rpc('service_graph');
  renderTable();
  renderGraph();
  return status.cursor;
}

function setLive(state) {
  const el = $('live');
  el.dataset.live = state;
  el.textContent = state;
}

function denied(why) {
  view.denied = true;
  setLive('lost');
  askToken(`sminitd asks for a token to watch: ${why}`);
}

async function start() {
  view.denied = false;
  for (const s of Object.values(view.streams)) s?.abort();
  let cursor;
  try {
    cursor = await load();
  } catch (err) {
    if (err instanceof Refused) return denied(err.message);
    notice(`Cannot read sminitd: ${err.message}`);
    setLive('lost');
    return;
  }
  view.streams.events = follow(
    '/events',
    {
      open: () => setLive('live'),
      lost: () => setLive('lost'),
      denied,
      message: (_event, data) => {
        if (data.lost !== undefined) void load();
        else onEvent(data);
      },
    },
    cursor,
  );
  view.streams.stats = follow('/stats', {
    message: (_event, data) => {
      view.stats = data;
      for (const name of view.services.keys()) fillRow(name);
    },
    denied: () => undefined,
  });
  const selected = view.selected;
  if (selected) {
    view.selected = null;
    select(selected);
  }
}

// Uptime ticks on the page's own clock; nothing is asked of sminitd for it.
setInterval(() => {
  for (const name of view.rows.keys()) fillUptime(name);
}, 1000);

document.addEventListener('DOMContentLoaded', () => {
  $('token-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    useToken($('token-input').value.trim());
    $('token-input').value = '';
  });
  $('token-clear').addEventListener('click', () => useToken(''));
  $('reload-button').addEventListener('click', () => reload(true));
  $('reload-apply').addEventListener('click', () => reload(false));
  $('reload-cancel').addEventListener('click', () => {
    $('reload-panel').hidden = true;
  });
  $('token-button').addEventListener('click', () => {
    $('token-form').hidden = !$('token-form').hidden;
  });
  void start();
});
