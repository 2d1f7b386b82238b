// @ts-check
/**
 * The `wasi:http/incoming-handler` export for a function from web `Request`
 * to `Response`, over the raw `wasi:http` types.
 *
 * Why not ComponentizeJS' built-in fetch-event (`addEventListener('fetch')`)?
 * Its engine (StarlingMonkey) serves one request per instance ("multiple
 * requests not supported"), and keeps the request's handles until a garbage
 * collection; the node can then never reuse an instance
 * (`limits.calls_per_instance`), and a JavaScript runtime is the slowest
 * thing to instantiate. This handler reads the request whole, answers
 * whole, and drops every handle before it returns, so an instance can serve
 * the next call.
 * @module incoming
 */
import {
  Fields,
  OutgoingBody,
  OutgoingResponse,
  ResponseOutparam,
} from 'wasi:http/types@0.2.12';

const dispose = Symbol.dispose || Symbol.for('dispose');
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** @param {any} r */
const drop = (r) => r?.[dispose]?.();

/** @param {{tag: string, val?: string}} m */
function methodName(m) {
  return m.tag === 'other' ? String(m.val) : m.tag.toUpperCase();
}

/** @param {any} scheme */
function schemeName(scheme) {
  if (!scheme) return 'http';
  return scheme.tag === 'other' ? String(scheme.val) : scheme.tag.toLowerCase();
}

/**
 * A request as the router sees it: read whole, handles dropped.
 * @typedef {object} RawRequest
 * @property {string} method `GET`, `POST`, ...
 * @property {string} url absolute
 * @property {string} path path and query
 * @property {[string, string][]} headers lower-case names, in order
 * @property {Uint8Array} body
 */

const EMPTY = new Uint8Array(0);

/**
 * Reads an incoming body to its end (`length` bytes when the length is known).
 * @param {any} request an `incoming-request`
 * @param {number} length -1 when unknown
 * @returns {Uint8Array}
 */
function readBody(request, length) {
  const body = request.consume();
  const stream = body.stream();
  /** @type {Uint8Array[]} */
  const parts = [];
  let total = 0;
  try {
    while (length < 0 || total < length) {
      let chunk;
      try {
        chunk = stream.blockingRead(65536n);
      } catch (e) {
        if (/** @type {any} */ (e)?.payload?.tag === 'closed') break;
        throw e;
      }
      if (chunk.length) {
        parts.push(chunk);
        total += chunk.length;
      }
    }
  } finally {
    drop(stream);
    drop(body);
  }
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Hop-by-hop headers, and the length, which is set from the body. */
const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection', 'te', 'trailer', 'content-length']);


/**
 * Writes an answer through `outparam`.
 * @param {any} outparam
 * @param {{status: number, headers: Record<string, string>, body: Uint8Array}} reply
 */
function respond(outparam, reply) {
  const { status, headers, body } = reply;
  /** @type {[string, Uint8Array][]} */
  const list = [];
  for (const name in headers) {
    const lower = name.toLowerCase();
    if (!HOP.has(lower)) list.push([lower, encoder.encode(headers[name])]);
  }
  // The whole body is known: sent with its length rather than chunked.
  list.push(['content-length', encoder.encode(String(body.length))]);
  const response = new OutgoingResponse(Fields.fromList(list));
  if (status !== 200) response.setStatusCode(status);
  const outBody = response.body();
  ResponseOutparam.set(outparam, { tag: 'ok', val: response });
  if (body.length) {
    const stream = outBody.write();
    try {
      for (let at = 0; at < body.length; at += 4096) {
        stream.blockingWriteAndFlush(at === 0 && body.length <= 4096 ? body : body.subarray(at, Math.min(at + 4096, body.length)));
      }
    } finally {
      drop(stream);
    }
  }
  OutgoingBody.finish(outBody, undefined);
}

/**
 * Reads the request whole and drops its handles.
 * @param {any} request
 * @returns {RawRequest}
 */
function readRequest(request) {
  try {
    const method = methodName(request.method());
    const fields = request.headers();
    /** @type {[string, string][]} */
    let headers;
    try {
      headers = fields.entries().map(([k, v]) => [k, decoder.decode(v)]);
    } finally {
      drop(fields);
    }
    const path = request.pathWithQuery() ?? '/';
    const url = `${schemeName(request.scheme())}://${request.authority() ?? 'localhost'}${path}`;
    // No length and not chunked: no body (a GET), nothing to read.
    const length = headers.find(([k]) => k === 'content-length');
    const chunked = headers.some(([k]) => k === 'transfer-encoding');
    const body = length ? (Number(length[1]) > 0 ? readBody(request, Number(length[1])) : EMPTY) : chunked ? readBody(request, -1) : EMPTY;
    return { method, url, path, headers, body };
  } finally {
    drop(request);
  }
}

/**
 * The `incomingHandler` export (`wasi:http/incoming-handler`) serving `handle`.
 * @param {(request: RawRequest) => any} handle returns a reply (`{status, headers, body}`) or a promise of one
 * @param {(error: unknown) => any} onError the reply when reading the request fails
 */
export function httpHandler(handle, onError) {
  return {
    /** @param {any} request @param {any} outparam */
    handle(request, outparam) {
      let reply;
      try {
        reply = handle(readRequest(request));
      } catch (e) {
        reply = onError(e);
      }
      if (reply instanceof Promise) return reply.then((r) => respond(outparam, r));
      respond(outparam, reply);
    },
  };
}
