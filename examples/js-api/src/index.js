// A notes API in JavaScript (the hanzo:node `api` world), under /js-api:
//
//   GET    /js-api/hello            {"hello": "world", "instance_calls": n}
//   GET    /js-api/notes            the notes, newest last
//   POST   /js-api/notes            {"title", "text"} -> the stored note (201)
//   GET    /js-api/notes/:id        one note
//   DELETE /js-api/notes/:id        {"deleted": true|false}
//   GET    /js-api/tools            the node's tools (name, plugin)
//   POST   /js-api/tools/:name      runs a tool with the body as arguments
//
// Notes live in the plugin's kv namespace (per tenant). When the node has
// the `slugify` and `text_stats` tools (examples/js-tool), a stored note gets
// its slug and word count from them through the host's tools interface.
import { Router, HttpError, json, kv, tools, log } from '../../../sdk/js/src/api.js';

const app = new Router();

// Calls this instance has served: 1 on every call of a fresh instance, more
// when the node reuses instances (limits.calls_per_instance).
let instanceCalls = 0;

app.get('/js-api/hello', () => ({ hello: 'world', instance_calls: ++instanceCalls }));

app.get('/js-api/notes', () => {
  const notes = kv.listKeys('note/', 1000).map((key) => kv.getJson(key));
  return { notes };
});

app.post('/js-api/notes', (ctx) => {
  const body = ctx.json();
  if (typeof body?.title !== 'string' || !body.title.trim()) {
    throw new HttpError(400, 'invalid_request', '`title` must be a non-empty string');
  }
  const text = typeof body.text === 'string' ? body.text : '';
  const seq = (kv.getJson('seq') ?? 0) + 1;
  kv.setJson('seq', seq);
  const id = String(seq).padStart(8, '0');
  const note = { id, title: body.title, text, created: new Date().toISOString() };
  if (tools.get('slugify')) note.slug = tools.invoke('slugify', { text: body.title }).slug;
  if (tools.get('text_stats')) note.words = tools.invoke('text_stats', { text, top: 0 }).words;
  kv.setJson(`note/${id}`, note);
  log.info(`stored note ${id}`);
  return json(note, 201);
});

app.get('/js-api/notes/:id', ({ params }) => {
  const note = kv.getJson(`note/${params.id}`);
  if (note === undefined) throw new HttpError(404, 'not_found', `no note ${params.id}`);
  return note;
});

app.delete('/js-api/notes/:id', ({ params }) => ({ deleted: kv.delete(`note/${params.id}`) }));

app.get('/js-api/tools', () => ({
  tools: tools.list().map((t) => ({ name: t.name, plugin: t.plugin, description: t.description })),
}));

// ToolErrors thrown by tools.invoke map onto statuses (400, 404, 422, 502).
app.post('/js-api/tools/:name', (ctx) => ({ result: tools.invoke(ctx.params.name, ctx.json()) }));

export const incomingHandler = app.handler();
