/** Problems of a simulation in a box: one `li` each, text exactly `file:line:column: message`; or success. */

import { h, replace } from '../dom.js';
import { plural, problemLine } from '../format.js';
import { describeError } from '../notice.js';

/** Shows `problems` in `box`; with `onPick`, each one is a button. */
export function showProblems(box, problems, onPick) {
  box.classList.remove('valid');
  replace(box, h('p', {}, h('strong', {}, plural(problems.length, 'problem'))),
    h('ul', { class: 'problem-list' }, problems.map((p) => h('li', {}, onPick
      ? h('button', { type: 'button', class: 'link', onclick: () => onPick(p) }, problemLine(p))
      : problemLine(p)))));
}

/** Shows a success message in `box`. */
export function showValid(box, message) {
  box.classList.add('valid');
  replace(box, h('p', {}, `✓ ${message}`));
}

/** Shows an API error in `box`: its title and detail, then its located problems if any. */
export function showFailure(box, error, onPick) {
  if (error.errors?.length) showProblems(box, error.errors, onPick);
  else clearProblems(box);
  box.prepend(h('p', { class: 'error-text' }, describeError({ ...error, errors: [] })));
}

/** Empties `box`. */
export function clearProblems(box) {
  box.classList.remove('valid');
  replace(box);
}
