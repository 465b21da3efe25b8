"""The one layout of ``info()``, shared by every index and store class.

::

    {
        "kind": "SparseIndex" | "MultiVectorIndex" | "MultiVectorStore",
        "n_docs": int, "dim": int,
        "precision": str,        # stored precision of the vectors ("fp32", "fp16", "bf16", "int8")
        "size_bytes": int,       # bytes held in memory
        "build": {...},          # resolved build parameters (seed included); {} for a store
        "search": {...},         # default search parameters; {} for a store
        "stats": {...},          # counts and "<component>_bytes" sizes
    }
"""

from __future__ import annotations

from typing import Any


def make_info(
    kind: str,
    *,
    n_docs: int,
    dim: int,
    precision: str,
    size_bytes: int,
    build: dict[str, Any],
    search: dict[str, Any],
    stats: dict[str, Any],
) -> dict[str, Any]:
    """Assemble an ``info()`` dictionary in the shared layout (see the module docstring)."""
    return {
        "kind": kind,
        "n_docs": int(n_docs),
        "dim": int(dim),
        "precision": precision,
        "size_bytes": int(size_bytes),
        "build": dict(build),
        "search": dict(search),
        "stats": dict(stats),
    }
