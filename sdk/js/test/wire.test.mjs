// Unit tests of the SDK's pure modules (no host needed): `node --test test/`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SseParser, sseEvents } from '../src/sse.js';
import * as openai from '../src/openai.js';
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
        { role: 'user', content: 'hi', toolCalls: [], toolCallId: undefined, name: undefined },
        { role: 'assistant', content: '', toolCalls: [{ id: 'c1', name: 'f', arguments: '{}' }] },
        { role: 'tool', content: '4', toolCalls: [], toolCallId: 'c1' },
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
  assert.deepEqual(r.message.toolCalls, [{ id: 'c', name: 'f', arguments: '{}' }]);
  assert.deepEqual(r.usage, { promptTokens: 1, completionTokens: 2, totalTokens: 3 });
  const c = openai.chatChunk({ id: 'x', model: 'm', choices: [{ delta: { content: '' } }] }, 'm');
  assert.equal(c.content, undefined);
  assert.equal(c.finishReason, undefined);
  const e = openai.embedResponse({ data: [{ index: 1, embedding: [2] }, { index: 0, embedding: [1] }] }, 'm');
  assert.deepEqual(e.embeddings.map((v) => [...v]), [[1], [2]]);
});

test('errors carry their WIT variant as payload', () => {
  assert.deepEqual(ToolError.failed('boom').payload, { tag: 'failed', val: 'boom' });
  assert.equal(ToolError.failed('boom').message, 'boom');
  const rl = ProviderError.fromStatus(429, 'slow down', 2000);
  assert.deepEqual(rl.payload, { tag: 'rate-limited', val: { retryAfterMs: 2000n, message: 'upstream answered 429: slow down' } });
  assert.equal(ProviderError.fromStatus(401, '').tag, 'auth');
  assert.equal(ProviderError.fromStatus(400, 'maximum context length is 10').tag, 'context-too-long');
  assert.equal(ProviderError.fromStatus(503, '').tag, 'upstream-unavailable');
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
