// cartflow's charts: small, dependency-free inline SVG. Each function takes a container element and
// data, replaces the container's chart, and marks every drawn value with data-* attributes (what the
// browser tests read, and what a screen reader's title says).

const NS = 'http://www.w3.org/2000/svg';

function el(name, attributes = {}, parent) {
  const node = document.createElementNS(NS, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  if (parent) parent.appendChild(node);
  return node;
}

function title(node, text) {
  el('title', {}, node).textContent = text;
  return node;
}

export function formatNumber(value, digits = 0) {
  if (value === null || value === undefined || Number.isNaN(value)) return '–';
  return Number(value).toLocaleString(undefined, {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

function niceMax(value) {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

function frame(container, name, height) {
  container.replaceChildren();
  const width = Math.max(280, container.clientWidth || 600);
  const svg = el('svg', {
    viewBox: `0 0 ${width} ${height}`,
    width: '100%',
    height,
    role: 'img',
    'data-chart': name,
  });
  container.appendChild(svg);
  return { svg, width, height };
}

function axisY(svg, x, top, bottom, max, width) {
  for (let i = 0; i <= 4; i++) {
    const y = bottom - ((bottom - top) * i) / 4;
    el('line', { x1: x, x2: width - 8, y1: y, y2: y, class: 'grid' }, svg);
    el('text', { x: x - 4, y: y + 4, 'text-anchor': 'end', class: 'tick' }, svg).textContent = formatNumber(
      (max * i) / 4,
      max < 10 ? 1 : 0,
    );
  }
}

/**
 * Columns over a time axis from `start` to `end` (ms), one per bucket of `bucketMs`, and an optional
 * comparison line. bars: [{ t, value, label }], line: [{ t, value }].
 */
export function timeColumns(
  container,
  { name, start, end, bucketMs, bars, line = [], lineLabel = '', height = 220 },
) {
  const { svg, width } = frame(container, name, height);
  const left = 48;
  const top = 12;
  const bottom = height - 24;
  const max = niceMax(Math.max(0, ...bars.map((b) => b.value), ...line.map((p) => p.value)));
  axisY(svg, left, top, bottom, max, width);
  const span = Math.max(1, end - start);
  const x = (t) => left + ((width - 8 - left) * (t - start)) / span;
  const y = (v) => bottom - ((bottom - top) * v) / max;
  const barWidth = Math.max(1, x(start + bucketMs) - x(start) - 1);
  let total = 0;
  for (const bar of bars) {
    total += bar.value;
    title(
      el(
        'rect',
        {
          x: x(bar.t),
          y: y(bar.value),
          width: barWidth,
          height: Math.max(0, bottom - y(bar.value)),
          class: 'bar',
          'data-bucket': new Date(bar.t).toISOString(),
          'data-value': bar.value,
        },
        svg,
      ),
      bar.label ?? `${new Date(bar.t).toLocaleTimeString()} ${formatNumber(bar.value, 2)}`,
    );
  }
  if (line.length > 0) {
    const sorted = [...line].sort((a, b) => a.t - b.t);
    const d = sorted
      .map((p, i) => `${i ? 'L' : 'M'}${x(p.t + bucketMs / 2).toFixed(1)},${y(p.value).toFixed(1)}`)
      .join('');
    title(el('path', { d, class: 'compare', 'data-series': lineLabel }, svg), lineLabel);
  }
  for (let h = 0; h <= 24; h += 3) {
    const t = start + h * 3_600_000;
    if (t > end) break;
    el('text', { x: x(t), y: height - 6, 'text-anchor': 'middle', class: 'tick' }, svg).textContent =
      `${String(h).padStart(2, '0')}:00`;
  }
  svg.setAttribute('data-total', total.toFixed(2));
  return svg;
}

/** Horizontal bars, largest first: rows [{ label, value, note }]. */
export function horizontalBars(container, { name, rows, format = (v) => formatNumber(v, 2) }) {
  const rowHeight = 24;
  const height = Math.max(40, rows.length * rowHeight + 8);
  const { svg, width } = frame(container, name, height);
  if (rows.length === 0) {
    el('text', { x: 8, y: 24, class: 'empty-note' }, svg).textContent = 'Nothing yet.';
    return svg;
  }
  const labelWidth = Math.min(200, width * 0.38);
  // About 6.5 px a character at the label's 11 px font: cut the label to what its column holds.
  const labelChars = Math.max(6, Math.floor((labelWidth - 10) / 6.5));
  const max = Math.max(...rows.map((r) => r.value), 1e-9);
  rows.forEach((row, i) => {
    const y = 4 + i * rowHeight;
    const w = Math.max(1, ((width - labelWidth - 90) * row.value) / max);
    const group = el('g', { 'data-label': row.label, 'data-value': row.value }, svg);
    el('text', { x: labelWidth - 6, y: y + 15, 'text-anchor': 'end', class: 'label' }, group).textContent =
      row.label.length > labelChars ? `${row.label.slice(0, labelChars - 1)}…` : row.label;
    title(
      el('rect', { x: labelWidth, y: y + 3, width: w, height: rowHeight - 8, class: 'bar' }, group),
      `${row.label}: ${format(row.value)}`,
    );
    el('text', { x: labelWidth + w + 6, y: y + 15, class: 'value' }, group).textContent =
      format(row.value) + (row.note ? ` · ${row.note}` : '');
  });
  return svg;
}

/** Vertical columns with category labels: rows [{ label, value }], or stacked [{ label, values: [a, b] }]. */
export function columns(container, { name, rows, series = ['value'], height = 220 }) {
  const { svg, width } = frame(container, name, height);
  const left = 48;
  const top = 12;
  const bottom = height - 40;
  const totals = rows.map((r) => (r.values ?? [r.value]).reduce((s, v) => s + Math.max(0, v ?? 0), 0));
  const max = niceMax(Math.max(0, ...totals));
  axisY(svg, left, top, bottom, max, width);
  const step = (width - 8 - left) / Math.max(1, rows.length);
  rows.forEach((row, i) => {
    let base = bottom;
    (row.values ?? [row.value]).forEach((value, s) => {
      const h = ((bottom - top) * Math.max(0, value ?? 0)) / max;
      title(
        el(
          'rect',
          {
            x: left + i * step + 1,
            y: base - h,
            width: Math.max(1, step - 2),
            height: h,
            class: `bar s${s}`,
            'data-label': row.label,
            'data-value': value ?? 0,
          },
          svg,
        ),
        `${row.label} ${series[s] ?? ''}: ${formatNumber(value, 2)}`,
      );
      base -= h;
    });
    if (rows.length <= 16 || i % Math.ceil(rows.length / 12) === 0) {
      el(
        'text',
        { x: left + i * step + step / 2, y: bottom + 14, 'text-anchor': 'middle', class: 'tick' },
        svg,
      ).textContent = row.label;
    }
  });
  return svg;
}

/** Lines over categories with optional bands: points [{ label, values: {key: v} }], lines [{key, cls}], bands [{low, high, cls}]. */
export function lines(container, { name, points, lines: series, bands = [], height = 240 }) {
  const { svg, width } = frame(container, name, height);
  const left = 56;
  const top = 12;
  const bottom = height - 30;
  const all = points.flatMap((p) => [
    ...series.map((s) => p.values[s.key]),
    ...bands.map((b) => p.values[b.high]),
  ]);
  const max = niceMax(Math.max(0, ...all.filter((v) => typeof v === 'number')));
  axisY(svg, left, top, bottom, max, width);
  const x = (i) => left + ((width - 8 - left) * i) / Math.max(1, points.length - 1);
  const y = (v) => bottom - ((bottom - top) * v) / max;
  for (const band of bands) {
    const inside = points
      .map((p, i) => [i, p.values[band.low], p.values[band.high]])
      .filter(([, lo, hi]) => typeof lo === 'number' && typeof hi === 'number');
    if (inside.length < 2) continue;
    const d =
      inside.map(([i, , hi], k) => `${k ? 'L' : 'M'}${x(i)},${y(hi)}`).join('') +
      inside
        .reverse()
        .map(([i, lo]) => `L${x(i)},${y(Math.max(0, lo))}`)
        .join('') +
      'Z';
    el('path', { d, class: band.cls }, svg);
  }
  for (const s of series) {
    let d = '';
    let pen = false;
    points.forEach((p, i) => {
      const v = p.values[s.key];
      if (typeof v !== 'number') {
        pen = false;
        return;
      }
      d += `${pen ? 'L' : 'M'}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
      pen = true;
    });
    title(el('path', { d, class: s.cls, 'data-series': s.key }, svg), s.label ?? s.key);
  }
  const every = Math.ceil(points.length / 8);
  points.forEach((p, i) => {
    if (i % every === 0)
      el('text', { x: x(i), y: height - 10, 'text-anchor': 'middle', class: 'tick' }, svg).textContent =
        p.label;
  });
  return svg;
}

/** A squarified-enough treemap (slice and dice by halves): rows [{ label, value, note }]. */
export function treemap(container, { name, rows, height = 260 }) {
  const { svg, width } = frame(container, name, height);
  const items = rows.filter((r) => r.value > 0).sort((a, b) => b.value - a.value);
  const place = (list, x, y, w, h, vertical) => {
    if (list.length === 0) return;
    if (list.length === 1) {
      const [r] = list;
      const g = el('g', { 'data-label': r.label, 'data-value': r.value }, svg);
      title(
        el(
          'rect',
          {
            x,
            y,
            width: Math.max(0, w - 2),
            height: Math.max(0, h - 2),
            class: `tile t${items.indexOf(r) % 8}`,
          },
          g,
        ),
        `${r.label}: ${formatNumber(r.value)}${r.note ? ` · ${r.note}` : ''}`,
      );
      if (w > 60 && h > 28) {
        el('text', { x: x + 6, y: y + 16, class: 'tile-label' }, g).textContent = r.label;
        el('text', { x: x + 6, y: y + 30, class: 'tile-value' }, g).textContent = formatNumber(r.value);
      }
      return;
    }
    const total = list.reduce((s, r) => s + r.value, 0);
    let acc = 0;
    let cut = 0;
    while (cut < list.length - 1 && acc + list[cut].value <= total / 2) acc += list[cut++].value;
    if (cut === 0) acc = list[cut++].value;
    const share = acc / total;
    if (vertical) {
      place(list.slice(0, cut), x, y, w * share, h, !vertical);
      place(list.slice(cut), x + w * share, y, w * (1 - share), h, !vertical);
    } else {
      place(list.slice(0, cut), x, y, w, h * share, !vertical);
      place(list.slice(cut), x, y + h * share, w, h * (1 - share), !vertical);
    }
  };
  place(items, 0, 0, width, height, width >= height);
  return svg;
}
