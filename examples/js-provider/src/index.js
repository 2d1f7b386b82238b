// js-provider: a Hanzo Node LLM provider in JavaScript, for any
// OpenAI-compatible upstream (config `base_url`, secret UPSTREAM_API_KEY).
//
// Build: npm ci && npm run build   ->  dist/js-provider/ (drop it into the node's plugin directory)
import {
  Provider,
  ProviderError,
  ConfigError,
  config,
  exportProvider,
  http,
  model,
  openai,
  sseEvents,
} from '../../../sdk/js/src/provider.js';

/** The upstream request: URL, headers (with the key when set). */
function upstream(path, body) {
  const headers = { 'content-type': 'application/json' };
  try {
    headers.authorization = `Bearer ${config.secret('UPSTREAM_API_KEY')}`;
  } catch (e) {
    // No key set: send none (local servers expect none).
    if (!(e instanceof ConfigError)) throw e;
  }
  const base = config.get('base_url', 'https://api.openai.com/v1').replace(/\/+$/, '');
  return { method: 'POST', url: `${base}${path}`, headers, body, firstByteTimeoutMs: 110000 };
}

/** An upstream answer that is not a success, as the router's error kinds. */
function failure(status, text, headers) {
  const retry = Number(headers.get('retry-after'));
  return ProviderError.fromStatus(status, text, Number.isFinite(retry) ? retry * 1000 : undefined);
}

class OpenAiCompatible extends Provider {
  models() {
    return config
      .get('models', '')
      .split(',')
      .map((m) => m.trim())
      .filter(Boolean)
      .map((id) => model(id, { chat: true, streaming: true, tools: true, jsonMode: true }));
  }

  chat(request) {
    const r = http.request(upstream('/chat/completions', openai.chatBody(request, false)));
    if (!r.ok) throw failure(r.status, r.text(), r.headers);
    return openai.chatResponse(r.json(), request.model);
  }

  // Sends the request now (so an error answer is this call's error), then
  // yields chunks as the upstream's events arrive.
  streamChat(request) {
    const r = http.open(upstream('/chat/completions', openai.chatBody(request, true)));
    if (!r.ok) throw failure(r.status, r.text(), r.headers);
    return (function* () {
      for (const event of sseEvents(r)) {
        if (event.data === '[DONE]') return;
        const json = JSON.parse(event.data);
        if (json.error) throw ProviderError.upstreamUnavailable(JSON.stringify(json.error));
        yield openai.chatChunk(json, request.model);
      }
      // The upstream closed without its end marker: the answer is cut short.
      throw ProviderError.upstreamUnavailable('the upstream stream ended before [DONE]');
    })();
  }

  embed(request) {
    const r = http.request(upstream('/embeddings', openai.embedBody(request)));
    if (!r.ok) throw failure(r.status, r.text(), r.headers);
    return openai.embedResponse(r.json(), request.model);
  }
}

export const modelProvider = exportProvider(new OpenAiCompatible());
