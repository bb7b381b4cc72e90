/**
 * A job's live state folded from its stream by pure reducers (inputs never mutated). Series points are
 * replaced by second and log lines de-duplicated, so a reconnect's replay loses and doubles nothing.
 */

/** Log lines kept. */
export const LOG_LINES = 200;
/** Derived events kept. */
export const EVENTS = 200;

/** Nothing received yet. */
export function initialState() {
  return {
    state: null,
    reason: '',
    elapsedMs: 0,
    users: 0,
    total: null,
    errors: 0,
    requests: {},
    series: new Map(),
    tasks: new Map(),
    placements: new Map(),
    events: [],
    logs: [],
    ended: false,
  };
}

/** The state after a `progress` event; `nowMs` dates the reassignments it reveals. */
export function applyProgress(state, event, nowMs = Date.now()) {
  const series = new Map(state.series);
  for (const point of event.series ?? []) series.set(point.second, point);
  const { placements, events } = taskChanges(state, event.tasks ?? [], nowMs);
  return {
    ...state,
    state: state.ended ? state.state : event.state,
    reason: state.ended ? state.reason : event.reason ?? '',
    elapsedMs: event.elapsed_ms ?? state.elapsedMs,
    users: event.users ?? 0,
    total: event.total ?? state.total,
    errors: event.errors ?? state.errors,
    requests: event.requests ?? state.requests,
    series,
    tasks: event.tasks ? new Map(event.tasks.map((t) => [t.index, t])) : state.tasks,
    placements,
    events,
  };
}

/**
 * Reassignments (a task's attempt or worker changed since it was last seen on a worker) and
 * newly waiting tasks, appended to the state's events.
 */
function taskChanges(state, tasks, nowMs) {
  const placements = new Map(state.placements);
  const added = [];
  for (const task of tasks) {
    const before = placements.get(task.index);
    if (task.worker_id != null) {
      const moved = before
        && (task.attempt > before.attempt || task.worker_id !== before.worker_id);
      if (moved) {
        added.push({
          kind: 'moved',
          at_ms: nowMs,
          key: `moved:${task.index}:${task.attempt}:${task.worker_id}`,
          text: `task ${task.index} moved from ${before.worker_id} (attempt ${before.attempt}) `
            + `to ${task.worker_id} (attempt ${task.attempt})`,
        });
      }
      placements.set(task.index, { worker_id: task.worker_id, attempt: task.attempt });
    }
    if (task.waiting) {
      added.push({
        kind: 'waiting',
        at_ms: task.waiting.since_ms,
        key: `waiting:${task.index}:${task.waiting.since_ms}`,
        text: `task ${task.index} waiting: ${task.waiting.reason}`,
      });
    }
  }
  const seen = new Set(state.events.map((e) => e.key));
  const fresh = added.filter((e) => !seen.has(e.key));
  const events = fresh.length ? [...state.events, ...fresh].slice(-EVENTS) : state.events;
  return { placements, events };
}

/** The identity of a log line: a replayed line has the same. */
const logKey = (l) => `${l.task}\u0000${l.attempt}\u0000${l.at_ms}\u0000${l.message}`;

/**
 * The state after a `log` event: the last {@link LOG_LINES} lines in time order, each once.
 * A line older than every kept one of a full tail is not shown, so only the kept lines'
 * identities are needed to recognise replays.
 */
export function applyLog(state, line) {
  const key = logKey(line);
  if (state.logs.some((l) => logKey(l) === key)) return state;
  const logs = [...state.logs];
  let at = logs.length;
  while (at > 0 && logs[at - 1].at_ms > line.at_ms) at -= 1;
  logs.splice(at, 0, line);
  return { ...state, logs: logs.length > LOG_LINES ? logs.slice(-LOG_LINES) : logs };
}

/** The state after the `end` event. */
export function applyEnd(state, end) {
  return { ...state, state: end.state, reason: end.reason ?? '', ended: true };
}

/** The series points in time order. */
export function seriesPoints(state) {
  return [...state.series.values()].sort((a, b) => a.second - b.second);
}

/**
 * Requests and errors per second of the last complete second — the one before the second the
 * run has reached (that one is still being filled), 0 when nothing happened in it (the series
 * has no point for a quiet second) — or of the last second once the job ended; null before
 * there is one.
 */
export function lastRates(state) {
  if (state.ended) {
    const point = seriesPoints(state).at(-1);
    return point ? { rps: point.requests, eps: point.ko } : null;
  }
  const second = Math.floor(state.elapsedMs / 1000) - 1;
  if (second < 0) return null;
  const point = state.series.get(second);
  return { rps: point?.requests ?? 0, eps: point?.ko ?? 0 };
}

/** Each started task's start skew: its `started_at_ms` − the earliest one, by index. */
export function startSkews(tasks) {
  const started = tasks.filter((t) => t.started_at_ms != null);
  const first = started.reduce((m, t) => Math.min(m, t.started_at_ms), Infinity);
  return new Map(started.map((t) => [t.index, t.started_at_ms - first]));
}

/**
 * The request rows to show: the total (`total: true`, named `all`) first, then each request
 * name (a request may itself be named `all`).
 */
export function requestRows(state) {
  const rows = Object.entries(state.requests ?? {})
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, row]) => ({ name, ...row }));
  return state.total ? [{ name: 'all', total: true, ...state.total }, ...rows] : rows;
}
