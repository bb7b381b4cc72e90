/** The cluster screen: masters with health and lag, leader changes, workers by pool; refreshed every 2 s. */

import { api, listAll } from '../api.js';
import { actionButton } from '../components/action-button.js';
import { badge, card, h, patch, replace, setTitle, timeEl } from '../dom.js';
import { ago, formatCount, lag, plural } from '../format.js';
import { showError } from '../notice.js';
import { poll } from '../poll.js';
import { to } from '../router.js';
import { isAdmin } from '../session.js';
import { dataTable } from '../table.js';

const REFRESH_MS = 2000;

/** A member's health: unreachable, unknown, catching up or healthy. */
function health(member, behind) {
  const [kind, text] = member.reachable === false ? ['bad', 'unreachable']
    : !member.status ? ['', 'unknown']
      : behind > 0 ? ['warn', 'catching up'] : ['ok', 'healthy'];
  return h('span', { class: kind }, text);
}

function mastersTable() {
  let view = { members: [] };
  const leaderLast = () => view.members.find((m) => m.id === view.leader)?.status?.last_log_index
    ?? (view.node?.id === view.leader ? view.node.last_log_index : null);
  const behind = (m) => lag(leaderLast(), m.status?.applied_index);
  const table = dataTable({
    id: 'masters',
    keyAttr: 'master-id',
    key: (m) => m.id,
    rowClass: (m) => (m.id === view.leader ? 'leader' : ''),
    columns: [
      { label: 'Id', cell: (m) => [`${m.id} `, m.id === view.leader && badge('leader')] },
      { label: 'REST address', cell: (m) => h('code', {}, m.http_addr) },
      { label: 'Raft address', cell: (m) => h('code', {}, m.raft_addr) },
      { label: 'Role', cell: (m) => `${m.status?.role ?? 'unknown'}${m.voter ? '' : ' (learner)'}` },
      { label: 'Term', num: true, cell: (m) => formatCount(m.status?.term) },
      { label: 'Last log index', num: true, cell: (m) => formatCount(m.status?.last_log_index) },
      { label: 'Applied index', num: true, cell: (m) => formatCount(m.status?.applied_index) },
      { label: 'Health', cell: (m) => health(m, behind(m)) },
      { label: 'Lag', num: true, cell: (m) => formatCount(behind(m)) },
      { label: 'Version', cell: (m) => m.status?.version ?? '—' },
    ],
  });
  return {
    el: table.el,
    update(next) {
      view = next;
      table.update(view.members);
    },
  };
}

/** The leader changes this master saw, newest first. */
const leaderChanges = (view) => {
  const changes = [...(view.leader_changes ?? [])].reverse();
  return changes.length
    ? changes.map((c) => h('li', {},
      `term ${c.term}: ${c.leader == null ? 'no leader' : `node ${c.leader} leads`} — `, timeEl(c.at_ms)))
    : h('li', { class: 'muted' }, 'No leader change seen by this master since it started.');
};

/** Drain and Forget (administrators), each confirmed. */
function workerActions(w, refresh) {
  const path = `/workers/${encodeURIComponent(w.id)}`;
  return [
    actionButton('Drain', { class: 'small', disabled: ['draining', 'dead'].includes(w.state) },
      `Drain worker ${w.id}? It takes no new task; its running tasks finish.`,
      async () => { await api.post(`${path}/drain`); refresh(); }),
    ' ',
    actionButton('Forget', { class: 'small danger' },
      `Forget worker ${w.id}? It leaves the registry (refused while it is alive).`,
      async () => { await api.del(path); refresh(); }),
  ];
}

const used = (w) => w.slots_used ?? (w.running ?? []).length;

function workerColumns(refresh) {
  return [
    { label: 'Id', cell: (w) => h('code', { title: w.address }, w.id) },
    { label: 'State', cell: (w) => badge(w.state, { title: w.reason || null }) },
    { label: 'Slots used / free', num: true, cell: (w) => `${used(w)} / ${Math.max(0, w.slots - used(w))}` },
    { label: 'Running tasks', cell: (w) => {
      const shown = w.running ?? [];
      const hidden = used(w) - shown.length;
      if (!used(w)) return h('span', { class: 'muted' }, 'none');
      return h('ul', { class: 'inline-list' }, shown.map((t) => h('li', {},
        h('a', { href: to.job(t.job_id) }, `job ${t.job_id} task ${t.task}`), ` (attempt ${t.attempt})`)),
        hidden > 0 && h('li', { class: 'muted' }, `${hidden} of other projects`));
    } },
    { label: 'Heartbeat', num: true, cell: (w) => ago(w.last_heartbeat_age_ms) },
    { label: 'Version', cell: (w) => w.version },
    { label: 'Labels', cell: (w) => h('span', { class: 'labels' },
      Object.entries(w.labels ?? {}).map(([k, v]) => h('span', { class: 'label' }, `${k}=${v}`))) },
    isAdmin() && { label: 'Actions', cell: (w) => workerActions(w, refresh) },
  ].filter(Boolean);
}

/** Shows the workers in `box`, a table per pool (kept between refreshes). */
function workersByPool(box, refresh) {
  const pools = new Map();
  return (workers) => {
    const byPool = new Map();
    for (const w of workers) byPool.set(w.pool, [...(byPool.get(w.pool) ?? []), w]);
    for (const [pool, section] of pools) {
      if (byPool.has(pool)) continue;
      section.el.remove();
      pools.delete(pool);
    }
    if (!workers.length) {
      patch(box, h('p', { class: 'empty-state' }, 'No workers yet: start one with ',
        h('code', {}, 'broadside worker --masters HOST:PORT …'), '.'));
      return;
    }
    if (!pools.size) replace(box);
    for (const pool of [...byPool.keys()].sort()) {
      if (!pools.has(pool)) {
        const heading = h('h3');
        const table = dataTable({ keyAttr: 'worker-id', key: (w) => w.id, columns: workerColumns(refresh) });
        pools.set(pool, { el: h('section', { class: 'pool' }, heading, table.el), heading, table });
      }
      const { el, heading, table } = pools.get(pool);
      const members = byPool.get(pool).sort((a, b) => a.id.localeCompare(b.id));
      const slots = members.reduce((n, w) => n + w.slots, 0);
      const busy = members.reduce((n, w) => n + used(w), 0);
      const summary = ` — ${plural(members.length, 'worker')}, ${busy} of ${slots} slots used`;
      patch(heading, `pool ${pool}`, h('span', { class: 'muted' }, summary));
      table.update(members);
      box.append(el);
    }
  };
}

/** Renders the cluster screen into `root`. */
export async function renderCluster(root, { signal }) {
  setTitle('Cluster');
  const masters = mastersTable();
  const changes = h('ol', { id: 'leader-changes', class: 'changes' });
  const workers = h('div', { id: 'workers' }, h('p', { class: 'muted' }, 'Loading…'));
  const summary = h('p', { class: 'muted' }, 'Loading…');
  replace(root,
    h('header', { class: 'page-header' }, h('h1', {}, 'Cluster'), summary),
    card('Masters', masters.el, h('h3', {}, 'Recent leader changes'), changes),
    card('Workers', workers));
  const showWorkers = workersByPool(workers, () => refresh());
  const refresh = poll(async () => {
    try {
      const [view, list] = await Promise.all([api.get('/cluster', { signal }), listAll('/workers', {}, { signal })]);
      masters.update(view);
      patch(changes, leaderChanges(view));
      patch(summary, view.leader == null
        ? 'No leader known: the masters are electing one.'
        : `Node ${view.leader} leads term ${view.term}; answered by node ${view.node.id}.`);
      showWorkers(list);
    } catch (e) {
      showError(e);
    }
  }, REFRESH_MS, signal);
}
