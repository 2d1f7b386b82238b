"""Hanzo Node SDK for Python plugins (built with componentize-py).

A plugin is a WebAssembly component implementing one of the node's worlds
(``hanzo:node/tool``, ``hanzo:node/provider``, ``hanzo:node/api``, WIT package
``hanzo:node@0.3.4``). componentize-py generates the low-level bindings (the
``wit_world`` package) at build time; this package wraps them:

- :mod:`hanzo_node.tool` -- ``@tool`` functions, their JSON Schema from type
  hints; export with ``from hanzo_node.tool import Toolbox``.
- :mod:`hanzo_node.provider` -- a provider as a class (``models``, ``chat``,
  ``stream_chat``, ``embed``, ``count_tokens``); export with
  ``ModelProvider = serve(MyClass)``.
- :mod:`hanzo_node.types` -- the chat records; a message's content as parts
  (text, images, documents) and helpers to build and read them.
- :mod:`hanzo_node.api` -- an HTTP handler (``Request`` in, ``Response`` out);
  export with ``IncomingHandler = serve(handle)``.
- :mod:`hanzo_node.errors` -- typed exceptions mapped onto the WIT error
  variants (``tool-error``, ``provider-error``) and raised for the host
  interfaces' errors.
- Host interfaces: :mod:`~hanzo_node.log`, :mod:`~hanzo_node.config`,
  :mod:`~hanzo_node.kv`, :mod:`~hanzo_node.fetch` (every world);
  :mod:`~hanzo_node.tee`, :mod:`~hanzo_node.gpu` (every world);
  :mod:`~hanzo_node.vectors` (the tool and api worlds);
  :mod:`~hanzo_node.llm`, :mod:`~hanzo_node.tools`, :mod:`~hanzo_node.jobs`,
  :mod:`~hanzo_node.agents` (the api world only).
- Wire helpers: :mod:`hanzo_node.sse` (Server-Sent Events decoder),
  :mod:`hanzo_node.openai` (the OpenAI chat/embeddings wire format).

Import only the modules of your plugin's world: each host-interface module
imports its generated binding when first imported, and a world that does not
import an interface has no binding for it (``hanzo_node.llm`` in a tool
plugin fails at build time with ``No module named wit_world.imports.llm``).
"""

__version__ = "0.3.4"
#: The WIT package this SDK speaks.
WIT_PACKAGE = "hanzo:node@0.3.4"
