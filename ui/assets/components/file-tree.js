/** A project's files as a tree (`#files`): versions, downloads, opening in the editor, deletion. */

import { api, apiUrl, filePath } from '../api.js';
import { actionButton } from './action-button.js';
import { h, permit, replace, timeEl } from '../dom.js';
import { formatBytes, plural } from '../format.js';
import { notify } from '../notice.js';
import { basename, fileTree, isTextFile } from '../paths.js';
import { can, needs } from '../session.js';

/** The download link of one version. */
const download = (project, file) => h('a', {
  href: apiUrl(filePath(project, file.path), { version: file.version }), download: basename(file.path),
}, 'Download');

/** A version's number, size, kind and pins. */
const versionMeta = (file) => [
  h('span', { class: 'file-version' }, `v${file.version}`), ` · ${formatBytes(file.size)} · ${file.kind}`,
  file.pinned_by_jobs ? ` · pinned by ${plural(file.pinned_by_jobs, 'job')}` : '',
  file.deleted && [' ', h('span', { class: 'badge state-failed' }, 'deleted')],
];

/** Shows or hides the versions of `path` in `list`, loading them when shown. */
async function toggleVersions(button, list, project, path) {
  const open = button.getAttribute('aria-expanded') !== 'true';
  button.setAttribute('aria-expanded', String(open));
  list.hidden = !open;
  if (!open) return;
  replace(list, h('li', { class: 'muted' }, 'Loading…'));
  try {
    const versions = await api.get(filePath(project, path, 'file-versions'));
    replace(list, versions.reverse().map((v) => h('li', {},
      versionMeta(v), ' · ', timeEl(v.created_at_ms), ' ',
      download(project, v))));
  } catch (e) {
    replace(list, h('li', { class: 'error-text' }, e.message));
  }
}

function fileItem(file, { project, onOpen, onChanged }) {
  const versions = h('ol', { class: 'versions', hidden: true, id: `versions-${file.path}` });
  const toggle = h('button', {
    type: 'button', class: 'small', 'aria-expanded': 'false', 'aria-controls': versions.id,
  }, 'Versions');
  toggle.addEventListener('click', () => toggleVersions(toggle, versions, project, file.path));
  const remove = permit(actionButton('Delete', { class: 'small danger', 'aria-label': `Delete ${file.path}` },
    `Delete every version of ${file.path}? Versions pinned by jobs are kept until those jobs are deleted.`,
    async () => {
      await api.del(filePath(project, file.path));
      notify(`${file.path} deleted.`);
      onChanged();
    }), can(project, 'maintainer'), needs('maintainer', project));
  const name = basename(file.path);
  const label = isTextFile(file.path) && !file.deleted
    ? h('button', { type: 'button', class: 'link file-name', onclick: () => onOpen(file.path) }, name)
    : h('span', { class: 'file-name' }, name);
  return h('li', { class: `file${file.deleted ? ' deleted' : ''}`, 'data-path': file.path },
    h('div', { class: 'file-row' }, label, h('span', { class: 'file-meta muted' }, versionMeta(file)),
      h('span', { class: 'file-actions' }, download(project, file), toggle, remove)),
    versions);
}

function branch(node, options) {
  return h('ul', { class: 'tree' },
    [...node.dirs].map(([dir, child]) => h('li', { class: 'dir' },
      h('details', { open: true }, h('summary', {}, `${dir}/`), branch(child, options)))),
    node.files.map((file) => fileItem(file, options)));
}

/**
 * The tree of `project`'s files: `onOpen(path)` opens a text file in the editor,
 * `onChanged()` reloads the files after a delete. Returns `{ el, update(files) }`.
 */
export function filesTree(options) {
  const el = h('div', { id: 'files', class: 'files' });
  return {
    el,
    update: (files) => replace(el, files.length ? branch(fileTree(files), options)
      : h('p', { class: 'empty-state' }, 'No files yet: drop some below, or write one in the editor.')),
  };
}
