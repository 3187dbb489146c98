// The cartflow dashboard: one page, seven tabs, fed by /api/* and the live stream
// /api/live/stream. No framework and no build step; charts from ./charts.js.
import { columns, formatNumber, horizontalBars, lines, timeColumns, treemap } from './charts.js';

const page = document.getElementById('page');
const status = document.getElementById('status');
const tabs = document.getElementById('tabs');
const datePicker = document.getElementById('date-picker');
const dateInput = document.getElementById('date');
const signIn = document.getElementById('sign-in');

const ANALYTICAL = new Set(['sales', 'customers', 'forecast', 'retargeting']);
let current = 'live';
let stream;
/** The latest live snapshot, and when the page drew it: the browser test reads window.cartflowLive. */
window.cartflowLive = { snapshot: null, drawnAt: 0, updates: 0 };

function h(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const money = (v) => formatNumber(v, 2);
const pct = (v) => (v === null || v === undefined ? '–' : `${(v * 100).toFixed(1)}%`);

function card(title, ...body) {
  return h('div', { class: 'card' }, h('h2', {}, title), ...body);
}

function chartBox(draw) {
  const box = h('div', { class: 'chart' });
  requestAnimationFrame(() => draw(box));
  return box;
}

/** A mart whose model has not run: what it is and the command that produces it. */
function missingNote(missing) {
  return h(
    'p',
    { class: 'missing' },
    `${missing.message} Run `,
    h('code', {}, missing.command),
    ' to produce it.',
  );
}

function csvOf(columnsList, rows) {
  const cell = (v) => {
    const text = v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);
    return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  };
  return (
    [columnsList.map(cell).join(','), ...rows.map((r) => columnsList.map((c) => cell(r[c])).join(','))].join(
      '\r\n',
    ) + '\r\n'
  );
}

/**
 * A table of rows with a CSV download: the mart's own stream (`cartflow export`) when `mart` is given,
 * else the rows shown.
 */
function table(name, rows, options = {}) {
  if (!rows || rows.length === 0) return h('p', { class: 'empty' }, options.empty ?? 'No rows.');
  const cols = options.columns ?? Object.keys(rows[0]);
  const numeric = new Set(cols.filter((c) => rows.every((r) => r[c] === null || typeof r[c] === 'number')));
  let link;
  if (options.mart) {
    const query = options.asOf ? `?date=${options.asOf}` : '';
    link = h(
      'a',
      { class: 'download', href: `/api/export/${options.mart}.csv${query}`, download: '' },
      'CSV',
    );
  } else {
    const blob = new Blob([csvOf(cols, rows)], { type: 'text/csv' });
    link = h('a', { class: 'download', href: URL.createObjectURL(blob), download: `${name}.csv` }, 'CSV');
  }
  return h(
    'div',
    { class: 'table-wrap', 'data-table': name },
    link,
    h(
      'table',
      {},
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          cols.map((c) => h('th', { class: numeric.has(c) ? 'num' : null }, c.replace(/_/g, ' '))),
        ),
      ),
      h(
        'tbody',
        {},
        rows.map((r) =>
          h(
            'tr',
            {},
            cols.map((c) => {
              const v = r[c];
              if (options.links?.[c] && r[options.links[c]])
                return h(
                  'td',
                  {},
                  h('a', { href: r[options.links[c]], target: '_blank', rel: 'noopener' }, String(v)),
                );
              return h(
                'td',
                { class: numeric.has(c) ? 'num' : null },
                typeof v === 'number'
                  ? formatNumber(v, Number.isInteger(v) ? 0 : 2)
                  : v === null || v === undefined
                    ? ''
                    : typeof v === 'object'
                      ? JSON.stringify(v)
                      : String(v),
              );
            }),
          ),
        ),
      ),
    ),
  );
}

function kpi(label, value, note, name) {
  return h(
    'div',
    { class: 'kpi', 'data-kpi': name },
    h('div', { class: 'note' }, label),
    h('div', { class: 'value' }, value),
    note ? h('div', { class: 'note' }, note) : null,
  );
}

async function api(path) {
  const response = await fetch(path, { headers: { accept: 'application/json' }, credentials: 'same-origin' });
  if (response.status === 401) {
    showSignIn();
    throw new Error('Signed out');
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.message ?? `${path} answered ${response.status}`);
  return body;
}

function showSignIn(message) {
  stream?.close();
  stream = undefined;
  tabs.hidden = true;
  datePicker.hidden = true;
  page.replaceChildren();
  signIn.hidden = false;
  document.getElementById('sign-in-error').textContent = message ?? '';
  document.getElementById('token').focus();
}

signIn.addEventListener('submit', async (event) => {
  event.preventDefault();
  const response = await fetch('/api/sign-in', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token: document.getElementById('token').value }),
  });
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    document.getElementById('sign-in-error').textContent = body.message ?? 'Sign-in failed.';
    return;
  }
  signIn.hidden = true;
  void show(current);
});

// ---- Live -----------------------------------------------------------------------------------------

function drawLive(snapshot) {
  const start = Date.parse(snapshot.todayStart);
  const end = start + 86_400_000;
  const { totals, funnel, carts } = snapshot;
  const vsWeek =
    totals.lastWeekSoFar > 0
      ? `${((totals.revenue / totals.lastWeekSoFar - 1) * 100).toFixed(1)}% vs last week so far`
      : 'no sales this time last week';
  const funnelRows = (f) => [
    { label: 'viewed', value: f.viewed },
    { label: 'carted', value: f.carted, note: pct(f.cartRate) },
    { label: 'purchased', value: f.purchased, note: pct(f.purchaseRate) },
  ];
  const productRows = snapshot.products.map((p) => ({
    label: p.name ? `${p.name} (${p.productId})` : p.productId,
    value: p.revenue,
    note: `${formatNumber(p.units)} units`,
  }));
  page.replaceChildren(
    h(
      'div',
      { class: 'kpis' },
      kpi('Revenue today', money(totals.revenue), vsWeek, 'revenue-today'),
      kpi(
        'Purchases today',
        formatNumber(totals.purchases),
        `${formatNumber(totals.units)} units`,
        'purchases-today',
      ),
      kpi('Active carts', formatNumber(carts.active), null, 'active-carts'),
      kpi(
        'Abandoned today',
        formatNumber(carts.abandoned),
        `${formatNumber(carts.emailed)} e-mailed`,
        'abandoned-today',
      ),
      kpi('Recovered today', formatNumber(carts.recovered), money(carts.recoveredRevenue), 'recovered-today'),
    ),
    h(
      'div',
      { class: 'grid' },
      card(
        `Revenue per 5 minutes, ${snapshot.today} (${snapshot.timezone})`,
        h(
          'div',
          { class: 'legend' },
          h('span', { class: 'swatch sw-blue' }),
          'today',
          h('span', { class: 'swatch sw-amber' }),
          'same day last week',
        ),
        chartBox((box) =>
          timeColumns(box, {
            name: 'revenue',
            start,
            end,
            bucketMs: 300_000,
            bars: snapshot.revenue.map((b) => ({ t: Date.parse(b.bucket), value: b.revenue })),
            line: snapshot.lastWeek.map((b) => ({ t: Date.parse(b.bucket), value: b.revenue })),
            lineLabel: 'same day last week',
          }),
        ),
      ),
      card(
        'Sales per product today (revenue)',
        chartBox((box) => horizontalBars(box, { name: 'products', rows: productRows })),
      ),
      card(
        'Funnel today (sessions)',
        chartBox((box) =>
          horizontalBars(box, {
            name: 'funnel-today',
            rows: funnelRows(funnel.today),
            format: (v) => formatNumber(v),
          }),
        ),
      ),
      card(
        'Funnel in the last hour (sessions)',
        chartBox((box) =>
          horizontalBars(box, {
            name: 'funnel-hour',
            rows: funnelRows(funnel.lastHour),
            format: (v) => formatNumber(v),
          }),
        ),
      ),
    ),
    card(
      'Products today',
      table(
        'products-today',
        snapshot.products.map((p) => ({
          product_id: p.productId,
          name: p.name ?? '',
          units: p.units,
          revenue: p.revenue,
        })),
        { empty: 'No purchase yet today. "cartflow simulate-live" plays shoppers against the events API.' },
      ),
    ),
  );
  requestAnimationFrame(() => {
    window.cartflowLive = { snapshot, drawnAt: Date.now(), updates: window.cartflowLive.updates + 1 };
  });
  status.textContent = `live · updated ${new Date(snapshot.at).toLocaleTimeString()}`;
}

function openLive() {
  stream?.close();
  stream = new EventSource('/api/live/stream');
  stream.addEventListener('live', (event) => {
    if (current === 'live') drawLive(JSON.parse(event.data));
  });
  stream.addEventListener('failure', (event) => {
    status.textContent = `live figures failed: ${JSON.parse(event.data).message}`;
  });
  stream.onerror = async () => {
    // While the server restarts the browser reconnects by itself (readyState CONNECTING); a refused
    // stream (signed out, or an error answer) is CLOSED: then ask why, and open it again later.
    if (stream?.readyState !== EventSource.CLOSED) {
      status.textContent = 'live stream interrupted; reconnecting…';
      return;
    }
    const check = await fetch('/api/live', { credentials: 'same-origin' }).catch(() => undefined);
    if (check?.status === 401) return showSignIn();
    status.textContent = 'live stream refused; retrying in 5 s…';
    setTimeout(() => current === 'live' && openLive(), 5000);
  };
}

// ---- Analytical tabs ------------------------------------------------------------------------------

async function drawSales(date) {
  const data = await api(`/api/sales${date ? `?date=${date}` : ''}`);
  if (data.missing) return page.replaceChildren(card('Sales', missingNote(data.missing)));
  page.replaceChildren(
    h(
      'p',
      { class: 'legend' },
      `Orders placed up to ${data.asOf}; cancelled and returned orders are not revenue.`,
    ),
    h(
      'div',
      { class: 'grid' },
      card(
        'Monthly revenue',
        chartBox((box) =>
          columns(box, {
            name: 'monthly-revenue',
            rows: data.monthly.map((m) => ({ label: m.month, value: m.revenue })),
          }),
        ),
      ),
      card(
        'Placed and cancelled orders',
        h(
          'div',
          { class: 'legend' },
          h('span', { class: 'swatch sw-blue' }),
          'placed',
          h('span', { class: 'swatch sw-red' }),
          'cancelled or returned',
        ),
        chartBox((box) =>
          columns(box, {
            name: 'orders',
            rows: data.monthly.map((m) => ({ label: m.month, values: [m.orders, m.cancelled] })),
            series: ['placed', 'cancelled'],
          }),
        ),
      ),
      card(
        'Order values (up to the 99th percentile)',
        chartBox((box) =>
          columns(box, {
            name: 'order-values',
            rows: data.distribution.map((b) => ({ label: formatNumber(b.to_value), value: b.orders })),
          }),
        ),
      ),
      card(
        'Revenue by category',
        chartBox((box) =>
          horizontalBars(box, {
            name: 'categories',
            rows: data.byCategory.slice(0, 12).map((c) => ({ label: c.category, value: c.revenue })),
          }),
        ),
      ),
    ),
    card('Months: revenue, growth and average order value', table('sales-monthly', data.monthly)),
    card('Revenue by country and state', table('sales-by-place', data.byPlace)),
    card('Revenue by category', table('sales-by-category', data.byCategory)),
  );
}

async function drawCustomers(date) {
  const data = await api(`/api/customers${date ? `?date=${date}` : ''}`);
  const parts = [];
  if (data.rfm.missing) parts.push(card('RFM segments', missingNote(data.rfm.missing)));
  else
    parts.push(
      card(
        `RFM segments (as of ${data.rfm.asOf})`,
        chartBox((box) =>
          treemap(box, {
            name: 'segments',
            rows: data.rfm.segments.map((s) => ({ label: s.segment, value: s.customers, note: s.action })),
          }),
        ),
        table('rfm-segments', data.rfm.segments, { mart: 'rfm', asOf: data.rfm.asOf }),
      ),
    );
  if (data.growth.missing) parts.push(card('Customer growth', missingNote(data.growth.missing)));
  else
    parts.push(
      card(
        `Customer growth by month (as of ${data.growth.asOf})`,
        h(
          'div',
          { class: 'legend' },
          h('span', { class: 'swatch sw-green' }),
          'new',
          h('span', { class: 'swatch sw-red' }),
          'churned',
          h('span', { class: 'swatch sw-blue' }),
          'regained',
        ),
        chartBox((box) =>
          lines(box, {
            name: 'growth',
            points: data.growth.rows.map((r) => ({ label: r.month, values: r })),
            lines: [
              { key: 'new', cls: 'line-a' },
              { key: 'churned', cls: 'line-b' },
              { key: 'regained', cls: 'line-c' },
            ],
          }),
        ),
        table('growth', data.growth.rows, { mart: 'growth', asOf: data.growth.asOf }),
      ),
    );
  if (data.clusters.missing) parts.push(card('Clusters', missingNote(data.clusters.missing)));
  else
    parts.push(
      card(
        `Clusters (as of ${data.clusters.asOf})`,
        chartBox((box) =>
          horizontalBars(box, {
            name: 'clusters',
            rows: data.clusters.rows.map((c) => ({ label: c.cluster_name, value: c.customers })),
            format: (v) => formatNumber(v),
          }),
        ),
        table('clusters', data.clusters.rows, { mart: 'cluster_centroids', asOf: data.clusters.asOf }),
      ),
    );
  if (data.clv.missing) parts.push(card('Lifetime value', missingNote(data.clv.missing)));
  else
    parts.push(
      card(
        `Lifetime value distribution (as of ${data.clv.asOf})`,
        chartBox((box) =>
          columns(box, {
            name: 'clv',
            rows: data.clv.distribution.map((b) => ({ label: formatNumber(b.to_value), value: b.customers })),
          }),
        ),
      ),
      card(
        'Top customers by lifetime value',
        table('clv-top', data.clv.top, { mart: 'clv', asOf: data.clv.asOf }),
      ),
    );
  page.replaceChildren(h('div', { class: 'grid' }, parts));
}

async function drawForecast(date) {
  const data = await api(`/api/forecast${date ? `?date=${date}` : ''}`);
  if (data.missing) return page.replaceChildren(card('Forecast', missingNote(data.missing)));
  page.replaceChildren(
    card(
      `Daily revenue: actual and forecast with 80% and 95% intervals (as of ${data.asOf})`,
      chartBox((box) =>
        lines(box, {
          name: 'forecast',
          points: data.series.map((p) => ({ label: p.date.slice(5), values: p })),
          lines: [
            { key: 'actual', cls: 'actual' },
            { key: 'forecast', cls: 'forecast' },
          ],
          bands: [
            { low: 'lower_95', high: 'upper_95', cls: 'band95' },
            { low: 'lower_80', high: 'upper_80', cls: 'band80' },
          ],
        }),
      ),
      table('forecast-series', data.series, { mart: 'forecast', asOf: data.asOf }),
    ),
    card(
      'Backtest: the model against the baselines',
      table('backtest', data.backtest, { empty: 'This version recorded no backtest.' }),
    ),
    data.stock.missing
      ? card('Products to stock up', missingNote(data.stock.missing))
      : card(
          `Products to stock up (as of ${data.stock.asOf})`,
          table('stock-outlook', data.stock.rows, { mart: 'stock_outlook', asOf: data.stock.asOf }),
        ),
  );
}

async function drawRetargeting(date) {
  const data = await api(`/api/retargeting${date ? `?date=${date}` : ''}`);
  const { emailed, heldOut, uplift } = data.conversion;
  const interval = (c) =>
    c.rate === null
      ? 'no carts'
      : `${pct(c.rate)} (95% CI ${pct(c.low)}–${pct(c.high)}), ${c.successes} of ${c.trials}`;
  page.replaceChildren(
    h('p', { class: 'legend' }, `Abandoned carts decided from ${data.from} to ${data.upTo}.`),
    h(
      'div',
      { class: 'kpis' },
      kpi(
        'Converted after an e-mail',
        emailed.rate === null ? '–' : pct(emailed.rate),
        interval(emailed),
        'emailed-conversion',
      ),
      kpi(
        'Converted, held out',
        heldOut.rate === null ? '–' : pct(heldOut.rate),
        interval(heldOut),
        'holdout-conversion',
      ),
      kpi(
        'Uplift',
        uplift.difference === null ? '–' : pct(uplift.difference),
        uplift.difference === null
          ? 'needs e-mailed and held-out carts'
          : `95% CI ${pct(uplift.low)} to ${pct(uplift.high)}`,
        'uplift',
      ),
      kpi('Recovered revenue', money(data.recoveredRevenue), null, 'recovered-revenue'),
    ),
    card(
      'Carts per day',
      h('div', { class: 'legend' }, 'abandoned and e-mailed per day'),
      chartBox((box) =>
        columns(box, {
          name: 'retargeting-daily',
          rows: data.daily.map((d) => ({ label: d.day.slice(5), values: [d.abandoned, d.emailed] })),
          series: ['abandoned', 'e-mailed'],
        }),
      ),
      table('retargeting-daily', data.daily),
    ),
    card(
      'Decisions: sent, held out, suppressed (by reason)',
      table('retargeting-decisions', data.decisions, {
        empty:
          'No abandoned cart in these 30 days. "cartflow simulate-live" plays shoppers who abandon carts.',
      }),
    ),
  );
}

async function drawPipeline() {
  const data = await api('/api/pipeline');
  page.replaceChildren(
    card(
      'Recent runs',
      table('pipeline-runs', data.runs, {
        columns: [
          'pipeline_date',
          'status',
          'started_at',
          'duration_s',
          'rows_loaded',
          'quarantined',
          'tables',
          'run_id',
          'error',
        ],
        links: { run_id: 'temporal_url' },
        empty: 'No pipeline run yet: run `cartflow run daily`.',
      }),
    ),
    card(
      'Open quarantine by rule',
      table('quarantine', data.quarantine, { empty: 'Nothing is quarantined.' }),
    ),
  );
}

async function drawOutbox() {
  const data = await api('/api/outbox');
  if (!data.available) return page.replaceChildren(card('Outbox', h('p', { class: 'empty' }, data.message)));
  const viewer = h('iframe', { sandbox: '', title: 'The selected e-mail' });
  const rows = data.mails.map((m) => ({ ...m, receivedAt: m.receivedAt }));
  const list = table('outbox', rows, {
    columns: ['receivedAt', 'to', 'subject'],
    empty: 'No e-mail sent yet. Abandoned carts are e-mailed when their session expires.',
  });
  list.querySelectorAll?.('tbody tr').forEach((tr, i) => {
    tr.style.cursor = 'pointer';
    tr.addEventListener('click', () =>
      viewer.setAttribute('src', `/api/outbox/${encodeURIComponent(rows[i].id)}`),
    );
  });
  if (rows[0]) viewer.setAttribute('src', `/api/outbox/${encodeURIComponent(rows[0].id)}`);
  page.replaceChildren(h('div', { class: 'grid' }, card('E-mails sent', list), card('Rendered', viewer)));
}

const DRAW = {
  sales: drawSales,
  customers: drawCustomers,
  forecast: drawForecast,
  retargeting: drawRetargeting,
  pipeline: drawPipeline,
  outbox: drawOutbox,
};

async function show(tab) {
  current = tab;
  for (const button of tabs.querySelectorAll('button'))
    button.toggleAttribute('aria-current', button.dataset.tab === tab);
  for (const button of tabs.querySelectorAll('button[aria-current]'))
    button.setAttribute('aria-current', 'page');
  datePicker.hidden = !ANALYTICAL.has(tab);
  history.replaceState(
    null,
    '',
    `#${tab}${dateInput.value && ANALYTICAL.has(tab) ? `/${dateInput.value}` : ''}`,
  );
  try {
    if (tab === 'live') {
      const snapshot = await api('/api/live');
      tabs.hidden = false;
      drawLive(snapshot);
      openLive();
      return;
    }
    stream?.close();
    stream = undefined;
    page.replaceChildren(h('p', { class: 'empty' }, 'Loading…'));
    await api('/api/dates').then((d) => {
      if (!dateInput.max && d.dates[0]) dateInput.max = d.dates[0];
    });
    tabs.hidden = false;
    await DRAW[tab](dateInput.value || undefined);
    status.textContent = `${tab} · loaded ${new Date().toLocaleTimeString()}`;
  } catch (error) {
    if (error.message === 'Signed out') return;
    page.replaceChildren(card('Something failed', h('p', { class: 'error' }, error.message)));
  }
}

tabs.addEventListener('click', (event) => {
  const tab = event.target.closest('button')?.dataset.tab;
  if (tab) void show(tab);
});
dateInput.addEventListener('change', () => void show(current));

const [hashTab, hashDate] = location.hash.slice(1).split('/');
if (hashDate) dateInput.value = hashDate;
void show(DRAW[hashTab] || hashTab === 'live' ? hashTab : 'live');
