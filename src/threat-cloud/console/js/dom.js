// Small DOM helpers: elements are built with properties and text nodes only, never from HTML
// strings, so data from the API can never become markup.

/**
 * h('a', { href: '#x', class: 'pill' }, 'text', child)
 * `class` sets className, `data-*`/`aria-*`/`role` are attributes, anything else a property.
 */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'class') element.className = value;
    else if (name.startsWith('data-') || name.startsWith('aria-') || name === 'role' || name === 'scope' || name === 'for') element.setAttribute(name, String(value));
    else element[name] = value;
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function replace(container, ...children) {
  container.replaceChildren();
  append(container, children);
}

const numberFormat = new Intl.NumberFormat('en');
export const num = (value) => (typeof value === 'number' ? numberFormat.format(value) : '–');
export const pct = (value) => `${value.toFixed(1)} %`;

/** ISO UTC instant as `2026-03-07 12:00 UTC`: the API's clock, not the browser's time zone. */
export function when(iso) {
  if (!iso) return '–';
  return `${iso.slice(0, 16).replace('T', ' ')} UTC`;
}

/**
 * A table with a caption for screen readers. `columns`: [{label, cell(row) → node|text, numeric?}].
 */
export function table(caption, columns, rows, options = {}) {
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { class: options.class ?? '' },
      h('caption', { class: options.showCaption ? '' : 'sr-only' }, caption),
      h('thead', {}, h('tr', {}, columns.map((column) => h('th', { scope: 'col', class: column.numeric ? 'num' : '' }, column.label)))),
      h(
        'tbody',
        {},
        rows.length === 0
          ? h('tr', {}, h('td', { colSpan: columns.length, class: 'muted' }, options.empty ?? 'Nothing to show yet.'))
          : rows.map((row) => h('tr', {}, columns.map((column) => h('td', { class: column.numeric ? 'num' : '' }, column.cell(row))))),
      ),
    ),
  );
}

/** A link to look an indicator up in this console. */
export function lookupLink(value, type) {
  const params = new URLSearchParams({ value });
  if (type) params.set('type', type);
  return h('a', { href: `#lookup?${params}`, class: 'mono' }, value);
}

export const pill = (text, kind) => h('span', { class: `pill ${kind ?? ''}` }, text);

/** Label + value pairs as a description list. */
export function facts(pairs) {
  return h('dl', { class: 'facts' }, pairs.map(([label, value]) => [h('dt', {}, label), h('dd', {}, value)]));
}
