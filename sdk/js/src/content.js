// @ts-check
/**
 * Message content as parts (text, images, documents) and what every wire
 * format needs to carry them: a message's text, base64, `data:` URLs; the
 * `message` records built from text or parts. Pure: no host interface.
 *
 * A `content-part` is a WIT variant: `{tag: 'text', val: string}`,
 * `{tag: 'image', val: {source, detail}}` or
 * `{tag: 'document', val: {source, title}}`, where `source` is
 * `{tag: 'url', val: string}` or `{tag: 'inline', val: {mediaType, data}}`
 * (`data` a `Uint8Array`).
 *
 * ```js
 * user('what is in it?');                                     // one text part
 * user([{ tag: 'text', val: 'what is in it?' }, imageBytes('image/png', png)]);
 * textOf(response.message);                                   // its text parts, joined
 * ```
 * @module content
 */

/**
 * @typedef {{mediaType: string, data: Uint8Array}} Blob
 * @typedef {{tag: 'url', val: string} | {tag: 'inline', val: Blob}} MediaSource
 * @typedef {{tag: 'text', val: string}
 *   | {tag: 'image', val: {source: MediaSource, detail?: string}}
 *   | {tag: 'document', val: {source: MediaSource, title?: string}}} ContentPart
 * @typedef {{text: string, signature?: string, redacted: boolean}} Reasoning
 * @typedef {{id: string, name: string, arguments: string, signature?: string}} ToolCall
 * @typedef {{role: 'system' | 'user' | 'assistant' | 'tool', content: ContentPart[], toolCalls: ToolCall[],
 *   toolCallId?: string, name?: string, reasoning: Reasoning[]}} Message
 */

/**
 * `text` as content: no part for empty text (an assistant message that only
 * calls tools has none).
 * @param {string} text
 * @returns {ContentPart[]}
 */
export function textContent(text) {
  return text ? [{ tag: 'text', val: text }] : [];
}

/**
 * Content as given to the constructors: text, or the parts themselves.
 * @param {string | ContentPart[] | undefined} content
 * @returns {ContentPart[]}
 */
export function toParts(content) {
  return typeof content === 'string' || content === undefined ? textContent(content ?? '') : [...content];
}

/**
 * The text parts of a message (or of a list of parts), joined; images and
 * documents are skipped.
 * @param {{content: ContentPart[]} | ContentPart[]} content
 */
export function textOf(content) {
  const parts = Array.isArray(content) ? content : content.content;
  return parts.map((p) => (p.tag === 'text' ? p.val : '')).join('');
}

/** Whether every part is text (an upstream that reads only text can take it). @param {ContentPart[]} parts */
export function isTextOnly(parts) {
  return parts.every((p) => p.tag === 'text');
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** Standard base64 with padding. @param {Uint8Array} data */
export function base64Encode(data) {
  let out = '';
  for (let i = 0; i < data.length; i += 3) {
    const n = (data[i] << 16) | ((data[i + 1] ?? 0) << 8) | (data[i + 2] ?? 0);
    out += ALPHABET[n >> 18] + ALPHABET[(n >> 12) & 63];
    out += i + 1 < data.length ? ALPHABET[(n >> 6) & 63] : '=';
    out += i + 2 < data.length ? ALPHABET[n & 63] : '=';
  }
  return out;
}

/**
 * Standard base64 (padded) as bytes; `undefined` when `text` is not that.
 * @param {string} text
 * @returns {Uint8Array | undefined}
 */
export function base64Decode(text) {
  const s = text.trim();
  if (s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) return undefined;
  const pad = s.endsWith('==') ? 2 : s.endsWith('=') ? 1 : 0;
  const out = new Uint8Array((s.length / 4) * 3 - pad);
  let o = 0;
  for (let i = 0; i < s.length; i += 4) {
    let n = 0;
    for (let j = 0; j < 4; j++) n = (n << 6) | (s[i + j] === '=' ? 0 : ALPHABET.indexOf(s[i + j]));
    for (const shift of [16, 8, 0]) if (o < out.length) out[o++] = (n >> shift) & 255;
  }
  return out;
}

/** `data:<media type>;base64,<data>`. @param {Blob} blob */
export function dataUrl(blob) {
  return `data:${blob.mediaType};base64,${base64Encode(blob.data)}`;
}

/**
 * A base64 `data:` URL's media type and bytes; `undefined` for any other URL.
 * @param {string} url
 * @returns {Blob | undefined}
 */
export function parseDataUrl(url) {
  const m = /^data:([^,]*);base64,(.*)$/s.exec(url);
  const data = m && base64Decode(m[2]);
  return data ? { mediaType: m[1] || 'application/octet-stream', data } : undefined;
}

/**
 * A media source from a URL a client sent: a `data:` URL becomes inline
 * bytes (so an upstream that takes only bytes can be sent it), any other
 * stays a URL.
 * @param {string} url
 * @returns {MediaSource}
 */
export function sourceFromUrl(url) {
  const blob = parseDataUrl(url);
  return blob ? { tag: 'inline', val: blob } : { tag: 'url', val: url };
}

/** The source as one URL (inline bytes as a `data:` URL). @param {MediaSource} source */
export function sourceUrl(source) {
  return source.tag === 'inline' ? dataUrl(source.val) : source.val;
}

/**
 * An image part from a URL (a `data:` URL is kept as bytes); `detail` is
 * OpenAI's (`auto`, `low`, `high`).
 * @param {string} url
 * @param {string} [detail]
 * @returns {ContentPart}
 */
export function imageUrl(url, detail) {
  return { tag: 'image', val: { source: sourceFromUrl(url), detail } };
}

/**
 * An inline image (`image/png`, `image/jpeg`, ...).
 * @param {string} mediaType
 * @param {Uint8Array} data
 * @param {string} [detail]
 * @returns {ContentPart}
 */
export function imageBytes(mediaType, data, detail) {
  return { tag: 'image', val: { source: { tag: 'inline', val: { mediaType, data } }, detail } };
}

/**
 * A document part from a URL (a `data:` URL is kept as bytes).
 * @param {string} url
 * @param {string} [title]
 * @returns {ContentPart}
 */
export function documentUrl(url, title) {
  return { tag: 'document', val: { source: sourceFromUrl(url), title } };
}

/**
 * An inline document (a PDF, say); `title` a title or file name.
 * @param {string} mediaType
 * @param {Uint8Array} data
 * @param {string} [title]
 * @returns {ContentPart}
 */
export function documentBytes(mediaType, data, title) {
  return { tag: 'document', val: { source: { tag: 'inline', val: { mediaType, data } }, title } };
}

/**
 * A `message` record; `content` is text or a list of parts.
 * @param {Message['role']} role
 * @param {string | ContentPart[]} content
 * @param {{toolCalls?: ToolCall[], toolCallId?: string, name?: string, reasoning?: Reasoning[]}} [more]
 * @returns {Message}
 */
export function message(role, content, more = {}) {
  return {
    role,
    content: toParts(content),
    toolCalls: more.toolCalls ?? [],
    toolCallId: more.toolCallId,
    name: more.name,
    reasoning: more.reasoning ?? [],
  };
}

/** A user message. @param {string | ContentPart[]} content */
export function user(content) {
  return message('user', content);
}

/** A system message. @param {string | ContentPart[]} content */
export function system(content) {
  return message('system', content);
}

/**
 * An assistant message, with the tool calls it makes and its reasoning.
 * @param {string | ContentPart[]} content
 * @param {ToolCall[]} [toolCalls]
 * @param {Reasoning[]} [reasoning]
 */
export function assistant(content, toolCalls = [], reasoning = []) {
  return message('assistant', content, { toolCalls, reasoning });
}

/**
 * A tool message answering the call `toolCallId`.
 * @param {string} toolCallId
 * @param {string | ContentPart[]} content
 */
export function toolResult(toolCallId, content) {
  return message('tool', content, { toolCallId });
}
