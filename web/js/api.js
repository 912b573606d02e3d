/**
 * The pages' view of the Gluon API: where it is (config.json), the user's token (sessionStorage,
 * or `#token=` in the address, which is then removed from it) and JSON requests with that token.
 */
const TOKEN_KEY = 'gluon.token';

/** A failed request: the HTTP status and the API's error code and message. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

/** Takes a `#token=…` from the address into sessionStorage and out of the address bar and history. */
export function adoptTokenFromHash(location = window.location, history = window.history) {
  const params = new URLSearchParams(location.hash.slice(1));
  const token = params.get('token');
  if (token === null || token === '') return;
  setToken(token);
  params.delete('token');
  const rest = params.toString();
  history.replaceState(null, '', `${location.pathname}${location.search}${rest === '' ? '' : `#${rest}`}`);
}

export function getToken() {
  return sessionStorage.getItem(TOKEN_KEY) ?? '';
}

export function setToken(token) {
  if (token === '') sessionStorage.removeItem(TOKEN_KEY);
  else sessionStorage.setItem(TOKEN_KEY, token.trim());
}

let configPromise;

/** config.json next to the pages: `{ apiUrl }`, absolute (AWS) or relative to the pages (local). */
export function loadConfig() {
  configPromise ??= fetch(new URL('config.json', document.baseURI), { cache: 'no-store' }).then(
    async (res) => {
      if (!res.ok) throw new Error(`config.json: HTTP ${res.status}`);
      const config = await res.json();
      if (typeof config.apiUrl !== 'string') throw new Error('config.json has no apiUrl');
      return { apiUrl: new URL(config.apiUrl, document.baseURI).href.replace(/\/$/, '') };
    },
  );
  return configPromise;
}

/** GET (or another method) of an API path; the answer's JSON, or an ApiError. */
export async function api(path, { method = 'GET', query, body } = {}) {
  const { apiUrl } = await loadConfig();
  const url = new URL(`${apiUrl}${path}`);
  for (const [name, value] of Object.entries(query ?? {})) {
    if (value !== undefined && value !== '') url.searchParams.set(name, String(value));
  }
  const headers = { accept: 'application/json' };
  const token = getToken();
  if (token !== '') headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(url, {
    method,
    headers,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  let json;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  if (!res.ok) {
    throw new ApiError(res.status, json?.error?.code ?? `HTTP_${res.status}`, json?.error?.message ?? text);
  }
  return json;
}

/** Every item of a paged list (`{ items, nextToken }`), up to `max`. */
export async function all(path, { query = {}, max = 5000 } = {}) {
  const items = [];
  let nextToken;
  do {
    const page = await api(path, { query: { ...query, limit: 1000, nextToken } });
    items.push(...page.items);
    nextToken = page.items.length === 0 ? undefined : page.nextToken;
  } while (nextToken !== undefined && items.length < max);
  return items.slice(0, max);
}

/** Runs `fn` over `items` with at most `limit` at once; results in order. */
export async function mapLimit(items, limit, fn) {
  const results = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
