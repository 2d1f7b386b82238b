// @ts-check
/**
 * `hanzo:node/agents` (api world, `permissions.agents = true`): agent
 * definitions, per tenant. Failures throw {@link AgentsError}.
 * @module agents
 */
import * as host from 'hanzo:node/agents@0.3.4';
import { AgentsError, hostCall } from './errors.js';

/**
 * @typedef {object} AgentSpec
 * @property {string} name
 * @property {string} model a model alias of the router
 * @property {string} [systemPrompt]
 * @property {string[]} [tools]
 * @property {number} [maxSteps] default 8
 * @property {number} [temperature]
 * @property {number} [maxTokens]
 * @property {object} [settings]
 */

/** @param {AgentSpec} s */
const spec = (s) => ({
  name: s.name,
  model: s.model,
  systemPrompt: s.systemPrompt ?? '',
  tools: s.tools ?? [],
  maxSteps: s.maxSteps ?? 8,
  temperature: s.temperature,
  maxTokens: s.maxTokens,
  settings: JSON.stringify(s.settings ?? {}),
});

export const agents = {
  list() {
    return hostCall(AgentsError, () => host.list());
  },
  /** @param {AgentSpec} s */
  create(s) {
    return hostCall(AgentsError, () => host.create(spec(s)));
  },
  /** @param {string} id */
  get(id) {
    return hostCall(AgentsError, () => host.get(id));
  },
  /** @param {string} id @param {AgentSpec} s */
  update(id, s) {
    return hostCall(AgentsError, () => host.update(id, spec(s)));
  },
  /** True when it existed. @param {string} id */
  delete(id) {
    return hostCall(AgentsError, () => host.delete(id));
  },
};
