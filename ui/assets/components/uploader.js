/** Uploads by drag and drop or file input into a directory, one at a time, with progress bars. */

import { filePath, upload } from '../api.js';
import { field, h, replace } from '../dom.js';
import { formatBytes } from '../format.js';
import { describeError } from '../notice.js';
import { joinPath } from '../paths.js';
import { can, needs } from '../session.js';

/** Adds the line of an upload of `file` to `path` to `list`; returns the function running it. */
function queue(project, path, file, list) {
  const bar = h('progress', { max: Math.max(1, file.size), value: 0, 'aria-label': `Upload of ${path}` });
  const status = h('span', { class: 'upload-status muted' }, 'queued');
  const line = h('li', {}, h('span', { class: 'upload-name' }, path), bar, status);
  list.prepend(line);
  return async () => {
    try {
      const stored = await upload(filePath(project, path), file, (loaded) => {
        bar.value = loaded;
        status.textContent = `${formatBytes(loaded)} of ${formatBytes(file.size)}`;
      });
      status.className = 'upload-status ok';
      status.textContent = `stored as version ${stored.version}`;
    } catch (e) {
      status.className = 'upload-status bad';
      replace(status, describeError(e));
    }
  };
}

/** The upload area of `project`; `onUploaded()` runs after each batch. */
export function uploader(project, onUploaded) {
  const allowed = can(project, 'maintainer');
  const input = h('input', { id: 'upload-input', type: 'file', multiple: true, disabled: !allowed });
  const dir = h('input', { id: 'upload-dir', placeholder: 'data (empty: the root)', disabled: !allowed });
  const list = h('ul', { class: 'uploads' });
  const zone = h('div', {
    id: 'dropzone', class: 'dropzone', tabindex: 0, role: 'button', 'aria-disabled': String(!allowed),
  }, allowed ? 'Drop files here, or press to choose them' : `${needs('maintainer', project)} to upload files.`);

  async function sendAll(files) {
    if (!allowed || !files.length) return;
    const runs = [...files].map((f) => queue(project, joinPath(dir.value, f.name), f, list));
    for (const run of runs) await run();
    onUploaded();
  }
  input.addEventListener('change', () => {
    const chosen = [...input.files];
    input.value = '';
    sendAll(chosen);
  });
  zone.addEventListener('click', () => input.click());
  zone.addEventListener('keydown', (e) => {
    if (e.key !== 'Enter' && e.key !== ' ') return;
    e.preventDefault();
    input.click();
  });
  zone.addEventListener('dragover', (e) => {
    e.preventDefault();
    zone.classList.add('over');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    sendAll(e.dataTransfer.files);
  });
  return h('section', { 'aria-label': 'Upload' }, h('h3', {}, 'Upload'), zone,
    h('div', { class: 'inline-form' }, field('Directory', dir, { grow: true }), field('Files', input)), list);
}
