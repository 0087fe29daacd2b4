// uPlot charts that follow the page's colour scheme, show numbers on hover (the live legend)
// and come with a text alternative: a summary for screen readers and the data as a table.
/* global uPlot */
import { h, num, table } from './dom.js';

const live = new Set();
const darkQuery = matchMedia('(prefers-color-scheme: dark)');
// A scheme change rebuilds every chart on screen with the new colours.
darkQuery.addEventListener('change', () => {
  for (const chart of live) chart.rebuild();
});

function theme() {
  const css = getComputedStyle(document.documentElement);
  const v = (name) => css.getPropertyValue(name).trim();
  return { text: v('--text'), grid: v('--line'), series: [v('--chart-1'), v('--chart-2'), v('--chart-3')] };
}

function axis(colors, extra = {}) {
  return { stroke: colors.text, grid: { stroke: colors.grid, width: 1 }, ticks: { stroke: colors.grid, width: 1 }, ...extra };
}

/**
 * Mounts a chart in a <figure>: `build(width, colors)` returns [options, data] for uPlot.
 * The chart follows its container's width and the colour scheme; it is destroyed when its
 * figure leaves the page.
 */
function mount(figure, holder, build) {
  let plot = null;
  const chart = {
    rebuild() {
      if (!holder.isConnected) return chart.destroy();
      plot?.destroy();
      const width = Math.max(280, holder.clientWidth || figure.clientWidth || 600);
      const [options, data] = build(width, theme());
      plot = new uPlot(options, data, holder);
    },
    destroy() {
      plot?.destroy();
      plot = null;
      live.delete(chart);
      observer.disconnect();
    },
  };
  let lastWidth = 0;
  const observer = new ResizeObserver(() => {
    if (!holder.isConnected) return chart.destroy();
    const width = holder.clientWidth;
    if (plot && Math.abs(width - lastWidth) > 8) {
      lastWidth = width;
      plot.setSize({ width: Math.max(280, width), height: plot.height });
    }
  });
  live.add(chart);
  requestAnimationFrame(() => {
    chart.rebuild();
    lastWidth = holder.clientWidth;
    observer.observe(holder);
  });
  return chart;
}

/** The figure around a chart: caption, the canvas as an image with a summary, the data table. */
function figure(id, caption, summary, dataTable) {
  const holder = h('div', { class: 'chart', id: `${id}-chart`, role: 'img', 'aria-label': summary });
  const element = h(
    'figure',
    { class: 'card chart-figure', id },
    h('figcaption', {}, caption),
    holder,
    h('p', { class: 'muted chart-summary' }, summary),
    // A view that shows the same numbers as a visible table passes none.
    dataTable ? h('details', { class: 'chart-data' }, h('summary', {}, 'Show the data as a table'), dataTable) : '',
  );
  return { element, holder };
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const HOUR = 3600;
const DAY = 24 * HOUR;
/** Tick steps (seconds) per bucket size, so ticks fall on bucket starts. */
const TICK_STEPS = { hour: [HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAY], day: [DAY, 2 * DAY, 7 * DAY, 14 * DAY], week: [7 * DAY, 14 * DAY, 28 * DAY] };

/** Axis label of a bucket start, in UTC: `14:00` (with the date at midnight) or `Mar 4`. */
function tickLabel(granularity, ts) {
  const date = new Date(ts * 1000);
  const day = `${MONTHS[date.getUTCMonth()]} ${date.getUTCDate()}`;
  if (granularity !== 'hour') return day;
  const hour = `${String(date.getUTCHours()).padStart(2, '0')}:00`;
  return date.getUTCHours() === 0 ? `${hour}\n${day}` : hour;
}

/**
 * A time series: `points` [{timestamp (ISO), ...values}], `series` [{key, label}].
 * Timestamps are UTC bucket starts, drawn in UTC so a day is the API's day.
 */
export function timeChart({ id, caption, summary, points, series, bucketLabel, granularity }) {
  const dataTable = table(
    `${caption}: data`,
    [{ label: bucketLabel, cell: (p) => p.label }, ...series.map((s) => ({ label: s.label, numeric: true, cell: (p) => num(p[s.key]) }))],
    points.map((p) => ({ ...p, label: `${p.timestamp.slice(0, 16).replace('T', ' ')} UTC` })),
  );
  const { element, holder } = figure(id, caption, summary, dataTable);
  const xs = points.map((p) => Date.parse(p.timestamp) / 1000);
  mount(element, holder, (width, colors) => [
    {
      width,
      height: 260,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'),
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max) * 1.1] } },
      axes: [
        axis(colors, { incrs: TICK_STEPS[granularity], space: 50, values: (_u, splits) => splits.map((ts) => tickLabel(granularity, ts)) }),
        axis(colors, { values: (_u, splits) => splits.map((v) => (Number.isInteger(v) ? num(v) : '')) }),
      ],
      series: [
        { label: 'Bucket (UTC)', value: (_u, ts) => (ts == null ? '–' : new Date(ts * 1000).toISOString().slice(0, 16).replace('T', ' ')) },
        ...series.map((s, i) => ({ label: s.label, stroke: colors.series[i], width: 2, points: { show: points.length < 60 }, value: (_u, v) => (v == null ? '–' : num(v)) })),
      ],
      legend: { live: true },
    },
    [xs, ...series.map((s) => points.map((p) => p[s.key]))],
  ]);
  return element;
}

/**
 * Bars over categories: `labels` (short, on the axis), `names` (long, in the legend on hover),
 * `series` [{label, values, format?}]. Two series are drawn side by side.
 */
export function barChart({ id, caption, summary, xLabel, labels, names, series, dataTable }) {
  const { element, holder } = figure(id, caption, summary, dataTable);
  const xs = labels.map((_, i) => i);
  const size = series.length > 1 ? 0.4 : 0.7;
  mount(element, holder, (width, colors) => [
    {
      width,
      height: 260,
      scales: { x: { time: false, range: [-0.5, labels.length - 0.5] }, y: { range: (_u, _min, max) => [0, Math.max(1, max) * 1.1] } },
      axes: [
        axis(colors, { splits: () => xs, values: (_u, splits) => splits.map((i) => labels[i] ?? ''), grid: { show: false } }),
        axis(colors, { values: (_u, splits) => splits.map((v) => (Number.isInteger(v) ? num(v) : '')) }),
      ],
      series: [
        { label: xLabel, value: (_u, i) => (i == null ? '–' : (names[i] ?? labels[i] ?? '')) },
        ...series.map((s, n) => ({
          label: s.label,
          stroke: colors.series[n],
          fill: colors.series[n],
          width: 0,
          points: { show: false },
          paths: uPlot.paths.bars({ size: [size, 80], align: series.length > 1 ? (n === 0 ? -1 : 1) : 0 }),
          value: (_u, v, _s, i) => (v == null ? '–' : s.format ? s.format(v, i) : num(v)),
        })),
      ],
      cursor: { points: { show: false } },
      legend: { live: true },
    },
    [xs, ...series.map((s) => s.values)],
  ]);
  return element;
}
