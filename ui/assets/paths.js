/** Paths: of project files (`/`-separated, relative) and of URLs with queries. Pure. */

const TEXT = ['yaml', 'yml', 'json', 'csv', 'txt'];
const SIMULATION = ['yaml', 'yml', 'json'];

/** The last segment: `sims/a.yaml` → `a.yaml`. */
export const basename = (path) => path.slice(path.lastIndexOf('/') + 1);

/** The extension, lower case, without the dot (`''` when none). */
export function extension(path) {
  const name = basename(path);
  const dot = name.lastIndexOf('.');
  return dot > 0 ? name.slice(dot + 1).toLowerCase() : '';
}

/** `dir` and `name` joined without stray slashes (an empty `dir` is the project root). */
export function joinPath(dir, name) {
  const d = dir.trim().replace(/^\/+|\/+$/g, '');
  return d ? `${d}/${name}` : name;
}

/** Whether the editor opens the file. */
export const isTextFile = (path) => TEXT.includes(extension(path));

/** Whether the file can be submitted as a simulation. */
export const isSimulationFile = (path) => SIMULATION.includes(extension(path));

/** Each segment URL-encoded, the `/` separators kept. */
export const encodePath = (path) => path.split('/').map(encodeURIComponent).join('/');

/** `path?query`, the query's null, undefined and empty values left out. */
export function withQuery(path, query = {}) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value != null && value !== '') params.set(key, String(value));
  }
  const q = params.toString();
  return q ? `${path}?${q}` : path;
}

/** Files as a tree: `{ dirs: Map<name, tree>, files }`, each level sorted by name. */
export function fileTree(files) {
  const node = () => ({ dirs: new Map(), files: [] });
  const root = node();
  for (const file of [...files].sort((a, b) => a.path.localeCompare(b.path))) {
    let at = root;
    for (const dir of file.path.split('/').slice(0, -1)) {
      if (!at.dirs.has(dir)) at.dirs.set(dir, node());
      at = at.dirs.get(dir);
    }
    at.files.push(file);
  }
  return root;
}
