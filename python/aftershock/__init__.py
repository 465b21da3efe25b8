"""aftershock: a retrieval engine for neural search.

Two engines over one C++ core:

* :class:`SparseIndex` -- learned sparse retrieval (Seismic-style) over SPLADE-like vectors.
* :class:`MultiVectorStore` -- exact late-interaction (ColBERT MaxSim) scoring with SIMD kernels.

Every index is living: stable ids, ``add`` / ``delete`` / ``update`` / ``compact``, and
filtered search (:class:`IdFilter`); see docs/living-index.md.

:class:`Pipeline` chains them (first stage(s), fusion, exact MaxSim rerank); ``tune()``
on either index finds the fastest search setting reaching a target recall
(:mod:`aftershock.tuning`).
"""

from __future__ import annotations

from . import _core
from ._core import FormatError
from ._persist import cleanup
from ._living import IdFilter, TieredMergePolicy
from ._results import SearchResult
from .store import MultiVectorStore
from .multivector import MultiVectorIndex
from .sparse import SparseIndex, exact_search
from .pipeline import Pipeline, fuse
from .tuning import Trial, TuneResult

__version__ = "0.1.0"


def simd_info() -> dict:
    """Report the SIMD levels of this build and machine.

    Returns
    -------
    dict
        ``compiled``: levels built into the extension; ``supported``: those this CPU runs;
        ``active``: the level kernels use (set ``AFTERSHOCK_SIMD=scalar|avx2|avx512`` before
        the first call to force one); ``cpu``: detected features; ``bf16_dot`` / ``vnni``:
        whether the active level uses AVX512-BF16 / VNNI instructions.

    Raises
    ------
    ValueError
        If ``AFTERSHOCK_SIMD`` names an unknown level or one this CPU cannot run.
    """
    return _core.simd_info()


__all__ = [
    "FormatError", "IdFilter", "TieredMergePolicy", "cleanup", "MultiVectorIndex", "MultiVectorStore", "Pipeline", "SearchResult", "SparseIndex",
    "Trial", "TuneResult", "exact_search", "fuse", "simd_info", "__version__",
]
