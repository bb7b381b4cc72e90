/** The panels of the live job screen, each built once and updated in place from the job and its live state. */

import { api, jobPath } from '../api.js';
import { actionButton } from '../components/action-button.js';
import { jobLinks } from '../components/job-links.js';
import { badge, h, patch, permit, replace, timeEl } from '../dom.js';
import {
  ago, clockTime, formatCount, formatDuration, formatMs, formatPercent, formatRate, plural,
} from '../format.js';
import { isTerminal } from '../job-states.js';
import { lastRates, requestRows, startSkews } from '../live-state.js';
import { to } from '../router.js';
import { can, needs } from '../session.js';
import { dataTable } from '../table.js';

/** The job's state: the live stream's when it has one. */
export const currentState = (job, live) => live.state ?? job.state;

/** Heading: name, state badge, where it runs, stream status. */
export function headerPanel() {
  const name = h('h1');
  const state = h('span', { id: 'job-state', class: 'badge' });
  const stream = h('span', { id: 'stream-status', class: 'stream', role: 'status' });
  const meta = h('p', { class: 'job-meta muted' });
  const reason = h('p');
  const paused = h('p', { class: 'warning' });
  return {
    el: h('header', { class: 'page-header' },
      h('div', { class: 'title-row' }, name, state, stream), meta, reason, paused),
    update(job, live) {
      const s = currentState(job, live);
      name.textContent = job.name;
      state.textContent = s;
      state.className = `badge state-${s}`;
      patch(meta, 'project ', h('a', { href: to.project(job.project) }, job.project),
        ' · simulation ', h('code', {}, job.simulation),
        ` · job ${job.id} · pool ${job.pool} · ${plural(job.parallelism, 'task')} (${job.mode}) · submitted `,
        timeEl(job.submitted_at_ms));
      reason.textContent = live.reason || job.reason;
      reason.hidden = !reason.textContent;
      paused.textContent = `Reassignment paused: ${job.reassignment_paused}`;
      paused.hidden = !job.reassignment_paused;
    },
    stream(status) {
      stream.textContent = status;
      stream.className = `stream stream-${status.replace(/\W/g, '')}`;
    },
  };
}

/** The schedule's planned length (ms), when the simulation has one. */
const plannedMs = (job) => job.params?.planned_ms ?? null;

/** What the elapsed line says: elapsed (of planned) while running, the run's duration once finished. */
function elapsedText(job, live) {
  const s = currentState(job, live);
  const planned = plannedMs(job);
  const of = planned ? ` of ${formatDuration(planned)}` : '';
  if (!isTerminal(s)) return s === 'running' ? `elapsed ${formatDuration(live.elapsedMs)}${of}` : 'not started yet';
  const ran = job.finished_at_ms && job.start_at_ms ? job.finished_at_ms - job.start_at_ms : live.elapsedMs;
  return ran > 0 ? `${s} after ${formatDuration(ran)}` : `${s} before starting`;
}

/** The coordinated start countdown, while the job is starting. */
function countdownText(job, live, now) {
  if (currentState(job, live) !== 'starting') return '';
  if (!job.start_at_ms) return 'start instant not set yet';
  const left = job.start_at_ms - now;
  return left > 0 ? `starts in ${formatDuration(left)}` : 'starting…';
}

/** Elapsed time, progress, start countdown and the stat tiles. */
export function runPanel() {
  const elapsed = h('span', { id: 'elapsed' });
  const countdown = h('span', { id: 'countdown', class: 'countdown' });
  const progress = h('progress', { id: 'progress', 'aria-label': 'Job progress' });
  const tile = (id, label) =>
    h('div', { class: 'tile' }, h('span', {}, label), h('span', { id, class: 'tile-value' }, '—'));
  const tiles = [
    tile('users', 'Active users'), tile('rps', 'Requests/s'), tile('eps', 'Errors/s'),
    tile('total-count', 'Requests'), tile('total-errors', 'Errors'),
  ];
  const show = (i, text) => { tiles[i].lastChild.textContent = text; };
  return {
    el: h('div', {},
      h('div', { class: 'run-line' }, elapsed, countdown), progress, h('div', { class: 'tiles' }, tiles)),
    update(job, live, now) {
      elapsed.textContent = elapsedText(job, live);
      countdown.textContent = countdownText(job, live, now);
      const s = currentState(job, live);
      const planned = plannedMs(job);
      if (isTerminal(s)) {
        progress.value = progress.max;
      } else if (s === 'running' && planned) {
        progress.max = planned;
        progress.value = Math.min(live.elapsedMs ?? 0, planned);
      } else {
        progress.removeAttribute('value');
      }
      const rates = lastRates(live);
      const errors = live.total?.ko ?? live.errors;
      show(0, formatCount(live.users));
      show(1, rates ? formatRate(rates.rps) : '—');
      show(2, rates ? formatRate(rates.eps) : '—');
      show(3, formatCount(live.total?.count ?? 0));
      show(4, formatCount(errors));
      tiles[4].classList.toggle('bad', errors > 0);
    },
  };
}

/** Statistics by request name, `all` first. */
export function requestsPanel() {
  const ms = (field, label) => ({ label, num: true, cell: (r) => formatMs(r[field]) });
  const count = (field, label) => ({ label, num: true, cell: (r) => formatCount(r[field]) });
  const table = dataTable({
    id: 'requests-table',
    keyAttr: 'name',
    // The total's key is empty: a request may be named `all`, none is named ``.
    key: (r) => (r.total ? '' : r.name),
    rowClass: (r) => (r.total ? 'total' : ''),
    empty: 'No response yet.',
    columns: [
      { label: 'Request', cell: (r) => r.name },
      count('count', 'Count'), count('ok', 'OK'), count('ko', 'KO'),
      { label: 'Errors', num: true, cell: (r) => formatPercent(r.ko_percent) },
      ms('p50_ms', 'p50'), ms('p95_ms', 'p95'), ms('p99_ms', 'p99'), ms('max_ms', 'Max'),
    ],
  });
  return { el: table.el, update: (live) => table.update(requestRows(live)) };
}

/** Every task: worker, attempt, state, start skew, heartbeat, waiting reason. */
export function tasksPanel() {
  const table = dataTable({
    id: 'tasks-table',
    keyAttr: 'task',
    key: (t) => t.index,
    rowClass: (t) => (t.waiting ? 'waiting' : ''),
    empty: 'No task reported yet.',
    columns: [
      { label: 'Task', num: true, cell: (t) => String(t.index) },
      { label: 'Worker', cell: (t) => (t.worker_id ? h('code', {}, t.worker_id) : '—') },
      { label: 'Attempt', num: true, cell: (t) => String(t.attempt) },
      { label: 'State', cell: (t) => badge(t.state) },
      { label: 'Elapsed', num: true, cell: (t) => formatDuration(t.elapsed_ms) },
      { label: 'Users', num: true, cell: (t) => formatCount(t.users) },
      { label: 'Start skew', num: true, cell: (t) => (t.skew == null ? '—' : `+${formatDuration(t.skew)}`) },
      { label: 'Last heartbeat', num: true, cell: (t) => ago(t.age) },
      { label: 'Waiting', cell: (t) => t.waiting && `${t.waiting.reason} (since ${clockTime(t.waiting.since_ms)})` },
    ],
  });
  return {
    el: table.el,
    /** `tasks`: the answer of `GET /jobs/{id}/tasks`; `ages`: heartbeat ages by worker id. */
    update(live, tasks, ages) {
      const skews = startSkews(tasks);
      const rows = new Map(tasks.map((t) => [t.index, t]));
      for (const t of live.tasks.values()) rows.set(t.index, { ...rows.get(t.index), ...t });
      table.update([...rows.values()].sort((a, b) => a.index - b.index)
        .map((t) => ({ ...t, skew: skews.get(t.index), age: ages.get(t.worker_id) })));
    },
  };
}

/** Reassignments and waiting tasks, oldest first. */
export function eventsPanel() {
  const list = h('ol', { id: 'events', class: 'events' });
  const empty = h('p', { class: 'muted' }, 'No reassignment: every task kept its worker.');
  return {
    el: h('div', {}, empty, list),
    update(live) {
      empty.hidden = live.events.length > 0;
      patch(list, live.events.map((e) => h('li', { class: e.kind }, `${e.text} at ${clockTime(e.at_ms)}`)));
    },
  };
}

/** The last log lines, `[task.attempt] LEVEL message`, following the end unless scrolled up. */
export function logPanel() {
  const pre = h('pre', { id: 'log', class: 'log', tabindex: 0 });
  const empty = h('p', { class: 'muted' }, 'No log line yet.');
  let shown = null;
  return {
    el: h('div', {}, empty, pre),
    update(live) {
      if (live.logs === shown) return;
      shown = live.logs;
      const follow = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 8;
      empty.hidden = live.logs.length > 0;
      const line = (l) => `[${l.task}.${l.attempt}] ${l.level.toUpperCase()} ${l.message}`;
      pre.textContent = live.logs.map(line).join('\n');
      if (follow) pre.scrollTop = pre.scrollHeight;
    },
  };
}

/** Abort (runners, while the job runs); once finished, the result and comparison links. */
export function actionsPanel(onAborted) {
  const el = h('div', { class: 'job-actions' });
  let terminal = null;
  return {
    el,
    update(job, live) {
      const finished = isTerminal(currentState(job, live));
      if (finished === terminal) return;
      terminal = finished;
      replace(el, terminal
        ? [jobLinks(job.id, { ids: true }),
          h('a', { id: 'compare-link', href: to.compare(job.project, { candidate: job.id }) }, 'Compare with…')]
        : permit(actionButton('Abort', { id: 'abort', class: 'danger' },
          `Abort job ${job.id} (${job.name})? Its running tasks are told to stop.`,
          async () => onAborted(await api.post(jobPath(job.id, '/abort'), {}))),
        can(job.project, 'runner'), needs('runner', job.project)));
    },
  };
}
