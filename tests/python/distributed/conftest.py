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
    queries = sp.vstack([queries, sp.csr_matrix((1, 2000), dtype=np.float32)]).tocsr()
    return docs, queries
