// @ts-check
/**
 * `hanzo:node/llm` (api world, `permissions.llm = true`): the node's LLM
 * router. Failures throw {@link LlmError} (`unknown-model`, `rate-limited`,
 * `over-budget`, `provider` with the provider error, ...).
 * @module llm
 */
import * as host from 'hanzo:node/llm@0.3.4';
import { LlmError, hostCall } from './errors.js';
import { toParts } from './content.js';

const dispose = Symbol.dispose || Symbol.for('dispose');

/** The most chunks a stream takes from the node in one call (the node's cap). */
const STREAM_BATCH = 64;

/**
 * A message: `{role, content}` (text, or content parts: see `content.js`)
 * plus, optionally, `toolCalls`, `toolCallId`, `name`, `reasoning`.
 * @typedef {{role: 'system' | 'user' | 'assistant' | 'tool', content: string | import('./content.js').ContentPart[],
 *   toolCalls?: any[], toolCallId?: string, name?: string, reasoning?: import('./content.js').Reasoning[]}} Message
 */

/**
 * A WIT `chat-request` with defaults filled in.
 * @param {{model: string, messages: Message[], tools?: {name: string, description: string, parameters: object | string}[],
 *   toolChoice?: any, temperature?: number, topP?: number, maxTokens?: number, stop?: string[], jsonMode?: boolean, extra?: object}} r
 */
export function chatRequest(r) {
  return {
    model: r.model,
    messages: r.messages.map((m) => ({
      role: m.role,
      content: toParts(m.content),
      toolCalls: m.toolCalls ?? [],
      toolCallId: m.toolCallId,
      name: m.name,
      reasoning: m.reasoning ?? [],
    })),
    tools: (r.tools ?? []).map((t) => ({
      name: t.name,
      description: t.description,
      parameters: typeof t.parameters === 'string' ? t.parameters : JSON.stringify(t.parameters),
    })),
    toolChoice: r.toolChoice,
    temperature: r.temperature,
    topP: r.topP,
    maxTokens: r.maxTokens,
    stop: r.stop ?? [],
    jsonMode: !!r.jsonMode,
    extra: r.extra === undefined ? undefined : JSON.stringify(r.extra),
  };
}

/** @param {{bypassCache?: boolean}} [o] */
const options = (o) => ({ bypassCache: !!o?.bypassCache });

export const llm = {
  /** The model aliases the router serves. */
  models() {
    return hostCall(LlmError, () => host.models());
  },
  /**
   * One chat completion through the router: `{response, route}`.
   * @param {Parameters<typeof chatRequest>[0]} request
   * @param {{bypassCache?: boolean}} [opts]
   */
  chat(request, opts) {
    return hostCall(LlmError, () => host.chat(chatRequest(request), options(opts)));
  },
  /**
   * A streamed chat completion: iterate it for `chat-chunk` records; `route`
   * says which deployment serves it.
   * @param {Parameters<typeof chatRequest>[0]} request
   * @param {{bypassCache?: boolean}} [opts]
   */
  streamChat(request, opts) {
    const stream = hostCall(LlmError, () => host.streamChat(chatRequest(request), options(opts)));
    // Read now: the stream is dropped when its iteration ends.
    const route = stream.route();
    return {
      route: () => route,
      *[Symbol.iterator]() {
        try {
          // In batches: the chunks the upstream sent together, and the end
          // with them, cross the component boundary in one call.
          for (;;) {
            const batch = stream.nextMany(STREAM_BATCH);
            for (const item of batch.chunks) {
              if (item.tag === 'err') throw new LlmError(item.val.tag, item.val.val);
              yield item.val;
            }
            if (batch.ended) return;
          }
        } finally {
          stream[dispose]?.();
        }
      },
    };
  },
  /**
   * Embeddings through the router: `{response, route}`.
   * @param {{model: string, inputs: string[], dimensions?: number}} request
   * @param {{bypassCache?: boolean}} [opts]
   */
  embed(request, opts) {
    return hostCall(LlmError, () =>
      host.embed({ model: request.model, inputs: request.inputs, dimensions: request.dimensions }, options(opts)),
    );
  },
  /**
   * The request's input tokens as the upstream of the alias's first capable
   * deployment counts them; throws `LlmError` `unsupported` when it cannot
   * (estimate instead).
   * @param {Parameters<typeof chatRequest>[0]} request
   * @returns {number}
   */
  countTokens(request) {
    return hostCall(LlmError, () => host.countTokens(chatRequest(request)));
  },
};
