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
 * Reads an incoming body to its end.
 * @param {any} request an `incoming-request`
 * @returns {Uint8Array}
 */
function readBody(request) {
  const body = request.consume();
  const stream = body.stream();
  /** @type {Uint8Array[]} */
  const parts = [];
  let total = 0;
  try {
    for (;;) {
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
  }
  drop(body);
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Headers the host sets itself. */
const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection', 'te', 'trailer', 'content-length']);

/**
 * Writes `response` through `outparam`.
 * @param {any} outparam
 * @param {number} status
 * @param {Headers} headers
 * @param {Uint8Array} body
 */
function respond(outparam, status, headers, body) {
  /** @type {[string, Uint8Array][]} */
  const list = [];
  headers.forEach((value, name) => {
    if (!HOP.has(name.toLowerCase())) list.push([name.toLowerCase(), encoder.encode(value)]);
  });
  const fields = Fields.fromList(list);
  const response = new OutgoingResponse(fields);
  response.setStatusCode(status);
  const outBody = response.body();
  ResponseOutparam.set(outparam, { tag: 'ok', val: response });
  const stream = outBody.write();
  try {
    for (let at = 0; at < body.length; at += 4096) {
      stream.blockingWriteAndFlush(body.subarray(at, Math.min(at + 4096, body.length)));
    }
  } finally {
    drop(stream);
  }
  OutgoingBody.finish(outBody, undefined);
}

/**
 * The `incomingHandler` export (`wasi:http/incoming-handler`) serving `handle`.
 * @param {(request: Request) => Promise<Response> | Response} handle
 * @param {(error: unknown) => Response} onError the answer when reading the request or `handle` fails
 */
export function httpHandler(handle, onError) {
  return {
    /** @param {any} request @param {any} outparam */
    async handle(request, outparam) {
      let response;
      try {
        const method = methodName(request.method());
        const headers = request.headers();
        const init = /** @type {RequestInit} */ ({ method, headers: new Headers() });
        for (const [name, value] of headers.entries()) {
          /** @type {Headers} */ (init.headers).append(name, new TextDecoder().decode(value));
        }
        drop(headers);
        const url = `${schemeName(request.scheme())}://${request.authority() ?? 'localhost'}${request.pathWithQuery() ?? '/'}`;
        const body = readBody(request);
        if (method !== 'GET' && method !== 'HEAD' && body.length) init.body = body;
        drop(request);
        request = undefined;
        response = await handle(new Request(url, init));
      } catch (e) {
        response = onError(e);
      } finally {
        drop(request);
      }
      const bytes = new Uint8Array(await response.arrayBuffer());
      respond(outparam, response.status, response.headers, bytes);
    },
  };
}
