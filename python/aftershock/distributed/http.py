"""HTTP ingress for a sharded index on Ray Serve: ``POST /search`` with JSON.

Request (sparse index), one query or several::

    {"indices": [12, 2044], "values": [0.8, 1.3], "k": 10}
    {"queries": [{"indices": [...], "values": [...]}, ...], "k": 10, "params": {"query_cut": 20}}

Request (multi-vector index): each query is a list of token vectors::

    {"query": [[0.1, ...], [0.3, ...]], "k": 10}
    {"queries": [[[0.1, ...], ...], ...], "k": 10, "params": {"n_candidates": 512}}

Response (always one row per query, best first)::

    {"ids": [[17, 3, ...]], "scores": [[12.5, 11.0, ...]]}

Global ids; a row with fewer than ``k`` results ends with id ``-1`` and score ``null`` (JSON has
no ``-inf``). Errors: ``400 {"error": ...}`` for a bad request (the message names the
argument), ``503`` when a shard does not answer. ``params`` takes the search parameters of
the shards' class. A client needs nothing but HTTP and JSON; with the standard library::

    import json, urllib.request
    body = json.dumps({"indices": [12, 2044], "values": [0.8, 1.3], "k": 5}).encode()
    request = urllib.request.Request("http://127.0.0.1:8000/search", data=body,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request) as response:
        answer = json.load(response)      # {"ids": [[...]], "scores": [[...]]}
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

import numpy as np
from ray import serve
from starlette.requests import Request
from starlette.responses import JSONResponse

from .._results import SearchResult
from ._index import ShardError, ShardedIndex

__all__ = ["app", "parse_request", "serve_http", "to_response"]

MAX_K = 10_000


def parse_request(body: Any, kind: str) -> tuple[Any, int, dict]:
    """A decoded JSON body -> ``(queries, k, params)`` for :meth:`ShardedIndex.search`.

    Raises
    ------
    ValueError, TypeError
        The body does not have the documented shape; the message names the field.
    """
    if not isinstance(body, dict):
        raise TypeError("body: expected a JSON object")
    k = body.get("k", 10)
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise ValueError(f"k: expected an integer in [1, {MAX_K}], got {k!r}")
    params = body.get("params", {})
    if not isinstance(params, dict):
        raise TypeError("params: expected a JSON object of search parameters")
    if kind == "sparse":
        if "queries" in body:
            raw = body["queries"]
            if not isinstance(raw, list) or not raw:
                raise ValueError("queries: expected a non-empty list of {indices, values} objects")
        elif "indices" in body or "values" in body:
            raw = [body]
        else:
            raise ValueError("body: expected 'indices' and 'values', or 'queries'")
        indptr, indices, values = [0], [], []
        for i, q in enumerate(raw):
            if not isinstance(q, dict) or "indices" not in q or "values" not in q:
                raise ValueError(f"queries[{i}]: expected an object with 'indices' and 'values'")
            ix, vs = q["indices"], q["values"]
            if not isinstance(ix, list) or not isinstance(vs, list) or len(ix) != len(vs):
                raise ValueError(f"queries[{i}]: 'indices' and 'values' must be lists of one length")
            if not all(isinstance(t, int) and not isinstance(t, bool) for t in ix):
                raise TypeError(f"queries[{i}].indices: expected integers")
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vs):
                raise TypeError(f"queries[{i}].values: expected numbers")
            order = np.argsort(np.asarray(ix, dtype=np.int64), kind="stable")
            indices.append(np.asarray(ix, dtype=np.int64)[order])
            values.append(np.asarray(vs, dtype=np.float64)[order].astype(np.float32))
            indptr.append(indptr[-1] + len(ix))
        queries = (
            np.concatenate(indices) if indices else np.zeros(0, np.int64),
            np.concatenate(values) if values else np.zeros(0, np.float32),
            np.asarray(indptr, dtype=np.int64),
        )
        return queries, k, params
    if "queries" in body:
        raw = body["queries"]
        name = "queries"
    elif "query" in body:
        raw = [body["query"]]
        name = "query"
    else:
        raise ValueError("body: expected 'query' (a list of token vectors) or 'queries'")
    if not isinstance(raw, list) or not raw:
        raise ValueError(f"{name}: expected a non-empty list")
    queries = []
    for i, q in enumerate(raw):
        try:
            arr = np.asarray(q, dtype=np.float32)
        except (TypeError, ValueError):
            raise TypeError(f"{name}[{i}]: expected a list of equal-length lists of numbers") from None
        if arr.ndim != 2:
            raise ValueError(f"{name}[{i}]: expected a list of token vectors (2-d), got shape {arr.shape}")
        queries.append(arr)
    return queries, k, params


def to_response(result: SearchResult) -> dict:
    """ids and scores as JSON lists; ``-inf`` padding becomes ``null``."""
    scores = [[float(s) if math.isfinite(s) else None for s in row] for row in result.scores.tolist()]
    return {"ids": result.ids.tolist(), "scores": scores}


@serve.deployment(ray_actor_options={"num_cpus": 0})
class SearchIngress:
    """The Serve deployment: owns a :class:`ShardedIndex` (its shard actors) and answers POSTs."""

    def __init__(self, index: str | ShardedIndex, open_options: dict | None) -> None:
        if isinstance(index, ShardedIndex):
            self._index = index  # the caller's actors, sent as handles
        else:
            self._index = ShardedIndex.open(index, **(open_options or {}))

    async def __call__(self, request: Request) -> JSONResponse:
        if request.method != "POST":
            return JSONResponse({"error": "use POST with a JSON body"}, status_code=405)
        try:
            body = json.loads(await request.body())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return JSONResponse({"error": f"body: not valid JSON ({exc})"}, status_code=400)
        try:
            queries, k, params = parse_request(body, self._index.kind)
            result = await self._index.search_async(queries, k, **params)
        except (ValueError, TypeError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        except ShardError as exc:
            return JSONResponse({"error": str(exc)}, status_code=503)
        return JSONResponse(to_response(result))


def app(index: str | os.PathLike | ShardedIndex, *, open_options: dict | None = None, num_replicas: int = 1):
    """The Serve application for ``serve.run(app(...), route_prefix="/search")``.

    ``index`` is a path: each ingress replica opens the index itself (its own shard actors,
    ``open_options`` being :meth:`ShardedIndex.open`'s keyword arguments). Or it is an open
    :class:`ShardedIndex`: the replicas search its actors, which live as long as the process
    that opened them (a script that serves and exits should pass the path).
    """
    if isinstance(index, ShardedIndex):
        if open_options:
            raise TypeError("open_options: only with a path (an open index already has its actors)")
        return SearchIngress.options(num_replicas=num_replicas).bind(index, None)
    return SearchIngress.options(num_replicas=num_replicas).bind(os.fspath(index), open_options)


def serve_http(
    index: str | os.PathLike | ShardedIndex,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    route_prefix: str = "/search",
    name: str = "aftershock",
    open_options: dict | None = None,
    num_replicas: int = 1,
) -> str:
    """Start Ray Serve (if needed) and deploy the ingress over ``index`` (a path or an open
    :class:`ShardedIndex`, see :func:`app`); returns the endpoint's URL.

    ``serve.delete(name)`` stops it (``serve.shutdown()`` stops Serve itself).

    Raises
    ------
    FileNotFoundError, aftershock.FormatError
        As :meth:`ShardedIndex.open`, raised by the deployment's replica.
    """
    serve.start(http_options={"host": host, "port": port})
    serve.run(app(index, open_options=open_options, num_replicas=num_replicas), name=name, route_prefix=route_prefix)
    return f"http://{host}:{port}{route_prefix}"
