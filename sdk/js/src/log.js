// @ts-check
/**
 * `hanzo:node/log`: structured log lines in the node's tracing output, tagged
 * with the tenant and the plugin. Imported by every world.
 *
 * ```js
 * import { log } from './sdk/log.js';
 * log.info(`fetched ${n} rows`);
 * ```
 * @module log
 */
import { log as hostLog } from 'hanzo:node/log@0.3.4';

/** @typedef {'trace' | 'debug' | 'info' | 'warn' | 'error'} Level */

/** @param {unknown[]} parts */
const text = (parts) =>
  parts.map((p) => (typeof p === 'string' ? p : p instanceof Error ? `${p.name}: ${p.message}` : safeJson(p))).join(' ');

/** @param {unknown} v */
function safeJson(v) {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

/** Logging at each level; arguments are joined like `console.log`'s. */
export const log = {
  /** @param {Level} level @param {...unknown} parts */
  at(level, ...parts) { hostLog(level, text(parts)); },
  /** @param {...unknown} parts */ trace(...parts) { hostLog('trace', text(parts)); },
  /** @param {...unknown} parts */ debug(...parts) { hostLog('debug', text(parts)); },
  /** @param {...unknown} parts */ info(...parts) { hostLog('info', text(parts)); },
  /** @param {...unknown} parts */ warn(...parts) { hostLog('warn', text(parts)); },
  /** @param {...unknown} parts */ error(...parts) { hostLog('error', text(parts)); },
};
