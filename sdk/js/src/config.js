// @ts-check
/**
 * `hanzo:node/config`: the manifest's `[config]` settings (the operator may
 * override them) and the secrets the manifest declares. Imported by every world.
 * @module config
 */
import { get as hostGet, secret as hostSecret } from 'hanzo:node/config@0.3.4';
import { ConfigError, hostCall } from './errors.js';

export const config = {
  /**
   * A setting, or `fallback` (default `undefined`) when unset.
   * @param {string} key
   * @param {string} [fallback]
   * @returns {string | undefined}
   */
  get(key, fallback) {
    const v = hostGet(key);
    return v === undefined || v === null ? fallback : v;
  },
  /**
   * A declared secret's value.
   * @param {string} name
   * @returns {string}
   * @throws {ConfigError} `not-declared` (the manifest does not list it) or `not-set` (the operator has not provided it)
   */
  secret(name) {
    return hostCall(ConfigError, () => hostSecret(name));
  },
};
