// @ts-check
/**
 * API plugins (world `api`): a `wasi:http` incoming handler, written as a
 * small router over web `Request`/`Response` objects. The manifest's
 * `routes` say which paths the node sends here. Requests and responses are
 * read and written whole (see `incoming.js` for why not the fetch-event).
 *
 * ```js
 * import { Router, kv } from '../sdk/api.js';
 *
 * const app = new Router();
 * app.get('/hello/:name', ({ params }) => ({ hello: params.name }));
 * export const incomingHandler = app.handler();
 * ```
 *
 * A handler gets a {@link Context} (`method`, `path`, `params`, `query`,
 * `header()`, `body`, `text()`, `json()`, and a web `request` made on first
 * use) and returns a {@link Reply} (`json(value, status)`, `error(...)`), a
 * web `Response`, or any other value, sent as JSON with status 200; or a
 * promise of one. Synchronous handlers answer without running the event
 * loop. It fails by throwing an {@link HttpError}; the SDK's typed
 * errors map onto statuses (a `denied` case is 403, a tool's
 * `invalid-arguments` 400, ...), and anything else thrown is a 500 whose JSON
 * error names the plugin and carries the JS error and its stack. Errors
 * have the node's shape: `{"error": {"code", "message"}}`.
 *
 * This module re-exports every host interface of the api world: log,
 * config, kv, http (fetch), tools, llm, jobs, agents; and the message
 * helpers of `content.js` for `llm` calls.
 * @module api
 */
import { HanzoError, ToolError, formatThrown, pluginName } from './errors.js';
import { httpHandler } from './incoming.js';

export * from './errors.js';
export * from './common.js';
export { tools } from './tools.js';
export { llm, chatRequest } from './llm.js';
export * from './content.js';
export { jobs } from './jobs.js';
export { agents } from './agents.js';
export { vectors } from './vectors.js';
export { httpHandler } from './incoming.js';

/** An error answered with its status and code. */
export class HttpError extends Error {
  /** @param {number} status @param {string} code stable, snake_case @param {string} message */
  constructor(status, code, message) {
    super(message);
    this.name = 'HttpError';
    this.status = status;
    this.code = code;
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * An answer: what `json()` and `error()` return, and what a handler's
 * return value becomes. (A handler may return a web `Response` too.)
 */
export class Reply {
  /**
   * @param {number} status
   * @param {Record<string, string>} headers
   * @param {Uint8Array | string} body
   */
  constructor(status, headers, body) {
    this.status = status;
    this.headers = headers;
    this.body = typeof body === 'string' ? encoder.encode(body) : body;
  }
}

/**
 * A JSON answer.
 * @param {any} value
 * @param {number} [status]
 * @param {Record<string, string>} [headers]
 */
export function json(value, status = 200, headers = {}) {
  return new Reply(status, { 'content-type': 'application/json', ...headers }, JSON.stringify(value) ?? 'null');
}

/** The node's error shape. @param {number} status @param {string} code @param {string} message */
export function error(status, code, message) {
  return json({ error: { code, message } }, status);
}

/**
 * @typedef {object} Context
 * @property {string} method
 * @property {string} path the URL's path
 * @property {Record<string, string>} params the route's `:name` segments
 * @property {URL} url
 * @property {URLSearchParams} query
 * @property {(name: string) => string | undefined} header a request header (names are case-insensitive)
 * @property {Uint8Array} body
 * @property {() => string} text the body as UTF-8
 * @property {() => any} json the body parsed as JSON (a 400 `invalid_json` when it is not)
 * @property {Request} request the request as a web `Request` (made on first use)
 */

/** @typedef {(ctx: Context) => any} Handler */

/** @param {string} pattern */
function compile(pattern) {
  const names = /** @type {string[]} */ ([]);
  const source = pattern
    .split('/')
    .map((seg) => {
      if (seg.startsWith(':')) {
        names.push(seg.slice(1));
        return '([^/]+)';
      }
      if (seg === '*') {
        names.push('rest');
        return '(.*)';
      }
      return seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    })
    .join('/');
  return { re: new RegExp(`^${source}/?$`), names };
}

/** @param {HanzoError} e */
function statusOf(e) {
  if (e.tag === 'denied') return [403, 'forbidden'];
  if (e instanceof ToolError) {
    return /** @type {Record<string, [number, string]>} */ ({
      'not-found': [404, 'tool_not_found'],
      'invalid-arguments': [400, 'invalid_arguments'],
      failed: [422, 'tool_failed'],
      'plugin-failed': [502, 'tool_plugin_failed'],
    })[e.tag] ?? [500, 'tool_error'];
  }
  if (e.tag === 'not-found' || e.tag === 'unknown-model') return [404, 'not_found'];
  if (e.tag === 'invalid' || e.tag === 'invalid-request') return [400, 'invalid_request'];
  if (e.tag === 'conflict') return [409, 'conflict'];
  if (e.tag === 'rate-limited') return [429, 'rate_limited'];
  if (e.tag === 'too-large') return [413, 'too_large'];
  if (e.tag === 'quota-exceeded' || e.tag === 'over-budget') return [429, e.tag.replace('-', '_')];
  return [502, e.tag.replaceAll('-', '_')];
}

/**
 * A handler's return value as a Reply (a web `Response` is read whole).
 * @param {any} out
 * @returns {Reply | Promise<Reply>}
 */
function toReply(out) {
  if (out instanceof Reply) return out;
  if (typeof Response !== 'undefined' && out instanceof Response) {
    /** @type {Record<string, string>} */
    const headers = {};
    out.headers.forEach((v, k) => (headers[k] = v));
    return out.arrayBuffer().then((b) => new Reply(out.status, headers, new Uint8Array(b)));
  }
  return json(out === undefined ? null : out);
}

/**
 * The context handed to a handler; what costs something is made on first use.
 * @param {import('./incoming.js').RawRequest} raw
 * @param {string} path
 * @param {Record<string, string>} params
 * @returns {Context}
 */
function context(raw, path, params) {
  /** @type {URL | undefined} */
  let url;
  return {
    method: raw.method,
    path,
    params,
    get url() {
      return (url ??= new URL(raw.url));
    },
    get query() {
      return this.url.searchParams;
    },
    header(name) {
      const lower = name.toLowerCase();
      const found = raw.headers.find(([k]) => k === lower);
      return found?.[1];
    },
    body: raw.body,
    text: () => decoder.decode(raw.body),
    json() {
      try {
        return JSON.parse(decoder.decode(raw.body));
      } catch (e) {
        throw new HttpError(400, 'invalid_json', `the body is not JSON: ${/** @type {Error} */ (e).message}`);
      }
    },
    get request() {
      const init = /** @type {RequestInit} */ ({ method: raw.method, headers: raw.headers });
      if (raw.body.length && raw.method !== 'GET' && raw.method !== 'HEAD') init.body = raw.body;
      return new Request(raw.url, init);
    },
  };
}

/** Routes requests by method and path to handlers. */
export class Router {
  constructor() {
    /** @private @type {{method: string, re: RegExp, names: string[], handler: Handler}[]} */
    this._routes = [];
  }
  /** @param {string} method `GET`, `POST`, ... or `*` @param {string} path `/a/:id/*` @param {Handler} handler */
  on(method, path, handler) {
    this._routes.push({ method: method.toUpperCase(), ...compile(path), handler });
    return this;
  }
  /** @param {string} path @param {Handler} h */ get(path, h) { return this.on('GET', path, h); }
  /** @param {string} path @param {Handler} h */ post(path, h) { return this.on('POST', path, h); }
  /** @param {string} path @param {Handler} h */ put(path, h) { return this.on('PUT', path, h); }
  /** @param {string} path @param {Handler} h */ delete(path, h) { return this.on('DELETE', path, h); }

  /**
   * Answers one request (synchronously when the handler is synchronous).
   * @param {import('./incoming.js').RawRequest} raw
   * @returns {Reply | Promise<Reply>}
   */
  handle(raw) {
    const q = raw.path.indexOf('?');
    const path = q < 0 ? raw.path : raw.path.slice(0, q);
    let pathMatched = false;
    for (const route of this._routes) {
      const m = route.re.exec(path);
      if (!m) continue;
      pathMatched = true;
      if (route.method !== '*' && route.method !== raw.method) continue;
      /** @type {Record<string, string>} */
      const params = {};
      for (let i = 0; i < route.names.length; i++) params[route.names[i]] = decodeURIComponent(m[i + 1]);
      const ctx = context(raw, path, params);
      const where = `${raw.method} ${path}`;
      try {
        const out = route.handler(ctx);
        if (out instanceof Promise) return out.then((v) => toReply(v), (e) => this.failure(e, where));
        return toReply(out);
      } catch (e) {
        return this.failure(e, where);
      }
    }
    return pathMatched
      ? error(405, 'method_not_allowed', `${raw.method} is not allowed on ${path}`)
      : error(404, 'not_found', `no route for ${path}`);
  }

  /**
   * The answer for a handler's failure.
   * @param {unknown} e
   * @param {string} where
   */
  failure(e, where) {
    if (e instanceof HttpError) return error(e.status, e.code, e.message);
    if (e instanceof HanzoError) {
      const [status, code] = statusOf(e);
      return error(status, code, e.message);
    }
    const plugin = pluginName();
    return error(500, 'plugin_error', `${plugin ? `plugin \`${plugin}\`: ` : ''}${where} threw ${formatThrown(e)}`);
  }

  /**
   * The `incomingHandler` export serving this router:
   * `export const incomingHandler = app.handler();`. Instances can be
   * reused (`limits.calls_per_instance`), unlike with a fetch-event listener.
   */
  handler() {
    return httpHandler(
      (raw) => this.handle(raw),
      (e) => this.failure(e, 'reading the request'),
    );
  }
}
