// Rask dashboard: a hand-written single-page app over the Flink-compatible REST API.
// No build step; served by the JobManager at /web/app.js.
'use strict';
(() => {
const REFRESH_MS = 1500, TIMEOUT_MS = 8000;
const TERMINAL = new Set(['FINISHED', 'CANCELED', 'FAILED', 'SUSPENDED']);
const VERTEX_METRICS = 'numRecordsInPerSecond,numRecordsOutPerSecond,busyTimeMsPerSecond,backPressuredTimeMsPerSecond';
const TM_CARD_METRICS = ['Status.Process.Memory.RSS', 'Status.Process.CPU.Load'];
const $ = (s, r = document) => r.querySelector(s);
const main = $('#main');
const banner = $('#conn-banner');
const STALE = { stale: true };

// ---------- formatting ----------
const ESC = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const esc = v => String(v ?? '').replace(/[&<>"']/g, c => ESC[c]);
const enc = v => encodeURIComponent(String(v ?? ''));
const href = (...parts) => esc('#/' + parts.map(enc).join('/'));
function num(v) {
  if (v == null || v === '' || typeof v === 'boolean') return null;
  const x = typeof v === 'number' ? v : Number(v);
  return Number.isFinite(x) ? x : null;
}
function intStr(v) { const n = num(v); return n == null ? '0' : String(Math.round(n)); }
function fmtNum(v) {
  const n = num(v); if (n == null) return '–';
  const a = Math.abs(n);
  for (const [d, u] of [[1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'K']]) {
    if (a >= d) return (n / d).toFixed(1) + ' ' + u;
  }
  if (Number.isInteger(n)) return String(n);
  return a < 1 ? n.toFixed(2) : n.toFixed(1);
}
function fmtBytes(v) {
  const n = num(v); if (n == null) return '–';
  if (Math.abs(n) < 1024) return Math.round(n) + ' B';
  const u = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let x = n / 1024, i = 0;
  while (Math.abs(x) >= 1024 && i < u.length - 1) { x /= 1024; i++; }
  return x.toFixed(1) + ' ' + u[i];
}
function fmtDur(v) {
  const n = num(v); if (n == null || n < 0) return '–';
  if (n < 1000) return Math.round(n) + ' ms';
  let s = Math.floor(n / 1000);
  const d = Math.floor(s / 86400); s -= d * 86400;
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  if (d) return `${d}d ${h}h ${m}m`;
  if (h) return `${h}h ${m}m ${s}s`;
  if (m) return `${m}m ${s}s`;
  return `${s}s`;
}
const p2 = x => String(x).padStart(2, '0');
function fmtTime(v, ms) {
  const n = num(v); if (n == null || n <= 0) return '–';
  const t = new Date(n);
  if (isNaN(t.getTime())) return '–';
  return `${t.getFullYear()}-${p2(t.getMonth() + 1)}-${p2(t.getDate())} ${p2(t.getHours())}:${p2(t.getMinutes())}:${p2(t.getSeconds())}` +
    (ms ? '.' + String(t.getMilliseconds()).padStart(3, '0') : '');
}
function fmtWm(n) {
  if (n === undefined) return '–';
  if (n === null) return 'no watermark';
  if (n >= 9.2e18) return 'end of input';
  return n > 1e11 ? fmtTime(n, true) : String(n);
}
function pct(v) { const n = num(v); return n == null ? '–' : Math.round(Math.max(0, Math.min(100, n))) + '%'; }
const ST = { RUNNING: 'g', COMPLETED: 'g', OK: 'g', FINISHED: 'b', IN_PROGRESS: 'b', FAILED: 'r', FAILING: 'r', HIGH: 'r',
  CANCELED: 'k', CANCELING: 'k', CANCELLING: 'k', SUSPENDED: 'k', CREATED: 'o', RESTARTING: 'o', INITIALIZING: 'o',
  SCHEDULED: 'o', DEPLOYING: 'o', RECONCILING: 'o', LOW: 'o' };
const stCls = s => 'st-' + (ST[String(s ?? '').toUpperCase()] || 'k');
const badge = s => `<span class="badge ${stCls(s)}">${esc(s ?? '–')}</span>`;
const TASK_ORDER = ['CREATED', 'SCHEDULED', 'DEPLOYING', 'INITIALIZING', 'RUNNING', 'FINISHED', 'CANCELING', 'CANCELED', 'FAILED', 'RECONCILING'];
function taskCounts(tasks) {
  if (!tasks || typeof tasks !== 'object') return '–';
  const up = {};
  for (const k of Object.keys(tasks)) up[k.toUpperCase()] = num(tasks[k]) || 0;
  let h = '';
  for (const k of TASK_ORDER) if (up[k]) h += `<span class="tc ${stCls(k)}" title="${k}">${up[k]}</span>`;
  return h || '<span class="muted">0</span>';
}
function kvTable(rows, cls = '') {
  if (!rows.length) return '<p class="muted">None.</p>';
  return `<table class="tbl kv ${cls}"><tbody>` + rows.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${v}</td></tr>`).join('') + '</tbody></table>';
}
const plain = v => esc(v !== null && typeof v === 'object' ? JSON.stringify(v) : v);
const label = k => { const s = String(k).replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase(); return (s.charAt(0).toUpperCase() + s.slice(1)).replace(/\b(jvm|cpu)\b/gi, w => w.toUpperCase()).replace(/\bflink\b/g, 'Flink'); };
function setHTML(el, html) { if (el && el._h !== html) { el.innerHTML = html; el._h = html; } }
function setText(sel, t) { const el = typeof sel === 'string' ? $(sel) : sel; if (el && el.textContent !== t) el.textContent = t; }

// ---------- REST ----------
class ApiError extends Error { constructor(msg, status) { super(msg); this.status = status; } }
let lastContact = 0;
function setReachable(ok) {
  if (ok) { lastContact = Date.now(); banner.hidden = true; return; }
  banner.textContent = 'JobManager unreachable — retrying…' + (lastContact ? ` (last answer ${fmtTime(lastContact)})` : '');
  banner.hidden = false;
}
async function api(path, { method = 'GET', body, text = false } = {}) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), TIMEOUT_MS);
  let res, txt;
  try {
    const opts = { method, signal: ctl.signal, cache: 'no-store', headers: {} };
    if (body !== undefined) { opts.body = JSON.stringify(body); opts.headers['Content-Type'] = 'application/json'; }
    res = await fetch(path, opts);
    txt = await res.text();
  } catch (e) {
    setReachable(false);
    throw new ApiError('JobManager unreachable', 0);
  } finally { clearTimeout(timer); }
  setReachable(true);
  if (!res.ok) {
    let msg = `HTTP ${res.status}`;
    try { const j = JSON.parse(txt); if (j && Array.isArray(j.errors) && j.errors.length) msg = j.errors.join('\n'); }
    catch (e) { if (txt) msg += ': ' + txt.slice(0, 300); }
    throw new ApiError(msg, res.status);
  }
  if (text) return txt;
  if (!txt) return {};
  try { return JSON.parse(txt); } catch (e) { throw new ApiError('Invalid JSON from ' + path, res.status); }
}
const firstLine = m => String(m || '').split('\n')[0].slice(0, 400);
const sleep = ms => new Promise(r => setTimeout(r, ms));

// ---------- modal ----------
const modal = $('#modal'), yesBtn = $('#confirm-yes'), noBtn = $('#confirm-no');
let modalResolve = null;
function closeModal(val) {
  modal.hidden = true;
  const r = modalResolve; modalResolve = null;
  if (r) r(val);
}
function confirmModal({ title, body, yes, no = 'Go back', danger = false }) {
  closeModal(null);
  $('#modal-title').textContent = title;
  $('#modal-body').innerHTML = body;
  yesBtn.textContent = yes; noBtn.textContent = no;
  yesBtn.className = 'btn ' + (danger ? 'danger' : 'primary');
  modal.hidden = false;
  const inp = $('#modal-body input');
  (inp || noBtn).focus();
  return new Promise(r => { modalResolve = r; });
}
yesBtn.addEventListener('click', () => { const inp = $('#modal-body input'); closeModal({ value: inp ? inp.value : '' }); });
noBtn.addEventListener('click', () => closeModal(null));
modal.addEventListener('click', e => { if (e.target === modal) closeModal(null); });
document.addEventListener('keydown', e => {
  if (modal.hidden) return;
  if (e.key === 'Escape') closeModal(null);
  else if (e.key === 'Enter' && e.target && e.target.tagName === 'INPUT') yesBtn.click();
});

// ---------- lifecycle ----------
const S = { gen: 1, timer: 0, busy: 0, again: false, route: null, ctx: {}, tick: 0 };
const NAV = { overview: 'overview', jobs: 'jobs', job: 'jobs', taskmanagers: 'taskmanagers', taskmanager: 'taskmanagers', jobmanager: 'jobmanager' };
const TITLES = { overview: 'Overview', jobs: 'Jobs', job: 'Job', taskmanagers: 'TaskManagers', taskmanager: 'TaskManager', jobmanager: 'JobManager' };
const TABS = { graph: 'graph', overview: 'graph', checkpoints: 'checkpoints', exceptions: 'exceptions', config: 'config', configuration: 'config' };
function alive(g) { if (g !== S.gen) throw STALE; }
function parseRoute() {
  let parts;
  try { parts = location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent); }
  catch (e) { parts = []; }
  const [p0, p1] = parts;
  if (p0 === 'jobs' && p1) return { page: 'job', id: p1, tab: TABS[parts[2]] || 'graph' };
  if (p0 === 'jobs') return { page: 'jobs' };
  if (p0 === 'taskmanagers' && p1) return { page: 'taskmanager', id: parts.slice(1).join('/') };
  if (p0 === 'taskmanagers') return { page: 'taskmanagers' };
  if (p0 === 'jobmanager') return { page: 'jobmanager' };
  return { page: 'overview' };
}
function navigate() {
  const r = parseRoute(), prev = S.route;
  S.gen++; clearTimeout(S.timer); S.tick = 0; S.again = false;
  closeModal(null);
  document.body.dataset.loaded = '0';
  document.body.dataset.page = r.page;
  for (const k of ['overview', 'jobs', 'taskmanagers', 'jobmanager']) $('#nav-' + k).classList.toggle('active', NAV[r.page] === k);
  document.title = 'Rask · ' + TITLES[r.page];
  const sameJob = prev && prev.page === 'job' && r.page === 'job' && prev.id === r.id;
  S.route = r;
  if (sameJob) PAGES.job.tab(S.ctx, r);
  else { S.ctx = {}; PAGES[r.page].init(S.ctx, r); }
  run();
}
function pageError(e) {
  const el = $('#page-error'); if (!el) return;
  if (!e) { el.hidden = true; return; }
  el.textContent = firstLine(e.message); el.title = e.message; el.hidden = false;
}
async function run() {
  const g = S.gen;
  clearTimeout(S.timer); S.busy = g;
  let ok = true;
  if (!(document.hidden && document.body.dataset.loaded === '1')) {
    try {
      await PAGES[S.route.page].refresh(S.ctx, S.route, g);
      if (g === S.gen) { pageError(null); setText('#topinfo-upd', 'updated ' + fmtTime(Date.now()).slice(11)); }
    } catch (e) {
      if (e === STALE || g !== S.gen) return;
      ok = e instanceof ApiError && e.status > 0;
      if (e.status !== 0) pageError(e);
      if (!(e instanceof ApiError)) console.error(e);
    }
  }
  if (g !== S.gen) return;
  if (ok) document.body.dataset.loaded = '1';
  S.busy = 0; S.tick++;
  if (S.again) { S.again = false; run(); } else S.timer = setTimeout(run, REFRESH_MS);
}
function kick() { if (S.busy === S.gen) S.again = true; else run(); }
document.addEventListener('click', e => {
  const a = e.target.closest && e.target.closest('a[href^="#/"]');
  if (a && !e.defaultPrevented && a.getAttribute('href') !== location.hash) document.body.dataset.loaded = '0';
}, true);
document.addEventListener('visibilitychange', () => { if (!document.hidden && S.route) kick(); });
window.addEventListener('hashchange', navigate);

// ---------- shared renderers ----------
const JOBNAMES = new Map();
function jobsTable(jobs, empty) {
  if (!jobs.length) return `<p class="muted">${esc(empty)}</p>`;
  let h = '<table class="tbl"><thead><tr><th>Name</th><th>State</th><th>Start time</th><th>End time</th><th>Duration</th><th>Tasks</th></tr></thead><tbody>';
  for (const j of jobs) {
    h += `<tr data-job-id="${esc(j.jid)}"><td><a href="${href('jobs', j.jid)}">${esc(j.name || j.jid)}</a><div class="sub">${esc(j.jid)}</div></td>` +
      `<td class="job-state">${badge(j.state)}</td><td class="nw">${fmtTime(j['start-time'])}</td><td class="nw">${fmtTime(j['end-time'])}</td>` +
      `<td class="nw">${fmtDur(j.duration)}</td><td class="tasks">${taskCounts(j.tasks)}</td></tr>`;
  }
  return h + '</tbody></table>';
}
function sortJobs(list) {
  return list.slice().sort((a, b) => (TERMINAL.has(a.state) - TERMINAL.has(b.state)) || ((num(b['start-time']) || 0) - (num(a['start-time']) || 0)));
}
function noteJobNames(list) { for (const j of list) if (j && j.jid) JOBNAMES.set(j.jid, j.name); }
function card(lbl, id, cls = '') { return `<div class="card ${cls}"><div class="card-label">${lbl}</div><div class="card-value" id="${id}">–</div></div>`; }
function setVersion(v) { if (v) setText('#topinfo-ver', 'version ' + v); }

// ---------- pages ----------
const PAGES = {};

PAGES.overview = {
  init() {
    main.innerHTML = `<h1>Cluster overview</h1><div id="page-error" class="error" hidden></div>
<div class="cards">${card('TaskManagers', 'taskmanagers-count')}${card('Slots total', 'slots-total')}${card('Slots available', 'slots-available')}
${card('Running jobs', 'jobs-running', 'c-g')}${card('Finished jobs', 'jobs-finished', 'c-b')}${card('Cancelled jobs', 'jobs-cancelled', 'c-k')}${card('Failed jobs', 'jobs-failed', 'c-r')}</div>
<div class="slotbar" title="slots in use"><div id="slot-use"></div></div>
<h2>Running jobs</h2><div id="running-jobs"><p class="muted">Loading…</p></div>`;
  },
  async refresh(ctx, r, g) {
    const [ov, jl] = await Promise.all([api('/overview'), api('/jobs/overview')]);
    alive(g);
    setText('#taskmanagers-count', intStr(ov.taskmanagers));
    setText('#slots-total', intStr(ov['slots-total']));
    setText('#slots-available', intStr(ov['slots-available']));
    for (const k of ['running', 'finished', 'cancelled', 'failed']) setText('#jobs-' + k, intStr(ov['jobs-' + k]));
    const tot = num(ov['slots-total']) || 0, av = num(ov['slots-available']) || 0;
    $('#slot-use').style.width = (tot ? Math.round(100 * (tot - av) / tot) : 0) + '%';
    setVersion(ov['flink-version']);
    const jobs = Array.isArray(jl.jobs) ? jl.jobs : [];
    noteJobNames(jobs);
    setHTML($('#running-jobs'), jobsTable(sortJobs(jobs.filter(j => !TERMINAL.has(j.state))), 'No running jobs.'));
  },
};

PAGES.jobs = {
  init() {
    main.innerHTML = `<h1>Jobs <span id="jobs-count" class="muted"></span></h1><div id="page-error" class="error" hidden></div><div id="jobs-table"><p class="muted">Loading…</p></div>`;
  },
  async refresh(ctx, r, g) {
    const jl = await api('/jobs/overview');
    alive(g);
    const jobs = Array.isArray(jl.jobs) ? jl.jobs : [];
    noteJobNames(jobs);
    const running = jobs.filter(j => !TERMINAL.has(j.state)).length;
    setText('#jobs-count', `${jobs.length} total, ${running} not finished`);
    setHTML($('#jobs-table'), jobsTable(sortJobs(jobs), 'No jobs have been submitted.'));
  },
};

// ----- job page -----
const ACTS = new Map(); // job id -> {cancel:{cls,html}, sp:{cls,html,busy}}
const act = id => { if (!ACTS.has(id)) ACTS.set(id, {}); return ACTS.get(id); };
function renderActs(id) {
  if (!S.route || S.route.page !== 'job' || S.route.id !== id) return;
  const a = act(id);
  for (const [sel, v] of [['#action-result', a.cancel], ['#savepoint-result', a.sp]]) {
    const el = $(sel); if (!el) continue;
    el.hidden = !v;
    if (v) { el.className = 'result ' + v.cls; setHTML(el, v.html); }
  }
  const sp = $('#trigger-savepoint'); if (sp) sp.disabled = !!(a.sp && a.sp.busy);
}
function failureText(fc) {
  if (!fc) return 'unknown cause';
  if (typeof fc === 'string') return fc;
  return firstLine(fc['stack-trace'] || fc.stacktrace || fc.message || '') || fc['class'] || JSON.stringify(fc).slice(0, 400);
}
async function onCancel() {
  const id = S.route.id, job = S.ctx.job || {};
  const ok = await confirmModal({ title: 'Cancel job?', danger: true, yes: 'Cancel job', no: 'Keep running',
    body: `<p>Cancel <b>${esc(job.name || id)}</b>?</p><p class="sub">${esc(id)}</p><p>All of its tasks will be stopped.</p>` });
  if (!ok) return;
  const a = act(id);
  a.cancel = { cls: 'info', html: 'Cancelling…' }; renderActs(id);
  try {
    await api(`/jobs/${enc(id)}?mode=cancel`, { method: 'PATCH' });
    a.cancel = { cls: 'ok', html: 'Cancellation requested.' };
  } catch (e) { a.cancel = { cls: 'err', html: 'Cancel failed: ' + esc(firstLine(e.message)) }; }
  renderActs(id); kick();
}
async function onSavepoint() {
  const id = S.route.id, job = S.ctx.job || {};
  const res = await confirmModal({ title: 'Trigger savepoint?', yes: 'Trigger savepoint', no: 'Go back',
    body: `<p>Take a savepoint of <b>${esc(job.name || id)}</b>? The job keeps running.</p>
<label class="field">Target directory (optional)<input id="savepoint-dir" type="text" autocomplete="off" placeholder="default: state.savepoints.dir"></label>` });
  if (!res) return;
  const a = act(id);
  const set = (cls, html, busy) => { a.sp = { cls, html, busy }; renderActs(id); };
  set('info', 'Triggering savepoint…', true);
  try {
    const body = { 'cancel-job': false };
    const dir = (res.value || '').trim();
    if (dir) body['target-directory'] = dir;
    const r = await api(`/jobs/${enc(id)}/savepoints`, { method: 'POST', body });
    const rid = r['request-id'];
    if (!rid) throw new Error('the answer has no request-id');
    set('info', `Savepoint in progress… <span class="sub">request ${esc(rid)}</span>`, true);
    const t0 = Date.now();
    for (;;) {
      await sleep(1000);
      let s;
      try { s = await api(`/jobs/${enc(id)}/savepoints/${enc(rid)}`); }
      catch (e) { if (e.status === 0 && Date.now() - t0 < 600000) continue; throw e; }
      if (s.status && s.status.id === 'COMPLETED') {
        const op = s.operation || {};
        if (op.location) set('ok', `Savepoint completed: <code class="sp-path">${esc(op.location)}</code>`, false);
        else set('err', 'Savepoint failed: ' + esc(failureText(op['failure-cause'])), false);
        break;
      }
      if (Date.now() - t0 > 600000) throw new Error('still in progress after 10 minutes; stopped polling');
    }
  } catch (e) { set('err', 'Savepoint failed: ' + esc(firstLine(e.message)), false); }
  kick();
}

function planNodes(job) {
  const vs = Array.isArray(job.vertices) ? job.vertices : [];
  const vmap = new Map(vs.map(v => [v.id, v]));
  const pn = job.plan && Array.isArray(job.plan.nodes) ? job.plan.nodes : [];
  const nodes = pn.map(n => ({ id: n.id, desc: n.description, par: n.parallelism,
    inputs: (Array.isArray(n.inputs) ? n.inputs : []).map(i => ({ id: i.id, ship: i.ship_strategy || i.exchange || '' })) }));
  for (const v of vs) if (!nodes.some(n => n.id === v.id)) nodes.push({ id: v.id, par: v.parallelism, inputs: [] });
  for (const n of nodes) {
    const v = vmap.get(n.id);
    n.name = (v && v.name) || String(n.desc || '').replace(/<br\s*\/?>/gi, ' ').replace(/<[^>]*>/g, '').trim() || n.id;
  }
  return nodes;
}
const GW = 260, GH = 116, GX = 96, GY = 26, GP = 16;
function buildGraph(nodes) {
  if (!nodes.length) return '<p class="muted">This job has no vertices.</p>';
  const byId = new Map(nodes.map((n, i) => [n.id, Object.assign(n, { idx: i })]));
  const depth = new Map(), visiting = new Set();
  const dep = id => {
    if (depth.has(id)) return depth.get(id);
    if (visiting.has(id)) return 0;
    visiting.add(id);
    let d = 0;
    for (const i of byId.get(id).inputs) if (byId.has(i.id)) d = Math.max(d, dep(i.id) + 1);
    visiting.delete(id); depth.set(id, d); return d;
  };
  const cols = [];
  for (const n of nodes) { n.depth = dep(n.id); (cols[n.depth] = cols[n.depth] || []).push(n); }
  let maxRows = 0;
  cols.forEach((col, c) => {
    if (!col) { cols[c] = []; return; }
    if (c > 0) {
      for (const n of col) {
        const ys = n.inputs.map(i => byId.get(i.id)).filter(p => p && p.row != null).map(p => p.row);
        n.bary = ys.length ? ys.reduce((a, b) => a + b, 0) / ys.length : n.idx;
      }
      col.sort((a, b) => a.bary - b.bary || a.idx - b.idx);
    } else col.sort((a, b) => b.idx - a.idx);
    col.forEach((n, r) => { n.row = r; });
    maxRows = Math.max(maxRows, col.length);
  });
  for (const col of cols) {
    const off = (maxRows - col.length) * (GH + GY) / 2;
    for (const n of col) { n.x = GP + n.depth * (GW + GX); n.y = GP + off + n.row * (GH + GY); }
  }
  // Edges between adjacent columns run straight across; longer (or backward) ones arc over the boxes.
  let arcs = 0;
  for (const n of nodes) for (const i of n.inputs) { const s = byId.get(i.id); if (s && n.depth - s.depth !== 1) arcs++; }
  const lift = k => 44 + 16 * k, top = arcs ? Math.round(lift(arcs - 1) * 0.75) + 12 : 0;
  for (const n of nodes) n.y += top;
  const W = GP * 2 + cols.length * GW + (cols.length - 1) * GX, H = top + GP * 2 + maxRows * GH + (maxRows - 1) * GY;
  let e = '', v = '', k = 0;
  for (const n of nodes) {
    for (const i of n.inputs) {
      const s = byId.get(i.id); if (!s) continue;
      let d, lx, ly;
      if (n.depth - s.depth === 1) {
        const x1 = s.x + GW, y1 = s.y + GH / 2, x2 = n.x - 2, y2 = n.y + GH / 2, mx = (x1 + x2) / 2;
        d = `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`; lx = mx; ly = (y1 + y2) / 2 - 6;
      } else {
        const x1 = s.x + GW * 0.7, y1 = s.y, x2 = n.x + GW * 0.3, y2 = n.y - 2, c = Math.min(y1, y2) - lift(k++);
        d = `M${x1},${y1} C${x1},${c} ${x2},${c} ${x2},${y2}`; lx = (x1 + x2) / 2; ly = (y1 + y2) / 8 + c * 0.75 - 4;
      }
      e += `<path class="edge" d="${d}" marker-end="url(#arrow)"/>`;
      if (i.ship) e += `<text class="elabel" x="${lx}" y="${ly}" text-anchor="middle">${esc(i.ship)}</text>`;
    }
    const nm = n.name.length > 31 ? n.name.slice(0, 30) + '…' : n.name;
    v += `<g class="vertex" data-vertex-id="${esc(n.id)}" transform="translate(${n.x},${n.y})"><title>${esc(n.name)}</title>` +
      `<rect class="vbox" width="${GW}" height="${GH}" rx="6"/><rect class="vstripe" width="6" height="${GH}" rx="3"/>` +
      `<text class="vname" x="16" y="22">${esc(nm)}</text><text class="vl vpar" x="16" y="42"></text><text class="vl vrate" x="16" y="61"></text>` +
      `<text class="vl vbusy" x="16" y="80"></text><text class="vl vwm" x="16" y="99"></text></g>`;
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}"><defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z"/></marker></defs>${e}${v}</svg>`;
}
function updateGraph(ctx) {
  const job = ctx.job, el = $('#job-graph'); if (!el || !job) return;
  const vmap = new Map((job.vertices || []).map(v => [v.id, v]));
  for (const g of el.querySelectorAll('g[data-vertex-id]')) {
    const id = g.getAttribute('data-vertex-id'), v = vmap.get(id) || {}, m = ctx.vm[id] || {}, mt = m.metrics || {};
    const st = v.status || '';
    g.querySelector('.vstripe').setAttribute('class', 'vstripe ' + stCls(st));
    g.classList.toggle('sel', ctx.sel === id);
    const ag = (k, f) => (mt[k] ? num(mt[k][f]) : null);
    const busy = ag('busyTimeMsPerSecond', 'max'), bp = ag('backPressuredTimeMsPerSecond', 'max');
    const rin = ag('numRecordsInPerSecond', 'sum'), rout = ag('numRecordsOutPerSecond', 'sum');
    setText(g.querySelector('.vpar'), `Parallelism ${v.parallelism ?? '–'} · ${st || '–'}`);
    setText(g.querySelector('.vrate'), `In ${fmtNum(rin)}/s · Out ${fmtNum(rout)}/s`);
    setText(g.querySelector('.vbusy'), `Busy ${pct(busy == null ? null : busy / 10)} · Backpressure ${pct(bp == null ? null : bp / 10)}`);
    setText(g.querySelector('.vwm'), 'Watermark ' + fmtWm(m.wm));
    const b = busy == null ? 0 : Math.min(100, busy / 10), p = bp == null ? 0 : Math.min(100, bp / 10);
    const fill = p > b ? `hsl(220,45%,${Math.round(100 - p * 0.12)}%)` : b > 0 ? `hsl(0,90%,${Math.round(100 - b * 0.12)}%)` : '#fff';
    g.querySelector('.vbox').style.fill = fill;
  }
}
function parseWms(list) {
  const out = [];
  for (const w of Array.isArray(list) ? list : []) {
    const id = String(w.id || '');
    if (!/currentInputWatermark$/.test(id) && list.some(x => /currentInputWatermark$/.test(String(x.id || '')))) continue;
    const n = num(w.value), sub = parseInt(id, 10);
    out.push({ sub: Number.isNaN(sub) ? null : sub, wm: n == null || n <= -9.2e18 ? null : n });
  }
  return out;
}
function lowestWm(list) {
  const ws = parseWms(list);
  if (!ws.length) return null;
  let low;
  for (const w of ws) { if (w.wm == null) return null; if (low === undefined || w.wm < low) low = w.wm; }
  return low;
}
function aggMap(list) { const m = {}; for (const x of Array.isArray(list) ? list : []) if (x && x.id) m[x.id] = x; return m; }
function renderVertexTable(ctx) {
  const vs = (ctx.job && ctx.job.vertices) || [];
  let h = '<table class="tbl" id="vertex-table"><thead><tr><th>Name</th><th>Status</th><th class="r">Parallelism</th><th class="r">Records in</th><th class="r">Records out</th><th class="r">Bytes in</th><th class="r">Bytes out</th><th>Start time</th><th>Duration</th><th>Tasks</th></tr></thead><tbody>';
  for (const v of vs) {
    const m = v.metrics || {};
    h += `<tr data-vertex-id="${esc(v.id)}" class="clickable${ctx.sel === v.id ? ' sel' : ''}"><td>${esc(v.name)}</td><td>${badge(v.status)}</td><td class="r">${esc(v.parallelism)}</td>` +
      `<td class="r records-in">${intStr(m['read-records'])}</td><td class="r records-out">${intStr(m['write-records'])}</td>` +
      `<td class="r">${fmtBytes(m['read-bytes'])}</td><td class="r">${fmtBytes(m['write-bytes'])}</td><td class="nw">${fmtTime(v['start-time'])}</td><td class="nw">${fmtDur(v.duration)}</td><td class="tasks">${taskCounts(v.tasks)}</td></tr>`;
  }
  setHTML($('#vertex-table-wrap'), vs.length ? h + '</tbody></table>' : '<p class="muted">No vertices.</p>');
}
function renderVertexDetail(ctx) {
  const el = $('#vertex-detail'); if (!el) return;
  const v = ctx.sel && (ctx.job.vertices || []).find(x => x.id === ctx.sel);
  if (!v) { setHTML(el, ''); return; }
  const d = ctx.vd[v.id] || {}, m = ctx.vm[v.id] || {};
  const wms = new Map(parseWms(m.wmRaw).map(w => [w.sub, w.wm]));
  const bp = d.bp || {};
  const subs = Array.isArray(bp.subtasks) ? bp.subtasks : [];
  let h = `<div class="panel"><div class="panel-head"><h3>Subtasks of ${esc(v.name)}</h3><button type="button" class="btn small" id="vertex-detail-close">Close</button></div>`;
  if (d.err) h += `<p class="error">${esc(firstLine(d.err.message))}</p>`;
  h += `<p>Back pressure: ${bp['backpressure-level'] ? badge(String(bp['backpressure-level']).toUpperCase()) : '<span class="muted">–</span>'} <span class="sub">${bp['end-timestamp'] ? 'sampled ' + fmtTime(bp['end-timestamp']) : ''}</span></p>`;
  const rows = subs.length ? subs.map(s => s.subtask) : [...wms.keys()].filter(k => k != null).sort((a, b) => a - b);
  if (!rows.length) h += '<p class="muted">No subtask data yet.</p>';
  else {
    const bym = new Map(subs.map(s => [s.subtask, s]));
    h += '<table class="tbl"><thead><tr><th>Subtask</th><th>Back pressure</th><th class="r">Back-pressured</th><th class="r">Idle</th><th class="r">Busy</th><th>Input watermark</th></tr></thead><tbody>';
    for (const i of rows) {
      const s = bym.get(i) || {}, r = k => (num(s[k]) == null ? '–' : pct(num(s[k]) * 100));
      h += `<tr><td>${esc(i)}</td><td>${s['backpressure-level'] ? badge(String(s['backpressure-level']).toUpperCase()) : '–'}</td><td class="r">${r('ratio')}</td><td class="r">${r('idleRatio')}</td><td class="r">${r('busyRatio')}</td><td>${esc(fmtWm(wms.has(i) ? wms.get(i) : undefined))}</td></tr>`;
    }
    h += '</tbody></table>';
  }
  setHTML(el, h + '</div>');
}
// A kind of per-vertex request that keeps failing with 4xx is left out until the page is left.
function failed(ctx, kind, e) { if (e.status >= 400 && e.status < 500) ctx.miss[kind] = (ctx.miss[kind] || 0) + 1; }
const skip = (ctx, kind) => (ctx.miss[kind] || 0) >= 3;
async function refreshGraph(ctx, g, term) {
  const job = ctx.job, nodes = planNodes(job);
  const sig = nodes.map(n => n.id + ':' + n.name + ':' + n.inputs.map(i => i.id + '/' + i.ship).join(',')).join(';');
  const ge = $('#job-graph'); if (!ge) return;
  if (ctx.graphSig !== sig) { ge.innerHTML = buildGraph(nodes); ctx.graphSig = sig; }
  renderVertexTable(ctx); updateGraph(ctx); renderVertexDetail(ctx);
  if (term && ctx.vmFinal) return;
  const base = `/jobs/${enc(job.jid || S.route.id)}/vertices/`;
  const wmTick = term || S.tick % 2 === 0;
  const reqs = [];
  for (const v of job.vertices || []) {
    const m = ctx.vm[v.id] || (ctx.vm[v.id] = {}), b = base + enc(v.id);
    if (!skip(ctx, 'metrics')) reqs.push(api(`${b}/subtasks/metrics?get=${VERTEX_METRICS}&agg=sum,max`).then(r => { m.metrics = aggMap(r); ctx.miss.metrics = 0; }, e => failed(ctx, 'metrics', e)));
    if (wmTick && !skip(ctx, 'wm')) reqs.push(api(`${b}/watermarks`).then(r => { m.wmRaw = r; m.wm = lowestWm(r); ctx.miss.wm = 0; }, e => failed(ctx, 'wm', e)));
  }
  if (ctx.sel && !skip(ctx, 'bp')) {
    const d = ctx.vd[ctx.sel] || (ctx.vd[ctx.sel] = {}), b = base + enc(ctx.sel);
    reqs.push(api(`${b}/backpressure`).then(r => { d.bp = r; d.err = null; ctx.miss.bp = 0; }, e => { d.err = e; failed(ctx, 'bp', e); }));
  }
  await Promise.all(reqs);
  alive(g);
  if (term) ctx.vmFinal = true;
  updateGraph(ctx); renderVertexDetail(ctx);
}
function renderCheckpoints(ctx) {
  const c = ctx.cp || {}, k = c.counts || {}, lat = c.latest || {}, sum = c.summary || {};
  let h = `<div class="cards">${[['Completed', 'completed', 'c-g'], ['In progress', 'in_progress', 'c-b'], ['Failed', 'failed', 'c-r'], ['Restored', 'restored', ''], ['Total', 'total', '']]
    .map(([l, f, cl]) => `<div class="card ${cl}"><div class="card-label">${l}</div><div class="card-value" id="checkpoints-${f.replace('_', '-')}">${intStr(k[f])}</div></div>`).join('')}</div>`;
  const lc = lat.completed, ls = lat.savepoint, lf = lat.failed, lr = lat.restored;
  const rows = [];
  if (lc) rows.push(['Latest completed', `#${esc(lc.id)} at ${fmtTime(lc.latest_ack_timestamp || lc.trigger_timestamp)}, ${fmtDur(lc.end_to_end_duration)}, ${fmtBytes(lc.checkpointed_size ?? lc.state_size)}${lc.external_path ? ` <code>${esc(lc.external_path)}</code>` : ''}`]);
  if (ls) rows.push(['Latest savepoint', `#${esc(ls.id)} at ${fmtTime(ls.latest_ack_timestamp || ls.trigger_timestamp)}${ls.external_path ? ` <code>${esc(ls.external_path)}</code>` : ''}`]);
  if (lf) rows.push(['Latest failed', `#${esc(lf.id)} at ${fmtTime(lf.failure_timestamp || lf.trigger_timestamp)}: ${esc(firstLine(lf.failure_message))}`]);
  if (lr) rows.push(['Latest restore', `#${esc(lr.id)} at ${fmtTime(lr.restore_timestamp)}${lr.external_path ? ` <code>${esc(lr.external_path)}</code>` : ''}`]);
  const sm = (key, f) => { const s = sum[key]; return s ? `${f(s.min)} / ${f(s.avg)} / ${f(s.max)}` : null; };
  for (const [l, key, f] of [['End-to-end duration (min / avg / max)', 'end_to_end_duration', fmtDur], ['Checkpointed size (min / avg / max)', 'checkpointed_size', fmtBytes], ['State size (min / avg / max)', 'state_size', fmtBytes]]) {
    const s = sm(key, f); if (s) rows.push([l, s]);
  }
  h += `<div class="panel">${kvTable(rows)}</div><h2>History</h2>`;
  const hist = Array.isArray(c.history) ? c.history : [];
  h += '<table class="tbl" id="checkpoint-history"><thead><tr><th>ID</th><th>Status</th><th>Type</th><th>Trigger time</th><th>Latest ack</th><th class="r">Duration</th><th class="r">Checkpointed size</th><th class="r">State size</th><th class="r">Acknowledged</th></tr></thead><tbody>';
  for (const x of hist) {
    h += `<tr data-checkpoint-id="${esc(x.id)}"><td>${esc(x.id)}</td><td>${badge(x.status)}</td><td>${esc(x.is_savepoint ? 'SAVEPOINT' : (x.checkpoint_type || 'CHECKPOINT'))}</td>` +
      `<td class="nw">${fmtTime(x.trigger_timestamp)}</td><td class="nw">${fmtTime(x.latest_ack_timestamp)}</td><td class="r">${fmtDur(x.end_to_end_duration)}</td>` +
      `<td class="r">${fmtBytes(x.checkpointed_size)}</td><td class="r">${fmtBytes(x.state_size)}</td><td class="r">${esc(x.num_acknowledged_subtasks ?? '–')} / ${esc(x.num_subtasks ?? '–')}</td></tr>`;
  }
  if (!hist.length) h += '<tr><td colspan="9" class="muted">No checkpoints yet.</td></tr>';
  setHTML($('#cp-body'), h + '</tbody></table>');
}
function renderExceptions(ctx) {
  const x = ctx.exc || {};
  const entries = (x.exceptionHistory && Array.isArray(x.exceptionHistory.entries)) ? x.exceptionHistory.entries : [];
  let h = '';
  if (x['root-exception'] && !entries.length) h += `<div class="panel exc"><div><b>Root exception</b> <span class="sub">${fmtTime(x.timestamp)}</span></div><pre>${esc(x['root-exception'])}</pre></div>`;
  entries.forEach((en, i) => {
    const where = [en.taskName, en.endpoint || en.location, en.taskManagerId].filter(Boolean).map(esc).join(' · ');
    h += `<details class="panel exc"${i === 0 ? ' open' : ''}><summary><b>${esc(en.exceptionName || 'Exception')}</b> <span class="sub">${fmtTime(en.timestamp)}${where ? ' · ' + where : ''}</span></summary><pre>${esc(en.stacktrace || '')}</pre></details>`;
  });
  if (x.exceptionHistory && x.exceptionHistory.truncated) h += '<p class="muted">Older exceptions were dropped.</p>';
  setHTML($('#exc-body'), h || '<p class="muted">No exceptions.</p>');
}
function renderConfig(ctx) {
  const c = ctx.cfg || {}, ec = c['execution-config'] || {};
  const rows = [['Job ID', esc(c.jid)], ['Name', esc(c.name)]];
  for (const k of Object.keys(ec)) if (k !== 'user-config') rows.push([k, plain(ec[k])]);
  const uc = ec['user-config'] && typeof ec['user-config'] === 'object' ? ec['user-config'] : {};
  setHTML($('#cfg-body'), `<h2>Execution configuration</h2>${kvTable(rows)}<h2>User configuration</h2>${kvTable(Object.keys(uc).sort().map(k => [k, plain(uc[k])]))}`);
}
PAGES.job = {
  init(ctx, r) {
    Object.assign(ctx, { vm: {}, vd: {}, miss: {} });
    main.innerHTML = `<div class="crumbs"><a href="#/jobs">Jobs</a> /</div><div id="page-error" class="error" hidden></div>
<div class="job-head"><div class="job-title"><h1 id="job-name">${esc(JOBNAMES.get(r.id) || r.id)}</h1><span id="job-state" class="badge st-k">…</span></div>
<div class="job-actions"><button type="button" id="trigger-savepoint" class="btn" hidden>Trigger savepoint</button><button type="button" id="cancel-job" class="btn danger" hidden>Cancel job</button></div></div>
<div id="job-meta" class="meta"></div><div id="action-result" class="result" hidden></div><div id="savepoint-result" class="result" hidden></div>
<nav class="tabs"><a id="tab-graph" href="${href('jobs', r.id, 'graph')}">Overview</a><a id="tab-checkpoints" href="${href('jobs', r.id, 'checkpoints')}">Checkpoints</a><a id="tab-exceptions" href="${href('jobs', r.id, 'exceptions')}">Exceptions</a><a id="tab-config" href="${href('jobs', r.id, 'config')}">Configuration</a></nav>
<div id="tab-error" class="error" hidden></div><div id="tab-body"></div>`;
    $('#cancel-job').addEventListener('click', onCancel);
    $('#trigger-savepoint').addEventListener('click', onSavepoint);
    $('#tab-body').addEventListener('click', e => {
      if (e.target.closest('#vertex-detail-close')) { ctx.sel = null; renderVertexDetail(ctx); updateGraph(ctx); renderVertexTable(ctx); return; }
      const t = e.target.closest('[data-vertex-id]');
      if (!t || !t.closest('#job-graph, #vertex-table')) return;
      const id = t.getAttribute('data-vertex-id');
      ctx.sel = ctx.sel === id ? null : id;
      renderVertexTable(ctx); updateGraph(ctx); renderVertexDetail(ctx);
      if (ctx.sel) kick();
    });
    renderActs(r.id);
    this.tab(ctx, r);
  },
  tab(ctx, r) {
    for (const t of ['graph', 'checkpoints', 'exceptions', 'config']) $('#tab-' + t).classList.toggle('active', r.tab === t);
    const bodies = { graph: '<div class="panel graph-wrap"><div id="job-graph" class="graph"><p class="muted">Loading…</p></div></div><h2>Vertices</h2><div id="vertex-table-wrap"></div><div id="vertex-detail"></div>',
      checkpoints: '<div id="cp-body"><p class="muted">Loading…</p></div>', exceptions: '<div id="exc-body"><p class="muted">Loading…</p></div>', config: '<div id="cfg-body"><p class="muted">Loading…</p></div>' };
    $('#tab-body').innerHTML = bodies[r.tab];
    $('#tab-error').hidden = true;
    ctx.graphSig = null;
    if (ctx.job) this.head(ctx);
  },
  head(ctx) {
    const j = ctx.job, term = TERMINAL.has(j.state);
    setText('#job-name', j.name || j.jid || S.route.id);
    const st = $('#job-state'); setText(st, j.state || '–'); st.className = 'badge ' + stCls(j.state);
    const dur = num(j.duration);
    setHTML($('#job-meta'), [['Job ID', esc(j.jid)], ['Type', esc(j['job-type'] || '–')], ['Start', fmtTime(j['start-time'])], ['End', fmtTime(j['end-time'])],
      ['Duration', fmtDur(dur)], ['Tasks', taskCounts(j['status-counts'])]].map(([k, v]) => `<span><b>${k}</b> ${v}</span>`).join(''));
    $('#cancel-job').hidden = term; $('#trigger-savepoint').hidden = term;
    renderActs(S.route.id);
  },
  async refresh(ctx, r, g) {
    if (!ctx.job || !ctx.final) {
      const job = await api('/jobs/' + enc(r.id));
      alive(g);
      ctx.job = job;
      if (job.jid) JOBNAMES.set(job.jid, job.name);
    }
    const term = TERMINAL.has(ctx.job.state);
    this.head(ctx);
    try {
      if (r.tab === 'graph') await refreshGraph(ctx, g, term);
      else if (r.tab === 'checkpoints') {
        if (!ctx.cpFinal) { ctx.cp = await api(`/jobs/${enc(r.id)}/checkpoints`); alive(g); ctx.cpFinal = term; }
        renderCheckpoints(ctx);
      } else if (r.tab === 'exceptions') {
        if (!ctx.excFinal) { ctx.exc = await api(`/jobs/${enc(r.id)}/exceptions`); alive(g); ctx.excFinal = term; }
        renderExceptions(ctx);
      } else if (r.tab === 'config') {
        if (!ctx.cfg) { ctx.cfg = await api(`/jobs/${enc(r.id)}/config`); alive(g); }
        renderConfig(ctx);
      }
    } catch (e) {
      if (e === STALE || e.status === 0) throw e;
      const te = $('#tab-error'); te.textContent = firstLine(e.message); te.hidden = false;
      if (!(e instanceof ApiError)) console.error(e);
      if (term) ctx.final = true;
      return;
    }
    $('#tab-error').hidden = true;
    if (term) ctx.final = true;
  },
};

// ----- TaskManagers -----
const heartbeat = v => { const n = num(v); if (n == null) return '–'; return n > 1e12 ? fmtTime(n) : fmtDur(n) + ' ago'; };
PAGES.taskmanagers = {
  init() {
    main.innerHTML = `<h1>TaskManagers <span id="tms-count" class="muted"></span></h1><div id="page-error" class="error" hidden></div><div id="tms-table"><p class="muted">Loading…</p></div>`;
  },
  async refresh(ctx, r, g) {
    const d = await api('/taskmanagers');
    alive(g);
    const tms = (Array.isArray(d.taskmanagers) ? d.taskmanagers : []).slice().sort((a, b) => String(a.id).localeCompare(String(b.id), undefined, { numeric: true }));
    let slots = 0, free = 0;
    let h = '<table class="tbl"><thead><tr><th>ID</th><th class="r">Data port</th><th>Last heartbeat</th><th class="r">Slots (free / total)</th><th class="r">CPU cores</th><th class="r">Physical memory</th><th class="r">Free memory</th><th class="r">Managed memory</th></tr></thead><tbody>';
    for (const t of tms) {
      const hw = t.hardware || {};
      slots += num(t.slotsNumber) || 0; free += num(t.freeSlots) || 0;
      h += `<tr data-tm-id="${esc(t.id)}"><td><a href="${href('taskmanagers', t.id)}">${esc(t.id)}</a><div class="sub">${esc(t.path)}</div></td><td class="r">${esc(t.dataPort ?? '–')}</td>` +
        `<td>${heartbeat(t.timeSinceLastHeartbeat)}</td><td class="r">${esc(t.freeSlots ?? '–')} / ${esc(t.slotsNumber ?? '–')}</td><td class="r">${esc(hw.cpuCores ?? '–')}</td>` +
        `<td class="r">${fmtBytes(hw.physicalMemory)}</td><td class="r">${fmtBytes(hw.freeMemory)}</td><td class="r">${fmtBytes(hw.managedMemory)}</td></tr>`;
    }
    setText('#tms-count', `${tms.length} registered, ${free} of ${slots} slots free`);
    setHTML($('#tms-table'), tms.length ? h + '</tbody></table>' : '<p class="muted">No TaskManager is registered.</p>');
  },
};
function metricValue(name, v) {
  const n = num(v);
  if (n == null) return esc(v);
  if (/bytes|\.rss$|memory\.(.*\.)?(used|committed|max|total|free)$/i.test(name)) return `<span title="${esc(v)}">${fmtBytes(n)}</span>`;
  if ((/uptime/i.test(name) || /Ms$/.test(name)) && n >= 1000) return `<span title="${esc(v)}">${fmtDur(n)}</span>`;
  return esc(Number.isInteger(n) ? String(n) : String(+n.toFixed(4)));
}
PAGES.taskmanager = {
  init(ctx, r) {
    Object.assign(ctx, { logN: 0, logShown: 0, miss: {} });
    main.innerHTML = `<div class="crumbs"><a href="#/taskmanagers">TaskManagers</a> / TaskManager</div><div id="page-error" class="error" hidden></div>
<h1 id="tm-id">${esc(r.id)}</h1><div id="tm-path" class="meta"></div>
<div class="cards">${card('Slots total', 'tm-slots-total')}${card('Slots free', 'tm-slots-free')}${card('CPU cores', 'tm-cores')}${card('Physical memory', 'tm-phys')}${card('Process RSS', 'tm-rss')}${card('CPU load', 'tm-cpu')}${card('Since heartbeat', 'tm-hb')}</div>
<div class="grid2"><section><h2>Slots</h2><table class="tbl" id="tm-slots"><thead><tr><th class="r">Index</th><th class="r">Memory budget</th><th>Allocation</th><th>Job</th></tr></thead><tbody></tbody></table>
<h2>Hardware and resources</h2><div id="tm-hw"></div></section><section><h2>Memory configuration</h2><div id="tm-mem"></div></section></div>
<h2>Metrics</h2><div id="tm-metrics-err" class="error" hidden></div><table class="tbl" id="tm-metrics"><thead><tr><th>Metric</th><th>Value</th></tr></thead><tbody></tbody></table>
<h2>Log</h2><pre id="tm-log" class="log">Loading…</pre>`;
  },
  async refresh(ctx, r, g) {
    const base = '/taskmanagers/' + enc(r.id);
    const metricsP = skip(ctx, 'tmm') ? null : (async () => {
      try {
        if (!ctx.mNames || S.tick % 20 === 0) {
          const l = await api(base + '/metrics');
          ctx.mNames = (Array.isArray(l) ? l : []).map(x => x && x.id).filter(Boolean).sort();
        }
        const chunks = [[]]; let len = 0;
        for (const n of ctx.mNames) {
          if (len + n.length > 3000) { chunks.push([]); len = 0; }
          chunks[chunks.length - 1].push(enc(n)); len += n.length + 1;
        }
        const parts = await Promise.all(chunks.filter(c => c.length).map(c => api(`${base}/metrics?get=${c.join(',')}`)));
        ctx.mVals = parts.flat(); ctx.mErr = null; ctx.miss.tmm = 0;
      } catch (e) { if (e.status !== 0) { ctx.mErr = e; ctx.mNames = null; failed(ctx, 'tmm', e); } }
    })();
    const logP = S.tick % 2 || skip(ctx, 'log') ? null : api(base + '/log', { text: true }).then(t => { ctx.log = t; ctx.logErr = null; ctx.logN++; ctx.miss.log = 0; }, e => { if (e.status !== 0) { ctx.logErr = e; ctx.logN++; failed(ctx, 'log', e); } });
    const t = await api(base);
    await Promise.all([metricsP, logP]);
    alive(g);
    const hw = t.hardware || {};
    setText('#tm-id', String(t.id ?? r.id));
    setText('#tm-path', `${t.path || ''}${t.dataPort != null ? ' · data port ' + t.dataPort : ''}`);
    setText('#tm-slots-total', intStr(t.slotsNumber));
    setText('#tm-slots-free', intStr(t.freeSlots));
    setText('#tm-cores', hw.cpuCores != null ? String(hw.cpuCores) : '–');
    setText('#tm-phys', fmtBytes(hw.physicalMemory));
    setText('#tm-hb', heartbeat(t.timeSinceLastHeartbeat).replace(/ ago$/, ''));
    const mv = new Map((ctx.mVals || []).map(x => [x.id, x.value]));
    setText('#tm-rss', fmtBytes(mv.get(TM_CARD_METRICS[0])));
    const cpu = num(mv.get(TM_CARD_METRICS[1]));
    setText('#tm-cpu', cpu == null ? '–' : (cpu <= 1 ? cpu * 100 : cpu).toFixed(1) + '%');
    // slots
    let slots = Array.isArray(t.slots) ? t.slots : null;
    if (!slots) slots = (Array.isArray(t.allocatedSlots) ? t.allocatedSlots : []).map(a => ({ index: '–', memoryBudget: null, allocationId: '(allocated)', jobId: a.jobId }));
    const unknown = slots.some(s => s.jobId && !JOBNAMES.has(s.jobId));
    if (unknown && (ctx.namesAt == null || S.tick - ctx.namesAt >= 10)) {
      ctx.namesAt = S.tick;
      try { const jl = await api('/jobs/overview'); alive(g); noteJobNames(jl.jobs || []); } catch (e) { if (e === STALE) throw e; }
    }
    setHTML($('#tm-slots tbody'), slots.length ? slots.map(s => `<tr><td class="r">${esc(s.index)}</td><td class="r">${fmtBytes(s.memoryBudget)}</td><td class="mono">${s.allocationId ? esc(s.allocationId) : '<span class="muted">free</span>'}</td>` +
      `<td>${s.jobId ? `<a href="${href('jobs', s.jobId)}">${esc(JOBNAMES.get(s.jobId) || s.jobId)}</a>` : '<span class="muted">–</span>'}</td></tr>`).join('') : '<tr><td colspan="4" class="muted">No slots.</td></tr>');
    const mem = t.memoryConfiguration || {};
    setHTML($('#tm-mem'), kvTable(Object.keys(mem).map(k => [label(k), fmtBytes(mem[k])])));
    const tr = t.totalResource || {}, fr = t.freeResource || {};
    const res = ['cpuCores', 'taskHeapMemory', 'taskOffHeapMemory', 'managedMemory', 'networkMemory'].filter(k => k in tr || k in fr)
      .map(k => [label(k) + ' (total / free)', k === 'cpuCores' ? `${esc(tr[k] ?? '–')} / ${esc(fr[k] ?? '–')}` : `${esc(tr[k] ?? '–')} / ${esc(fr[k] ?? '–')} MiB`]);
    setHTML($('#tm-hw'), kvTable([['CPU cores', esc(hw.cpuCores ?? '–')], ['Physical memory', fmtBytes(hw.physicalMemory)], ['Free memory', fmtBytes(hw.freeMemory)], ['Managed memory', fmtBytes(hw.managedMemory)], ...res]));
    // metrics
    const me = $('#tm-metrics-err');
    me.hidden = !ctx.mErr; if (ctx.mErr) me.textContent = 'Metrics unavailable: ' + firstLine(ctx.mErr.message);
    const vals = (ctx.mVals || []).slice().sort((a, b) => String(a.id).localeCompare(String(b.id)));
    setHTML($('#tm-metrics tbody'), vals.length ? vals.map(x => `<tr><td class="mono">${esc(x.id)}</td><td>${metricValue(x.id, x.value)}</td></tr>`).join('') : '<tr><td colspan="2" class="muted">No metrics.</td></tr>');
    // log
    if (ctx.logN !== ctx.logShown) {
      ctx.logShown = ctx.logN;
      const pre = $('#tm-log');
      let txt = ctx.logErr ? 'Log unavailable: ' + ctx.logErr.message : (ctx.log || '(the log is empty)');
      if (txt.length > 400000) txt = '… (older lines not shown)\n' + txt.slice(-400000);
      if (pre._t !== txt) {
        const atEnd = pre._t == null || pre.scrollHeight - pre.scrollTop - pre.clientHeight < 40;
        pre.textContent = txt; pre._t = txt;
        if (atEnd) pre.scrollTop = pre.scrollHeight;
      }
    }
  },
};

// ----- JobManager -----
PAGES.jobmanager = {
  init(ctx) {
    main.innerHTML = `<h1>JobManager</h1><div id="page-error" class="error" hidden></div>
<div class="grid2 wide-left"><section><h2>Configuration <input id="cfg-filter" class="filter" type="search" placeholder="Filter keys and values"></h2><div id="jm-config"><p class="muted">Loading…</p></div></section>
<section id="jm-metrics-sec" hidden><h2>Metrics</h2><div id="jm-metrics"></div></section></div>`;
    $('#cfg-filter').addEventListener('input', () => this.renderCfg(ctx));
  },
  renderCfg(ctx) {
    if (!ctx.cfg) return;
    const f = ($('#cfg-filter').value || '').toLowerCase();
    const rows = (Array.isArray(ctx.cfg) ? ctx.cfg : []).filter(e => !f || String(e.key).toLowerCase().includes(f) || String(e.value).toLowerCase().includes(f))
      .sort((a, b) => String(a.key).localeCompare(String(b.key)));
    setHTML($('#jm-config'), `<table class="tbl kv" id="jm-config-table"><thead><tr><th>Key</th><th>Value</th></tr></thead><tbody>${rows.map(e => `<tr><th class="mono">${esc(e.key)}</th><td class="mono wrap">${esc(e.value)}</td></tr>`).join('') || '<tr><td colspan="2" class="muted">No entries.</td></tr>'}</tbody></table>`);
  },
  async refresh(ctx, r, g) {
    if (!ctx.cfg) { ctx.cfg = await api('/jobmanager/config'); alive(g); this.renderCfg(ctx); }
    if (ctx.noMetrics) return;
    try {
      if (!ctx.mNames) { const l = await api('/jobmanager/metrics'); ctx.mNames = (Array.isArray(l) ? l : []).map(x => x && x.id).filter(Boolean); }
      if (!ctx.mNames.length) return;
      const vals = await api('/jobmanager/metrics?get=' + ctx.mNames.map(enc).join(','));
      alive(g);
      $('#jm-metrics-sec').hidden = false;
      setHTML($('#jm-metrics'), kvTable((Array.isArray(vals) ? vals : []).map(x => [x.id, metricValue(x.id, x.value)])));
    } catch (e) {
      if (e === STALE || e.status === 0) throw e;
      ctx.noMetrics = e.status === 404; ctx.mNames = null;
    }
  },
};

// ---------- boot ----------
$('#topinfo').innerHTML = '<span id="topinfo-ver"></span> <span id="topinfo-upd"></span>';
if (!location.hash || location.hash === '#' || location.hash === '#/') history.replaceState(null, '', '#/overview');
navigate();
})();
