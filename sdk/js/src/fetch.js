// @ts-check
/**
 * `hanzo:node/fetch`: outbound HTTP in one host call (`request`) or one plus
 * one per read (`open`, for SSE and NDJSON), under the plugin's
 * `permissions.http` allowlist. Failures throw {@link FetchError}; an HTTP
 * error status is an answer, not an error.
 *
 * The global `fetch()` of ComponentizeJS works too (through
 * `wasi:http/outgoing-handler`, same policy), at some thirty host calls per
 * request.
 * @module fetch
 */
import * as host from 'hanzo:node/fetch@0.3.4';
import { FetchError, hostCall } from './errors.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const dispose = Symbol.dispose || Symbol.for('dispose');

/**
 * @typedef {object} RequestOptions
 * @property {string} url an absolute http:// or https:// URL
 * @property {string} [method] default `GET`, or `POST` when a body is given
 * @property {Record<string, string> | [string, string][]} [headers]
 * @property {string | Uint8Array | object} [body] an object is sent as JSON (and `content-type: application/json` set)
 * @property {number} [connectTimeoutMs]
 * @property {number} [firstByteTimeoutMs]
 * @property {number} [betweenBytesTimeoutMs]
 * @property {number} [maxResponseBytes] default 16 MiB
 */

/** An answer read whole. */
export class FetchResponse {
  /** @param {number} status @param {[string, Uint8Array][]} headers @param {Uint8Array} body */
  constructor(status, headers, body) {
    this.status = status;
    /** Lower-case names. */
    this.headers = new Map(headers.map(([k, v]) => [k, decoder.decode(v)]));
    this.body = body;
  }
  get ok() { return this.status >= 200 && this.status < 300; }
  /** @returns {string} */
  text() { return decoder.decode(this.body); }
  /** @returns {any} */
  json() { return JSON.parse(this.text()); }
}

/** An answer whose body is read as it arrives. */
export class OpenResponse {
  /** @param {number} status @param {[string, Uint8Array][]} headers @param {any} body */
  constructor(status, headers, body) {
    this.status = status;
    this.headers = new Map(headers.map(([k, v]) => [k, decoder.decode(v)]));
    /** @private */
    this._body = body;
  }
  get ok() { return this.status >= 200 && this.status < 300; }
  /**
   * What arrived since the last read (at most `max` bytes), or `undefined`
   * once the body ended (the body is then released).
   * @param {number} [max]
   * @returns {Uint8Array | undefined}
   */
  read(max = 65536) {
    if (!this._body) return undefined;
    const chunk = hostCall(FetchError, () => this._body.read(max));
    if (chunk === undefined || chunk === null) {
      this.close();
      return undefined;
    }
    return chunk;
  }
  /** The rest of the body as text. */
  text() {
    let out = '';
    const d = new TextDecoder();
    for (let c = this.read(); c !== undefined; c = this.read()) out += d.decode(c, { stream: true });
    return out + d.decode();
  }
  /**
   * Releases the body now (the host drains the connection for reuse). The
   * SDK does it at the body's end; do it when you stop reading early, since
   * an instance holding a body is not reused.
   */
  close() {
    const b = this._body;
    this._body = undefined;
    if (b && typeof b[dispose] === 'function') b[dispose]();
  }
  /** The chunks, until the body ends. */
  *[Symbol.iterator]() {
    try {
      for (let c = this.read(); c !== undefined; c = this.read()) yield c;
    } finally {
      this.close();
    }
  }
}

/** @param {RequestOptions} o */
function toWit(o) {
  /** @type {[string, Uint8Array][]} */
  const headers = [];
  const given = Array.isArray(o.headers) ? o.headers : Object.entries(o.headers ?? {});
  for (const [k, v] of given) headers.push([k, encoder.encode(v)]);
  let body = new Uint8Array();
  if (typeof o.body === 'string') body = encoder.encode(o.body);
  else if (o.body instanceof Uint8Array) body = o.body;
  else if (o.body !== undefined) {
    body = encoder.encode(JSON.stringify(o.body));
    if (!headers.some(([k]) => k.toLowerCase() === 'content-type')) {
      headers.push(['content-type', encoder.encode('application/json')]);
    }
  }
  return {
    method: o.method ?? (o.body === undefined ? 'GET' : 'POST'),
    url: o.url,
    headers,
    body,
    connectTimeoutMs: o.connectTimeoutMs,
    firstByteTimeoutMs: o.firstByteTimeoutMs,
    betweenBytesTimeoutMs: o.betweenBytesTimeoutMs,
    maxResponseBytes: o.maxResponseBytes ?? 16 << 20,
  };
}

/**
 * Sends a request and returns the whole answer.
 * @param {RequestOptions} options
 * @returns {FetchResponse}
 * @throws {FetchError}
 */
export function request(options) {
  const r = hostCall(FetchError, () => host.fetch(toWit(options)));
  return new FetchResponse(r.status, r.headers, r.body);
}

/**
 * Sends a request and returns as soon as the answer's head arrives.
 * @param {RequestOptions} options
 * @returns {OpenResponse}
 * @throws {FetchError}
 */
export function open(options) {
  const [head, body] = hostCall(FetchError, () => host.open(toWit(options)));
  return new OpenResponse(head.status, head.headers, body);
}
