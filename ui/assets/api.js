/** The REST API (`/api/v1`): JSON with the CSRF header, errors as {@link ApiError}, uploads, streams. */

import { encodePath, withQuery } from './paths.js';

let csrfToken = '';
let unauthorized = () => {};

/** An error answered by the API (or the network), with the fields of its problem. */
export class ApiError extends Error {
  constructor({ title, detail = '', status = 0, errors = [], leader = null }) {
    super(detail ? `${title}: ${detail}` : title);
    Object.assign(this, { title, detail, status, errors, leader });
  }
}

/** Sets the session's CSRF token, sent with every request but GETs. */
export const setCsrf = (token) => { csrfToken = token ?? ''; };

/** Sets what a 401 does (show the sign-in screen). */
export const onUnauthorized = (handler) => { unauthorized = handler; };

/** The URL of an API path with its query. */
export const apiUrl = (path, query) => withQuery(`/api/v1${path}`, query);

/** API paths: `projectPath('shop', '/jobs')`, `jobPath(7, '/live')`, `filePath('shop', 'a/b.csv')`. */
export const projectPath = (name, rest = '') => `/projects/${encodeURIComponent(name)}${rest}`;
export const jobPath = (id, rest = '') => `/jobs/${encodeURIComponent(id)}${rest}`;
/** `route`: `files`, or `file-versions` for the list of a file's versions. */
export const filePath = (project, path, route = 'files') =>
  projectPath(project, `/${route}/${encodePath(path)}`);

/** The error of a failed response: its problem, or its status and text. */
function toError(status, statusText, contentType, text) {
  if (/json/.test(contentType ?? '')) {
    try {
      const problem = JSON.parse(text);
      if (problem?.title) return new ApiError({ ...problem, status });
    } catch {
      // Not JSON after all.
    }
  }
  return new ApiError({ title: statusText || `HTTP ${status}`, detail: text.trim().slice(0, 300), status });
}

/** Signals a 401 unless the caller handles it; returns the error to throw. */
function failed(error, signInOn401) {
  if (error.status === 401 && signInOn401) unauthorized(error);
  return error;
}

const networkError = (detail) => new ApiError({ title: 'Network error', detail });

/**
 * Sends a request: `body` as JSON (a POST without one sends `{}`), the answer read as `as`
 * (`json` or `text`); `signInOn401: false` lets the caller handle a 401.
 */
export async function request(method, path, options = {}) {
  const { body, query, signal, as = 'json', signInOn401 = true } = options;
  const headers = method === 'GET' ? {} : { 'X-CSRF-Token': csrfToken };
  let payload;
  if (body !== undefined || method === 'POST') {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body ?? {});
  }
  let response;
  try {
    const init = { method, headers, body: payload, signal, credentials: 'same-origin' };
    response = await fetch(apiUrl(path, query), init);
  } catch (e) {
    throw e.name === 'AbortError' ? e : networkError(`the master did not answer (${e.message})`);
  }
  if (!response.ok) {
    const type = response.headers.get('Content-Type');
    throw failed(toError(response.status, response.statusText, type, await response.text()), signInOn401);
  }
  if (response.status === 204) return null;
  return as === 'text' ? response.text() : response.json();
}

/** Shorthands of {@link request}. */
export const api = {
  get: (path, options) => request('GET', path, options),
  post: (path, body, options) => request('POST', path, { ...options, body }),
  del: (path, options) => request('DELETE', path, options),
};

/** Every item of a paged listing, following its `next` cursors (at most 50 pages). */
export async function listAll(path, query = {}, options = {}) {
  const items = [];
  let after;
  for (let page = 0; page < 50; page += 1) {
    const answer = await api.get(path, { ...options, query: { ...query, limit: 1000, after } });
    items.push(...answer.items);
    if (!answer.next) break;
    after = answer.next;
  }
  return items;
}

/** PUTs `blob` as raw bytes, reporting `onProgress(loaded)`; resolves to the answer's JSON. */
export function upload(path, blob, onProgress = () => {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('PUT', apiUrl(path));
    xhr.setRequestHeader('Content-Type', 'application/octet-stream');
    xhr.setRequestHeader('X-CSRF-Token', csrfToken);
    xhr.upload.addEventListener('progress', (e) => onProgress(e.loaded));
    xhr.addEventListener('load', () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(blob.size);
        resolve(xhr.responseText ? JSON.parse(xhr.responseText) : null);
      } else {
        const type = xhr.getResponseHeader('Content-Type');
        reject(failed(toError(xhr.status, xhr.statusText, type, xhr.responseText), true));
      }
    });
    xhr.addEventListener('error', () => reject(networkError('the upload did not complete')));
    xhr.send(blob);
  });
}

/**
 * Opens a Server-Sent Events stream: `handlers` maps event names to functions of their JSON
 * data; `onStatus` gets `live`, `reconnecting…` (the browser retries by itself) or `closed`
 * (the stream was refused).
 */
export function openStream(path, handlers, onStatus) {
  const source = new EventSource(apiUrl(path));
  for (const [name, handle] of Object.entries(handlers)) {
    source.addEventListener(name, (e) => e.data !== undefined && handle(JSON.parse(e.data)));
  }
  source.addEventListener('open', () => onStatus('live'));
  source.addEventListener('error', (e) => {
    const closed = source.readyState === EventSource.CLOSED;
    if (e.data === undefined) onStatus(closed ? 'closed' : 'reconnecting…');
  });
  return source;
}
