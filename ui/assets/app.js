/** Boot: session check (401: sign in), shell, hash router; a screen's AbortSignal fires when it is left. */

import { api, onUnauthorized, setCsrf } from './api.js';
import { h, replace, setTitle } from './dom.js';
import { localTime } from './format.js';
import { describeError, notify, showError } from './notice.js';
import { match, parseHash, to } from './router.js';
import { session, setSession } from './session.js';
import { renderCluster } from './views/cluster.js';
import { renderCompare } from './views/compare.js';
import { renderHistory } from './views/history.js';
import { renderLive } from './views/live.js';
import { renderProject } from './views/project.js';
import { renderProjects } from './views/projects.js';
import { renderSignIn } from './views/signin.js';
import { renderSubmit } from './views/submit.js';

const ROUTES = [
  { pattern: ['cluster'], render: renderCluster },
  { pattern: ['projects'], render: renderProjects },
  { pattern: ['projects', ':project'], render: renderProject },
  { pattern: ['projects', ':project', 'submit'], render: renderSubmit },
  { pattern: ['projects', ':project', 'history'], render: renderHistory },
  { pattern: ['jobs', ':id'], render: renderLive },
  { pattern: ['compare', ':project'], render: renderCompare },
];

const $ = (id) => document.getElementById(id);
let screen = null;

/** Stops the screen shown. */
function leaveScreen() {
  screen?.abort();
  screen = null;
}

/** A card with a heading and content, for screens that could not be shown. */
const message = (title, ...content) => h('section', { class: 'card' }, h('h1', {}, title), content);

/** Renders the screen of the current hash (`event`: a navigation, which moves the focus). */
async function route(event) {
  if (!session()) return;
  leaveScreen();
  const controller = new AbortController();
  screen = controller;
  const { segments, query } = parseHash(location.hash);
  const found = match(ROUTES, segments);
  const section = segments[0] === 'cluster' ? 'cluster' : 'projects';
  for (const link of $('nav').children) {
    if (link.dataset.nav === section) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  const root = h('div');
  replace($('main'), root);
  if (event) $('main').focus({ preventScroll: true });
  if (!found) {
    setTitle('Not found');
    replace(root, message('No such page', h('a', { href: to.projects() }, 'See the projects')));
    return;
  }
  try {
    await found.route.render(root, { ...found.params, query, signal: controller.signal });
  } catch (e) {
    if (controller.signal.aborted || e.name === 'AbortError' || e.status === 401) return;
    console.error(e);
    replace(root, message(e.title ?? 'Something went wrong', h('p', {}, e.detail ?? e.message)));
  }
}

/** Shows the shell of session `s`, or hides it (null). */
function showShell(s) {
  $('nav').hidden = !s;
  $('account').hidden = !s;
  $('user-name').textContent = s ? `${s.name}${s.admin ? ' (admin)' : ''}` : '';
  $('user-name').title = s?.expires_at_ms ? `Session ends ${localTime(s.expires_at_ms)}` : '';
}

function signedIn(s) {
  setSession(s);
  setCsrf(s.csrf);
  showShell(s);
  route();
}

/** Shows the sign-in screen (once, however many requests were refused). */
function signedOut(error) {
  const wasSignedIn = Boolean(session());
  leaveScreen();
  setSession(null);
  setCsrf('');
  showShell(null);
  if (wasSignedIn || !$('sign-in-form')) renderSignIn($('main'), signedIn);
  if (wasSignedIn && error) notify('Your session ended: sign in again.', 'error');
}

/** Asks the master who this browser is. */
async function checkSession() {
  try {
    signedIn(await api.get('/session', { signInOn401: false }));
  } catch (e) {
    if (e.status === 401) return signedOut();
    setTitle('Unavailable');
    replace($('main'), message('The master did not answer', h('p', {}, describeError(e)),
      h('button', { type: 'button', class: 'primary', onclick: checkSession }, 'Try again')));
  }
}

$('sign-out').addEventListener('click', async () => {
  await api.del('/session', { signInOn401: false }).catch((e) => e.status === 401 || showError(e));
  setSession(null);
  checkSession();
});

onUnauthorized(signedOut);
window.addEventListener('hashchange', route);
checkSession();
