// The numbers web app. Talks to the numbers API under /api on this origin (the proxy strips
// the prefix). No framework, no build step: a module script that owns the page.
//
// Every failure is shown: field problems next to the field, anything else in an alert with a
// Retry button that repeats what failed. 64-bit integers stay exact (BigInt where needed).

const API = '/api/v1/numbers';
const PAGE_SIZE = 10;
const CHART_SIZE = 30;
const TIMEOUT_MS = 10000;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const SVG = 'http://www.w3.org/2000/svg';

const $ = (id) => document.getElementById(id);
const els = {
  alert: $('alert'),
  alertText: $('alert-text'),
  retry: $('retry'),
  form: $('add-form'),
  input: $('value'),
  add: $('add'),
  fieldError: $('value-error'),
  stats: $('stats'),
  chart: $('chart'),
  chartDesc: $('chart-desc'),
  list: $('list'),
  listHeading: $('list-heading'),
  empty: $('empty'),
  more: $('more'),
  status: $('status'),
};

const state = { items: [], nextCursor: null, loaded: false, validateLive: false, pending: null };

/** An answer other than success: `field` names the input at fault, if any. */
class ApiError extends Error {
  constructor(message, { status = 0, code = 'error', field = null } = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

/** JSON.parse that keeps integers beyond 2^53 exact, as BigInt. */
function parseJson(text) {
  return JSON.parse(text, (_key, value, context) => {
    if (typeof value === 'number' && !Number.isSafeInteger(value) && context
        && /^-?\d+$/.test(context.source)) {
      return BigInt(context.source);
    }
    return value;
  });
}

async function api(path, options = {}) {
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(), TIMEOUT_MS);
  let res;
  let text;
  try {
    res = await fetch(path, {
      ...options,
      signal: ctrl.signal,
      headers: { Accept: 'application/json', ...(options.headers || {}) },
    });
    text = await res.text();
  } catch {
    throw new ApiError(ctrl.signal.aborted
      ? 'The numbers service did not answer in time.'
      : 'Cannot reach the numbers service. Check your connection.', { code: 'network' });
  } finally {
    clearTimeout(timer);
  }
  let body = null;
  if (text) {
    try { body = parseJson(text); } catch { body = null; }
  }
  if (res.ok) return body;
  const err = body && typeof body === 'object' ? body.error : null;
  if (res.status >= 500) {
    throw new ApiError(`The numbers service is unavailable right now (HTTP ${res.status}).`,
      { status: res.status, code: err?.code || 'unavailable' });
  }
  throw new ApiError(err?.message || `The request was refused (HTTP ${res.status}).`,
    { status: res.status, code: err?.code || 'http', field: err?.field ?? null });
}

// ---- alert + retry -------------------------------------------------------------------------

let retryAction = null;

function showAlert(message, retry) {
  els.alertText.textContent = message;
  retryAction = retry;
  els.alert.hidden = false;
}

function hideAlert() {
  els.alert.hidden = true;
  retryAction = null;
}

/** Run an action; on failure show the alert with a Retry that runs it again. */
async function run(action) {
  try {
    await action();
    hideAlert();
  } catch (e) {
    if (!(e instanceof ApiError)) {
      console.error(e);
    }
    showAlert(e instanceof ApiError ? e.message : 'Something went wrong in this page.', () => run(action));
  }
}

els.retry.addEventListener('click', async () => {
  if (!retryAction) return;
  els.retry.disabled = true;
  try {
    await retryAction();
  } finally {
    els.retry.disabled = false;
  }
});

function announce(message) {
  els.status.textContent = message;
}

// ---- adding --------------------------------------------------------------------------------

function validate(raw) {
  const text = raw.trim().replace(/^\u2212/, '-');
  if (text === '') return { ok: false, message: 'Enter a number.' };
  if (!/^[+-]?\d+$/.test(text)) {
    return { ok: false, message: 'Whole numbers only: digits with an optional minus sign (no decimals, spaces or letters).' };
  }
  const n = BigInt(text);
  if (n < INT64_MIN || n > INT64_MAX) {
    return { ok: false, message: `Out of range: use a number from ${INT64_MIN} to ${INT64_MAX}.` };
  }
  return { ok: true, value: n.toString() };
}

function showFieldError(message) {
  els.fieldError.textContent = message;
  els.input.setAttribute('aria-invalid', 'true');
}

function clearFieldError() {
  els.fieldError.textContent = '';
  els.input.removeAttribute('aria-invalid');
}

function newKey() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

els.input.addEventListener('input', () => {
  if (!state.validateLive) return;
  const check = validate(els.input.value);
  if (check.ok) clearFieldError(); else showFieldError(check.message);
});

els.form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const check = validate(els.input.value);
  if (!check.ok) {
    state.validateLive = true;
    showFieldError(check.message);
    els.input.focus();
    return;
  }
  clearFieldError();
  let stored = false;
  await run(async () => { stored = await store(check.value); });
  // Separate steps: a Retry of a failed refresh must not store the number again.
  if (stored) await run(refreshSummary);
});

async function store(digits) {
  // The same key for retries of the same value: the API replays instead of storing twice.
  if (!state.pending || state.pending.digits !== digits) {
    state.pending = { digits, key: newKey() };
  }
  els.add.disabled = true;
  try {
    let created;
    try {
      created = await api(API, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'Idempotency-Key': state.pending.key },
        body: `{"value":${digits}}`,
      });
    } catch (e) {
      if (e instanceof ApiError && e.status >= 400 && e.status < 500) {
        state.pending = null;
        state.validateLive = true;
        showFieldError(e.message);
        els.input.focus();
        return false;
      }
      throw e;
    }
    state.pending = null;
    state.validateLive = false;
    els.input.value = '';
    clearFieldError();
    if (!state.items.some((i) => i.id === created.id)) state.items.unshift(created);
    renderList();
    announce(`Stored ${created.value}.`);
    els.input.focus();
    return true;
  } finally {
    els.add.disabled = false;
  }
}

// ---- list ----------------------------------------------------------------------------------

function formatTime(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

function renderList(focusIndex = null) {
  const frag = document.createDocumentFragment();
  for (const item of state.items) {
    const li = document.createElement('li');
    li.dataset.id = String(item.id);
    const value = document.createElement('span');
    value.className = 'value';
    value.textContent = String(item.value);
    const time = document.createElement('time');
    time.dateTime = item.createdAt;
    time.textContent = formatTime(item.createdAt);
    const del = document.createElement('button');
    del.type = 'button';
    del.textContent = 'Delete';
    del.setAttribute('aria-label', `Delete ${item.value}`);
    del.addEventListener('click', async () => {
      let removed = false;
      await run(async () => { removed = await remove(item, del); });
      if (removed) await run(refreshSummary);
    });
    li.append(value, time, del);
    frag.append(li);
  }
  els.list.replaceChildren(frag);
  els.empty.hidden = !state.loaded || state.items.length > 0;
  els.more.hidden = !state.nextCursor;
  if (focusIndex !== null) {
    const buttons = els.list.querySelectorAll('button');
    const target = buttons[Math.min(focusIndex, buttons.length - 1)];
    (target || els.listHeading).focus();
  }
}

async function remove(item, button) {
  button.disabled = true;
  try {
    await api(`${API}/${encodeURIComponent(item.id)}`, { method: 'DELETE' });
  } catch (e) {
    // Already gone is what the user wanted.
    if (!(e instanceof ApiError && e.status === 404)) {
      button.disabled = false;
      throw e;
    }
  }
  const index = state.items.findIndex((i) => i.id === item.id);
  if (index >= 0) state.items.splice(index, 1);
  renderList(Math.max(index, 0));
  announce(`Deleted ${item.value}.`);
  return true;
}

async function loadMore() {
  if (!state.nextCursor) return;
  els.more.disabled = true;
  try {
    const page = await api(`${API}?limit=${PAGE_SIZE}&cursor=${encodeURIComponent(state.nextCursor)}`);
    const known = new Set(state.items.map((i) => i.id));
    const firstNew = state.items.length;
    state.items.push(...page.items.filter((i) => !known.has(i.id)));
    state.nextCursor = page.nextCursor;
    renderList(page.nextCursor ? null : firstNew);
    announce(`Loaded ${page.items.length} more.`);
  } finally {
    els.more.disabled = false;
  }
}

els.more.addEventListener('click', () => run(loadMore));

// ---- statistics and chart ------------------------------------------------------------------

function formatMean(mean) {
  if (mean === null || mean === undefined) return '–';
  const m = Number(mean);
  if (Math.abs(m) >= 1e15) return m.toExponential(4);
  return String(Math.round(m * 100) / 100);
}

function renderStats(stats) {
  const show = (v) => (v === null || v === undefined ? '–' : String(v));
  const values = {
    count: show(stats.count),
    sum: show(stats.sum),
    min: show(stats.min),
    max: show(stats.max),
    mean: formatMean(stats.mean),
  };
  for (const [name, text] of Object.entries(values)) {
    els.stats.querySelector(`[data-stat="${name}"]`).textContent = text;
  }
  els.stats.setAttribute('aria-busy', 'false');
}

function svg(name, attrs, text) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

function renderChart(newestFirst) {
  const items = newestFirst.slice().reverse();
  const keep = [...els.chart.children].filter((c) => c.tagName === 'title' || c.tagName === 'desc');
  els.chart.replaceChildren(...keep);
  if (items.length === 0) {
    els.chartDesc.textContent = 'No values yet.';
    els.chart.append(svg('text', { x: 300, y: 115, 'text-anchor': 'middle', class: 'axis-label' }, 'No values yet'));
    return;
  }
  const values = items.map((i) => Number(i.value));
  const lo = Math.min(0, ...values);
  let hi = Math.max(0, ...values);
  if (hi === lo) hi = lo + 1;
  const W = 600;
  const top = 18;
  const bottom = 202;
  const y = (v) => top + ((hi - v) / (hi - lo)) * (bottom - top);
  const step = W / Math.max(values.length, 10);
  const gap = Math.min(4, step * 0.2);
  values.forEach((v, i) => {
    const y1 = y(Math.max(v, 0));
    const y2 = y(Math.min(v, 0));
    const rect = svg('rect', {
      class: v < 0 ? 'bar negative' : 'bar',
      x: (i * step + gap / 2).toFixed(2),
      y: y1.toFixed(2),
      width: (step - gap).toFixed(2),
      height: Math.max(y2 - y1, 1).toFixed(2),
    });
    rect.append(svg('title', {}, String(items[i].value)));
    els.chart.append(rect);
  });
  els.chart.append(svg('line', { class: 'axis', x1: 0, x2: W, y1: y(0), y2: y(0) }));
  els.chart.append(svg('text', { x: 4, y: 14, class: 'axis-label' }, `max ${Math.max(...values)}`));
  els.chart.append(svg('text', { x: 4, y: 216, class: 'axis-label' }, `min ${Math.min(...values)}`));
  els.chartDesc.textContent = `${items.length} values, oldest first: ${items.map((i) => String(i.value)).join(', ')}.`;
}

async function refreshSummary() {
  const [stats, recent] = await Promise.all([
    api(`${API}/stats`),
    api(`${API}?limit=${CHART_SIZE}`),
  ]);
  renderStats(stats);
  renderChart(recent.items);
}

/** After a failed first load: placeholders say "unknown", not "loading", and the list says why. */
function markUnloaded() {
  if (state.loaded) return;
  for (const dd of els.stats.querySelectorAll('dd')) dd.textContent = '–';
  els.stats.setAttribute('aria-busy', 'false');
  els.empty.textContent = 'The numbers could not be loaded.';
  els.empty.hidden = false;
}

async function loadAll() {
  let page;
  let stats;
  let recent;
  try {
    [page, stats, recent] = await Promise.all([
      api(`${API}?limit=${PAGE_SIZE}`),
      api(`${API}/stats`),
      api(`${API}?limit=${CHART_SIZE}`),
    ]);
  } catch (e) {
    markUnloaded();
    throw e;
  }
  els.empty.textContent = 'No numbers stored yet.';
  state.items = page.items;
  state.nextCursor = page.nextCursor;
  state.loaded = true;
  renderList();
  renderStats(stats);
  renderChart(recent.items);
}

run(loadAll);
