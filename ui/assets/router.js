/** Hash routes: the link of each screen, and the match of a hash against a table of patterns. */

import { withQuery } from './paths.js';

const enc = encodeURIComponent;

/** The link of every screen. */
export const to = {
  cluster: () => '#/cluster',
  projects: () => '#/projects',
  project: (name) => `#/projects/${enc(name)}`,
  submit: (name, query) => withQuery(`#/projects/${enc(name)}/submit`, query),
  history: (name) => `#/projects/${enc(name)}/history`,
  job: (id) => `#/jobs/${enc(id)}`,
  compare: (project, query) => withQuery(`#/compare/${enc(project)}`, query),
};

/** The decoded path segments and the query of a hash (default: the cluster). */
export function parseHash(hash) {
  const [path, query = ''] = (hash.replace(/^#/, '') || '/cluster').split('?');
  const decode = (s) => {
    try {
      return decodeURIComponent(s);
    } catch {
      return s;
    }
  };
  return { segments: path.split('/').filter(Boolean).map(decode), query: new URLSearchParams(query) };
}

/**
 * The first route of `table` whose `pattern` (literal segments and `:name` parameters)
 * matches `segments`: `{ route, params }`, or null.
 */
export function match(table, segments) {
  for (const route of table) {
    const params = {};
    const ok = route.pattern.length === segments.length && route.pattern.every((part, i) => {
      if (part.startsWith(':')) params[part.slice(1)] = segments[i];
      return part.startsWith(':') || part === segments[i];
    });
    if (ok) return { route, params };
  }
  return null;
}

/** Replaces the current hash without a history entry or a re-render. */
export const replaceHash = (hash) => history.replaceState(null, '', hash);
