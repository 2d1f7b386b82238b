// Each route exercises host interfaces through the JavaScript SDK's
// wrappers and answers what it saw as JSON, for tests/e2e/js_plugins.rs.
import { Router, json, llm, vectors, tee, gpu, VectorsError, TeeError } from '../../../../sdk/js/src/api.js';

const app = new Router();

/** The error kind `f` throws as a VectorsError, or null. @param {() => unknown} f */
function vectorsError(f) {
  try {
    f();
  } catch (e) {
    if (e instanceof VectorsError) return e.tag;
    throw e;
  }
  return null;
}

app.post('/js-probe/vectors', (ctx) => {
  const ns = ctx.json().namespace;
  const created = vectors.create(ns, 'notes', vectors.spec(3, { fields: { lang: 'string' } }));
  const exists = vectorsError(() => vectors.create(ns, 'notes', vectors.spec(3)));
  const written = vectors.upsert(ns, 'notes', [
    vectors.record('a', [1, 0, 0], { text: 'the first note', metadata: { lang: 'en' } }),
    vectors.record('b', [0, 1, 0], { text: 'la deuxieme', metadata: { lang: 'fr' } }),
  ]);
  const wrongDimension = vectorsError(() => vectors.upsert(ns, 'notes', [vectors.record('c', [1, 0])]));
  const nearest = vectors.search(ns, 'notes', { vector: [0.9, 0.1, 0], k: 2 });
  const french = vectors.search(ns, 'notes', { vector: [0.9, 0.1, 0], filter: "lang = 'fr'", k: 2 });
  const deleted = vectors.delete(ns, 'notes', ['a']);
  const info = vectors.info(ns, 'notes');
  const listed = vectors.list(ns).map((c) => c.name);
  const dropped = vectors.drop(ns, 'notes');
  return {
    created: { name: created.name, dimension: created.spec.dimension, metric: created.spec.metric, rows: Number(created.rows) },
    exists,
    written,
    wrong_dimension: wrongDimension,
    nearest: nearest.map((h) => ({ id: h.id, text: h.text, metadata: vectors.metadata(h), nearer: h.distance !== undefined })),
    french: french.map((h) => h.id),
    deleted,
    rows_left: Number(info.rows),
    listed,
    dropped,
    missing: vectorsError(() => vectors.info(ns, 'notes')),
  };
});

app.get('/js-probe/hardware', () => {
  const status = tee.status();
  let attest;
  try {
    const evidence = tee.attest('a nonce');
    attest = { platform: evidence.platform, bytes: evidence.evidence.length };
  } catch (e) {
    if (!(e instanceof TeeError)) throw e;
    attest = { kind: e.tag, message: e.message };
  }
  return {
    platform: status.platform,
    tier: status.tier,
    reason: status.reason,
    measurement: status.measurement ?? null,
    attest,
    gpus: gpu.devices().map((d) => ({ uuid: d.uuid, memory_total_mb: Number(d.memoryTotalMb) })),
  };
});

// A streamed answer through the router, taken in batches.
app.post('/js-probe/llm', (ctx) => {
  const { model, prompt } = ctx.json();
  const stream = llm.streamChat({ model, messages: [{ role: 'user', content: prompt }] });
  let text = '';
  let chunks = 0;
  for (const c of stream) {
    chunks++;
    text += c.content ?? '';
  }
  return json({ streamed: text, chunks, provider: stream.route().provider });
});

export const incomingHandler = app.handler();
