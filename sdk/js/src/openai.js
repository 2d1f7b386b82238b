// @ts-check
/**
 * The OpenAI-compatible wire format (`/v1/chat/completions`,
 * `/v1/embeddings`, `/v1/models`), for providers whose upstream speaks it:
 * request bodies from the WIT records and WIT records from the answers.
 * @module openai
 */
import { ProviderError } from './errors.js';

/** @param {any} m a WIT `message` */
function message(m) {
  /** @type {any} */
  const out = { role: m.role, content: m.content };
  if (m.role === 'assistant' && m.toolCalls?.length) {
    out.tool_calls = m.toolCalls.map((/** @type {any} */ c) => ({
      id: c.id,
      type: 'function',
      function: { name: c.name, arguments: c.arguments },
    }));
    if (!m.content) out.content = null;
  }
  if (m.toolCallId !== undefined) out.tool_call_id = m.toolCallId;
  if (m.name !== undefined) out.name = m.name;
  return out;
}

/**
 * The JSON body of a chat completion request.
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
  if (req.extra) Object.assign(body, JSON.parse(req.extra));
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
  return {
    id: String(json.id ?? ''),
    model: String(json.model ?? model),
    message: {
      role: 'assistant',
      content: m.content ?? '',
      toolCalls: (m.tool_calls ?? []).map((/** @type {any} */ c) => ({
        id: String(c.id ?? ''),
        name: String(c.function?.name ?? ''),
        arguments: String(c.function?.arguments ?? ''),
      })),
      toolCallId: undefined,
      name: undefined,
    },
    finishReason: finishReason(choice.finish_reason),
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
  return {
    id: String(json.id ?? ''),
    model: String(json.model ?? model),
    content: typeof delta.content === 'string' && delta.content !== '' ? delta.content : undefined,
    toolCalls: (delta.tool_calls ?? []).map((/** @type {any} */ c, /** @type {number} */ i) => ({
      index: c.index ?? i,
      id: c.id ?? undefined,
      name: c.function?.name ?? undefined,
      arguments: c.function?.arguments ?? '',
    })),
    finishReason: choice?.finish_reason ? finishReason(choice.finish_reason) : undefined,
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
