"""The node's durable job queue (``hanzo:node/jobs``), for api plugins.
Needs ``permissions.jobs``. Failures raise
:class:`~hanzo_node.errors.JobsError`.

    from hanzo_node import jobs
    job = jobs.submit_tool("calculator", {"expression": "1+1"}).job
    job = jobs.get(job.id)   # job.state, json.loads(job.result)
"""

from __future__ import annotations

import json
from typing import Any, List, Optional

from wit_world.imports import jobs as _wit

from .errors import JobsError, host_caller

JobKind = _wit.JobKind
JobState = _wit.JobState
OnParentFailure = _wit.OnParentFailure
RetryPolicy = _wit.RetryPolicy
JobSpec = _wit.JobSpec
Job = _wit.Job
JobMessage = _wit.JobMessage
JobFilter = _wit.JobFilter
JobPage = _wit.JobPage
Submitted = _wit.Submitted


_call = host_caller(JobsError)


def spec(kind: JobKind, input: Any, *, priority: int = 0, parents: Optional[List[str]] = None,
         on_parent_failure: OnParentFailure = OnParentFailure.FAIL,
         retry: Optional[RetryPolicy] = None, timeout_ms: Optional[int] = None,
         idempotency_key: Optional[str] = None) -> JobSpec:
    """A :class:`JobSpec`; ``input`` is JSON-encoded unless it is text."""
    return JobSpec(
        kind=kind,
        input=input if isinstance(input, str) else json.dumps(input),
        priority=priority,
        parents=[*(parents or [])],
        on_parent_failure=on_parent_failure,
        retry=retry,
        timeout_ms=timeout_ms,
        idempotency_key=idempotency_key,
    )


def submit(job_spec: JobSpec) -> Submitted:
    return _call(_wit.submit, job_spec)


def submit_tool(tool: str, arguments: Any, **kw: Any) -> Submitted:
    """Submits a tool job (``{"tool", "arguments"}``)."""
    return submit(spec(JobKind.TOOL, {"tool": tool, "arguments": arguments}, **kw))


def submit_llm(model: str, messages: List[dict], **kw: Any) -> Submitted:
    """Submits an llm job (``{"model", "messages"}``)."""
    return submit(spec(JobKind.LLM, {"model": model, "messages": messages}, **kw))


def submit_agent(agent: str, input: str, **kw: Any) -> Submitted:
    """Submits an agent job (``{"agent", "input"}``)."""
    return submit(spec(JobKind.AGENT, {"agent": agent, "input": input}, **kw))


def get(id: str) -> Job:
    return _call(_wit.get, id)


def list(state: Optional[JobState] = None, kind: Optional[JobKind] = None,  # noqa: A001
         before: Optional[str] = None, limit: int = 0) -> JobPage:
    """A page of jobs, newest first (``page.next`` continues)."""
    return _call(_wit.list, JobFilter(state, kind, before, limit))


def messages(id: str, after: int = 0, limit: int = 0) -> List[JobMessage]:
    return _call(_wit.messages, id, after, limit)


def cancel(id: str) -> Job:
    return _call(_wit.cancel, id)


def fork(id: str, message: int, append: Optional[str] = None) -> Job:
    return _call(_wit.fork, id, message, append)


def branch(id: str, message: int) -> Job:
    return _call(_wit.branch, id, message)
