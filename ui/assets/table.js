/** Keyed tables refreshed in place: cells patched only when changed, so refreshes keep focus and layout. */

import { h, patch } from './dom.js';

/**
 * A table. `columns`: `{ label, cell(item) → content, num }` (`num`: a right-aligned tabular
 * number). `key(item)` names a row, written to its `data-${keyAttr}`; `rowClass(item)` gives
 * its classes; `empty` shows when there is no item. Returns `{ el, update(items) }`.
 */
export function dataTable({ id, columns, key, keyAttr, rowClass = () => '', empty = 'Nothing yet.' }) {
  const num = (c) => (c.num ? 'num' : null);
  const tbody = h('tbody');
  const rows = new Map();
  const emptyRow = h('tr', { class: 'empty' }, h('td', { colspan: columns.length }, empty));

  function update(items) {
    const keys = items.map((item) => String(key(item)));
    const kept = new Set(keys);
    for (const [k, tr] of rows) {
      if (kept.has(k)) continue;
      tr.remove();
      rows.delete(k);
    }
    items.forEach((item, i) => {
      if (!rows.has(keys[i])) {
        rows.set(keys[i], h('tr', { [`data-${keyAttr}`]: keys[i] }, columns.map((c) => h('td', { class: num(c) }))));
      }
      const tr = rows.get(keys[i]);
      tr.className = rowClass(item);
      columns.forEach((c, j) => patch(tr.children[j], c.cell(item)));
      if (tbody.children[i] !== tr) tbody.insertBefore(tr, tbody.children[i] ?? null);
    });
    if (items.length) emptyRow.remove();
    else tbody.append(emptyRow);
  }

  const head = h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col', class: num(c) }, c.label))));
  return { el: h('div', { class: 'scroll' }, h('table', { id }, head, tbody)), update };
}
