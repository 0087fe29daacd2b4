// Charts with uPlot (served from our own origin as /vendor/uPlot.iife.min.js). uPlot draws
// on a canvas, so its colours are read from the page's CSS variables and the chart is drawn
// again when the colour scheme or the width changes. Each chart gets a text alternative
// from its caller: an aria-label summary here and a table of the same numbers.

export const SEVERITIES = ['critical', 'high', 'medium', 'low'];

const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();
const darkScheme = window.matchMedia('(prefers-color-scheme: dark)');

/**
 * A line per severity over time; hovering shows each series' number at that time in the
 * legend. `data` is [xs (epoch seconds), ...one array per severity].
 */
export function severityChart(container, data, summary) {
  let plot = null;

  function draw() {
    if (plot) plot.destroy();
    container.replaceChildren();
    container.setAttribute('aria-label', summary);
    if (!window.uPlot) {
      container.textContent = 'Chart library not loaded.';
      return;
    }
    const text = css('--text');
    const grid = css('--line');
    const axis = { stroke: text, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
    const options = {
      width: Math.max(280, container.clientWidth || 600),
      height: 220,
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max)] } },
      series: [
        { label: 'Hour' },
        ...SEVERITIES.map((severity) => ({
          label: severity,
          stroke: css(`--${severity}`),
          width: 2,
          points: { show: true, size: 5 },
          value: (_u, v) => (v === null || v === undefined ? '–' : String(v)),
        })),
      ],
      axes: [axis, { ...axis, values: (_u, ticks) => ticks.map((t) => (Number.isInteger(t) ? String(t) : '')) }],
      legend: { live: true },
    };
    plot = new window.uPlot(options, data, container);
  }

  const redraw = () => requestAnimationFrame(draw);
  darkScheme.addEventListener('change', redraw);
  const resize = new ResizeObserver(() => {
    if (plot && Math.abs(plot.width - container.clientWidth) > 20) plot.setSize({ width: Math.max(280, container.clientWidth), height: 220 });
  });
  resize.observe(container);
  draw();

  return {
    destroy() {
      darkScheme.removeEventListener('change', redraw);
      resize.disconnect();
      if (plot) plot.destroy();
      plot = null;
    },
  };
}
