"""Another Python thread writing into the caller's query arrays while a search runs without
the GIL must never crash the process: the core reads a copy it checked (offsets copied with
the GIL held, tokens copied and checked once). A result or a ValueError are both fine. (The
code before this test read the offsets again after checking them: SIGSEGV within ~3000 calls.)"""

from __future__ import annotations

import threading

import numpy as np
import pytest


@pytest.mark.parametrize("index_name", ["centroid_index"])
def test_search_survives_concurrent_writes_to_its_input(request, data, index_name):
    index = request.getfixturevalue(index_name)
    _, _, queries = data
    flat = np.ascontiguousarray(np.concatenate(queries[:16]), dtype=np.float32)
    offsets = np.zeros(17, dtype=np.int64)
    np.cumsum([len(q) for q in queries[:16]], out=offsets[1:])
    stop = threading.Event()

    def write():
        rng = np.random.default_rng(0)
        while not stop.is_set():  # a bad value for a moment, then the good one again
            i = int(rng.integers(1, 16))
            good = offsets[i]
            offsets[i] = 10**9
            offsets[i] = good
            r, c = int(rng.integers(len(flat))), int(rng.integers(flat.shape[1]))
            value = flat[r, c]
            flat[r, c] = np.nan
            flat[r, c] = value

    writer = threading.Thread(target=write)
    writer.start()
    try:
        for _ in range(600):
            try:
                result = index.search(flat, 10, query_offsets=offsets, num_threads=2)
            except ValueError:
                continue
            assert result.ids.shape == (16, 10)
            assert ((result.ids >= -1) & (result.ids < len(index))).all()
    finally:
        stop.set()
        writer.join()
