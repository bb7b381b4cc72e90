/** Links to a finished job's results: HTML report, summary JSON, JUnit XML (new tabs). */

import { apiUrl, jobPath } from '../api.js';
import { h } from '../dom.js';

const RESULTS = [
  ['report', 'report.html', 'Report'],
  ['summary', 'result', 'Summary JSON'],
  ['junit', 'junit.xml', 'JUnit XML'],
];

/** The links of job `id`; with `ids`, they are `#report-link`, `#summary-link`, `#junit-link`. */
export function jobLinks(id, { ids = false } = {}) {
  return h('span', { class: 'job-links' }, RESULTS.map(([name, path, label]) =>
    h('a', {
      id: ids ? `${name}-link` : null,
      href: apiUrl(jobPath(id, `/${path}`)),
      target: '_blank',
      rel: 'noopener',
    }, label)));
}
