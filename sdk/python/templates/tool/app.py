"""{{name}}: tools for Hanzo Node, in Python.

Each ``@tool`` function is one tool; its parameters' JSON Schema comes from
the type hints, its description from the docstring. Raise ``ToolFailed``
(or another ``hanzo_node.errors.ToolError``) for a failure the caller should
see; any other exception is reported as a crash of the plugin, with its
traceback.
"""

from hanzo_node import log
from hanzo_node.errors import ToolFailed
from hanzo_node.tool import Toolbox, tool  # noqa: F401  (Toolbox is the export)


@tool
def greet(name: str, excited: bool = False) -> dict:
    """Greets someone by name.

    Args:
        name: Who to greet.
        excited: End with an exclamation mark.
    """
    if not name.strip():
        raise ToolFailed("name is empty")
    log.info("greeting %s", name)
    return {"greeting": f"Hello, {name}{'!' if excited else '.'}"}
