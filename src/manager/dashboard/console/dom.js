// Small DOM and formatting helpers shared by the views. Text goes in through textContent
// only, so nothing the API returns is ever parsed as markup.

export const $ = (id) => document.getElementById(id);

export function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

export function link(href, text) {
  const a = el('a', text);
  a.href = href;
  return a;
}

export function pill(value, kind) {
  return el('span', value, `pill ${kind}-${value}`);
}

export function cell(content) {
  const td = el('td');
  if (content instanceof Node) td.append(content);
  else td.textContent = content ?? '–';
  return td;
}

export function row(cells) {
  const tr = el('tr');
  tr.append(...cells.map(cell));
  return tr;
}

/** The controls a keyboard user can be on inside a row. */
const FOCUSABLE = 'a[href], button, input, select, textarea, [tabindex]';

/**
 * Puts new rows in place of the old ones and keeps keyboard focus where it was. The views
 * re-render on every poll and live event; replacing the row a keyboard user is on would drop
 * their focus to the page, and an Enter meant for that row would do nothing. Focus moves to the
 * same control of the row with the same `data-<key>` value, if that row is still listed.
 */
export function replaceRows(tbody, rows, key) {
  const focused = document.activeElement;
  const current = focused && tbody.contains(focused) ? focused.closest(`[data-${key}]`) : null;
  const id = current?.getAttribute(`data-${key}`);
  const index = current ? [...current.querySelectorAll(FOCUSABLE)].indexOf(focused) : -1;
  tbody.replaceChildren(...rows);
  if (id == null || index < 0) return;
  const again = [...tbody.children].find((tr) => tr.getAttribute(`data-${key}`) === id);
  again?.querySelectorAll(FOCUSABLE)[index]?.focus();
}

export function facts(dl, entries) {
  dl.replaceChildren(
    ...entries.flatMap(([term, value]) => {
      const dd = el('dd');
      dd.dataset.fact = term;
      if (value instanceof Node) dd.append(value);
      else dd.textContent = value ?? '–';
      return [el('dt', term), dd];
    }),
  );
}

export const time = (iso) => (iso ? new Date(iso).toLocaleString() : '–');
export const percent = (value) => (value === null || value === undefined ? 'not reported' : `${Math.round(value * 10) / 10} %`);
export const number = (value) => Number(value).toLocaleString('en-US');

export function duration(seconds) {
  if (seconds === null || seconds === undefined) return 'not reported';
  const s = Math.floor(seconds);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  return d > 0 ? `${d} d ${h} h ${m} min` : h > 0 ? `${h} h ${m} min` : `${m} min ${s % 60} s`;
}

/** "51–100 of 250": what a pager shows, from the API's pagination block. */
export function rangeText(pagination, shown) {
  if (!pagination || pagination.total === 0) return '0 of 0';
  const first = (pagination.page - 1) * pagination.limit + 1;
  return `${number(first)}–${number(first + shown - 1)} of ${number(pagination.total)}`;
}

/** Enables a pager's buttons for the page shown. */
export function pager(prev, next, pagination) {
  prev.disabled = !pagination || pagination.page <= 1;
  next.disabled = !pagination || pagination.page >= pagination.pages;
}

export const RANGE_MS = { '1h': 3600e3, '6h': 6 * 3600e3, '24h': 24 * 3600e3, '7d': 7 * 86400e3, '30d': 30 * 86400e3 };
