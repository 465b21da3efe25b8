"""One local Ray for the whole folder (its start is ~10 s on 2 loaded cores), shut down after it.

The test modules skip themselves when Ray is missing (``pytest.importorskip``): the core
package never needs it; CI installs the ``[ray]`` extra so these tests run there.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

RAY_MISSING = 'Ray is not installed: pip install ".[ray]" runs these tests'


@pytest.fixture(scope="package")
def ray_local():
    """A local Ray with 2 CPUs (the CI machine's), no dashboard, a small object store."""
    if importlib.util.find_spec("ray") is None:
        pytest.skip(RAY_MISSING)
    import ray

    started = False
    if not ray.is_initialized():
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            object_store_memory=128 * 2**20,
            log_to_driver=False,
        )
        started = True
    yield ray
    if started:
        ray.shutdown()


@pytest.fixture(scope="package")
def sparse_data():
    """3,000 synthetic sparse documents over 2,000 terms and 25 queries (plus an empty one)."""
    import scipy.sparse as sp

    from aftershock.datasets import synthetic_sparse

    docs, queries = synthetic_sparse(3000, 24, vocab_size=2000, doc_nnz=40, query_nnz=15, seed=3)
    # Exact ties across shard boundaries (3 shards: rows 0-999, 1000-1999, 2000-2999): the
    # merge must order them by global id as one index does.
    docs = docs.tolil()
    for row in (999, 1000, 2000, 2999):
        docs[row] = docs[5]
    docs = docs.tocsr()
    queries = sp.vstack([docs[5] * 0.5, queries, sp.csr_matrix((1, 2000), dtype=np.float32)]).tocsr()
    return docs, queries


# Pruning off: every posting kept, fp32 weights (the build half; search with LOSSLESS_SEARCH).
LOSSLESS_BUILD = dict(pruning="fixed", n_postings=10**9, precision="fp32")
LOSSLESS_SEARCH = dict(query_cut=10**6, heap_factor=0.0)


@pytest.fixture(scope="package")
def sparse_built(ray_local, sparse_data, tmp_path_factory):
    """A lossless 3-shard sparse index of `sparse_data`, built once: its path and the index's
    first answer to the queries (k=10, default search parameters), before it was closed."""
    from aftershock.distributed import ShardedIndex

    path = tmp_path_factory.mktemp("sparse") / "index"
    with ShardedIndex.build(sparse_data[0], 3, kind="sparse", path=path, num_cpus_per_task=0.5, **LOSSLESS_BUILD) as ix:
        first = ix.search(sparse_data[1], 10)
    return path, first


@pytest.fixture(scope="package")
def sparse_index(sparse_built):
    """`sparse_built` reopened from its files, shared by the folder (3 shard actors)."""
    from aftershock.distributed import ShardedIndex

    with ShardedIndex.open(sparse_built[0]) as ix:
        yield ix
