/** A project's files screen: the file tree, uploads and the editor. */

import { api, listAll, projectPath } from '../api.js';
import { h, replace, setTitle } from '../dom.js';
import { editor } from '../components/editor.js';
import { filesTree } from '../components/file-tree.js';
import { projectHeader } from '../components/project-header.js';
import { uploader } from '../components/uploader.js';
import { showError } from '../notice.js';

/** Renders project `project`'s files screen into `root`. */
export async function renderProject(root, { project, query, signal }) {
  setTitle(project);
  const info = await api.get(projectPath(project), { signal });
  let files = [];
  const reload = async () => {
    try {
      files = await listAll(projectPath(project, '/files'), {}, { signal });
      tree.update(files);
    } catch (e) {
      showError(e);
    }
  };
  const edit = editor(project, reload);
  const tree = filesTree({
    project,
    onOpen: (path) => edit.open(path, files.find((f) => f.path === path)?.size ?? 0),
    onChanged: reload,
  });
  replace(root,
    projectHeader(project, 'files', info.description),
    h('div', { class: 'project-grid' },
      h('section', { class: 'card' }, h('h2', {}, 'Files'), tree.el, uploader(project, reload)),
      h('section', { class: 'card' }, h('h2', {}, 'Editor'), edit.el)));
  await reload();
  const wanted = query.get('file');
  if (wanted) edit.open(wanted);
}
