/** The sign-in screen: an API token exchanged for an HttpOnly cookie; the page never keeps the token. */

import { api } from '../api.js';
import { h, replace, setTitle } from '../dom.js';
import { describeError } from '../notice.js';

/** Renders the form in `main`; `onSignedIn(session)` is called once the token is accepted. */
export function renderSignIn(main, onSignedIn) {
  setTitle('Sign in');
  const token = h('input', {
    id: 'token', type: 'password', autocomplete: 'off', required: true, 'aria-describedby': 'token-help',
  });
  const error = h('p', { id: 'sign-in-error', class: 'error-text', role: 'alert' });
  const button = h('button', { id: 'sign-in', type: 'submit', class: 'primary' }, 'Sign in');
  const form = h('form', { id: 'sign-in-form', class: 'card sign-in' },
    h('h1', {}, 'Sign in to Broadside'),
    h('label', { for: 'token' }, 'API token'),
    token,
    h('p', { id: 'token-help', class: 'muted' },
      h('code', {}, './x demo'), ' prints one; an admin creates one with ',
      h('code', {}, 'broadside tokens create'), '.'),
    button,
    error);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    replace(error);
    button.disabled = true;
    try {
      const session = await api.post('/session', { token: token.value.trim() }, { signInOn401: false });
      token.value = '';
      onSignedIn(session);
    } catch (e) {
      replace(error, e.status === 401
        ? [h('strong', {}, 'Token not accepted'), `: ${e.detail || 'it is unknown, revoked or expired'}`]
        : describeError(e));
      token.select();
    } finally {
      button.disabled = false;
    }
  });
  replace(main, form);
  token.focus();
}
