/** Two finished jobs compared by request name against thresholds; the URL follows the choices (shareable). */

import { api, jobPath, projectPath } from '../api.js';
import { projectHeader } from '../components/project-header.js';
import { field, h, replace, setTitle, timeEl } from '../dom.js';
import { changeClass, formatChange, formatCount, formatMs, formatPercent } from '../format.js';
import { isTerminal } from '../job-states.js';
import { describeError } from '../notice.js';
import { replaceHash, to } from '../router.js';
import { dataTable } from '../table.js';

const CHOICES = 50;
const DEFAULTS = { max_p95: '10', max_errors: '1' };

/** Why a row regressed, one sentence each. */
const regressions = (r) => r.regressions.length > 0
  && h('ul', { class: 'regressions' }, r.regressions.map((s) => h('li', {}, s)));

/** The comparison table; `thresholds()` gives the ones the changes are coloured against. */
function comparisonTable(thresholds) {
  const pair = (label, value) => ({ label, num: true, cell: (r) => `${value(r.baseline)} → ${value(r.candidate)}` });
  const change = (label, field, threshold, unit = '%') => ({
    label, num: true,
    cell: (r) => h('span', { class: `change ${changeClass(r[field], threshold())}` }, formatChange(r[field], unit)),
  });
  const p95 = () => thresholds().max_p95_increase_percent;
  return dataTable({
    id: 'compare-table',
    keyAttr: 'name',
    // The total's key is empty: a request may be named `all`, none is named ``.
    key: (r) => (r.total ? '' : r.name),
    rowClass: (r) => `${r.regressions.length ? 'regression' : ''} ${r.total ? 'total' : ''}`.trim(),
    empty: 'Nothing to compare.',
    columns: [
      { label: 'Request', cell: (r) => [r.name, regressions(r)] },
      pair('Count', (s) => formatCount(s?.count)),
      pair('Errors', (s) => formatPercent(s?.ko_percent)),
      change('Δ errors', 'error_rate_change', () => thresholds().max_error_rate_increase, 'pt'),
      pair('p50', (s) => formatMs(s?.p50_ms)),
      change('Δ p50', 'p50_change_percent', p95),
      pair('p95', (s) => formatMs(s?.p95_ms)),
      change('Δ p95', 'p95_change_percent', p95),
      pair('p99', (s) => formatMs(s?.p99_ms)),
      change('Δ p99', 'p99_change_percent', () => thresholds().max_p99_increase_percent ?? p95()),
    ],
  });
}

/** The baseline proposed for `candidate`: the latest earlier job of its simulation, else another. */
function defaultBaseline(jobs, candidate) {
  const c = jobs.find((j) => String(j.id) === candidate);
  const others = jobs.filter((j) => j !== c);
  const earlier = others.filter((j) => !c || j.id < c.id);
  return String((earlier.find((j) => j.simulation === c?.simulation) ?? earlier[0] ?? others[0]).id);
}

/** The latest finished jobs of `project`, with the ones `wanted` names. */
async function finishedJobs(project, wanted, signal) {
  const page = await api.get(projectPath(project, '/jobs'), { signal, query: { limit: 2 * CHOICES, newest_first: true } });
  const jobs = page.items.filter((j) => isTerminal(j.state)).slice(0, CHOICES);
  for (const id of wanted.filter((w) => w && !jobs.some((j) => String(j.id) === w))) {
    const job = await api.get(jobPath(id), { signal }).catch(() => null);
    if (job?.project === project) jobs.push(job);
  }
  return jobs.sort((a, b) => b.id - a.id);
}

const jobLink = (job) =>
  [h('a', { href: to.job(job.id) }, `#${job.id} ${job.name}`), ' (', timeEl(job.submitted_at_ms), ')'];

/** Renders the comparison screen of `project` into `root`. */
export async function renderCompare(root, { project, query, signal }) {
  setTitle(`Compare · ${project}`);
  const jobs = await finishedJobs(project, [query.get('baseline'), query.get('candidate')], signal);
  const header = projectHeader(project, 'compare');
  if (jobs.length < 2) {
    replace(root, header, h('section', { class: 'card empty-state' },
      `Comparing needs two finished jobs; this project has ${jobs.length}. `,
      h('a', { href: to.submit(project) }, 'Submit a job'), '.'));
    return;
  }
  const candidateId = query.get('candidate') ?? String(jobs[0].id);
  const select = (id, chosen) => h('select', { id }, jobs.map((j) =>
    h('option', { value: j.id, selected: String(j.id) === chosen }, `#${j.id} ${j.name} — ${j.state}`)));
  const baseline = select('baseline', query.get('baseline') ?? defaultBaseline(jobs, candidateId));
  const candidate = select('candidate', candidateId);
  const number = (id, key) =>
    h('input', { id, type: 'number', min: 0, step: 'any', value: query.get(key) ?? DEFAULTS[key] });
  const maxP95 = number('max-p95', 'max_p95');
  const maxErrors = number('max-errors', 'max_errors');
  const swap = h('button', { type: 'button', title: 'Swap baseline and candidate' }, '⇄ Swap');
  const verdict = h('p', { id: 'verdict', class: 'verdict', role: 'status' });
  const runs = h('p', { class: 'muted' });
  const share = h('input', { id: 'share-link', readonly: true, 'aria-label': 'Shareable link' });
  const copy = h('button', { id: 'copy-link', type: 'button' }, 'Copy link');
  let thresholds = {};
  const table = comparisonTable(() => thresholds);
  replace(root, header,
    h('section', { class: 'card' },
      h('div', { class: 'inline-form' }, field('Baseline', baseline), swap, field('Candidate', candidate),
        field('Max p95 increase (%)', maxP95), field('Max error rate increase (points)', maxErrors)),
      h('div', { class: 'share' }, share, copy)),
    h('section', { class: 'card' }, verdict, runs, table.el));

  const show = (text, kind = '') => {
    verdict.className = `verdict ${kind}`;
    replace(verdict, text);
  };
  async function compare() {
    const differs = (input, key) => (input.value === DEFAULTS[key] ? null : input.value);
    replaceHash(to.compare(project, {
      baseline: baseline.value,
      candidate: candidate.value,
      max_p95: differs(maxP95, 'max_p95'),
      max_errors: differs(maxErrors, 'max_errors'),
    }));
    share.value = location.href;
    replace(runs);
    table.update([]);
    if (baseline.value === candidate.value) return show('Pick two different jobs.');
    show('Comparing…');
    try {
      const result = await api.get(jobPath(candidate.value, '/compare'), {
        signal,
        query: {
          baseline: baseline.value,
          max_p95_increase_percent: maxP95.value,
          max_error_rate_increase: maxErrors.value,
        },
      });
      const regressed = result.rows.filter((r) => r.regressions.length).length;
      show(result.regressed
        ? `regression: ${regressed} of ${result.rows.length} rows exceed the thresholds`
        : 'no regression: every row is within the thresholds', result.regressed ? 'regressed' : 'fine');
      replace(runs, 'baseline ', jobLink(result.baseline), ' → candidate ', jobLink(result.candidate));
      thresholds = result.thresholds ?? {};
      table.update(result.rows);
    } catch (e) {
      if (e.name !== 'AbortError') show(describeError(e), 'error-text');
    }
  }

  [baseline, candidate, maxP95, maxErrors].forEach((control) => control.addEventListener('change', compare));
  swap.addEventListener('click', () => {
    [baseline.value, candidate.value] = [candidate.value, baseline.value];
    compare();
  });
  copy.addEventListener('click', async () => {
    share.select();
    const copied = await navigator.clipboard?.writeText(share.value).then(() => true, () => false);
    copy.textContent = copied ? 'Copied' : 'Press Ctrl+C';
    setTimeout(() => { copy.textContent = 'Copy link'; }, 2000);
  });
  await compare();
}
