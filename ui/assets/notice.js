/** The notice area (`#notice`): short-lived messages and errors, each shown once at a time. */

import { h } from './dom.js';
import { problemLine } from './format.js';

const LIFETIME_MS = { info: 5000, error: 12000 };

/** Shows `content` (text or nodes) as `kind`: `info` or `error`. */
export function notify(content, kind = 'info') {
  const area = document.getElementById('notice');
  const body = h('div', {}, content);
  if ([...area.children].some((n) => n.firstChild.textContent === body.textContent)) return;
  const item = h('div', { class: `notice ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, body,
    h('button', { type: 'button', 'aria-label': 'Dismiss', onclick: () => item.remove() }, '×'));
  setTimeout(() => item.remove(), LIFETIME_MS[kind]);
  area.append(item);
}

/** What describes an error: `title: detail`, then each located problem. */
export function describeError(error) {
  const detail = error.detail ?? (error.title ? '' : error.message);
  return [
    h('strong', {}, error.title ?? error.name ?? 'Error'),
    detail && `: ${detail}`,
    error.errors?.length > 0
      && h('ul', { class: 'problem-list' }, error.errors.map((p) => h('li', {}, problemLine(p)))),
  ];
}

/** Shows an error; an aborted request (intended) or a 401 (the sign-in screen shows) is not one. */
export function showError(error) {
  if (error?.name === 'AbortError' || error?.status === 401) return;
  console.error(error);
  notify(describeError(error), 'error');
}
