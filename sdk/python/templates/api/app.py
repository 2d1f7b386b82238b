"""{{name}}: an HTTP API for Hanzo Node, in Python. The node sends it the
requests under the ``routes`` of plugin.toml."""

from hanzo_node.api import HttpError, Response, Router, serve

app = Router()


@app.get("/{{name}}/hello")
def hello(req):
    return Response.text(f"Hello, {req.query.get('name', 'world')}!\n")


@app.post("/{{name}}/echo")
def echo(req):
    body = req.json()
    if not isinstance(body, dict):
        raise HttpError(400, "invalid_request", "send a JSON object")
    return {"echo": body}


IncomingHandler = serve(app)
