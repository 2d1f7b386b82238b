"""The tenant's vector collections (``hanzo:node/vectors``, since hanzo:node
0.3.2) on the node's embedded LanceDB, for tool and api plugins: create one
with a dimension and metric, upsert and delete records by id, search by
vector, text (BM25) or both.

    from hanzo_node import vectors
    vectors.create("docs", "notes", vectors.spec(3, fields={"lang": "string"}))
    vectors.upsert("docs", "notes", [
        vectors.record("a", [1.0, 0.0, 0.0], text="the first note", metadata={"lang": "en"}),
    ])
    for hit in vectors.search("docs", "notes", vector=[1.0, 0.0, 0.0], k=5):
        print(hit.id, hit.distance, vectors.metadata(hit))

The tenant is the call's: a plugin reaches only the collections of the
tenant it runs for, in any namespace it names. Needs
``permissions.vectors = true`` in the manifest, granted by the operator;
failures raise :class:`~hanzo_node.errors.VectorsError` (``denied`` naming
the grant, ``invalid``, ``not_found``, ``exists``, ``quota_exceeded``,
``store``).
"""

from __future__ import annotations

import builtins
import json
from typing import Any, Dict, Iterable, List, Optional, Sequence

from wit_world.imports import vectors as _wit

from .errors import VectorsError, host_caller

Metric = _wit.Metric
FieldType = _wit.FieldType
CollectionSpec = _wit.CollectionSpec
CollectionInfo = _wit.CollectionInfo
Record = _wit.Record
Query = _wit.Query
Hit = _wit.Hit

_METRICS = {"cosine": Metric.COSINE, "l2": Metric.L2, "dot": Metric.DOT}
_FIELD_TYPES = {"string": FieldType.STRING, "int": FieldType.INT, "float": FieldType.FLOAT,
                "bool": FieldType.BOOL}


_call = host_caller(VectorsError)


def spec(dimension: int, metric: str = "cosine", fields: Optional[Dict[str, str]] = None,
         model: Optional[str] = None) -> CollectionSpec:
    """A collection of ``dimension``-long vectors compared by ``metric``
    (``cosine``, ``l2``, ``dot``); ``fields`` names the metadata keys filters
    may use with their types (``string``, ``int``, ``float``, ``bool``);
    ``model`` the embedding alias its vectors come from."""
    try:
        kinds = [(k, _FIELD_TYPES[t]) for k, t in (fields or {}).items()]
        return CollectionSpec(dimension, _METRICS[metric], kinds, model)
    except KeyError as e:
        raise VectorsError("invalid", f"unknown metric or field type {e}") from None


def record(id: str, vector: Sequence[float], text: Optional[str] = None,
           metadata: Optional[Dict[str, Any]] = None) -> Record:
    """A record; ``metadata`` is a JSON object."""
    return Record(id, [float(x) for x in vector], text, json.dumps(metadata or {}))


def metadata(hit: Any) -> Dict[str, Any]:
    """A hit's (or record's) metadata as a dict."""
    return json.loads(hit.metadata or "{}")


def create(namespace: str, name: str, spec: CollectionSpec) -> CollectionInfo:
    return _call(_wit.create, namespace, name, spec)


def list(namespace: str = "") -> List[CollectionInfo]:
    """The namespace's collections, sorted by name."""
    return _call(_wit.list, namespace)


def info(namespace: str, name: str) -> CollectionInfo:
    return _call(_wit.info, namespace, name)


def drop(namespace: str, name: str) -> bool:
    """Drops the collection and its rows; True when it existed."""
    return _call(_wit.drop, namespace, name)


def upsert(namespace: str, name: str, records: Iterable[Record]) -> int:
    """Inserts ``records``, replacing those whose id exists (at most 10000 at
    once); the number written."""
    return _call(_wit.upsert, namespace, name, builtins.list(records))


def delete(namespace: str, name: str, ids: Iterable[str]) -> int:
    """Deletes by id; the number deleted."""
    return _call(_wit.delete, namespace, name, builtins.list(ids))


def search(namespace: str, name: str, *, vector: Optional[Sequence[float]] = None,
           text: Optional[str] = None, filter: Optional[str] = None, k: int = 10) -> List[Hit]:
    """The ``k`` nearest to ``vector``, the best matches of ``text``, or
    both fused (hybrid); ``filter`` is an SQL condition over the typed
    fields and ``id``."""
    v = None if vector is None else [float(x) for x in vector]
    return _call(_wit.search, namespace, name, Query(v, text, filter, k))
