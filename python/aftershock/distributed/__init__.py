"""Scale-out on Ray: sharded aftershock indexes, built by Ray tasks and served by Ray actors.

Needs the optional extra: ``pip install "aftershock[ray]"`` (``import aftershock`` itself never
imports Ray). See ``docs/scale-out.md`` for the design, the measurements and sizing.

* :class:`ShardedIndex` -- ``build`` (from arrays, shard files or a Ray Dataset), ``open``,
  ``search`` (fan-out to one actor per shard and replica, exact top-k merge with global ids).
* :mod:`aftershock.distributed.http` -- a Ray Serve ingress, ``POST /search`` with JSON.
"""

from __future__ import annotations

try:
    import ray  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        'aftershock.distributed needs Ray: pip install "aftershock[ray]" (or pip install "ray[data,serve]")'
    ) from exc

from ._index import ShardError, ShardedIndex, ShardedSearchResult
from ._manifest import Manifest, ShardEntry, read_manifest
from ._merge import merge_topk

__all__ = ["Manifest", "ShardEntry", "ShardError", "ShardedIndex", "ShardedSearchResult", "merge_topk", "read_manifest"]
