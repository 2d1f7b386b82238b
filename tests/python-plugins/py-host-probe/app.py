"""Test plugin (api world, Python): each route exercises one host interface
through the SDK's wrappers -- config, log, kv, llm (whole, streamed, counted),
tools, jobs, agents, vectors, tee, gpu -- and answers what it saw as JSON, so
the e2e test can check the wrappers against the real node."""

import json

from hanzo_node import agents, config, gpu, jobs, kv, llm, log, tee, tools, vectors
from hanzo_node.api import HttpError, Response, Router, serve
from hanzo_node.errors import AgentsError, ConfigError, KvError, LlmError, TeeError, ToolNotFound, VectorsError
from hanzo_node.types import chat_request, text_of, user

app = Router()


@app.get("/probe/config")
def probe_config(req):
    try:
        config.secret("UNDECLARED")
        undeclared = None
    except ConfigError as e:
        undeclared = e.kind
    return {
        "greeting": config.get("greeting"),
        "missing": config.get("missing", "default"),
        "number": config.get_as("number", int, 0),
        "flag": config.get_bool("flag"),
        "token": config.optional_secret("PROBE_TOKEN"),
        "undeclared": undeclared,
    }


@app.post("/probe/kv/{key}")
def kv_put(req):
    kv.set_json(req.params["key"], req.json())
    log.info("stored %s", req.params["key"])
    return {"keys": kv.list_keys("", 10)}


@app.get("/probe/kv/{key}")
def kv_get(req):
    value = kv.get_json(req.params["key"])
    if value is None:
        raise HttpError(404, "not_found", "no such key")
    return {"value": value, "raw": kv.get(req.params["key"]).decode()}


@app.delete("/probe/kv/{key}")
def kv_delete(req):
    return {"existed": kv.delete(req.params["key"])}


@app.get("/probe/kv-too-large")
def kv_too_large(req):
    try:
        kv.set("big", b"x" * (2 << 20))
    except KvError as e:
        return {"kind": e.kind, "value": e.value}
    return {"kind": None}


@app.post("/probe/llm")
def probe_llm(req):
    body = req.json()
    request = chat_request(body["model"], [user(body["prompt"])], max_tokens=32)
    try:
        whole = llm.chat(request, bypass_cache=True)
    except LlmError as e:
        return Response.json({"kind": e.kind, "message": e.message,
                              "provider_kind": e.provider_error.kind if e.provider_error else None}, 502)
    with llm.stream_chat(request) as stream:
        text = "".join(c.content or "" for c in stream)
        provider = stream.route.provider
    try:
        counted = llm.count_tokens(request)
    except LlmError as e:
        counted = e.kind
    return {
        "content": text_of(whole.response.message),
        "provider": whole.route.provider,
        "streamed": text,
        "stream_provider": provider,
        "count_tokens": counted,
        "models": sorted(m.id for m in llm.models()),
    }


@app.post("/probe/jobs")
def probe_jobs(req):
    body = req.json()
    submitted = jobs.submit_tool(body["tool"], body["arguments"], idempotency_key=body.get("key"))
    again = jobs.submit_tool(body["tool"], body["arguments"], idempotency_key=body.get("key"))
    return {"id": submitted.job.id, "existing": again.existing, "same": again.job.id == submitted.job.id}


@app.get("/probe/jobs/{id}")
def probe_job(req):
    job = jobs.get(req.params["id"])
    return {"state": job.state.name.lower(), "result": json.loads(job.result) if job.result else None,
            "listed": any(j.id == job.id for j in jobs.list(limit=10).jobs)}


@app.post("/probe/agents")
def probe_agents(req):
    body = req.json()
    created = agents.create(agents.spec(body["name"], body["model"], "Be brief.", tools=["slugify"]))
    try:
        agents.create(agents.spec(body["name"], body["model"]))
        conflict = None
    except AgentsError as e:
        conflict = e.kind
    listed = [a.spec.name for a in agents.list()]
    return {"id": created.id, "tools": created.spec.tools, "conflict": conflict,
            "listed": listed, "deleted": agents.delete(created.id)}


@app.get("/probe/tools/missing")
def probe_missing_tool(req):
    try:
        tools.invoke("no-such-tool", {})
    except ToolNotFound as e:
        return {"kind": e.kind}
    return {"kind": None}


@app.get("/probe/hardware")
def probe_hardware(req):
    status = tee.status()
    try:
        evidence = tee.attest(b"a nonce")
        attest = {"platform": evidence.platform.name.lower(), "bytes": len(evidence.evidence)}
    except TeeError as e:
        attest = {"kind": e.kind, "message": e.message}
    return {
        "platform": status.platform.name.lower(),
        "tier": status.tier,
        "reason": status.reason,
        "measurement": status.measurement,
        "attest": attest,
        "gpus": [{"uuid": d.uuid, "memory_total_mb": d.memory_total_mb} for d in gpu.devices()],
    }


def vectors_error(f):
    try:
        f()
    except VectorsError as e:
        return e.kind
    return None


@app.post("/probe/vectors")
def probe_vectors(req):
    ns = req.json()["namespace"]
    created = vectors.create(ns, "notes", vectors.spec(3, fields={"lang": "string"}))
    exists = vectors_error(lambda: vectors.create(ns, "notes", vectors.spec(3)))
    written = vectors.upsert(ns, "notes", [
        vectors.record("a", [1, 0, 0], text="the first note", metadata={"lang": "en"}),
        vectors.record("b", [0, 1, 0], text="la deuxieme", metadata={"lang": "fr"}),
    ])
    wrong_dimension = vectors_error(lambda: vectors.upsert(ns, "notes", [vectors.record("c", [1, 0])]))
    nearest = vectors.search(ns, "notes", vector=[0.9, 0.1, 0], k=2)
    french = vectors.search(ns, "notes", vector=[0.9, 0.1, 0], filter="lang = 'fr'", k=2)
    deleted = vectors.delete(ns, "notes", ["a"])
    info = vectors.info(ns, "notes")
    listed = [c.name for c in vectors.list(ns)]
    dropped = vectors.drop(ns, "notes")
    return {
        "created": {"name": created.name, "dimension": created.spec.dimension,
                    "metric": created.spec.metric.name.lower(), "rows": created.rows},
        "exists": exists,
        "written": written,
        "wrong_dimension": wrong_dimension,
        "nearest": [{"id": h.id, "text": h.text, "metadata": vectors.metadata(h),
                     "nearer": h.distance is not None} for h in nearest],
        "french": [h.id for h in french],
        "deleted": deleted,
        "rows_left": info.rows,
        "listed": listed,
        "dropped": dropped,
        "missing": vectors_error(lambda: vectors.info(ns, "notes")),
    }


IncomingHandler = serve(app)
