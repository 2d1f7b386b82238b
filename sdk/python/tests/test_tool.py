"""Schemas derived from type hints and docstrings, and calls as the node makes them."""

import sys
import unittest
from pathlib import Path
from typing import Annotated, Dict, List, Literal, Optional, Tuple, TypedDict

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from hanzo_node import tool as t  # noqa: E402
from hanzo_node.errors import InvalidArguments, ToolFailed, ToolNotFound  # noqa: E402


class Point(TypedDict):
    x: float
    y: float


@t.tool
def sample(
    text: str,
    count: int = 3,
    ratio: float = 0.5,
    flag: bool = False,
    tags: Optional[List[str]] = None,
    mode: Literal["a", "b"] = "a",
    weights: Dict[str, float] = {},  # noqa: B006
    pair: Tuple[int, str] = (1, "x"),
    point: Optional[Point] = None,
    note: Annotated[str, "free text"] = "",
) -> List[str]:
    """Does sample things.

    More detail that is not the description.

    Args:
        text: The input
            text, on two lines.
        count (int): How many.

    Returns:
        Strings.
    """
    return [text] * count


@t.tool(name="raw", description="takes anything", parameters={"type": "object"}, raw_arguments=True)
def raw(arguments):
    return sorted(arguments)


@t.tool
def failing() -> None:
    """Fails."""
    raise ToolFailed("no")


class ToolTest(unittest.TestCase):
    def spec(self, name):
        return next(x for x in t.registered() if x.name == name)

    def test_schema_from_hints(self):
        s = self.spec("sample")
        self.assertEqual(s.description, "Does sample things.")
        p = s.parameters
        self.assertEqual(p["required"], ["text"])
        self.assertFalse(p["additionalProperties"])
        props = p["properties"]
        self.assertEqual(props["text"], {"type": "string", "description": "The input text, on two lines."})
        self.assertEqual(props["count"], {"type": "integer", "description": "How many.", "default": 3})
        self.assertEqual(props["ratio"]["type"], "number")
        self.assertEqual(props["flag"]["type"], "boolean")
        self.assertEqual(props["tags"], {"type": ["array", "null"], "items": {"type": "string"}})
        self.assertEqual(props["mode"], {"enum": ["a", "b"], "type": "string", "default": "a"})
        self.assertEqual(props["weights"]["additionalProperties"], {"type": "number"})
        self.assertEqual(props["pair"]["prefixItems"], [{"type": "integer"}, {"type": "string"}])
        self.assertEqual((props["point"]["type"], props["point"]["required"]), (["object", "null"], ["x", "y"]))
        self.assertEqual(props["note"]["description"], "free text")
        self.assertEqual(s.result, {"type": "array", "items": {"type": "string"}})

    def test_explicit_schema(self):
        s = self.spec("raw")
        self.assertEqual((s.description, s.parameters, s.result), ("takes anything", {"type": "object"}, None))
        self.assertEqual(t.call("raw", '{"b": 1, "a": 2}'), ["a", "b"])

    def test_calls(self):
        self.assertEqual(t.call("sample", '{"text": "x", "count": 2}'), ["x", "x"])
        self.assertEqual(t.call("sample", {"text": "y", "count": 1}), ["y"])
        with self.assertRaises(InvalidArguments):
            t.call("sample", '{"count": 2}')
        with self.assertRaises(InvalidArguments):
            t.call("sample", "[1]")
        with self.assertRaises(InvalidArguments):
            t.call("sample", "{not json")
        with self.assertRaises(ToolNotFound):
            t.call("nope", "{}")
        with self.assertRaises(ToolFailed):
            t.call("failing", "{}")

    def test_names_are_checked(self):
        with self.assertRaises(ValueError):
            t.tool(name="has space")(lambda: None)
        with self.assertRaises(ValueError):
            t.tool(name="sample")(lambda: None)


if __name__ == "__main__":
    unittest.main()
