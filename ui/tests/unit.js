// Unit checks of the UI's pure modules (formatting, the live view's state, paths), run inside
// the browser by the web UI's test (`cli/tests/ui.rs`): the test defines `BASE`, the URL prefix
// of the assets, runs this body as an async function, and fails on any message it returns.
// Not embedded in the binary (it is not under `ui/assets/`).

const f = await import(`${BASE}/format.js`);
const s = await import(`${BASE}/live-state.js`);
const p = await import(`${BASE}/paths.js`);
const failures = [];
let checks = 0;
const eq = (got, want, what) => {
  checks += 1;
  if (JSON.stringify(got) !== JSON.stringify(want)) {
    failures.push(`${what}: ${JSON.stringify(got)} != ${JSON.stringify(want)}`);
  }
};

// Formatting.
eq(f.formatDuration(65000), '1 m 05 s', 'duration 65 s');
eq(f.formatDuration(850), '850 ms', 'duration 850 ms');
eq(f.formatDuration(3200), '3.2 s', 'duration 3.2 s');
eq(f.formatDuration(7322000), '2 h 02 m', 'duration 2 h');
eq(f.formatDuration(null), '—', 'duration unknown');
eq(f.formatBytes(512), '512 B', 'bytes');
eq(f.formatBytes(1536), '1.5 KiB', 'KiB');
eq(f.formatCount(1234567), '1,234,567', 'count');
eq(f.formatMs(0.1234), '0.123 ms', 'latency below 1 ms');
eq(f.formatMs(12.345), '12.3 ms', 'latency');
eq(f.formatMs(123.4), '123 ms', 'latency 3 digits');
eq(f.formatMs(1234), '1.23 s', 'latency in seconds');
eq(f.formatPercent(1.234), '1.23 %', 'percent');
eq(f.formatChange(12.34), '+12.3 % ▲', 'change up');
eq(f.formatChange(-4), '-4.0 % ▼', 'change down');
eq(f.formatChange(0.5, 'pt'), '+0.50 pt ▲', 'change in points');
eq(f.changeClass(12, 10), 'worse', 'beyond the threshold');
eq(f.changeClass(-12, 10), 'better', 'better');
eq(f.changeClass(5, 10), 'neutral', 'within the threshold');
eq(f.problemLine({ file: 'a.yaml', line: 3, column: 5, path: '', message: 'bad' }), 'a.yaml:3:5: bad',
  'problem');
eq(f.problemLine({ file: 'a.yaml', line: 3, column: 5, path: 'scenarios[0]', message: 'bad' }),
  'a.yaml:3:5: scenarios[0]: bad', 'problem with its path');
eq(f.problemLine({ file: 'a.yaml', line: null, column: null, path: '', message: 'bad' }), 'a.yaml: bad',
  'problem without a place');
eq(f.lag(10, 7), 3, 'lag');
eq(f.lag(null, 7), null, 'lag unknown');
eq(f.utcIso(0), '1970-01-01T00:00:00.000Z', 'UTC on hover');
eq(f.formatRate(12.5), '12.5/s', 'rate');
eq(f.plural(1, 'job'), '1 job', 'singular');
eq(f.plural(2, 'job'), '2 jobs', 'plural');
eq(f.ago(1500), '1.5 s ago', 'ago');

// The live view's state: series points replaced by second, so a reconnect (whose first event
// carries the whole series again) neither loses nor double-counts; reassignments as events.
const point = (second, requests) => ({ second, requests, ok: requests, ko: 0, p50_ms: 1 });
const progress = (series, tasks) => ({
  job_id: 1, state: 'running', reason: '', elapsed_ms: 1000, users: 3, total: { count: 5, ko: 0 },
  errors: 0, series, tasks, requests: { home: { count: 5 } },
});
const empty = s.initialState();
let st = s.applyProgress(empty, progress([point(0, 10), point(1, 5)],
  [{ index: 0, state: 'running', attempt: 1, worker_id: 'w1' }]), 1000);
eq(empty.series.size, 0, 'the previous state is not changed');
st = s.applyProgress(st, progress([point(1, 12), point(2, 3)],
  [{ index: 0, state: 'pending', attempt: 1, worker_id: null, waiting: { since_ms: 5, reason: 'lost' } }]),
  2000);
eq(s.seriesPoints(st).map((x) => x.requests), [10, 12, 3], 'a changed second replaces its point');
st = s.applyProgress(st, progress([point(0, 10), point(1, 12), point(2, 4)],
  [{ index: 0, state: 'running', attempt: 2, worker_id: 'w2' }]), 3000);
eq(s.seriesPoints(st).map((x) => x.requests), [10, 12, 4], 'a reconnect counts nothing twice');
eq(st.events.map((e) => e.text),
  ['task 0 waiting: lost', 'task 0 moved from w1 (attempt 1) to w2 (attempt 2)'], 'reassignment events');
st = s.applyProgress(st, progress([], [{ index: 0, state: 'running', attempt: 2, worker_id: 'w2' }]), 4000);
eq(st.events.length, 2, 'an event is not repeated');
eq(s.lastRates(st), { rps: 10, eps: 0 }, 'rates of the second before the one reached (1 s)');
eq(s.lastRates({ ...st, elapsedMs: 2500 }), { rps: 12, eps: 0 }, 'rates at 2.5 s');
eq(s.lastRates({ ...st, elapsedMs: 9000 }), { rps: 0, eps: 0 }, 'a quiet second is 0, not stale');
for (let i = 0; i < 250; i += 1) {
  st = s.applyLog(st, { task: 0, attempt: 1, at_ms: i, level: 'info', message: `m${i}` });
}
eq(st.logs.length, 200, 'the log tail is capped');
eq(st.logs[0].message, 'm50', 'the oldest lines go first');
for (let i = 0; i < 250; i += 1) {
  st = s.applyLog(st, { task: 0, attempt: 1, at_ms: i, level: 'info', message: `m${i}` });
}
eq(st.logs.length, 200, 'replayed lines are not repeated');
eq(st.logs.at(-1).message, 'm249', 'the newest line last');
st = s.applyEnd(st, { job_id: 1, state: 'completed', reason: '' });
eq([st.state, st.ended], ['completed', true], 'the end');
eq(s.lastRates(st), { rps: 4, eps: 0 }, 'once ended, the last second counts');
eq(s.startSkews([{ index: 0, started_at_ms: 100 }, { index: 1, started_at_ms: 140 }, { index: 2 }]).get(1),
  40, 'start skew');
eq(s.requestRows(st).map((r) => [r.name, !!r.total]), [['all', true], ['home', false]],
  'request rows, the total first');
const named = s.applyProgress(s.initialState(), { ...progress([], []), requests: { all: { count: 1 } } });
eq(s.requestRows(named).map((r) => [r.name, !!r.total, r.count]), [['all', true, 5], ['all', false, 1]],
  'a request named all is not the total');

// Paths.
eq(p.encodePath('a b/c#d.yaml'), 'a%20b/c%23d.yaml', 'paths keep their slashes');
eq(p.withQuery('#/x', { a: 1, b: '', c: null }), '#/x?a=1', 'empty query values are left out');
const tree = p.fileTree([{ path: 'z.txt' }, { path: 'sims/b.yaml' }, { path: 'data/a.csv' },
  { path: 'sims/a.yaml' }]);
eq([[...tree.dirs.keys()], tree.files.map((x) => x.path), tree.dirs.get('sims').files.map((x) => x.path)],
  [['data', 'sims'], ['z.txt'], ['sims/a.yaml', 'sims/b.yaml']], 'the file tree');

return { checks, failures };
