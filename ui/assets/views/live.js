/** The live job screen: `/live` folded by `live-state.js`, tasks polled every 2 s, redraws batched. */

import { ApiError, api, jobPath, listAll, openStream } from '../api.js';
import { lineChart } from '../chart.js';
import { card, h, replace, setTitle } from '../dom.js';
import { formatCount, formatMs } from '../format.js';
import { isTerminal } from '../job-states.js';
import { applyEnd, applyLog, applyProgress, initialState, seriesPoints } from '../live-state.js';
import { showError } from '../notice.js';
import { poll } from '../poll.js';
import {
  actionsPanel, currentState, eventsPanel, headerPanel, logPanel, requestsPanel, runPanel, tasksPanel,
} from './live-panels.js';

const TASKS_REFRESH_MS = 2000;
const RECONNECT_MS = 3000;
const REDRAW_MS = 100;

/** The charts of throughput and latency percentiles per second. */
function charts() {
  const rps = lineChart({
    id: 'chart-rps', title: 'Requests and errors per second', lines: ['requests/s', 'errors/s'],
    yFormat: formatCount, integers: true,
  });
  const latency = lineChart({
    id: 'chart-latency', title: 'Response time percentiles', lines: ['p50', 'p95', 'p99'], yFormat: formatMs,
  });
  let drawn = null;
  return {
    el: h('div', { class: 'charts' }, rps.el, latency.el),
    update(live) {
      if (live.series === drawn) return;
      drawn = live.series;
      const points = seriesPoints(live);
      const line = (field) => points.map((p) => ({ x: p.second, y: p[field] ?? null }));
      rps.update([line('requests'), line('ko')]);
      latency.update([line('p50_ms'), line('p95_ms'), line('p99_ms')]);
    },
    disconnect() {
      rps.disconnect();
      latency.disconnect();
    },
  };
}

/** Renders job `id`'s live screen into `root`. */
export async function renderLive(root, { id, signal }) {
  let job = await api.get(jobPath(id), { signal });
  setTitle(`${job.name} · job ${job.id}`);
  let live = initialState();
  let tasks = [];
  let ages = new Map();
  const header = headerPanel();
  const run = runPanel();
  const chartPanel = charts();
  const requests = requestsPanel();
  const taskTable = tasksPanel();
  const events = eventsPanel();
  const log = logPanel();
  const actions = actionsPanel((aborted) => {
    job = { ...job, ...aborted };
    redraw();
  });
  replace(root, header.el, h('section', { class: 'card run-card' }, run.el, actions.el), chartPanel.el,
    card('Requests', requests.el), card('Tasks', taskTable.el),
    h('div', { class: 'two-columns' }, card('Reassignments', events.el), card('Log', log.el)));

  function redraw() {
    header.update(job, live);
    run.update(job, live, Date.now());
    actions.update(job, live);
    chartPanel.update(live);
    requests.update(live);
    taskTable.update(live, tasks, ages);
    events.update(live);
    log.update(live);
  }
  let pending = 0;
  const schedule = () => {
    pending ||= setTimeout(() => {
      pending = 0;
      redraw();
    }, REDRAW_MS);
  };
  const refreshJob = async () => {
    job = await api.get(jobPath(id), { signal });
    schedule();
  };

  let tasksAfterEnd = false;
  poll(async () => {
    const finished = isTerminal(currentState(job, live));
    if (finished && tasksAfterEnd) return;
    tasksAfterEnd = finished;
    const [list, workers] = await Promise.all([
      api.get(jobPath(id, '/tasks'), { signal }),
      listAll('/workers', {}, { signal }).catch(() => []),
    ]);
    tasks = list;
    ages = new Map(workers.map((w) => [w.id, w.last_heartbeat_age_ms]));
    schedule();
  }, TASKS_REFRESH_MS, signal);

  let source = null;
  let retry = 0;
  /** After the stream was refused: checks the job (a 401 signs in again), then reconnects. */
  const reconnectLater = () => {
    // Once the screen is left, nothing is scheduled again (an aborted refresh lands here too).
    if (signal.aborted) return;
    header.stream('disconnected');
    retry = setTimeout(() => refreshJob().then(connect, (e) => {
      if (signal.aborted || e?.name === 'AbortError') return;
      showError(e);
      if (![401, 403, 404].includes(e.status)) reconnectLater();
    }), RECONNECT_MS);
  };
  const ended = () => {
    source.close();
    header.stream('ended');
  };
  function connect() {
    if (signal.aborted) return;
    header.stream('connecting…');
    source = openStream(jobPath(id, '/live'), {
      progress(event) {
        const changed = event.state !== currentState(job, live);
        if (changed || (event.state === 'starting' && !job.start_at_ms)) refreshJob().catch(showError);
        live = applyProgress(live, event);
        schedule();
      },
      log(line) {
        live = applyLog(live, line);
        schedule();
      },
      end(event) {
        live = applyEnd(live, event);
        ended();
        refreshJob().catch(showError);
      },
      error(problem) {
        ended();
        showError(new ApiError(problem));
      },
    }, (status) => {
      if (live.ended) return;
      if (status === 'closed') reconnectLater();
      else header.stream(status);
    });
  }
  connect();

  const tick = () => currentState(job, live) === 'starting' && run.update(job, live, Date.now());
  const clock = setInterval(tick, REDRAW_MS);
  signal.addEventListener('abort', () => {
    source?.close();
    [retry, pending].forEach(clearTimeout);
    clearInterval(clock);
    chartPanel.disconnect();
  });
  redraw();
}
