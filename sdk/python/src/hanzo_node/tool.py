"""Tool plugins (the ``hanzo:node/tool`` world): one decorated function per tool.

    from hanzo_node.tool import tool, Toolbox   # Toolbox is the export
    from hanzo_node.errors import ToolFailed

    @tool
    def add(a: float, b: float = 0.0) -> float:
        \"\"\"Adds two numbers.

        Args:
            a: The first number.
            b: The second number.
        \"\"\"
        return a + b

    @tool(name="lookup", parameters={"type": "object",
                                     "properties": {"id": {"type": "string"}},
                                     "required": ["id"]})
    def lookup(id):
        raise ToolFailed(f"no record {id}")

The module componentize-py builds (``componentize-py ... componentize app``)
must have the name ``Toolbox`` in it: importing it from here is enough.

Parameters: the JSON Schema of a tool's arguments object is derived from the
function's type hints (``str``, ``int``, ``float``, ``bool``, ``list[T]``,
``dict[str, T]``, ``Optional[T]``, ``Literal[...]``, ``typing.Any``, and
``TypedDict``/dataclass-free nesting through ``dict``); a parameter without a
default is required; descriptions come from the docstring's ``Args:``
section, the tool's description from its first paragraph. Pass
``parameters=`` (a schema dict) to give the schema yourself, and
``result=`` for the result's schema.

Calls: the node validates arguments against the schema before the plugin
runs; the function is then called with them as keyword arguments, and its
return value is encoded as JSON (anything :func:`json.dumps` takes).
Raise a :class:`~hanzo_node.errors.ToolError` subclass for a failure the
caller should see as such (``ToolFailed`` -> 422 ``tool_failed``,
``InvalidArguments`` -> 400 ``invalid_arguments``). Any other exception is a
bug: the call traps and the node answers ``tool_plugin_failed`` naming the
plugin, with the Python traceback.
"""

from __future__ import annotations

import inspect
import json
import re
import sys
import typing
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional

from .errors import InvalidArguments, ToolError, ToolFailed, ToolNotFound

__all__ = ["tool", "Tool", "Toolbox", "registered", "schema_for", "ToolError"]


@dataclass
class Tool:
    """A registered tool: its name, description, schemas and function."""

    name: str
    description: str
    parameters: Dict[str, Any]
    result: Optional[Dict[str, Any]]
    function: Callable[..., Any]
    #: Pass the arguments object as one dict instead of keyword arguments.
    raw_arguments: bool = False


_REGISTRY: Dict[str, Tool] = {}


def registered() -> List[Tool]:
    """The tools registered so far, in definition order."""
    return list(_REGISTRY.values())


def tool(
    fn: Optional[Callable[..., Any]] = None,
    *,
    name: Optional[str] = None,
    description: Optional[str] = None,
    parameters: Optional[Dict[str, Any]] = None,
    result: Optional[Dict[str, Any]] = None,
    raw_arguments: bool = False,
) -> Any:
    """Registers ``fn`` as a tool. Usable bare (``@tool``) or with options
    (``@tool(name=..., description=..., parameters=..., result=...)``).

    ``raw_arguments=True`` calls the function with the whole arguments object
    as its one positional argument (for a schema with free-form properties).
    The function is returned unchanged, so it can still be called and tested
    as plain Python.
    """

    def register(f: Callable[..., Any]) -> Callable[..., Any]:
        doc_description, arg_docs = _parse_docstring(inspect.getdoc(f) or "")
        tool_name = name or f.__name__
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", tool_name):
            raise ValueError(f"tool name {tool_name!r}: use letters, digits, _ . - (at most 64)")
        if tool_name in _REGISTRY:
            raise ValueError(f"tool {tool_name!r} is registered twice")
        schema = parameters if parameters is not None else schema_for(f, arg_docs)
        result_schema = result
        if result_schema is None and parameters is None:
            result_schema = _return_schema(f)
        _REGISTRY[tool_name] = Tool(
            name=tool_name,
            description=description if description is not None else doc_description,
            parameters=schema,
            result=result_schema,
            function=f,
            raw_arguments=raw_arguments,
        )
        return f

    return register(fn) if fn is not None else register


# ------------------------------------------------------------------ schemas


def _parse_docstring(doc: str) -> "tuple[str, Dict[str, str]]":
    """(first paragraph, {arg: description}) of a Google-style docstring."""
    paragraphs = doc.strip().split("\n\n")
    description = " ".join(paragraphs[0].split()) if paragraphs and paragraphs[0] else ""
    if description.lower().startswith(("args:", "arguments:", "parameters:")):
        description = ""
    args: Dict[str, str] = {}
    in_args = False
    current = None
    for line in doc.splitlines():
        stripped = line.strip()
        if stripped.lower() in ("args:", "arguments:", "parameters:"):
            in_args = True
            continue
        if in_args:
            if not stripped:
                current = None
                continue
            if stripped.endswith(":") and " " not in stripped:
                in_args = False  # the next section (Returns:, Raises:)
                continue
            m = re.match(r"^(\*{0,2}\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$", stripped)
            if m and (current is None or line.startswith(" " * 4) or line[:1] != " "):
                current = m.group(1).lstrip("*")
                args[current] = m.group(2)
            elif current:
                args[current] = (args[current] + " " + stripped).strip()
    return description, args


def _type_schema(tp: Any) -> Dict[str, Any]:
    """The JSON Schema of a type hint (``{}`` when it says nothing)."""
    if tp is inspect.Parameter.empty or tp is Any or tp is object:
        return {}
    if tp is type(None):
        return {"type": "null"}
    if tp is str:
        return {"type": "string"}
    if tp is bool:
        return {"type": "boolean"}
    if tp is int:
        return {"type": "integer"}
    if tp is float:
        return {"type": "number"}
    if tp in (list, tuple, set, frozenset):
        return {"type": "array"}
    if tp is dict:
        return {"type": "object"}
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Union or (sys.version_info >= (3, 10) and _is_union_type(tp)):
        non_null = [a for a in args if a is not type(None)]
        if len(non_null) == 1:
            inner = _type_schema(non_null[0])
            return inner if len(non_null) == len(args) else _nullable(inner)
        return {"anyOf": [_type_schema(a) for a in args]}
    if origin is typing.Literal:
        values = list(args)
        schema: Dict[str, Any] = {"enum": values}
        kinds = {type(v) for v in values}
        if len(kinds) == 1:
            schema.update(_type_schema(kinds.pop()))
        return schema
    if origin in (list, set, frozenset, typing.List, typing.Sequence) or (
        origin is not None and getattr(origin, "__name__", "") in ("Sequence", "Iterable")
    ):
        return {"type": "array", "items": _type_schema(args[0])} if args else {"type": "array"}
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return {"type": "array", "items": _type_schema(args[0])}
        return {
            "type": "array",
            "prefixItems": [_type_schema(a) for a in args],
            "minItems": len(args),
            "maxItems": len(args),
        }
    if origin in (dict, typing.Dict) or (origin is not None and getattr(origin, "__name__", "") == "Mapping"):
        if len(args) == 2 and args[1] is not Any:
            return {"type": "object", "additionalProperties": _type_schema(args[1])}
        return {"type": "object"}
    if origin is typing.Annotated:
        schema = dict(_type_schema(args[0]))
        for extra in args[1:]:
            if isinstance(extra, str):
                schema["description"] = extra
            elif isinstance(extra, dict):
                schema.update(extra)
        return schema
    if isinstance(tp, type) and typing.is_typeddict(tp):
        hints = typing.get_type_hints(tp, include_extras=True)
        required = sorted(getattr(tp, "__required_keys__", hints.keys()))
        return {
            "type": "object",
            "properties": {k: _type_schema(v) for k, v in hints.items()},
            "required": required,
        }
    return {}


def _is_union_type(tp: Any) -> bool:
    import types

    return isinstance(tp, getattr(types, "UnionType", ()))


def _nullable(schema: Dict[str, Any]) -> Dict[str, Any]:
    if "type" in schema and isinstance(schema["type"], str):
        out = dict(schema)
        out["type"] = [schema["type"], "null"]
        if "enum" in out:
            out["enum"] = list(out["enum"]) + [None]
        return out
    return {"anyOf": [schema, {"type": "null"}]} if schema else {}


def schema_for(f: Callable[..., Any], arg_docs: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
    """The JSON Schema of ``f``'s keyword arguments, from its type hints,
    defaults and (``arg_docs``) descriptions."""
    arg_docs = arg_docs or {}
    try:
        hints = typing.get_type_hints(f, include_extras=True)
    except Exception:
        hints = {}
    properties: Dict[str, Any] = {}
    required: List[str] = []
    for p in inspect.signature(f).parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        schema = dict(_type_schema(hints.get(p.name, p.annotation)))
        if p.name in arg_docs and arg_docs[p.name]:
            schema.setdefault("description", arg_docs[p.name])
        if p.default is p.empty:
            required.append(p.name)
        elif p.default is not None and _json_safe(p.default):
            schema["default"] = p.default
        properties[p.name] = schema
    out: Dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        out["required"] = required
    if not any(p.kind == p.VAR_KEYWORD for p in inspect.signature(f).parameters.values()):
        out["additionalProperties"] = False
    return out


def _return_schema(f: Callable[..., Any]) -> Optional[Dict[str, Any]]:
    try:
        hints = typing.get_type_hints(f, include_extras=True)
    except Exception:
        return None
    if "return" not in hints:
        return None
    schema = _type_schema(hints["return"])
    return schema or None


def _json_safe(value: Any) -> bool:
    try:
        json.dumps(value)
        return True
    except (TypeError, ValueError):
        return False


# ------------------------------------------------------------------ calling


def call(name: str, arguments: Any) -> Any:
    """Runs tool ``name`` with ``arguments`` (a dict, or JSON text) as the
    node would, returning the Python result; for tests outside a component."""
    t = _REGISTRY.get(name)
    if t is None:
        raise ToolNotFound(f"no tool named `{name}` in this plugin")
    if isinstance(arguments, (str, bytes)):
        try:
            arguments = json.loads(arguments) if arguments else {}
        except ValueError as e:
            raise InvalidArguments(f"arguments are not JSON: {e}") from None
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        raise InvalidArguments("arguments must be a JSON object")
    if t.raw_arguments:
        return t.function(arguments)
    try:
        inspect.signature(t.function).bind(**arguments)
    except TypeError as e:
        raise InvalidArguments(f"tool `{name}`: {e}") from None
    return t.function(**arguments)


def _encode(name: str, value: Any) -> str:
    try:
        return json.dumps(value, separators=(",", ":"))
    except (TypeError, ValueError) as e:
        raise ToolFailed(f"tool `{name}` returned a value that is not JSON: {e}") from None


class Toolbox:
    """The ``toolbox`` export of the tool world over the registered tools.
    componentize-py finds it by this name in the app module."""

    def describe(self) -> list:
        from wit_world.imports.tool_types import ToolSpec

        return [
            ToolSpec(
                name=t.name,
                description=t.description,
                parameters=json.dumps(t.parameters),
                result=json.dumps(t.result) if t.result is not None else None,
            )
            for t in _REGISTRY.values()
        ]

    def invoke(self, name: str, arguments: str) -> str:
        from componentize_py_types import Err

        try:
            return _encode(name, call(name, arguments))
        except ToolError as e:
            raise Err(e.to_wit()) from None
        # Any other exception is a bug in the tool: it propagates, and
        # componentize-py prints its traceback to stderr and traps; the node
        # puts that stderr into its error message.
