// @ts-check
/**
 * The OpenAI-compatible wire format (`/v1/chat/completions`,
 * `/v1/embeddings`, `/v1/models`), for providers whose upstream speaks it:
 * request bodies from the WIT records and WIT records from the answers.
 * @module openai
 */
import { ProviderError } from './errors.js';
import { isTextOnly, sourceUrl, textContent, textOf } from './content.js';

/** The wire formats whose name, as a key of `extra`, scopes the fields of its object. */
export const WIRE_FORMATS = ['openai', 'anthropic', 'gemini', 'ollama'];

/**
 * A message's `content`: a string when it is all text (what every
 * OpenAI-compatible server takes), else an array of parts, which OpenAI
 * takes in user messages only: `image_url` parts (a URL or a `data:` URL)
 * and `file` parts for inline documents. What OpenAI cannot take throws
 * `unsupported`.
 * @param {any} m a WIT `message`
 * @param {number} index
 */
function content(m, index) {
  if (isTextOnly(m.content)) return textOf(m.content);
  if (m.role !== 'user') {
    const kind = m.content.find((/** @type {any} */ p) => p.tag !== 'text').tag;
    throw ProviderError.unsupported(`message ${index} (${m.role}): the OpenAI chat API takes ${kind}s in user messages only`);
  }
  return m.content.map((/** @type {any} */ p) => {
    if (p.tag === 'text') return { type: 'text', text: p.val };
    if (p.tag === 'image') {
      /** @type {any} */
      const url = { url: sourceUrl(p.val.source) };
      if (p.val.detail !== undefined) url.detail = p.val.detail;
      return { type: 'image_url', image_url: url };
    }
    if (p.val.source.tag !== 'inline') {
      throw ProviderError.unsupported(`message ${index}: the OpenAI chat API does not take a document by URL (send its bytes)`);
    }
    return { type: 'file', file: { file_data: sourceUrl(p.val.source), filename: p.val.title ?? 'document' } };
  });
}

/** @param {any} m a WIT `message` @param {number} index */
function message(m, index) {
  /** @type {any} */
  const out = { role: m.role };
  if (m.role === 'assistant' && m.toolCalls?.length) {
    // OpenAI wants null, not "", for an assistant turn that only calls tools.
    out.content = m.content.length ? content(m, index) : null;
    out.tool_calls = m.toolCalls.map((/** @type {any} */ c) => ({
      id: c.id,
      type: 'function',
      function: { name: c.name, arguments: c.arguments },
    }));
  } else {
    out.content = content(m, index);
  }
  if (m.toolCallId !== undefined) out.tool_call_id = m.toolCallId;
  if (m.name !== undefined) out.name = m.name;
  return out;
}

/**
 * The reasoning of servers that show it (DeepSeek, vLLM, llama.cpp;
 * OpenRouter's `reasoning`).
 * @param {any} m
 * @returns {string | undefined}
 */
function reasoningText(m) {
  const r = m.reasoning_content ?? m.reasoning;
  return typeof r === 'string' && r !== '' ? r : undefined;
}

/** Text of a `content` field: a string, or the text of its parts. @param {any} c */
function contentText(c) {
  if (typeof c === 'string') return c;
  if (Array.isArray(c)) return c.map((p) => (typeof p === 'string' ? p : typeof p?.text === 'string' ? p.text : '')).join('');
  return '';
}

/**
 * The JSON body of a chat completion request. `extra`'s fields are merged,
 * those under `openai` too, those under another wire format's name left out.
 * @param {any} req a WIT `chat-request`
 * @param {boolean} stream
 */
export function chatBody(req, stream) {
  /** @type {any} */
  const body = { model: req.model, messages: req.messages.map(message) };
  if (req.tools?.length) {
    body.tools = req.tools.map((/** @type {any} */ t) => ({
      type: 'function',
      function: { name: t.name, description: t.description, parameters: JSON.parse(t.parameters || '{}') },
    }));
  }
  const choice = req.toolChoice;
  if (choice) body.tool_choice = choice.tag === 'named' ? { type: 'function', function: { name: choice.val } } : choice.tag;
  if (req.temperature !== undefined) body.temperature = req.temperature;
  if (req.topP !== undefined) body.top_p = req.topP;
  if (req.maxTokens !== undefined) body.max_tokens = req.maxTokens;
  if (req.stop?.length) body.stop = req.stop;
  if (req.jsonMode) body.response_format = { type: 'json_object' };
  if (stream) {
    body.stream = true;
    body.stream_options = { include_usage: true };
  }
  if (req.extra) {
    const extra = JSON.parse(req.extra);
    if (typeof extra !== 'object' || extra === null || Array.isArray(extra)) throw ProviderError.badRequest('`extra` must be a JSON object');
    const scoped = extra.openai ?? {};
    if (typeof scoped !== 'object' || scoped === null || Array.isArray(scoped)) throw ProviderError.badRequest('`extra.openai` must be a JSON object');
    for (const [k, v] of Object.entries(extra)) if (!WIRE_FORMATS.includes(k)) body[k] = v;
    Object.assign(body, scoped);
  }
  return body;
}

/** @param {string | null | undefined} r */
export function finishReason(r) {
  switch (r) {
    case 'stop': return 'stop';
    case 'length': return 'length';
    case 'tool_calls':
    case 'function_call': return 'tool-calls';
    case 'content_filter': return 'content-filter';
    default: return 'other';
  }
}

/** @param {any} u */
export function usage(u) {
  if (!u) return undefined;
  const p = u.prompt_tokens ?? 0;
  const c = u.completion_tokens ?? 0;
  return { promptTokens: p, completionTokens: c, totalTokens: u.total_tokens ?? p + c };
}

/**
 * A WIT `chat-response` from a chat completion answer.
 * @param {any} json
 * @param {string} model the requested model (when the answer names none)
 */
export function chatResponse(json, model) {
  const choice = json?.choices?.[0];
  if (!choice) throw ProviderError.internal(`the upstream answer has no choices: ${JSON.stringify(json).slice(0, 500)}`);
  const m = choice.message ?? {};
  const reasoning = reasoningText(m);
  return {
    id: String(json.id ?? ''),
    model: String(json.model ?? model),
    message: {
      role: 'assistant',
      content: textContent(contentText(m.content) || (m.refusal ?? '')),
      toolCalls: (m.tool_calls ?? []).map((/** @type {any} */ c) => ({
        id: String(c.id ?? ''),
        name: String(c.function?.name ?? ''),
        arguments: String(c.function?.arguments ?? ''),
        signature: undefined,
      })),
      toolCallId: undefined,
      name: undefined,
      reasoning: reasoning === undefined ? [] : [{ text: reasoning, signature: undefined, redacted: false }],
    },
    finishReason: finishReason(choice.finish_reason),
    stopSequence: undefined,
    usage: usage(json.usage),
  };
}

/**
 * A WIT `chat-chunk` from one streamed `data:` object.
 * @param {any} json
 * @param {string} model
 */
export function chatChunk(json, model) {
  const choice = json?.choices?.[0];
  const delta = choice?.delta ?? {};
  const reasoning = reasoningText(delta);
  return {
    id: String(json.id ?? ''),
    model: String(json.model ?? model),
    content: contentText(delta.content) || undefined,
    toolCalls: (delta.tool_calls ?? []).map((/** @type {any} */ c, /** @type {number} */ i) => ({
      index: c.index ?? i,
      id: c.id ?? undefined,
      name: c.function?.name ?? undefined,
      arguments: c.function?.arguments ?? '',
      signature: undefined,
    })),
    reasoning: reasoning === undefined ? [] : [{ index: 0, text: reasoning, signature: undefined, redacted: false }],
    finishReason: choice?.finish_reason ? finishReason(choice.finish_reason) : undefined,
    stopSequence: undefined,
    usage: usage(json.usage),
  };
}

/**
 * The JSON body of an embeddings request.
 * @param {any} req a WIT `embed-request`
 */
export function embedBody(req) {
  /** @type {any} */
  const body = { model: req.model, input: req.inputs };
  if (req.dimensions !== undefined) body.dimensions = req.dimensions;
  return body;
}

/**
 * A WIT `embed-response` from an embeddings answer.
 * @param {any} json
 * @param {string} model
 */
export function embedResponse(json, model) {
  const data = [...(json?.data ?? [])].sort((a, b) => (a.index ?? 0) - (b.index ?? 0));
  return {
    model: String(json.model ?? model),
    embeddings: data.map((d) => Float32Array.from(d.embedding ?? [])),
    usage: usage(json.usage),
  };
}
