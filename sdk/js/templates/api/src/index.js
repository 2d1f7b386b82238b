// {{name}}: a Hanzo Node API plugin in JavaScript, serving /{{name}}.
//
// Build: npm ci && npm run build   ->  dist/{{name}}/ (drop it into the node's plugin directory)
//
//   GET  /{{name}}/hello          {"hello": "world"}
//   GET  /{{name}}/counter        the tenant's counter (in kv)
//   POST /{{name}}/counter        adds {"by": n} (default 1)
import { Router, HttpError, kv } from '../sdk/api.js';

const app = new Router();

app.get('/{{name}}/hello', () => ({ hello: 'world' }));

app.get('/{{name}}/counter', () => ({ value: kv.getJson('counter') ?? 0 }));

app.post('/{{name}}/counter', (ctx) => {
  const by = ctx.body.length ? ctx.json().by ?? 1 : 1;
  if (!Number.isInteger(by)) throw new HttpError(400, 'invalid_request', '`by` must be an integer');
  const value = (kv.getJson('counter') ?? 0) + by;
  kv.setJson('counter', value);
  return { value };
});

export const incomingHandler = app.handler();
