// @ts-check
/**
 * Provider plugins (world `provider`): an LLM provider as a class, exported
 * as the `model-provider` interface.
 *
 * ```js
 * import { Provider, exportProvider, ProviderError, http } from '../sdk/provider.js';
 *
 * class Echo extends Provider {
 *   models() { return [model('echo', { chat: true, streaming: true })]; }
 *   chat(req) { return chatResponse('x', req.model, assistant(textOf(req.messages.at(-1)))); }
 * }
 * export const modelProvider = exportProvider(new Echo());
 * ```
 *
 * WIT records are plain objects with camelCase fields (`finishReason`,
 * `toolCalls`); enums are kebab-case strings (`'tool-calls'`); options are
 * `undefined` when absent; `u64` values are BigInts. A method fails by throwing
 * a {@link ProviderError}; a {@link FetchError} from the upstream request
 * becomes `timeout` or `upstream-unavailable` ({@link ProviderError.fromFetchError});
 * anything else thrown becomes `internal` with the JS error, its stack and
 * the plugin's name.
 *
 * A message's content is a list of parts (text, images, documents; see
 * `content.js`): map the parts the upstream takes and throw
 * `ProviderError.unsupported` for the rest (`openai.chatBody` does it for the
 * OpenAI wire format). `countTokens` is optional: by default it throws
 * `unsupported` and the node estimates instead.
 * @module provider
 */
import { FetchError, ProviderError, formatThrown, pluginName } from './errors.js';

export * from './errors.js';
export * from './common.js';
export * from './content.js';
export * as openai from './openai.js';

/**
 * @typedef {object} Capabilities
 * @property {boolean} [chat]
 * @property {boolean} [streaming]
 * @property {boolean} [tools]
 * @property {boolean} [vision]
 * @property {boolean} [jsonMode]
 * @property {boolean} [embeddings]
 */

/**
 * @typedef {object} ModelInfo
 * @property {string} id
 * @property {Capabilities} capabilities
 * @property {number} contextLength 0 when unknown
 * @property {number} [maxOutputTokens]
 * @property {number} [inputPricePerMtok] US dollars per million tokens
 * @property {number} [outputPricePerMtok]
 */

/**
 * A `model-info` with every capability flag present.
 * @param {string} id
 * @param {Capabilities} capabilities
 * @param {Partial<Omit<ModelInfo, 'id' | 'capabilities'>>} [more]
 * @returns {ModelInfo}
 */
export function model(id, capabilities, more = {}) {
  return {
    id,
    capabilities: {
      chat: !!capabilities.chat,
      streaming: !!capabilities.streaming,
      tools: !!capabilities.tools,
      vision: !!capabilities.vision,
      jsonMode: !!capabilities.jsonMode,
      embeddings: !!capabilities.embeddings,
    },
    contextLength: more.contextLength ?? 0,
    maxOutputTokens: more.maxOutputTokens,
    inputPricePerMtok: more.inputPricePerMtok,
    outputPricePerMtok: more.outputPricePerMtok,
  };
}

/**
 * A `chat-response`; `stopSequence` names the `stop` string that ended the
 * answer (with the finish reason `stop-sequence`).
 * @param {string} id
 * @param {string} model
 * @param {import('./content.js').Message} message
 * @param {string} [finishReason] a `finish-reason` (`stop`, `length`, `tool-calls`, ...)
 * @param {{stopSequence?: string, usage?: {promptTokens: number, completionTokens: number, totalTokens: number}}} [more]
 */
export function chatResponse(id, model, message, finishReason = 'stop', more = {}) {
  return { id, model, message, finishReason, stopSequence: more.stopSequence, usage: more.usage };
}

/**
 * The base class of a provider. Override what the upstream supports; the
 * rest answers `bad-request` (`countTokens`: `unsupported`).
 */
export class Provider {
  /** The models served, with capabilities and prices. @returns {ModelInfo[] | Promise<ModelInfo[]>} */
  models() {
    return [];
  }
  /** One chat completion. @param {any} request a `chat-request` @returns {any} a `chat-response` */
  chat(request) {
    throw ProviderError.badRequest(`chat is not supported (model ${request.model})`);
  }
  /**
   * A streamed chat completion: return an iterable (or async iterable) of
   * `chat-chunk` records. Send the upstream request before returning it (a
   * plain function returning a generator), so that an error answer comes
   * back as this call's error rather than the first chunk's.
   * @param {any} request a `chat-request`
   * @returns {Iterable<any> | AsyncIterable<any> | Promise<Iterable<any> | AsyncIterable<any>>}
   */
  streamChat(request) {
    throw ProviderError.badRequest(`streaming is not supported (model ${request.model})`);
  }
  /** Embeddings. @param {any} request an `embed-request` @returns {any} an `embed-response` */
  embed(request) {
    throw ProviderError.badRequest(`embeddings are not supported (model ${request.model})`);
  }
  /**
   * The request's input tokens as the upstream's own endpoint counts them.
   * By default `unsupported`: the node estimates instead.
   * @param {any} request a `chat-request` @returns {number | Promise<number>}
   */
  countTokens(request) {
    throw ProviderError.unsupported(`model \`${request.model}\`: this provider cannot count tokens`);
  }
}

/** @param {unknown} e @param {string} what */
function asProviderError(e, what) {
  if (e instanceof ProviderError) return e;
  if (e instanceof FetchError) return ProviderError.fromFetchError(e);
  const plugin = pluginName();
  return ProviderError.internal(`${plugin ? `plugin \`${plugin}\`, ` : ''}${what} threw ${formatThrown(e)}`);
}

/**
 * The `modelProvider` export for a provider instance:
 * `export const modelProvider = exportProvider(new MyProvider())`.
 * @param {Provider} provider
 */
export function exportProvider(provider) {
  /** A streamed answer: the host pulls it in batches (`next-many`). */
  class ChatStream {
    /** @param {Iterator<any> | AsyncIterator<any>} it */
    constructor(it) {
      /** @private */ this._it = it;
      /** @private */ this._done = false;
    }
    /** The next chunk as a WIT result, or `undefined` at the end. */
    async next() {
      if (this._done) return undefined;
      try {
        const step = await this._it.next();
        if (step.done) {
          this._done = true;
          return undefined;
        }
        return { tag: 'ok', val: step.value };
      } catch (e) {
        this._done = true;
        return { tag: 'err', val: asProviderError(e, 'streamChat').payload };
      }
    }
    /**
     * One chunk a call, and whether the stream ended with it (an error ends
     * it). An iterator cannot say which chunks are ready without waiting
     * (even a synchronous one may block on a read), so none go along.
     * @param {number} _max
     */
    async nextMany(_max) {
      const item = await this.next();
      if (item === undefined) return { chunks: [], ended: true };
      return { chunks: [item], ended: item.tag === 'err' };
    }
  }
  /** @template T @param {string} what @param {() => T} f */
  const guarded = async (what, f) => {
    try {
      return await f();
    } catch (e) {
      throw asProviderError(e, what);
    }
  };
  return {
    ChatStream,
    models: () => guarded('models', () => provider.models()),
    /** @param {any} r */
    chat: (r) => guarded('chat', () => provider.chat(r)),
    /** @param {any} r */
    streamChat: (r) =>
      guarded('streamChat', async () => {
        const s = await provider.streamChat(r);
        const it = /** @type {any} */ (s)[Symbol.asyncIterator]?.() ?? /** @type {any} */ (s)[Symbol.iterator]?.();
        if (!it) throw new TypeError('streamChat must return an iterable of chat chunks');
        return new ChatStream(it);
      }),
    /** @param {any} r */
    embed: (r) => guarded('embed', () => provider.embed(r)),
    /** @param {any} r */
    countTokens: (r) => guarded('countTokens', () => provider.countTokens(r)),
  };
}
