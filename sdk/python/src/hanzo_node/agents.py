"""Agent definitions (``hanzo:node/agents``), for api plugins. Needs
``permissions.agents``. Failures raise :class:`~hanzo_node.errors.AgentsError`.
"""

from __future__ import annotations

import json
from typing import Any, List, Optional

from wit_world.imports import agents as _wit

from .errors import AgentsError, host_caller

AgentSpec = _wit.AgentSpec
Agent = _wit.Agent


_call = host_caller(AgentsError)


def spec(name: str, model: str, system_prompt: str = "", tools: Optional[List[str]] = None,
         max_steps: int = 8, temperature: Optional[float] = None,
         max_tokens: Optional[int] = None, settings: Any = None) -> AgentSpec:
    """An :class:`AgentSpec`; ``settings`` is JSON-encoded unless it is text."""
    return AgentSpec(
        name=name, model=model, system_prompt=system_prompt, tools=[*(tools or [])],
        max_steps=max_steps, temperature=temperature, max_tokens=max_tokens,
        settings=settings if isinstance(settings, str) else json.dumps(settings or {}),
    )


def list() -> List[Agent]:  # noqa: A001
    return _call(_wit.list)


def create(agent_spec: AgentSpec) -> Agent:
    return _call(_wit.create, agent_spec)


def get(id: str) -> Agent:
    return _call(_wit.get, id)


def update(id: str, agent_spec: AgentSpec) -> Agent:
    return _call(_wit.update, id, agent_spec)


def delete(id: str) -> bool:
    return _call(_wit.delete, id)
