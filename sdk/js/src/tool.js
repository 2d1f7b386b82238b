// @ts-check
/**
 * Tool plugins (world `tool`): a set of tool definitions exported as the
 * `toolbox` interface.
 *
 * ```js
 * import { defineTools, tool, ToolError } from '../sdk/tool.js';
 *
 * export const toolbox = defineTools(
 *   tool({
 *     name: 'greet',
 *     description: 'Greets someone',
 *     parameters: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] },
 *     handler: ({ name }) => ({ greeting: `Hello, ${name}!` }),
 *   }),
 * );
 * ```
 *
 * The host validates the arguments against `parameters` before the handler
 * runs. A handler returns any JSON value (or a promise of one). It fails by
 * throwing a {@link ToolError} (`ToolError.failed(message)` for "ran and
 * failed"); anything else it throws becomes `failed` with the plugin's and
 * tool's names, the JS error and its stack, which the node passes on.
 *
 * This module also re-exports what a tool may use: log, config, kv, fetch,
 * sse, tee, gpu, vectors and containers.
 * @module tool
 */
import { ToolError, formatThrown, pluginName } from './errors.js';

export * from './errors.js';
export * from './common.js';
export { vectors } from './vectors.js';
export { containers, ContainerProcess } from './containers.js';

/**
 * A JSON Schema (an object, or its JSON text).
 * @typedef {object | string} Schema
 */

/**
 * @typedef {object} ToolContext
 * @property {string} tool the tool's name
 */

/**
 * @template A
 * @typedef {object} ToolDefinition
 * @property {string} name unique in the node's catalog (`a-z`, `0-9`, `_`, `-`)
 * @property {string} description what the tool does, for an LLM deciding to call it
 * @property {Schema} parameters JSON Schema of the arguments object
 * @property {Schema} [result] JSON Schema of the result, when declared
 * @property {(args: A, ctx: ToolContext) => any} handler returns the result (any JSON value) or a promise of it
 */

/**
 * A tool definition (an identity function that checks the shape and gives
 * editors the type).
 * @template A
 * @param {ToolDefinition<A>} def
 * @returns {ToolDefinition<A>}
 */
export function tool(def) {
  for (const key of /** @type {const} */ (['name', 'description'])) {
    if (typeof def?.[key] !== 'string' || !def[key]) throw new TypeError(`a tool needs a \`${key}\` string`);
  }
  if (typeof def.handler !== 'function') throw new TypeError(`tool \`${def.name}\` needs a \`handler\` function`);
  if (def.parameters === undefined) throw new TypeError(`tool \`${def.name}\` needs \`parameters\` (a JSON Schema)`);
  return def;
}

/** @param {Schema} s */
const schemaText = (s) => (typeof s === 'string' ? s : JSON.stringify(s));

/**
 * The `toolbox` export for a set of tools: `export const toolbox = defineTools(...)`.
 * @param {...ToolDefinition<any>} defs
 * @returns {{ describe(): any[], invoke(name: string, args: string): Promise<string> }}
 */
export function defineTools(...defs) {
  const byName = new Map();
  for (const def of defs.flat()) {
    tool(def);
    if (byName.has(def.name)) throw new TypeError(`two tools are named \`${def.name}\``);
    byName.set(def.name, def);
  }
  const specs = [...byName.values()].map((d) => ({
    name: d.name,
    description: d.description,
    parameters: schemaText(d.parameters),
    result: d.result === undefined ? undefined : schemaText(d.result),
  }));
  return {
    describe() {
      return specs;
    },
    async invoke(name, args) {
      const def = byName.get(name);
      if (!def) throw ToolError.notFound(name);
      let parsed;
      try {
        parsed = args === '' ? {} : JSON.parse(args);
      } catch (e) {
        throw ToolError.invalidArguments(`the arguments are not JSON: ${/** @type {Error} */ (e).message}`);
      }
      let value;
      try {
        value = await def.handler(parsed, { tool: name });
      } catch (e) {
        if (e instanceof ToolError) throw e;
        const plugin = pluginName();
        const who = plugin ? `plugin \`${plugin}\`, tool \`${name}\`` : `tool \`${name}\``;
        throw ToolError.failed(`${who} threw ${formatThrown(e)}`);
      }
      const text = JSON.stringify(value === undefined ? null : value);
      if (text === undefined) throw ToolError.failed(`tool \`${name}\` returned a value JSON cannot encode`);
      return text;
    },
  };
}
