// @ts-check
/**
 * `hanzo:node/tools` (api world, `permissions.tools = true`): the node's tool
 * catalog. Arguments and results are JSON values here (the WIT carries
 * text); failures throw {@link ToolError}.
 * @module tools
 */
import * as host from 'hanzo:node/tools@0.3.4';
import { ToolError, hostCall } from './errors.js';

/** @param {any} info */
const toInfo = (info) => ({
  plugin: info.plugin,
  name: info.spec.name,
  description: info.spec.description,
  parameters: JSON.parse(info.spec.parameters),
  result: info.spec.result === undefined ? undefined : JSON.parse(info.spec.result),
});

export const tools = {
  /** Every tool the tenant may use. */
  list() {
    return hostCall(ToolError, () => host.list()).map(toInfo);
  },
  /** One tool, or `undefined`. @param {string} name */
  get(name) {
    const info = hostCall(ToolError, () => host.get(name));
    return info === undefined || info === null ? undefined : toInfo(info);
  },
  /**
   * Runs a tool in its own sandbox; the result parsed.
   * @param {string} name
   * @param {any} args the arguments object
   * @returns {any}
   * @throws {ToolError}
   */
  invoke(name, args = {}) {
    const text = hostCall(ToolError, () => host.invoke(name, JSON.stringify(args)));
    return JSON.parse(text);
  },
};
