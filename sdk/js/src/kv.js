// @ts-check
/**
 * `hanzo:node/kv`: the plugin's own key-value namespace, per tenant, on the
 * node's redb file (needs `permissions.kv = true`). Values are bytes; the
 * helpers store text and JSON as UTF-8. Every call throws {@link KvError}
 * on failure (`denied`, `too-large`, `quota-exceeded`, `store`).
 * @module kv
 */
import * as host from 'hanzo:node/kv@0.3.4';
import { KvError, hostCall } from './errors.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** @param {string | Uint8Array} v */
const bytes = (v) => (typeof v === 'string' ? encoder.encode(v) : v);

export const kv = {
  /**
   * The value's bytes, or `undefined` when the key is absent.
   * @param {string} key
   * @returns {Uint8Array | undefined}
   */
  get(key) {
    return hostCall(KvError, () => host.get(key)) ?? undefined;
  },
  /** The value as UTF-8 text. @param {string} key @returns {string | undefined} */
  getText(key) {
    const v = kv.get(key);
    return v === undefined ? undefined : decoder.decode(v);
  },
  /** The value parsed as JSON. @param {string} key @returns {any} */
  getJson(key) {
    const v = kv.getText(key);
    return v === undefined ? undefined : JSON.parse(v);
  },
  /**
   * Stores bytes or text.
   * @param {string} key
   * @param {string | Uint8Array} value
   */
  set(key, value) {
    hostCall(KvError, () => host.set(key, bytes(value)));
  },
  /** Stores `value` as JSON text. @param {string} key @param {any} value */
  setJson(key, value) {
    kv.set(key, JSON.stringify(value));
  },
  /** True when the key existed. @param {string} key @returns {boolean} */
  delete(key) {
    return hostCall(KvError, () => host.delete(key));
  },
  /**
   * Keys starting with `prefix`, in order, at most `limit`.
   * @param {string} [prefix]
   * @param {number} [limit]
   * @returns {string[]}
   */
  listKeys(prefix = '', limit = 1000) {
    return hostCall(KvError, () => host.listKeys(prefix, limit));
  },
};
