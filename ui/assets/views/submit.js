/** The submit screen: simulation, files, placement, start policy; problems inline; success opens the job. */

import { api, listAll, projectPath } from '../api.js';
import { clearProblems, showFailure } from '../components/problems.js';
import { projectHeader } from '../components/project-header.js';
import { field, h, permit, replace, setTitle } from '../dom.js';
import { isSimulationFile } from '../paths.js';
import { to } from '../router.js';
import { can, needs } from '../session.js';

const MODES = {
  split: 'The simulation’s numbers are the cluster-wide total, divided exactly among the tasks.',
  replicate: 'Every task runs the whole simulation: N tasks generate N times the load.',
};
const ON_TIMEOUT = {
  fail: 'Fail the job (a split job short of tasks would not generate its load).',
  wait: 'Keep waiting for workers.',
  start: 'Start the tasks claimed so far; the others join later, at their offset of the schedule.',
};
const REASSIGN = {
  distinct_worker: 'A lost task runs again only on a worker running no other task of the job.',
  any_free_slot: 'A lost task runs again on any worker of the pool with a free slot.',
};

/** A labelled select of `choices` (value → explanation), its hint explaining the chosen one. */
function explained(label, id, choices) {
  const options = Object.keys(choices).map((v) => h('option', { value: v }, v.replaceAll('_', ' ')));
  const select = h('select', { id }, options);
  const el = field(label, select, { hint: choices[select.value] });
  select.addEventListener('change', () => { el.lastChild.textContent = choices[select.value]; });
  return { select, el };
}

/** Renders the submit screen of `project` into `root`. */
export async function renderSubmit(root, { project, query, signal }) {
  setTitle(`Submit · ${project}`);
  const [files, workers] = await Promise.all([
    listAll(projectPath(project, '/files'), {}, { signal }),
    listAll('/workers', {}, { signal }).catch(() => []),
  ]);
  const live = files.filter((f) => !f.deleted).sort((a, b) => a.path.localeCompare(b.path));
  const simulations = live.filter((f) => isSimulationFile(f.path));
  const header = projectHeader(project, 'submit');
  if (!simulations.length) {
    replace(root, header, h('section', { class: 'card empty-state' },
      'No simulation in this project yet: upload a .yaml file on the ',
      h('a', { href: to.project(project) }, 'Files'), ' tab.'));
    return;
  }
  const simulation = h('select', { id: 'simulation', required: true },
    simulations.map((f) => h('option', { value: f.path, selected: f.path === query.get('simulation') }, f.path)));
  const dataFiles = h('select', { id: 'data-files', multiple: true, size: Math.min(8, Math.max(3, live.length)) });
  const fillDataFiles = () => {
    const chosen = new Set([...dataFiles.selectedOptions].map((o) => o.value));
    replace(dataFiles, live.filter((f) => f.path !== simulation.value)
      .map((f) => h('option', { value: f.path, selected: chosen.has(f.path) }, f.path)));
  };
  simulation.addEventListener('change', fillDataFiles);
  fillDataFiles();
  const input = (id, value, attrs) => h('input', { id, value, autocomplete: 'off', ...attrs });
  const name = input('job-name', '', { placeholder: 'default: the simulation’s path' });
  const parallelism = input('parallelism', 1, { type: 'number', min: 1, max: 10000, step: 1, required: true });
  const pool = input('pool', 'default', { list: 'pools', required: true });
  const pools = [...new Set(['default', ...workers.map((w) => w.pool)])].sort();
  const startTimeout = input('start-timeout', '60s', { required: true });
  const mode = explained('Mode', 'mode', MODES);
  const onTimeout = explained('When not every task is claimed in time', 'on-timeout', ON_TIMEOUT);
  const reassign = explained('Reassign a lost task to', 'reassign-to', REASSIGN);
  const problems = h('div', { id: 'submit-problems', class: 'problems', role: 'status' });
  const submit = permit(h('button', { id: 'submit', type: 'submit', class: 'primary' }, 'Submit job'),
    can(project, 'runner'), needs('runner', project));
  const form = h('form', { id: 'submit-form', class: 'card form-grid' },
    field('Simulation', simulation),
    field('Display name', name),
    field('Extra data files', dataFiles, { hint: 'Files it names are pinned anyway; Ctrl/⌘-click picks several.' }),
    field('Parallelism (tasks, each on a distinct worker)', parallelism),
    field('Worker pool', pool), h('datalist', { id: 'pools' }, pools.map((p) => h('option', { value: p }))),
    mode.el,
    field('Start timeout', startTimeout, { hint: 'How long every task may take to be claimed: 30s, 5m.' }),
    onTimeout.el,
    reassign.el,
    submit,
    problems);

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearProblems(problems);
    submit.disabled = true;
    try {
      const job = await api.post(projectPath(project, '/jobs'), {
        simulation: simulation.value,
        name: name.value.trim() || undefined,
        files: [...dataFiles.selectedOptions].map((o) => o.value),
        pool: pool.value.trim() || 'default',
        parallelism: Number(parallelism.value),
        mode: mode.select.value,
        start: { timeout: startTimeout.value.trim(), on_timeout: onTimeout.select.value },
        reassign_to: reassign.select.value,
      });
      location.hash = to.job(job.id);
    } catch (e) {
      showFailure(problems, e);
      problems.scrollIntoView({ block: 'nearest' });
    } finally {
      submit.disabled = false;
    }
  });
  replace(root, header, form);
  simulation.focus();
}
