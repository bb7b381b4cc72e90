/** The editor of a project's text files: line numbers, validation against the project, save as a new version. */

import { api, filePath, projectPath, upload } from '../api.js';
import { h, permit } from '../dom.js';
import { notify, showError } from '../notice.js';
import { isSimulationFile } from '../paths.js';
import { to } from '../router.js';
import { can, needs } from '../session.js';
import { clearProblems, showFailure, showProblems, showValid } from './problems.js';

/** Largest file opened in the editor. */
const MAX_EDIT_BYTES = 2 * 1024 * 1024;

/** The offset in `text` of 1-based `line` and `column`, clamped to the text. */
export function offsetOf(text, line, column) {
  const lines = text.split('\n');
  const l = Math.min(Math.max(1, line ?? 1), lines.length);
  const before = lines.slice(0, l - 1).reduce((n, s) => n + s.length + 1, 0);
  return before + Math.min(Math.max(0, (column ?? 1) - 1), lines[l - 1].length);
}

/** The editor of `project`; `onSaved()` runs after a save. Returns `{ el, open(path, size) }`. */
export function editor(project, onSaved) {
  const path = h('input', { id: 'editor-path', placeholder: 'sims/checkout.yaml', spellcheck: 'false' });
  const text = h('textarea', { id: 'editor', wrap: 'off', spellcheck: 'false', 'aria-label': 'Content' });
  const gutter = h('pre', { class: 'gutter', 'aria-hidden': 'true' }, '1');
  const problems = h('div', { id: 'problems', class: 'problems', role: 'status' });
  const state = h('span', { class: 'editor-state' });
  const submitLink = h('a', { class: 'submit-link' }, 'Submit this simulation');
  const button = (id, label, attrs) => h('button', { id, type: 'button', ...attrs }, label);
  const newFile = button('new-file', 'New file');
  const validate = button('validate', 'Validate');
  const save = permit(button('save', 'Save', { class: 'primary' }),
    can(project, 'maintainer'), needs('maintainer', project));
  let saved = '';

  function refresh() {
    const lines = text.value.split('\n').length;
    if (gutter.dataset.lines !== String(lines)) {
      gutter.dataset.lines = lines;
      gutter.textContent = Array.from({ length: lines }, (_, i) => i + 1).join('\n');
    }
    gutter.scrollTop = text.scrollTop;
    state.textContent = text.value === saved ? '' : '● modified';
    submitLink.hidden = !isSimulationFile(path.value.trim());
    submitLink.href = to.submit(project, { simulation: path.value.trim() });
  }

  function load(content, name) {
    text.value = saved = content;
    path.value = name;
    text.scrollTop = 0;
    clearProblems(problems);
    refresh();
  }

  const discardable = () => text.value === saved || confirm('Discard the unsaved changes?');
  // Closing or reloading the page with unsaved text asks first (while this editor is shown).
  window.addEventListener('beforeunload', (event) => {
    if (text.isConnected && text.value !== saved) event.preventDefault();
  });

  /** Opens the latest version of `name`; false when it was not opened. */
  async function open(name, size = 0) {
    if (!discardable()) return false;
    if (size > MAX_EDIT_BYTES) {
      notify(`${name} is too large to edit here: download it instead.`, 'error');
      return false;
    }
    try {
      load(await api.get(filePath(project, name), { as: 'text' }), name);
      return true;
    } catch (e) {
      showError(e);
      return false;
    }
  }

  /** Puts the caret at a problem's place, opening its file first if it is another one. */
  async function pick(problem) {
    if (problem.file && problem.file !== path.value.trim() && !(await open(problem.file))) return;
    const at = offsetOf(text.value, problem.line, problem.column);
    text.focus();
    text.setSelectionRange(at, at);
    text.scrollTop = Math.max(0, (problem.line ?? 1) - 3) * (parseFloat(getComputedStyle(text).lineHeight) || 18);
    refresh();
  }

  /** Makes `button` run `action(path)` once the file has a path, showing its errors. */
  const onClick = (b, action) => b.addEventListener('click', async () => {
    const name = path.value.trim();
    if (!name) {
      path.focus();
      showFailure(problems, { title: 'No path', detail: 'name the file first' });
      return;
    }
    b.disabled = true;
    try {
      await action(name);
    } catch (e) {
      showFailure(problems, e, pick);
    } finally {
      b.disabled = false;
    }
  });
  onClick(validate, async (name) => {
    const result = await api.post(projectPath(project, '/validate'), { path: name, content: text.value });
    if (result.valid) showValid(problems, `${name} is valid.`);
    else showProblems(problems, result.problems, pick);
  });
  onClick(save, async (name) => {
    const content = text.value;
    const file = await upload(filePath(project, name), new Blob([content]));
    saved = content;
    refresh();
    notify(`Saved ${file.path} as version ${file.version}.`);
    onSaved();
  });
  newFile.addEventListener('click', () => {
    if (!discardable()) return;
    load('', '');
    path.focus();
  });
  text.addEventListener('input', refresh);
  text.addEventListener('scroll', () => { gutter.scrollTop = text.scrollTop; });
  path.addEventListener('input', refresh);
  text.addEventListener('keydown', (e) => {
    if (e.key === 's' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      save.click();
    }
  });
  refresh();
  return {
    el: h('section', { 'aria-label': 'Editor' },
      h('div', { class: 'editor-bar' }, h('label', { for: path.id }, 'Path'), path, state),
      h('div', { class: 'editor-frame' }, gutter, text),
      h('div', { class: 'editor-actions' }, newFile, validate, save, submitLink),
      problems),
    open,
  };
}
