/** A project's jobs, filtered and paged by cursor; two finished ones picked open their comparison. */

import { api, projectPath } from '../api.js';
import { jobLinks } from '../components/job-links.js';
import { projectHeader } from '../components/project-header.js';
import { badge, field, h, replace, setTitle, timeEl } from '../dom.js';
import { formatDuration } from '../format.js';
import { JOB_STATES, isTerminal } from '../job-states.js';
import { showError } from '../notice.js';
import { to } from '../router.js';
import { dataTable } from '../table.js';

const PAGE_SIZE = 20;

/** How long a job ran, or has been running. */
function duration(job) {
  const start = job.start_at_ms ?? job.submitted_at_ms;
  if (job.finished_at_ms) return formatDuration(job.finished_at_ms - start);
  return job.state === 'running' ? `${formatDuration(Date.now() - start)} so far` : '—';
}

/** Renders `project`'s history into `root`. */
export async function renderHistory(root, { project, query, signal }) {
  setTitle(`History · ${project}`);
  const picked = { baseline: query.get('baseline'), candidate: query.get('candidate') };
  const cursors = [null];
  const compare = h('button', { id: 'compare-selected', type: 'button', class: 'primary' }, 'Compare selected');
  const hint = h('span', { class: 'muted' });
  const updatePick = () => {
    compare.disabled = !picked.baseline || !picked.candidate || picked.baseline === picked.candidate;
    hint.textContent = compare.disabled
      ? 'Pick a baseline and a different candidate among finished jobs.'
      : `job ${picked.baseline} (baseline) against job ${picked.candidate} (candidate)`;
  };
  compare.addEventListener('click', () => { location.hash = to.compare(project, picked); });
  const picker = (role) => ({
    label: role,
    cell: (job) => h('input', {
      type: 'radio', name: role, value: job.id, 'aria-label': `${role}: job ${job.id}`,
      disabled: !isTerminal(job.state), checked: picked[role] === String(job.id),
      onchange: () => { picked[role] = String(job.id); updatePick(); },
    }),
  });
  const link = (j, text) => h('a', { href: to.job(j.id) }, text);
  const table = dataTable({
    id: 'history-table',
    keyAttr: 'job-id',
    key: (j) => j.id,
    empty: 'No job matches: submit one from the Submit tab.',
    columns: [
      picker('baseline'), picker('candidate'),
      { label: 'Id', num: true, cell: (j) => link(j, String(j.id)) },
      { label: 'Name', cell: (j) => link(j, j.name) },
      { label: 'Simulation', cell: (j) => h('code', {}, j.simulation) },
      { label: 'State', cell: (j) => badge(j.state, { title: j.reason || null }) },
      { label: 'Submitted', cell: (j) => timeEl(j.submitted_at_ms) },
      { label: 'Duration', num: true, cell: duration },
      { label: 'Tasks', num: true, cell: (j) => String(j.parallelism) },
      { label: 'Reassignments', num: true, cell: (j) => String(j.reassignments) },
      { label: 'Results', cell: (j) => isTerminal(j.state) && jobLinks(j.id) },
    ],
  });
  const state = h('select', { id: 'state-filter' },
    h('option', { value: '' }, 'any'), JOB_STATES.map((s) => h('option', { value: s }, s)));
  const simulation = h('input', { id: 'simulation-filter', type: 'search', placeholder: 'sims/checkout.yaml' });
  const prev = h('button', { id: 'prev-page', type: 'button' }, '← Newer');
  const next = h('button', { id: 'next-page', type: 'button' }, 'Older →');
  const pageInfo = h('span', { class: 'muted' });
  let nextCursor = null;
  let latest = 0;
  const buttons = () => {
    prev.disabled = cursors.length === 1;
    next.disabled = !nextCursor;
  };

  /** Loads the page the cursors name; a load superseded by a newer one changes nothing. */
  async function load() {
    const mine = ++latest;
    prev.disabled = true;
    next.disabled = true;
    const page = await api.get(projectPath(project, '/jobs'), {
      signal,
      query: {
        limit: PAGE_SIZE, after: cursors.at(-1), newest_first: true, state: state.value,
        simulation: simulation.value.trim(),
      },
    });
    if (mine !== latest) return;
    table.update(page.items);
    nextCursor = page.next;
    buttons();
    pageInfo.textContent = `page ${cursors.length}`;
  }
  const reload = () => load().catch((e) => {
    buttons();
    showError(e);
  });
  const restart = () => {
    cursors.length = 1;
    reload();
  };
  next.addEventListener('click', () => {
    cursors.push(nextCursor);
    load().catch((e) => {
      cursors.pop();
      buttons();
      showError(e);
    });
  });
  prev.addEventListener('click', () => {
    cursors.pop();
    reload();
  });
  state.addEventListener('change', restart);
  let typing = 0;
  simulation.addEventListener('input', () => {
    clearTimeout(typing);
    typing = setTimeout(restart, 300);
  });
  signal.addEventListener('abort', () => clearTimeout(typing));

  updatePick();
  await load();
  replace(root, projectHeader(project, 'history'),
    h('section', { class: 'card' },
      h('div', { class: 'inline-form' }, field('State', state), field('Simulation', simulation, { grow: true }),
        h('button', { type: 'button', onclick: reload }, 'Refresh')),
      table.el,
      h('div', { class: 'pager' }, prev, pageInfo, next),
      h('div', { class: 'compare-bar' }, compare, hint)));
}
