// Unit tests of the SDK's pure modules (no host needed): `node --test test/`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SseParser, sseEvents } from '../src/sse.js';
import * as openai from '../src/openai.js';
import * as content from '../src/content.js';
import { ProviderError, ToolError, FetchError, HanzoError, hostCall, formatThrown } from '../src/errors.js';

test('SSE events split anywhere, CRLF, comments, multi-line data, a last line without newline', () => {
  const p = new SseParser();
  const text = 'data: a\r\ndata: b\r\n\r\n: note\nevent: delta\nid: 7\ndata: {"k":1}\n\ndata: tail';
  const events = [];
  for (const ch of text) events.push(...p.push(new TextEncoder().encode(ch)));
  events.push(...p.finish());
  assert.deepEqual(events, [
    { event: 'message', data: 'a\nb' },
    { event: 'delta', data: '{"k":1}', id: '7' },
    { event: 'message', data: 'tail', id: '7' },
  ]);
});

test('SSE over a body of byte chunks, UTF-8 split inside a character', () => {
  const bytes = new TextEncoder().encode('data: héllo\n\n');
  const chunks = [bytes.slice(0, 8), bytes.slice(8)];
  assert.deepEqual([...sseEvents(chunks)], [{ event: 'message', data: 'héllo' }]);
});

test('OpenAI request body from a chat-request', () => {
  const body = openai.chatBody(
    {
      model: 'm',
      messages: [
        content.user('hi'),
        content.assistant('', [{ id: 'c1', name: 'f', arguments: '{}', signature: 'sig' }]),
        content.toolResult('c1', '4'),
      ],
      tools: [{ name: 'f', description: 'd', parameters: '{"type":"object"}' }],
      toolChoice: { tag: 'named', val: 'f' },
      temperature: 0.5,
      maxTokens: 10,
      stop: [],
      jsonMode: true,
      extra: '{"seed":1}',
    },
    true,
  );
  assert.deepEqual(body.messages[0], { role: 'user', content: 'hi' });
  assert.equal(body.messages[1].content, null);
  assert.equal(body.messages[1].tool_calls[0].function.name, 'f');
  assert.equal(body.messages[2].tool_call_id, 'c1');
  assert.deepEqual(body.tool_choice, { type: 'function', function: { name: 'f' } });
  assert.deepEqual(body.response_format, { type: 'json_object' });
  assert.equal(body.stream, true);
  assert.equal(body.seed, 1);
  assert.equal(body.stop, undefined);
});

test('OpenAI answers to WIT records', () => {
  const r = openai.chatResponse(
    {
      id: 'x',
      choices: [{ message: { content: null, tool_calls: [{ id: 'c', function: { name: 'f', arguments: '{}' } }] }, finish_reason: 'tool_calls' }],
      usage: { prompt_tokens: 1, completion_tokens: 2 },
    },
    'm',
  );
  assert.equal(r.model, 'm');
  assert.equal(r.finishReason, 'tool-calls');
  assert.deepEqual(r.message.toolCalls, [{ id: 'c', name: 'f', arguments: '{}', signature: undefined }]);
  assert.deepEqual(r.message.content, []);
  assert.deepEqual(r.message.reasoning, []);
  assert.deepEqual(r.usage, { promptTokens: 1, completionTokens: 2, totalTokens: 3 });
  const c = openai.chatChunk({ id: 'x', model: 'm', choices: [{ delta: { content: '' } }] }, 'm');
  assert.equal(c.content, undefined);
  assert.equal(c.finishReason, undefined);
  assert.deepEqual(c.reasoning, []);
  const e = openai.embedResponse({ data: [{ index: 1, embedding: [2] }, { index: 0, embedding: [1] }] }, 'm');
  assert.deepEqual(e.embeddings.map((v) => [...v]), [[1], [2]]);
});

test('content: text as parts, text read back, base64 and data URLs', () => {
  assert.deepEqual(content.user('hi'), {
    role: 'user', content: [{ tag: 'text', val: 'hi' }], toolCalls: [], toolCallId: undefined, name: undefined, reasoning: [],
  });
  assert.deepEqual(content.assistant('').content, []);
  const m = content.user([{ tag: 'text', val: 'a ' }, content.imageUrl('https://x/a.png'), { tag: 'text', val: 'b' }]);
  assert.equal(content.textOf(m), 'a b');
  assert.equal(content.textOf(m.content), 'a b');
  assert.equal(content.isTextOnly(m.content), false);
  for (const n of [0, 1, 2, 3, 4, 5, 255]) {
    const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 97 + n) & 255);
    const text = content.base64Encode(bytes);
    assert.equal(text, Buffer.from(bytes).toString('base64'));
    assert.deepEqual(content.base64Decode(text), bytes);
  }
  assert.equal(content.base64Decode('abc'), undefined);
  assert.equal(content.base64Decode('ab!='), undefined);
  const png = Uint8Array.of(0x89, 0x50, 0x4e, 0x47);
  const url = content.dataUrl({ mediaType: 'image/png', data: png });
  assert.equal(url, 'data:image/png;base64,iVBORw==');
  assert.deepEqual(content.parseDataUrl(url), { mediaType: 'image/png', data: png });
  assert.equal(content.parseDataUrl('https://x/a.png'), undefined);
  assert.equal(content.parseDataUrl('data:image/png,notbase64'), undefined);
  assert.deepEqual(content.imageUrl(url).val.source, { tag: 'inline', val: { mediaType: 'image/png', data: png } });
  assert.deepEqual(content.sourceFromUrl('https://x/a.png'), { tag: 'url', val: 'https://x/a.png' });
});

test('OpenAI: images and documents as parts, unsupported where OpenAI takes none', () => {
  const png = Uint8Array.of(0x89, 0x50, 0x4e, 0x47);
  const pdf = new TextEncoder().encode('%PDF');
  const req = (...messages) => ({ model: 'm', messages, tools: [], stop: [], jsonMode: false });
  const body = openai.chatBody(
    req(content.user([
      { tag: 'text', val: 'what is it?' },
      content.imageBytes('image/png', png),
      content.imageUrl('https://x/a.png', 'high'),
      content.documentBytes('application/pdf', pdf, 'report.pdf'),
      content.documentBytes('application/pdf', pdf),
    ])),
    false,
  );
  assert.deepEqual(body.messages[0].content, [
    { type: 'text', text: 'what is it?' },
    { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw==' } },
    { type: 'image_url', image_url: { url: 'https://x/a.png', detail: 'high' } },
    { type: 'file', file: { file_data: 'data:application/pdf;base64,JVBERg==', filename: 'report.pdf' } },
    { type: 'file', file: { file_data: 'data:application/pdf;base64,JVBERg==', filename: 'document' } },
  ]);
  const unsupported = (what) => (e) => e instanceof ProviderError && e.tag === 'unsupported' && what.test(e.message);
  assert.throws(() => openai.chatBody(req(content.system([content.imageBytes('image/png', png)])), false), unsupported(/message 0 \(system\)/));
  assert.throws(
    () => openai.chatBody(req(content.user([content.documentUrl('https://x/a.pdf')])), false),
    unsupported(/document by URL/),
  );
  // Reasoning is not sent back to OpenAI.
  const turn = content.assistant('4', [], [{ text: '2+2', signature: undefined, redacted: false }]);
  assert.deepEqual(openai.chatBody(req(turn), false).messages[0], { role: 'assistant', content: '4' });
});

test('OpenAI: extra merges its own wire format only', () => {
  const body = openai.chatBody(
    { model: 'm', messages: [content.user('hi')], extra: JSON.stringify({ seed: 1, openai: { logprobs: true }, anthropic: { thinking: {} } }) },
    false,
  );
  assert.equal(body.seed, 1);
  assert.equal(body.logprobs, true);
  assert.equal(body.thinking, undefined);
  assert.equal(body.anthropic, undefined);
  assert.equal(body.openai, undefined);
  assert.throws(() => openai.chatBody({ model: 'm', messages: [], extra: '{"openai": 1}' }, false), (e) => e.tag === 'bad-request');
});

test('OpenAI: reasoning_content, content parts and refusals in answers', () => {
  const r = openai.chatResponse(
    { choices: [{ message: { content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }], reasoning_content: 'hmm' }, finish_reason: 'stop' }] },
    'm',
  );
  assert.deepEqual(r.message.content, [{ tag: 'text', val: 'ab' }]);
  assert.deepEqual(r.message.reasoning, [{ text: 'hmm', signature: undefined, redacted: false }]);
  assert.equal(r.stopSequence, undefined);
  const refused = openai.chatResponse({ choices: [{ message: { content: null, refusal: 'no', reasoning: 'why' } }] }, 'm');
  assert.equal(content.textOf(refused.message), 'no');
  assert.equal(refused.message.reasoning[0].text, 'why');
  const c = openai.chatChunk({ id: 'x', choices: [{ delta: { reasoning_content: 'think' } }] }, 'm');
  assert.deepEqual(c.reasoning, [{ index: 0, text: 'think', signature: undefined, redacted: false }]);
  assert.equal(c.content, undefined);
});

test('errors carry their WIT variant as payload', () => {
  assert.deepEqual(ToolError.failed('boom').payload, { tag: 'failed', val: 'boom' });
  assert.equal(ToolError.failed('boom').message, 'boom');
  const rl = ProviderError.fromStatus(429, 'slow down', 2000);
  assert.deepEqual(rl.payload, { tag: 'rate-limited', val: { retryAfterMs: 2000n, message: 'upstream answered 429: slow down' } });
  assert.equal(ProviderError.fromStatus(401, '').tag, 'auth');
  assert.equal(ProviderError.fromStatus(400, 'maximum context length is 10').tag, 'context-too-long');
  assert.equal(ProviderError.fromStatus(503, '').tag, 'upstream-unavailable');
  assert.deepEqual(ProviderError.unsupported('no images').payload, { tag: 'unsupported', val: 'no images' });
  assert.equal(ProviderError.fromFetchError(new FetchError('timeout', 'slow')).tag, 'timeout');
  assert.equal(ProviderError.fromFetchError(new FetchError('connection', 'reset')).tag, 'upstream-unavailable');
  // A host call's ComponentError becomes the interface's class.
  const thrown = Object.assign(new Error('x'), { payload: { tag: 'denied', val: 'not granted' } });
  assert.throws(
    () => hostCall(FetchError, () => { throw thrown; }),
    (e) => e instanceof FetchError && e instanceof HanzoError && e.tag === 'denied' && e.val === 'not granted',
  );
  assert.match(formatThrown(new TypeError('bad')), /^TypeError: bad\n/);
});
