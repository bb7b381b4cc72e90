/** Pure formatting of numbers, durations, sizes, times, problems (no DOM: tests import it alone). */

const DASH = '—';
const NUMBER = new Intl.NumberFormat('en-US');

/** Whether `v` is a usable number (not null, undefined or NaN). */
const known = (v) => typeof v === 'number' && !Number.isNaN(v);

/** Two digits: `5` → `05`. */
const two = (n) => String(n).padStart(2, '0');

/** `1 m 05 s`, `12 s`, `3.2 s`, `850 ms`, `2 h 03 m`, `1 d 04 h`. */
export function formatDuration(ms) {
  if (!known(ms)) return DASH;
  if (ms < 0) ms = 0;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 10_000) return `${(Math.floor(ms / 100) / 10).toFixed(1)} s`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} m ${two(s % 60)} s`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ${two(Math.floor(s / 60) % 60)} m`;
  return `${Math.floor(s / 86_400)} d ${two(Math.floor(s / 3600) % 24)} h`;
}

/** `1.2 s ago`; `—` when unknown. */
export const ago = (ms) => (known(ms) ? `${formatDuration(ms)} ago` : DASH);

/** `0:05`, `1:30`, `1:02:03`: a position in a run, for chart axes. */
export function formatClock(seconds) {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor(s / 60) % 60;
  return h ? `${h}:${two(m)}:${two(s % 60)}` : `${m}:${two(s % 60)}`;
}

/** `512 B`, `1.5 KiB`, `12.3 MiB`. */
export function formatBytes(bytes) {
  if (!known(bytes)) return DASH;
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return i === 0 ? `${v} B` : `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

/** `1,234,567`; fractions are rounded. */
export function formatCount(n) {
  return known(n) ? NUMBER.format(Math.round(n)) : DASH;
}

/** A rate per second: `1,234/s`, `12.5/s`, `0/s`. */
export function formatRate(perSecond) {
  if (!known(perSecond)) return DASH;
  const v = perSecond < 100 && perSecond % 1 !== 0 ? perSecond.toFixed(1) : formatCount(perSecond);
  return `${v}/s`;
}

/** A latency with 3 significant figures: `0.123 ms`, `12.3 ms`, `123 ms`, `1.23 s`. */
export function formatMs(ms) {
  if (!known(ms)) return DASH;
  if (ms >= 1000) return `${Number((ms / 1000).toPrecision(3))} s`;
  if (ms === 0) return '0 ms';
  return `${Number(ms.toPrecision(3))} ms`;
}

/** `1.23 %`. */
export function formatPercent(percent) {
  return known(percent) ? `${percent.toFixed(2)} %` : DASH;
}

/**
 * A change with its sign and an arrow: `+12.3 % ▲`, `-4.0 % ▼`, `0.0 % =`.
 * `unit` is `%` for relative changes, `pt` for percentage points.
 */
export function formatChange(change, unit = '%') {
  if (!known(change)) return DASH;
  const digits = unit === '%' ? 1 : 2;
  const rounded = change.toFixed(digits);
  if (Number(rounded) === 0) return `${(0).toFixed(digits)} ${unit} =`;
  return change > 0 ? `+${rounded} ${unit} ▲` : `${rounded} ${unit} ▼`;
}

/**
 * How a change compares with its threshold, for colour: `worse` above it, `better` below
 * its opposite, `neutral` within (an increase is worse: latencies, error rates).
 */
export function changeClass(change, threshold) {
  if (!known(change)) return 'neutral';
  const limit = known(threshold) ? Math.abs(threshold) : 0;
  if (change > limit) return 'worse';
  if (change < -limit) return 'better';
  return 'neutral';
}

/** The instant in the user's time zone, e.g. `3 Jun 2025, 14:02:07`. */
export function localTime(ms) {
  if (!known(ms)) return DASH;
  return new Date(ms).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
}

/** The instant as UTC ISO 8601, e.g. `2025-06-03T12:02:07.000Z`. */
export function utcIso(ms) {
  return known(ms) ? new Date(ms).toISOString() : '';
}

/** The local time of day, `14:02:07`. */
export function clockTime(ms) {
  if (!known(ms)) return DASH;
  return new Date(ms).toLocaleTimeString(undefined, {
    hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
  });
}

/** A located problem exactly as `broadside validate` prints it: `file:line:column: path: message` (the path left out when empty, the place when unknown). */
export function problemLine(problem) {
  let place = problem.file ?? '';
  if (known(problem.line)) {
    place += `:${problem.line}`;
    if (known(problem.column)) place += `:${problem.column}`;
  }
  const path = problem.path ? `${problem.path}: ` : '';
  return `${place}: ${path}${problem.message}`;
}

/** How many entries a member still has to apply: leader's last log index − its applied index. */
export function lag(leaderLast, applied) {
  if (!known(leaderLast) || !known(applied)) return null;
  return Math.max(0, leaderLast - applied);
}

/** `1 worker`, `3 workers`. */
export const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;
