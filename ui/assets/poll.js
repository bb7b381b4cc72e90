/** Runs a task now and `intervalMs` after each run while the page is visible, until `signal`. */

export function poll(task, intervalMs, signal) {
  let timer = 0;
  let running = false;
  const run = async () => {
    clearTimeout(timer);
    if (signal.aborted || running || document.hidden) return;
    running = true;
    try {
      await task();
    } catch (e) {
      if (e?.name !== 'AbortError') console.error(e);
    } finally {
      running = false;
      if (!signal.aborted) timer = setTimeout(run, intervalMs);
    }
  };
  const onVisible = () => {
    if (!document.hidden) run();
  };
  document.addEventListener('visibilitychange', onVisible);
  signal.addEventListener('abort', () => {
    clearTimeout(timer);
    document.removeEventListener('visibilitychange', onVisible);
  });
  run();
  return run;
}
