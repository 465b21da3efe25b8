"""The Ray Serve ingress answers a real HTTP request (urllib, as a client would) with the same
ids as the Python call. Serve is the slowest thing to start: one test, one deployment."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request

import numpy as np
import pytest

from .conftest import RAY_MISSING

pytest.importorskip("ray", reason=RAY_MISSING)
serve = pytest.importorskip("ray.serve", reason=RAY_MISSING)

from aftershock.distributed.http import serve_http  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post(url: str, body) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def test_post_search_returns_the_python_ids(sparse_index, sparse_data):
    _, queries = sparse_data
    # The open index goes to the ingress as actor handles: Serve searches the same shard actors.
    url = serve_http(sparse_index, port=_free_port(), name="aftershock-test")
    try:
        rows = [queries[i] for i in range(3)] + [queries[-1]]  # the last one is empty: padded
        body = {"queries": [{"indices": r.indices.tolist(), "values": r.data.tolist()} for r in rows], "k": 5}
        status, answer = _post(url, body)
        assert status == 200
        want = sparse_index.search(queries[[0, 1, 2, queries.shape[0] - 1]], 5)
        assert answer["ids"] == want.ids.tolist()
        np.testing.assert_allclose(
            np.array([[np.nan if s is None else s for s in row] for row in answer["scores"]], dtype=np.float64),
            np.where(np.isfinite(want.scores), want.scores, np.nan),
            rtol=1e-6,
        )
        assert answer["scores"][-1] == [None] * 5 and answer["ids"][-1] == [-1] * 5
        status, one = _post(url, {**body["queries"][0], "k": 5, "params": {"query_cut": 3}})
        assert status == 200 and len(one["ids"]) == 1
        status, error = _post(url, {**body["queries"][0], "k": 0})
        assert status == 400 and error["error"].startswith("k: ")
        status, error = _post(url, {**body["queries"][0], "params": {"n_probe": 2}})
        assert status == 400 and error["error"].startswith("n_probe: ")
    finally:
        serve.shutdown()


def test_parse_request_shapes_and_errors():
    from aftershock.distributed.http import parse_request, to_response

    (ind, val, ptr), k, params = parse_request({"indices": [7, 3], "values": [1.0, 2], "k": 3}, "sparse")
    assert ind.tolist() == [3, 7] and val.tolist() == [2.0, 1.0] and ptr.tolist() == [0, 2] and k == 3
    assert params == {}
    queries, k, params = parse_request({"queries": [[[0.5, 1.0]], [[1, 2], [3, 4]]], "params": {"n_probe": 2}}, "multivector")
    assert [q.shape for q in queries] == [(1, 2), (2, 2)] and k == 10 and params == {"n_probe": 2}
    for body, kind, match in [
        ([], "sparse", "^body: "),
        ({"indices": [1], "values": [1.0], "k": True}, "sparse", "^k: "),
        ({"indices": [1, 2], "values": [1.0]}, "sparse", r"^queries\[0\]: "),
        ({"indices": [1.5], "values": [1.0]}, "sparse", r"^queries\[0\].indices: "),
        ({"values": [1.0]}, "sparse", r"^queries\[0\]: "),
        ({"query": [1.0, 2.0]}, "multivector", r"^query\[0\]: "),
        ({"query": [[1.0], [2.0, 3.0]]}, "multivector", r"^query\[0\]: "),
        ({"k": 3}, "multivector", "^body: "),
    ]:
        with pytest.raises((ValueError, TypeError), match=match):
            parse_request(body, kind)
    from aftershock import SearchResult

    out = to_response(SearchResult(np.array([[1.5, -np.inf]], np.float32), np.array([[4, -1]])))
    assert out == {"ids": [[4, -1]], "scores": [[1.5, None]]}
