// @ts-check
/**
 * Server-sent events, as LLM upstreams stream (OpenAI, Anthropic, ...):
 * a push parser over bytes or text, and a generator over an
 * {@link import('./fetch.js').OpenResponse}.
 * @module sse
 */

/**
 * One event. `event` is `message` when the stream did not name it.
 * @typedef {{event: string, data: string, id?: string, retry?: number}} SseEvent
 */

/** Parses an event stream fed in arbitrary pieces (split anywhere, UTF-8 safe). */
export class SseParser {
  constructor() {
    /** @private */ this._decoder = new TextDecoder();
    /** @private */ this._buf = '';
    /** @private */ this._event = '';
    /** @private @type {string[]} */ this._data = [];
    /** @private @type {string | undefined} */ this._id = undefined;
    /** @private @type {number | undefined} */ this._retry = undefined;
  }

  /**
   * Feeds a piece; returns the events it completed.
   * @param {Uint8Array | string} chunk
   * @returns {SseEvent[]}
   */
  push(chunk) {
    this._buf += typeof chunk === 'string' ? chunk : this._decoder.decode(chunk, { stream: true });
    /** @type {SseEvent[]} */
    const out = [];
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this._buf);
      // A lone '\r' at the end may be the first half of '\r\n'.
      if (!m || (m[0] === '\r' && m.index === this._buf.length - 1)) break;
      const line = this._buf.slice(0, m.index);
      this._buf = this._buf.slice(m.index + m[0].length);
      this._line(line, out);
    }
    return out;
  }

  /**
   * Ends the stream: the events a last unterminated line completes.
   * @returns {SseEvent[]}
   */
  finish() {
    /** @type {SseEvent[]} */
    const out = [];
    this._buf += this._decoder.decode();
    if (this._buf) this._line(this._buf, out);
    this._buf = '';
    this._line('', out);
    return out;
  }

  /** @private @param {string} line @param {SseEvent[]} out */
  _line(line, out) {
    if (line === '') {
      if (this._data.length) {
        /** @type {SseEvent} */
        const ev = { event: this._event || 'message', data: this._data.join('\n') };
        if (this._id !== undefined) ev.id = this._id;
        if (this._retry !== undefined) ev.retry = this._retry;
        out.push(ev);
      }
      this._event = '';
      this._data = [];
      this._retry = undefined;
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this._data.push(value);
    else if (field === 'event') this._event = value;
    else if (field === 'id' && !value.includes('\0')) this._id = value;
    else if (field === 'retry' && /^\d+$/.test(value)) this._retry = Number(value);
  }
}

/**
 * The events of a streamed answer, read as they arrive; the body is released
 * when the loop ends, early or not.
 * @param {{ [Symbol.iterator](): Iterator<Uint8Array> }} body an `OpenResponse` (or any iterable of byte chunks)
 * @returns {Generator<SseEvent>}
 */
export function* sseEvents(body) {
  const parser = new SseParser();
  for (const chunk of body) yield* parser.push(chunk);
  yield* parser.finish();
}
