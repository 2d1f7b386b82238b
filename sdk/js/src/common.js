// @ts-check
/**
 * The host interfaces every world imports (log, config, kv, fetch, tee,
 * gpu) and the SSE helper; `tool.js`, `provider.js` and `api.js` re-export
 * them.
 * @module common
 */
export { log } from './log.js';
export { config } from './config.js';
export { kv } from './kv.js';
export { tee } from './tee.js';
export { gpu } from './gpu.js';
export * as http from './fetch.js';
export { FetchResponse, OpenResponse } from './fetch.js';
export { SseParser, sseEvents } from './sse.js';
