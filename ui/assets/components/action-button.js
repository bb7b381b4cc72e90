/** A button running an API action: confirmed first, disabled while it runs, errors shown. */

import { h } from '../dom.js';
import { showError } from '../notice.js';

/** A button `label` that asks `question` (unless null), then awaits `run()`. */
export function actionButton(label, attrs, question, run) {
  const button = h('button', { type: 'button', ...attrs }, label);
  button.addEventListener('click', async () => {
    if (question && !confirm(question)) return;
    button.disabled = true;
    try {
      await run();
    } catch (e) {
      showError(e);
    } finally {
      button.disabled = false;
    }
  });
  return button;
}
