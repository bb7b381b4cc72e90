/** SVG line charts: fixed height (no layout shift), round ticks, a legend with each line's latest value. */

import { h, replace, svg } from './dom.js';
import { formatClock } from './format.js';

const HEIGHT = 200;
const PAD = { left: 56, right: 12, top: 10, bottom: 24 };
/** Steps of a time axis, in seconds. */
const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400];

/** A round step (1, 2 or 5 × 10ⁿ) cutting `range` into about `count` parts. */
export function niceStep(range, count) {
  const raw = range / Math.max(1, count);
  const power = 10 ** Math.floor(Math.log10(raw || 1));
  return [1, 2, 5, 10].find((m) => m * power >= raw) * power;
}

/** Ticks from 0 to at least `max`, `step` apart. */
function ticks(max, step) {
  const out = [];
  for (let i = 0; i * step < max + step - 1e-9; i += 1) out.push(i * step);
  return out;
}

/** The `d` of a path through the points, broken where `y` is null. */
function pathData(points, x, y) {
  let d = '';
  let pen = 'M';
  for (const p of points) {
    if (p.y == null) {
      pen = 'M';
    } else {
      d += `${pen}${x(p.x).toFixed(1)},${y(p.y).toFixed(1)}`;
      pen = 'L';
    }
  }
  return d;
}

/**
 * A chart in a `<figure id>`: `lines` are the names of its lines (legend order), `yFormat` writes values,
 * `integers` keeps y ticks whole; x is seconds. `update(values)` draws `values[i]`, the
 * `[{x, y}]` points of line `i`.
 */
export function lineChart({ id, title, lines, yFormat, integers = false }) {
  const plot = svg('svg', { class: 'chart', role: 'img', 'aria-label': title });
  const latest = lines.map(() => h('span', {}, '—'));
  const el = h('figure', { id, class: 'card' },
    h('figcaption', {}, title, h('ul', { class: 'legend' },
      lines.map((name, i) => h('li', { class: `series-${i}` }, `${name} `, latest[i])))),
    plot);
  let values = lines.map(() => []);

  function draw() {
    const width = Math.max(240, Math.round(plot.getBoundingClientRect().width) || 600);
    plot.setAttribute('viewBox', `0 0 ${width} ${HEIGHT}`);
    const all = values.flat().filter((p) => p.y != null);
    // A loop, not `Math.max(...values)`: a long run has more points than a call takes arguments.
    const xMax = all.reduce((m, p) => Math.max(m, p.x), 1);
    const yMax = all.reduce((m, p) => Math.max(m, p.y), 0) || 1;
    const innerW = width - PAD.left - PAD.right;
    const innerH = HEIGHT - PAD.top - PAD.bottom;
    const yTicks = ticks(yMax, integers ? Math.max(1, niceStep(yMax, 4)) : niceStep(yMax, 4));
    const xRaw = xMax / Math.max(2, Math.floor(innerW / 90));
    const xTicks = ticks(xMax, TIME_STEPS.find((s) => s >= xRaw) ?? niceStep(xMax, 4)).filter((v) => v <= xMax);
    const x = (v) => PAD.left + (v / xMax) * innerW;
    const y = (v) => PAD.top + innerH - (v / yTicks.at(-1)) * innerH;
    replace(plot,
      yTicks.map((v) => [
        svg('line', { class: 'grid', x1: PAD.left, x2: width - PAD.right, y1: y(v), y2: y(v) }),
        svg('text', { x: PAD.left - 6, y: y(v) + 4, 'text-anchor': 'end' }, yFormat(v)),
      ]),
      xTicks.map((v) => svg('text', { x: x(v), y: HEIGHT - 6, 'text-anchor': 'middle' }, formatClock(v))),
      all.length
        ? values.map((points, i) => svg('path', { class: `line series-${i}`, d: pathData(points, x, y) }))
        : svg('text', { x: width / 2, y: HEIGHT / 2, 'text-anchor': 'middle' }, 'waiting for data'));
    values.forEach((points, i) => {
      const last = points.findLast((p) => p.y != null);
      latest[i].textContent = last ? yFormat(last.y) : '—';
    });
  }

  const observer = new ResizeObserver(draw);
  observer.observe(plot);
  return {
    el,
    update(next) {
      values = next;
      draw();
    },
    disconnect: () => observer.disconnect(),
  };
}
