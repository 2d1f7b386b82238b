"""An HTTP API plugin in Python (Hanzo Node SDK): a hello endpoint, and the
node's tool catalog through the host's ``tools`` interface.

Build: ``make python-api`` (from the repository root) writes
``$CARGO_TARGET_DIR/python-plugins/python-api/``; copy that folder into a
node's plugin directory. It serves the routes its plugin.toml lists.
"""

from hanzo_node import tools
from hanzo_node.api import HttpError, Response, Router, serve
from hanzo_node.errors import ToolError

app = Router()


@app.get("/py/hello")
def hello(req):
    return Response.text(f"Hello, {req.query.get('name', 'world')}!\n")


@app.get("/py/tools")
def list_tools(req):
    return {"tools": [{"name": t.spec.name, "plugin": t.plugin} for t in tools.list()]}


@app.post("/py/tools/{name}")
def run_tool(req):
    try:
        return {"result": tools.invoke(req.params["name"], req.json())}
    except ToolError as e:
        status = {"not_found": 404, "invalid_arguments": 400, "denied": 403}.get(e.kind, 422)
        raise HttpError(status, f"tool_{e.kind}", e.message) from None


IncomingHandler = serve(app)
