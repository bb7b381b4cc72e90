/** The projects screen: the visible projects; for administrators, creation and deletion. */

import { api, listAll, projectPath } from '../api.js';
import { actionButton } from '../components/action-button.js';
import { field, h, replace, setTitle, timeEl } from '../dom.js';
import { notify, showError } from '../notice.js';
import { to } from '../router.js';
import { isAdmin } from '../session.js';

function projectItem(p, reload) {
  return h('li', { class: 'project' },
    h('div', {},
      h('a', { href: to.project(p.name), 'data-project': p.name, class: 'project-name' }, p.name),
      h('p', { class: 'muted' }, p.description || 'No description.')),
    h('div', { class: 'project-meta' },
      h('span', { class: 'muted' }, 'created ', timeEl(p.created_at_ms)),
      h('a', { href: to.submit(p.name) }, 'Submit'),
      h('a', { href: to.history(p.name) }, 'History'),
      isAdmin() && actionButton('Delete', { class: 'small danger', 'aria-label': `Delete project ${p.name}` },
        `Delete project ${p.name} with its files, jobs and results?`,
        async () => {
          await api.del(projectPath(p.name));
          notify(`Project ${p.name} deleted.`);
          await reload();
        })));
}

const emptyState = () => h('li', { class: 'empty-state' }, isAdmin()
  ? 'No project yet: create the first one below.'
  : ['No project visible to this token. An administrator creates projects and grants roles: ',
    h('code', {}, 'broadside tokens create NAME --role PROJECT=runner'), '.']);

function createForm(reload) {
  const name = h('input', {
    id: 'new-project-name', required: true, maxlength: 64, pattern: '[A-Za-z0-9_.\\-]{1,64}',
    placeholder: 'shop', autocomplete: 'off', title: '1 to 64 letters, digits, _ . or -',
  });
  const description = h('input', { id: 'new-project-description', placeholder: 'Load tests of the shop front end' });
  const button = h('button', { id: 'create-project', type: 'submit', class: 'primary' }, 'Create project');
  const form = h('form', { class: 'card inline-form' },
    h('h2', {}, 'New project'),
    field('Name', name),
    field('Description', description, { grow: true }),
    button);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    button.disabled = true;
    try {
      const created = await api.post('/projects', { name: name.value.trim(), description: description.value.trim() });
      notify(`Project ${created.name} created.`);
      form.reset();
      await reload();
    } catch (e) {
      showError(e);
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

/** Renders the projects screen into `root`. */
export async function renderProjects(root, { signal }) {
  setTitle('Projects');
  const list = h('ul', { id: 'projects', class: 'project-list' });
  const reload = async () => {
    const projects = (await listAll('/projects', {}, { signal })).sort((a, b) => a.name.localeCompare(b.name));
    replace(list, projects.length ? projects.map((p) => projectItem(p, reload)) : emptyState());
  };
  await reload();
  replace(root, h('header', { class: 'page-header' }, h('h1', {}, 'Projects')),
    h('section', { class: 'card' }, list), isAdmin() && createForm(reload));
}
