// The cartflow dashboard: one page, seven tabs, fed by /api/* and the live stream
// /api/live/stream. No framework and no build step; the charts are Chart.js (window.Chart, the UMD
// build the server serves from the installed package, see index.html).

const Chart = window.Chart;
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

const COLORS = {
  blue: '#2563eb',
  amber: '#f59e0b',
  red: '#dc2626',
  green: '#059669',
  ink: '#1d2433',
  grey: '#94a3b8',
};
const PALETTE = ['#2563eb', '#0891b2', '#059669', '#65a30d', '#d97706', '#dc2626', '#7c3aed', '#64748b'];

// Charts draw at once (no animation): a live update is on the canvas when update() returns.
Chart.defaults.animation = false;
Chart.defaults.maintainAspectRatio = false;
Chart.defaults.color = '#667085';
Chart.defaults.font.family = getComputedStyle(document.documentElement).fontFamily;
Chart.defaults.font.size = 11;
Chart.defaults.plugins.legend.labels.boxWidth = 10;
Chart.defaults.plugins.legend.labels.boxHeight = 10;
// The legend in the order of the datasets, whichever is drawn on top.
Chart.defaults.plugins.legend.labels.sort = (a, b) => a.datasetIndex - b.datasetIndex;

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

function formatNumber(value, digits = 0) {
  if (value === null || value === undefined || Number.isNaN(value)) return '–';
  return Number(value).toLocaleString(undefined, {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}
const money = (v) => formatNumber(v, 2);
/** Counts: whole numbers, on axes too. */
const count = (v) => formatNumber(v);
const pct = (v) => (v === null || v === undefined ? '–' : `${(v * 100).toFixed(1)}%`);
/** An axis tick: as many decimals as the step needs, up to 2 (0.5 is not "1"). */
const tickNumber = (v) => Number(v).toLocaleString(undefined, { maximumFractionDigits: 2 });
const cut = (text, n = 24) => (text.length > n ? `${text.slice(0, n - 1)}…` : text);

function card(title, ...body) {
  return h('div', { class: 'card' }, h('h2', {}, title), ...body);
}

/** Charts on screen, and charts built for the page being drawn (they replace the former in render). */
let shown = [];
let pending = [];

/**
 * A Chart.js chart in a box of `height` px; its canvas is named by data-chart (the browser tests find
 * the chart by it: Chart.getChart(canvas)). The chart sizes itself once the box is on the page.
 */
function chart(name, config, height = 240) {
  const canvas = h('canvas', { 'data-chart': name, role: 'img', 'aria-label': name.replace(/-/g, ' ') });
  const box = h('div', { class: 'chart' }, canvas);
  box.style.height = `${height}px`;
  const instance = new Chart(canvas, config);
  pending.push(instance);
  box.chart = instance;
  return box;
}

/** Puts a tab's nodes on the page, destroying the charts of the tab it replaces. */
function render(...nodes) {
  for (const c of shown) c.destroy();
  shown = pending;
  pending = [];
  live = undefined;
  page.replaceChildren(...nodes);
}

const tooltipLabel = (format) => ({
  callbacks: {
    label: (ctx) =>
      `${ctx.dataset.label ?? ''}: ${format(ctx.parsed[ctx.chart.options.indexAxis === 'y' ? 'x' : 'y'])}`,
  },
});

/** Bars over categories: series [{ label, data, color }]; horizontal with `horizontal`. */
function bars(name, labels, series, options = {}) {
  const horizontal = options.horizontal ?? false;
  const format = options.format ?? money;
  const valueAxis = {
    beginAtZero: true,
    stacked: options.stacked,
    ticks: { callback: tickNumber, precision: format === count ? 0 : undefined },
  };
  const categoryAxis = {
    stacked: options.stacked,
    grid: { display: false },
    // The label of the tick's category now (a live chart's labels change after it is built).
    ticks: {
      autoSkip: true,
      maxRotation: 0,
      callback(value) {
        return cut(String(this.getLabelForValue(value) ?? ''), options.cut);
      },
    },
  };
  const height =
    options.height ?? (horizontal ? Math.max(90, labels.length * (series.length > 1 ? 30 : 22) + 50) : 240);
  return chart(
    name,
    {
      type: 'bar',
      data: {
        labels,
        datasets: series.map((s, i) => ({
          label: s.label,
          data: s.data,
          backgroundColor: s.color ?? PALETTE[i % PALETTE.length],
          ...(s.extra ?? {}),
        })),
      },
      options: {
        indexAxis: horizontal ? 'y' : 'x',
        scales: horizontal ? { x: valueAxis, y: categoryAxis } : { x: categoryAxis, y: valueAxis },
        plugins: { legend: { display: series.length > 1 }, tooltip: tooltipLabel(format) },
      },
    },
    height,
  );
}

/** A histogram of 20 bins ({ from_value, to_value, [count] }). */
function histogram(name, bins, key, label) {
  return bars(
    name,
    bins.map((b) => `${formatNumber(b.from_value)}–${formatNumber(b.to_value)}`),
    [{ label, data: bins.map((b) => b[key]), extra: { barPercentage: 1, categoryPercentage: 1 } }],
    { format: count, cut: 14 },
  );
}

/** A treemap of rows [{ label, value, note }] as positioned tiles (Chart.js has no treemap of its own). */
function treemap(name, rows, height = 260) {
  const box = h('div', { class: 'treemap', 'data-chart': name, role: 'img', 'aria-label': name });
  box.style.height = `${height}px`;
  const items = rows.filter((r) => r.value > 0).sort((a, b) => b.value - a.value);
  const place = (list, x, y, w, hgt, vertical) => {
    if (list.length === 0) return;
    if (list.length === 1) {
      const [r] = list;
      const tile = h(
        'div',
        {
          class: 'tile',
          'data-label': r.label,
          'data-value': r.value,
          title: `${r.label}: ${formatNumber(r.value)}${r.note ? ` · ${r.note}` : ''}`,
        },
        h('span', {}, r.label),
        h('span', {}, formatNumber(r.value)),
      );
      Object.assign(tile.style, {
        left: `${x}%`,
        top: `${y}%`,
        width: `${w}%`,
        height: `${hgt}%`,
        background: PALETTE[items.indexOf(r) % PALETTE.length],
      });
      box.append(tile);
      return;
    }
    const total = list.reduce((s, r) => s + r.value, 0);
    let acc = 0;
    let cutAt = 0;
    while (cutAt < list.length - 1 && acc + list[cutAt].value <= total / 2) acc += list[cutAt++].value;
    if (cutAt === 0) acc = list[cutAt++].value;
    const share = acc / total;
    if (vertical) {
      place(list.slice(0, cutAt), x, y, w * share, hgt, !vertical);
      place(list.slice(cutAt), x + w * share, y, w * (1 - share), hgt, !vertical);
    } else {
      place(list.slice(0, cutAt), x, y, w, hgt * share, !vertical);
      place(list.slice(cutAt), x, y + hgt * share, w, hgt * (1 - share), !vertical);
    }
  };
  place(items, 0, 0, 100, 100, true);
  return box;
}

function legendNote(text) {
  return h('p', { class: 'legend' }, text);
}

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
  const wrapped = h(
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
  // A long table starts folded under its row count, the charts above it first.
  return options.collapsed
    ? h(
        'details',
        { class: 'rows' },
        h('summary', {}, `${rows.length} ${rows.length === 1 ? 'row' : 'rows'}`),
        wrapped,
      )
    : wrapped;
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
  render();
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

/** The live page while it is on screen: its charts and the nodes a snapshot updates in place. */
let live;

const BUCKETS = 288;

function setKpi(node, value, note) {
  node.querySelector('.value').textContent = value;
  node.querySelector('.note-value').textContent = note ?? '';
}

function liveKpi(label, name) {
  return h(
    'div',
    { class: 'kpi', 'data-kpi': name },
    h('div', { class: 'note' }, label),
    h('div', { class: 'value' }, '–'),
    h('div', { class: 'note note-value' }),
  );
}

/** Labels of today's 5-minute buckets in the shop's time zone. */
function bucketLabels(todayStart, timezone) {
  let format;
  try {
    format = new Intl.DateTimeFormat(undefined, {
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
      timeZone: timezone,
    });
  } catch {
    format = new Intl.DateTimeFormat(undefined, {
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
      timeZone: 'UTC',
    });
  }
  return Array.from({ length: BUCKETS }, (_, i) => format.format(new Date(todayStart + i * 300_000)));
}

/** Revenue per bucket of today, from rows { bucket, revenue } (last week's are shifted onto today). */
function perBucket(todayStart, rows) {
  const values = new Array(BUCKETS).fill(0);
  for (const row of rows) {
    const i = Math.floor((Date.parse(row.bucket) - todayStart) / 300_000);
    if (i >= 0 && i < BUCKETS) values[i] += row.revenue;
  }
  return values;
}

function buildLive() {
  const kpis = {
    revenue: liveKpi('Revenue today (purchase events)', 'revenue-today'),
    purchases: liveKpi('Purchases today', 'purchases-today'),
    active: liveKpi('Active carts', 'active-carts'),
    abandoned: liveKpi('Abandoned today', 'abandoned-today'),
    recovered: liveKpi('Recovered today', 'recovered-today'),
    payments: liveKpi('Payments settled (daily run)', 'payments'),
  };
  const revenueTitle = h('h2', {});
  const revenue = chart(
    'revenue',
    {
      type: 'bar',
      data: {
        labels: [],
        datasets: [
          {
            type: 'bar',
            label: 'today',
            data: [],
            backgroundColor: COLORS.blue,
            barPercentage: 1,
            categoryPercentage: 1,
            order: 2,
          },
          {
            type: 'line',
            label: 'same day last week',
            data: [],
            borderColor: COLORS.amber,
            backgroundColor: COLORS.amber,
            borderWidth: 1.5,
            pointRadius: 0,
            order: 1,
          },
        ],
      },
      options: {
        scales: {
          x: { grid: { display: false }, ticks: { maxRotation: 0, autoSkip: true, maxTicksLimit: 9 } },
          y: { beginAtZero: true, ticks: { callback: tickNumber } },
        },
        plugins: { tooltip: tooltipLabel(money) },
      },
    },
    240,
  );
  const products = bars('products', [], [{ label: 'revenue today', data: [], color: COLORS.blue }], {
    horizontal: true,
    cut: 24,
  });
  const funnel = bars(
    'funnel',
    ['viewed', 'carted', 'purchased'],
    [
      { label: 'today', data: [], color: COLORS.blue },
      { label: 'last hour', data: [], color: COLORS.amber },
    ],
    { horizontal: true, format: count, height: 200 },
  );
  const funnelRates = h('p', { class: 'legend', 'data-funnel-rates': '' });
  const productsTable = h('div', {});
  render(
    h('div', { class: 'kpis' }, Object.values(kpis)),
    h(
      'div',
      { class: 'grid' },
      h('div', { class: 'card' }, revenueTitle, revenue),
      card('Sales per product today (revenue)', products),
      card('Funnel: sessions that viewed, carted and purchased', funnel, funnelRates),
    ),
    card('Products today', productsTable),
  );
  return {
    kpis,
    revenueTitle,
    revenue: revenue.chart,
    products,
    funnel: funnel.chart,
    funnelRates,
    productsTable,
    start: NaN,
  };
}

/** Draws a snapshot: the live page's charts are built once and their data replaced in place. */
function drawLive(snapshot) {
  if (!live || !live.revenue.canvas?.isConnected) live = buildLive();
  const start = Date.parse(snapshot.todayStart);
  const { totals, funnel, carts, payments } = snapshot;
  const vsWeek =
    totals.lastWeekSoFar > 0
      ? `${((totals.revenue / totals.lastWeekSoFar - 1) * 100).toFixed(1)}% vs last week so far`
      : 'no sales this time last week';
  setKpi(live.kpis.revenue, money(totals.revenue), vsWeek);
  setKpi(live.kpis.purchases, formatNumber(totals.purchases), `${formatNumber(totals.units)} units`);
  setKpi(live.kpis.active, formatNumber(carts.active), null);
  setKpi(live.kpis.abandoned, formatNumber(carts.abandoned), `${formatNumber(carts.emailed)} e-mailed`);
  setKpi(live.kpis.recovered, formatNumber(carts.recovered), money(carts.recoveredRevenue));
  if (payments?.day)
    setKpi(
      live.kpis.payments,
      money(payments.settled),
      `on ${payments.day}: ${formatNumber(payments.captured)} captured, ${formatNumber(payments.refunded)} refunded; purchase events that day ${money(payments.eventsRevenue)}`,
    );
  else
    setKpi(
      live.kpis.payments,
      '–',
      'No payment loaded yet: "cartflow run daily" loads the shop\'s payments.',
    );

  live.revenueTitle.textContent = `Revenue per 5 minutes, ${snapshot.today} (${snapshot.timezone})`;
  const revenue = live.revenue;
  if (live.start !== start) {
    revenue.data.labels = bucketLabels(start, snapshot.timezone);
    live.start = start;
  }
  revenue.data.datasets[0].data = perBucket(start, snapshot.revenue);
  revenue.data.datasets[1].data = perBucket(start, snapshot.lastWeek);
  revenue.update('none');

  const productChart = live.products.chart;
  productChart.data.labels = snapshot.products.map((p) =>
    p.name ? `${p.name} (${p.productId})` : p.productId,
  );
  productChart.data.datasets[0].data = snapshot.products.map((p) => p.revenue);
  live.products.style.height = `${Math.max(90, snapshot.products.length * 22 + 50)}px`;
  productChart.update('none');

  live.funnel.data.datasets[0].data = [funnel.today.viewed, funnel.today.carted, funnel.today.purchased];
  live.funnel.data.datasets[1].data = [
    funnel.lastHour.viewed,
    funnel.lastHour.carted,
    funnel.lastHour.purchased,
  ];
  live.funnel.update('none');
  live.funnelRates.textContent =
    `Today ${pct(funnel.today.cartRate)} of viewing sessions carted, ${pct(funnel.today.purchaseRate)} of carting sessions bought; ` +
    `last hour ${pct(funnel.lastHour.cartRate)} and ${pct(funnel.lastHour.purchaseRate)}.`;

  const previous = live.productsTable.querySelector('a.download[href^="blob:"]');
  if (previous) URL.revokeObjectURL(previous.href);
  live.productsTable.replaceChildren(
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
  if (data.missing) return render(card('Sales', missingNote(data.missing)));
  const months = data.monthly.map((m) => m.month);
  const monthly = chart('monthly-revenue', {
    type: 'bar',
    data: {
      labels: months,
      datasets: [
        {
          type: 'bar',
          label: 'revenue',
          data: data.monthly.map((m) => m.revenue),
          backgroundColor: COLORS.blue,
          yAxisID: 'y',
          order: 2,
        },
        {
          type: 'line',
          label: 'average order value',
          data: data.monthly.map((m) => m.average_order_value),
          borderColor: COLORS.amber,
          backgroundColor: COLORS.amber,
          yAxisID: 'aov',
          order: 1,
        },
      ],
    },
    options: {
      scales: {
        x: { grid: { display: false }, ticks: { maxRotation: 0, autoSkip: true } },
        y: { beginAtZero: true, ticks: { callback: tickNumber } },
        aov: {
          position: 'right',
          beginAtZero: true,
          grid: { display: false },
          ticks: { callback: tickNumber },
        },
      },
      plugins: {
        tooltip: {
          callbacks: {
            label: (ctx) => `${ctx.dataset.label}: ${money(ctx.parsed.y)}`,
            afterBody: ([ctx]) => {
              const growth = data.monthly[ctx.dataIndex].growth_pct;
              return growth === null ? '' : `growth ${growth > 0 ? '+' : ''}${growth}% on the month before`;
            },
          },
        },
      },
    },
  });
  render(
    legendNote(`Orders placed up to ${data.asOf}; cancelled and returned orders are not revenue.`),
    h(
      'div',
      { class: 'grid' },
      card('Monthly revenue and average order value', monthly),
      card(
        'Placed and cancelled orders',
        bars(
          'orders',
          months,
          [
            { label: 'placed', data: data.monthly.map((m) => m.orders), color: COLORS.blue },
            { label: 'cancelled or returned', data: data.monthly.map((m) => m.cancelled), color: COLORS.red },
          ],
          { stacked: true, format: count },
        ),
      ),
      card(
        'Order values (up to the 99th percentile)',
        histogram('order-values', data.distribution, 'orders', 'orders'),
      ),
      card(
        'Revenue by category',
        bars(
          'categories',
          data.byCategory.slice(0, 12).map((c) => c.category),
          [{ label: 'revenue', data: data.byCategory.slice(0, 12).map((c) => c.revenue) }],
          { horizontal: true },
        ),
      ),
      card(
        'Revenue by country and state',
        bars(
          'places',
          data.byPlace.slice(0, 12).map((p) => (p.state ? `${p.country} ${p.state}` : p.country)),
          [{ label: 'revenue', data: data.byPlace.slice(0, 12).map((p) => p.revenue), color: COLORS.green }],
          { horizontal: true },
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
        `RFM segments (as of ${data.rfm.asOf}): customers`,
        treemap(
          'segments',
          data.rfm.segments.map((s) => ({ label: s.segment, value: s.customers, note: s.action })),
        ),
      ),
      card(
        'Revenue per segment',
        bars(
          'segment-revenue',
          data.rfm.segments.map((s) => s.segment),
          [{ label: 'revenue', data: data.rfm.segments.map((s) => s.revenue) }],
          { horizontal: true },
        ),
        table('rfm-segments', data.rfm.segments, { mart: 'rfm', asOf: data.rfm.asOf }),
      ),
    );
  if (data.growth.missing) parts.push(card('Customer growth', missingNote(data.growth.missing)));
  else {
    const rows = data.growth.rows;
    const line = (label, key, color) => ({
      type: 'line',
      label,
      data: rows.map((r) => r[key]),
      borderColor: color,
      backgroundColor: color,
      order: 1,
    });
    parts.push(
      card(
        `Customer growth by month (as of ${data.growth.asOf})`,
        chart('growth', {
          type: 'bar',
          data: {
            labels: rows.map((r) => r.month),
            datasets: [
              line('new', 'new', COLORS.green),
              line('churned', 'churned', COLORS.red),
              line('regained', 'regained', COLORS.blue),
              {
                type: 'bar',
                label: 'net',
                data: rows.map((r) => r.net_growth),
                backgroundColor: COLORS.grey,
                order: 2,
              },
            ],
          },
          options: {
            scales: { x: { grid: { display: false }, ticks: { maxRotation: 0, autoSkip: true } } },
            plugins: { tooltip: tooltipLabel(count) },
          },
        }),
        table('growth', rows, { mart: 'growth', asOf: data.growth.asOf }),
      ),
    );
  }
  if (data.clusters.missing) parts.push(card('Clusters', missingNote(data.clusters.missing)));
  else {
    const rows = data.clusters.rows;
    const largest = Math.max(1, ...rows.map((c) => c.customers));
    parts.push(
      card(
        `Clusters (as of ${data.clusters.asOf}): centroids, the area their customers`,
        chart('clusters', {
          type: 'bubble',
          data: {
            datasets: rows.map((c, i) => ({
              label: c.cluster_name,
              data: [
                {
                  x: c.recency_days,
                  y: c.monetary,
                  r: 4 + 20 * Math.sqrt(c.customers / largest),
                  customers: c.customers,
                },
              ],
              backgroundColor: `${PALETTE[i % PALETTE.length]}b0`,
            })),
          },
          options: {
            scales: {
              x: { title: { display: true, text: 'recency (days)' }, beginAtZero: true },
              y: { title: { display: true, text: 'monetary' }, beginAtZero: true },
            },
            plugins: {
              tooltip: {
                callbacks: {
                  label: (ctx) =>
                    `${ctx.dataset.label}: ${formatNumber(ctx.raw.customers)} customers, ${formatNumber(ctx.raw.x, 1)} days, ${money(ctx.raw.y)}`,
                },
              },
            },
          },
        }),
        table('clusters', rows, { mart: 'cluster_centroids', asOf: data.clusters.asOf }),
      ),
    );
  }
  if (data.clv.missing) parts.push(card('Lifetime value', missingNote(data.clv.missing)));
  else
    parts.push(
      card(
        `Lifetime value distribution (as of ${data.clv.asOf})`,
        histogram('clv', data.clv.distribution, 'customers', 'customers'),
      ),
      card(
        'Top customers by lifetime value',
        table('clv-top', data.clv.top, { mart: 'clv', asOf: data.clv.asOf }),
      ),
    );
  render(h('div', { class: 'grid' }, parts));
}

async function drawForecast(date) {
  const data = await api(`/api/forecast${date ? `?date=${date}` : ''}`);
  if (data.missing) return render(card('Forecast', missingNote(data.missing)));
  const series = data.series;
  const edge = (label, key) => ({
    label,
    data: series.map((p) => p[key]),
    borderWidth: 0,
    pointRadius: 0,
    fill: false,
  });
  const band = (label, key, alpha) => ({
    label,
    data: series.map((p) => p[key]),
    borderWidth: 0,
    pointRadius: 0,
    fill: '-1',
    backgroundColor: `rgba(37, 99, 235, ${alpha})`,
  });
  const forecast = chart(
    'forecast',
    {
      type: 'line',
      data: {
        labels: series.map((p) => p.date),
        datasets: [
          edge('upper 95%', 'upper_95'),
          band('95% interval', 'lower_95', 0.1),
          edge('upper 80%', 'upper_80'),
          band('80% interval', 'lower_80', 0.22),
          {
            label: 'actual',
            data: series.map((p) => p.actual),
            borderColor: COLORS.ink,
            backgroundColor: COLORS.ink,
            borderWidth: 1.5,
            pointRadius: 0,
          },
          {
            label: 'forecast',
            data: series.map((p) => p.forecast),
            borderColor: COLORS.blue,
            backgroundColor: COLORS.blue,
            borderWidth: 2,
            borderDash: [4, 3],
            pointRadius: 0,
          },
        ],
      },
      options: {
        interaction: { mode: 'index', intersect: false },
        scales: {
          x: {
            grid: { display: false },
            ticks: { maxRotation: 0, autoSkip: true, callback: (_v, i) => series[i]?.date.slice(5) },
          },
          y: { beginAtZero: true, ticks: { callback: tickNumber } },
        },
        plugins: {
          legend: { labels: { filter: (item) => !item.text.startsWith('upper') } },
          tooltip: {
            filter: (item) => item.parsed.y !== null,
            callbacks: {
              label: (ctx) => `${ctx.dataset.label.replace(' interval', ' low')}: ${money(ctx.parsed.y)}`,
            },
          },
        },
      },
    },
    280,
  );
  const revenueBacktest = data.backtest.filter((b) => b.series === 'revenue');
  const backtestCards = card(
    'Backtest of daily revenue: the model against the baselines (sMAPE, lower is better)',
    revenueBacktest.length
      ? bars(
          'backtest',
          revenueBacktest.map((b) => `${b.method}${b.served ? ' (served)' : ''}`),
          [
            {
              label: 'sMAPE',
              data: revenueBacktest.map((b) => b.smape),
              extra: { backgroundColor: revenueBacktest.map((b) => (b.served ? COLORS.blue : COLORS.grey)) },
            },
          ],
          { horizontal: true, format: (v) => formatNumber(v, 3) },
        )
      : null,
    table('backtest', data.backtest, { empty: 'This version recorded no backtest.', collapsed: true }),
  );
  const stock = data.stock.missing
    ? card('Products to stock up', missingNote(data.stock.missing))
    : card(
        `Products to stock up (as of ${data.stock.asOf})`,
        bars(
          'stock',
          data.stock.rows.slice(0, 10).map((r) => r.name ?? r.product_id),
          [
            {
              label: 'expected units, 7 days',
              data: data.stock.rows.slice(0, 10).map((r) => r.expected_units_7d),
              color: COLORS.green,
            },
            { label: 'in stock', data: data.stock.rows.slice(0, 10).map((r) => r.stock), color: COLORS.grey },
          ],
          { horizontal: true, format: (v) => formatNumber(v, 1) },
        ),
        table('stock-outlook', data.stock.rows, { mart: 'stock_outlook', asOf: data.stock.asOf }),
      );
  render(
    card(
      `Daily revenue: actual and forecast with 80% and 95% intervals (as of ${data.asOf})`,
      forecast,
      table('forecast-series', series, { mart: 'forecast', asOf: data.asOf, collapsed: true }),
    ),
    h('div', { class: 'grid' }, backtestCards, stock),
  );
}

async function drawRetargeting(date) {
  const data = await api(`/api/retargeting${date ? `?date=${date}` : ''}`);
  const { emailed, heldOut, uplift } = data.conversion;
  const interval = (c) =>
    c.rate === null ? 'no carts' : `95% CI ${pct(c.low)}–${pct(c.high)}, ${c.successes} of ${c.trials}`;
  const groups = [
    ['e-mailed', emailed],
    ['held out', heldOut],
  ];
  const conversion = chart(
    'conversion',
    {
      type: 'bar',
      data: {
        labels: groups.map(([label]) => label),
        datasets: [
          {
            type: 'line',
            label: 'converted',
            data: groups.map(([, c]) => (c.rate === null ? null : c.rate * 100)),
            showLine: false,
            pointRadius: 6,
            pointStyle: 'rectRot',
            borderColor: COLORS.ink,
            backgroundColor: COLORS.ink,
            order: 1,
          },
          {
            type: 'bar',
            label: '95% interval',
            data: groups.map(([, c]) => (c.rate === null ? null : [c.low * 100, c.high * 100])),
            backgroundColor: ['rgba(37, 99, 235, 0.35)', 'rgba(148, 163, 184, 0.5)'],
            barPercentage: 0.5,
            order: 2,
          },
        ],
      },
      options: {
        indexAxis: 'x',
        scales: {
          y: { beginAtZero: true, ticks: { callback: (v) => `${v}%` } },
          x: { grid: { display: false } },
        },
        plugins: {
          tooltip: {
            callbacks: {
              label: (ctx) => {
                const c = groups[ctx.dataIndex][1];
                return ctx.datasetIndex === 0
                  ? `converted ${pct(c.rate)}`
                  : `95% CI ${pct(c.low)}–${pct(c.high)}`;
              },
            },
          },
        },
      },
    },
    220,
  );
  const decisionLabels = data.decisions.map((d) => (d.reason ? `${d.decision} (${d.reason})` : d.decision));
  render(
    legendNote(`Abandoned carts decided from ${data.from} to ${data.upTo}.`),
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
    h(
      'div',
      { class: 'grid' },
      card(
        'Carts per day',
        bars(
          'retargeting-daily',
          data.daily.map((d) => d.day.slice(5)),
          [
            { label: 'abandoned', data: data.daily.map((d) => d.abandoned), color: COLORS.grey },
            { label: 'e-mailed', data: data.daily.map((d) => d.emailed), color: COLORS.blue },
            { label: 'recovered', data: data.daily.map((d) => d.recovered), color: COLORS.green },
          ],
          { format: count },
        ),
      ),
      card('Conversion: e-mailed against held-out carts', conversion),
      card(
        'Decisions: sent, held out, suppressed (by reason)',
        data.decisions.length
          ? bars(
              'decisions',
              decisionLabels,
              [{ label: 'carts', data: data.decisions.map((d) => d.carts) }],
              { horizontal: true, format: count, cut: 28 },
            )
          : null,
        table('retargeting-decisions', data.decisions, {
          empty:
            'No abandoned cart in these 30 days. "cartflow simulate-live" plays shoppers who abandon carts.',
        }),
      ),
    ),
    card('Carts per day', table('retargeting-daily', data.daily, { collapsed: true })),
  );
}

async function drawPipeline() {
  const data = await api('/api/pipeline');
  const runs = [...data.runs].reverse();
  const colorOf = { succeeded: COLORS.blue, partial: COLORS.amber, failed: COLORS.red, running: COLORS.grey };
  render(
    runs.length
      ? card(
          'Durations of the recent runs (s)',
          bars(
            'pipeline-durations',
            runs.map((r) => `${r.pipeline_date} ${r.status}`),
            [
              {
                label: 'duration (s)',
                data: runs.map((r) => r.duration_s),
                extra: { backgroundColor: runs.map((r) => colorOf[r.status] ?? COLORS.grey) },
              },
            ],
            { format: (v) => formatNumber(v, 1), cut: 22, height: 200 },
          ),
        )
      : null,
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
  if (!data.available) return render(card('Outbox', h('p', { class: 'empty' }, data.message)));
  const viewer = h('iframe', { sandbox: '', title: 'The selected e-mail' });
  const rows = data.mails;
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
  render(h('div', { class: 'grid' }, card('E-mails sent', list), card('Rendered', viewer)));
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
    render(h('p', { class: 'empty' }, 'Loading…'));
    await api('/api/dates').then((d) => {
      if (!dateInput.max && d.dates[0]) dateInput.max = d.dates[0];
    });
    tabs.hidden = false;
    await DRAW[tab](dateInput.value || undefined);
    status.textContent = `${tab} · loaded ${new Date().toLocaleTimeString()}`;
  } catch (error) {
    if (error.message === 'Signed out') return;
    render(card('Something failed', h('p', { class: 'error' }, error.message)));
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
