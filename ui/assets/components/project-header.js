/** The heading of a project's screens: its name, description and tabs. */

import { h } from '../dom.js';
import { to } from '../router.js';

const TABS = [
  ['files', 'Files', to.project], ['submit', 'Submit', to.submit],
  ['history', 'History', to.history], ['compare', 'Compare', to.compare],
];

/** The header of `project`'s screen `active` (`files`, `submit`, `history`, `compare`). */
export function projectHeader(project, active, description = '') {
  return h('header', { class: 'page-header' },
    h('p', { class: 'crumbs' }, h('a', { href: to.projects() }, 'Projects'), ' / '),
    h('h1', {}, project),
    description && h('p', { class: 'muted' }, description),
    h('nav', { class: 'tabs', 'aria-label': 'Project' }, TABS.map(([key, label, link]) =>
      h('a', { href: link(project), 'aria-current': key === active ? 'page' : null }, label))));
}
