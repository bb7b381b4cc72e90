/** Job states, in lifecycle order, and which of them are final. Pure. */

export const JOB_STATES = ['queued', 'waiting_for_workers', 'starting', 'running', 'completed', 'failed', 'aborted'];

const TERMINAL = new Set(['completed', 'failed', 'aborted']);

/** Whether a job in `state` will not change any more. */
export const isTerminal = (state) => TERMINAL.has(state);
