/** DOM helpers: elements built from text nodes, never HTML strings, so shown data cannot inject markup. */

import { localTime, utcIso } from './format.js';

/** The SVG namespace, in parts: the assets hold no URL literal (a test checks). */
const SVG_NS = 'http://www.w3.org/2000/svg';

/** Appends children: nodes, strings, numbers; arrays are flattened; null and false skipped. */
function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child == null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

/**
 * Sets attributes and appends children: `on…` functions become listeners, `true` an empty
 * attribute, null, undefined and false are skipped.
 */
function build(el, attrs, children) {
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value == null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      el.addEventListener(name.slice(2).toLowerCase(), value);
    } else {
      el.setAttribute(name, value === true ? '' : String(value));
    }
  }
  return append(el, children);
}

/** An HTML element: `h('a', { href: '#/x', class: 'link' }, 'text')`. */
export const h = (tag, attrs, ...children) => build(document.createElement(tag), attrs, children);

/** An SVG element, like {@link h}. */
export const svg = (tag, attrs, ...children) => build(document.createElementNS(SVG_NS, tag), attrs, children);

/** Replaces every child of `el`. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/**
 * Replaces the children of `el` only when the new ones differ, so a focused button that
 * did not change keeps its focus while data refreshes.
 */
export function patch(el, ...children) {
  const next = append(document.createElement(el.tagName), children);
  if (next.innerHTML !== el.innerHTML) el.replaceChildren(...next.childNodes);
  return el;
}

/** A `<time>` in the user's zone, UTC ISO on hover. */
export function timeEl(ms) {
  if (ms == null) return h('span', { class: 'muted' }, '—');
  const iso = utcIso(ms);
  return h('time', { datetime: iso, title: iso }, localTime(ms));
}

/** Disables `el` unless `allowed`, with `why` (the role needed) as its title. */
export function permit(el, allowed, why) {
  el.disabled = !allowed;
  if (allowed) el.removeAttribute('title');
  else el.title = why;
  return el;
}

/** A labelled form field; `hint` (its last child) describes it; `grow` widens it in a row. */
export function field(label, control, { hint, grow } = {}) {
  const note = hint != null && h('p', { id: `${control.id}-hint`, class: 'hint muted' }, hint);
  if (note) control.setAttribute('aria-describedby', note.id);
  return h('div', { class: grow ? 'field grow' : 'field' }, h('label', { for: control.id }, label), control, note);
}

/** A card titled `title`. */
export const card = (title, ...content) => h('section', { class: 'card' }, h('h2', {}, title), content);

/** Sets the document title. */
export function setTitle(text) {
  document.title = text ? `${text} · Broadside` : 'Broadside';
}

/** A state badge: its text is the state (`running`), its class `badge state-running`. */
export const badge = (state, attrs = {}) =>
  h('span', { ...attrs, class: `badge state-${state}` }, state ?? '—');
