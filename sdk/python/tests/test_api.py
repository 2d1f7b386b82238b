"""The api Router and request parsing, without a component."""

import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from hanzo_node.api import HttpError, Request, Response, Router, sse_event  # noqa: E402

app = Router()


@app.get("/items/{id}")
def item(req):
    return {"id": req.params["id"], "q": req.query}


@app.post("/items")
def create(req):
    return Response.json(req.json(), status=201)


class ApiTest(unittest.TestCase):
    def test_routes_and_params(self):
        r = app(Request("GET", "/items/7?x=1&x=2&y=", [("X-A", b"1"), ("x-a", b"2")], b""))
        self.assertEqual(r, {"id": "7", "q": {"x": "1", "y": ""}})
        r = app(Request("POST", "/items", [], b'{"a": 1}'))
        self.assertEqual((r.status, r.body, r.headers["content-type"]), (201, '{"a":1}', "application/json"))

    def test_errors(self):
        for method, path, status, code in [
            ("DELETE", "/items/7", 405, "method_not_allowed"),
            ("GET", "/nothing", 404, "not_found"),
            ("POST", "/items", 400, "invalid_json"),
        ]:
            with self.assertRaises(HttpError) as e:
                app(Request(method, path, [], b"{"))
            self.assertEqual((e.exception.status, e.exception.code), (status, code))

    def test_headers_join(self):
        req = Request("GET", "/", [("X-A", b"1"), ("x-a", b"2")], b"")
        self.assertEqual(req.headers["x-a"], "1, 2")

    def test_sse_event(self):
        self.assertEqual(sse_event("a\nb", "e"), b"event: e\ndata: a\ndata: b\n\n")
        self.assertEqual(sse_event({"k": 1}), b'data: {"k":1}\n\n')


if __name__ == "__main__":
    unittest.main()
