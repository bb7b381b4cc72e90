/** The signed-in session and what it may do: admin all, else by project role (viewer < runner < maintainer). */

const RANK = { viewer: 1, runner: 2, maintainer: 3 };

let current = null;

/** Remembers the session answered by `GET /session` or `POST /session` (null: signed out). */
export const setSession = (s) => { current = s; };

/** The current session. */
export const session = () => current;

/** Whether `s` may do everything. */
const allPowerful = (s) => Boolean(s && (s.admin || !s.authentication));

/** Whether the session administers the cluster (projects, workers). */
export const isAdmin = () => allPowerful(current);

/** Whether the session holds at least `role` on `project`. */
export function can(project, role) {
  if (allPowerful(current)) return true;
  return (RANK[current?.projects?.[project]] ?? 0) >= RANK[role];
}

/** Why a control is disabled: the role it needs. */
export const needs = (role, project) => `Needs the ${role} role on ${project}`;
