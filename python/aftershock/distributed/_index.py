"""ShardedIndex: a collection split into ordinary aftershock indexes, built by Ray tasks and
served by one Ray actor per shard (and replica), with an exact merge of the shards' top-k."""

from __future__ import annotations

import inspect
import itertools
import numbers
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import ray
import scipy.sparse as sp
from ray.exceptions import GetTimeoutError, RayError, RayTaskError

from .. import __version__
from .._core import FormatError
from .._results import SearchResult
from ..multivector import MultiVectorIndex
from ..sparse import SparseIndex
from . import _sources
from ._manifest import KINDS, Manifest, ShardEntry, read_manifest, shard_file_name, write_manifest
from ._merge import merge_topk

__all__ = ["ShardError", "ShardedIndex", "ShardedSearchResult"]

_CLASSES = {"sparse": SparseIndex, "multivector": MultiVectorIndex}
_ISSUE_13 = (
    "routing adds and deletes to the owning shard needs stable external ids and in-place "
    "add/delete in the index (issue 13, the living index); until then rebuild the sharded index"
)


class ShardError(RuntimeError):
    """A shard did not answer (its actor died beyond its restarts, or it timed out).

    Attributes
    ----------
    shard : int
        The shard's number.
    file : str
        The shard's index file.
    """

    def __init__(self, shard: int, file: str, reason: str) -> None:
        super().__init__(f"shard {shard} ({file}) did not answer: {reason}")
        self.shard = shard
        self.file = file


class ShardedSearchResult(SearchResult):
    """A :class:`~aftershock.SearchResult` (``scores, ids = result`` still works) that also says
    which shards answered.

    Attributes
    ----------
    answered : tuple of int
        The shards whose results were merged (all of them unless ``allow_partial=True``
        and some failed).
    failed : dict of int to str
        The shards that did not answer, with the reason (empty unless ``allow_partial=True``).
    """

    answered: tuple[int, ...]
    failed: dict[int, str]

    @property
    def is_complete(self) -> bool:
        """True when every shard answered."""
        return not self.failed


def _result(merged: SearchResult, answered, failed) -> ShardedSearchResult:
    out = ShardedSearchResult(merged.scores, merged.ids)
    out.answered = tuple(answered)
    out.failed = dict(failed)
    return out


def _count(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: expected an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name}: expected >= {minimum}, got {value}")
    return int(value)


def _check_keywords(func, given: dict, what: str, reserved: tuple[str, ...]) -> None:
    """Unknown or reserved keyword -> TypeError naming it, before any Ray work."""
    allowed = set(inspect.signature(func).parameters) - {"self", "cls"} - set(reserved)
    for name in given:
        if name not in allowed:
            raise TypeError(f"{name}: not a parameter of {what} (expected one of {sorted(allowed)})")


# --------------------------------------------------------------------------------- build task
def _build_shard(spec, kind: str, params: dict, out_path: str, num_threads: int, dim: int | None) -> dict:
    """Ray task: build one shard with the public API and save it as an ordinary index file."""
    args, extra = _sources.load_spec(spec, kind, dim)
    start = time.perf_counter()
    index = _CLASSES[kind].build(*args, num_threads=num_threads, **extra, **params)
    seconds = time.perf_counter() - start
    index.save(out_path)
    return {
        "n_docs": index.n_docs,
        "dim": index.dim,
        "size_bytes": index.size_bytes,
        "file_size_bytes": os.stat(out_path).st_size,
        "build_seconds": seconds,
        "build": index.info()["build"],
    }


# --------------------------------------------------------------------------------- shard actor
class _ShardServer:
    """Ray actor: one shard's index, loaded from its file. A restart (``max_restarts``) runs
    ``__init__`` again, so a restarted actor reloads the same saved file."""

    def __init__(self, path: str, kind: str, n_docs: int, dim: int, num_threads: int) -> None:
        self._index = _CLASSES[kind].load(path)
        if self._index.n_docs != n_docs or self._index.dim != dim:
            raise FormatError(
                f"{path}: holds {self._index.n_docs} documents of dim {self._index.dim}; "
                f"the manifest records {n_docs} of dim {dim}"
            )
        self._num_threads = num_threads

    def ready(self) -> int:
        return os.getpid()

    def search(self, queries, k: int, params: dict, query_offsets=None):
        if query_offsets is not None:
            params = {**params, "query_offsets": query_offsets}
        params.setdefault("num_threads", self._num_threads)
        result = self._index.search(queries, k, **params)
        return result.scores, result.ids

    def search_stats(self, queries, k: int, params: dict):
        params = dict(params)
        params.setdefault("num_threads", self._num_threads)
        return self._index.search_stats(queries, k, **params)


# --------------------------------------------------------------------------------- index
class ShardedIndex:
    """An aftershock index split into shards, each an ordinary index file, served by Ray actors.

    Make one with :meth:`build` (which writes the shards and the manifest, then opens it)
    or :meth:`open`. :meth:`search` sends the queries to every shard (one actor per shard
    and replica), maps each shard's local ids to global ids, and merges the shards' top-k
    exactly: ties go to the smaller global id, rows with fewer than ``k`` results are padded
    with ``-inf`` / ``-1``, as every aftershock search does.

    Global ids are the documents' positions in the source (shard ``i`` holds a contiguous
    range, recorded in the manifest). Each shard is searched with the same parameters; a
    parameter that counts documents (``n_candidates``, ``n_postings``) applies per shard.

    Thread safety: :meth:`search` may be called from several threads; :meth:`close` must not
    run concurrently with it.
    """

    def __init__(self, *_args, **_kwargs) -> None:
        raise TypeError("ShardedIndex is created with ShardedIndex.build(...) or ShardedIndex.open(...)")

    # ------------------------------------------------------------------------- build
    @classmethod
    def build(
        cls,
        source,
        n_shards: int | None = None,
        *,
        kind: str,
        path: str | os.PathLike,
        overwrite: bool = False,
        num_cpus_per_task: float = 1,
        dim: int | None = None,
        open_options: dict | None = None,
        **params,
    ) -> "ShardedIndex":
        """Build one index per shard with Ray tasks, save them and a manifest, and open the result.

        Parameters
        ----------
        source
            The documents, in one of three forms:

            * in memory: for ``kind="sparse"`` a ``scipy.sparse`` matrix or 2-d array (one row
              per document); for ``kind="multivector"`` a list of ``[n_tokens, dim]`` arrays,
              a 3-d array or a ``(vectors, offsets)`` tuple. Split into ``n_shards``
              contiguous, balanced row ranges (the slices are copied into Ray's object store).
            * a list of ``.npz`` / ``.npy`` files, one shard each, read by the shard's task:
              sparse ``.npz`` as written by ``scipy.sparse.save_npz``, sparse ``.npy`` a dense
              2-d array; multi-vector ``.npz`` with arrays ``vectors`` and ``offsets``,
              multi-vector ``.npy`` a 3-d array.
            * a Ray Dataset with columns ``indices`` and ``values`` (one sparse document per
              row; ``dim`` required) or ``vectors`` (one ``[n_tokens, dim]`` array per row),
              split with ``split_at_indices`` so global ids follow the Dataset's row order.
        n_shards : int, optional
            Number of shards; required unless ``source`` is a list of files (then one per file).
        kind : {"sparse", "multivector"}
            :class:`~aftershock.SparseIndex` or :class:`~aftershock.MultiVectorIndex` shards.
        path : str or os.PathLike
            Directory to write ``manifest.json`` and ``shard-NNNNN.aftershock`` files into. It
            must not hold a manifest unless ``overwrite=True``.
        overwrite : bool
            Replace an existing sharded index at ``path``.
        num_cpus_per_task : float
            Ray CPUs each build task reserves; it builds with ``max(1, int(num_cpus_per_task))``
            threads.
        dim : int, optional
            Vocabulary size of sparse shards (required for a Ray Dataset source).
        open_options : dict, optional
            Keyword arguments of :meth:`open` for the returned index.
        **params
            Keyword parameters of ``SparseIndex.build`` / ``MultiVectorIndex.build`` (except
            ``num_threads``), the same for every shard, the seed included. Multi-vector
            ``method="centroid"`` shards each train their own centroids on their own
            documents: ``MultiVectorIndex.build`` cannot take given centroids yet (see
            docs/scale-out.md); ``method="muvera"`` shards with one seed share their encoding.

        Returns
        -------
        ShardedIndex

        Raises
        ------
        TypeError
            Unknown source container or keyword parameter (named).
        ValueError
            Bad ``kind``, ``n_shards``, source files, or a parameter the build refuses (the
            shard build's own ``ValueError``), or shards of different ``dim``.
        FileExistsError
            ``path`` holds a sharded index and ``overwrite`` is False.
        """
        if kind not in KINDS:
            raise ValueError(f"kind: expected one of {KINDS}, got {kind!r}")
        if n_shards is not None:
            n_shards = _count(n_shards, "n_shards", 1)
        if isinstance(num_cpus_per_task, bool) or not isinstance(num_cpus_per_task, numbers.Real) or not (
            num_cpus_per_task > 0
        ):
            raise ValueError(f"num_cpus_per_task: expected a number > 0, got {num_cpus_per_task!r}")
        _check_keywords(_CLASSES[kind].build, params, f"{_CLASSES[kind].__name__}.build", ("num_threads", "docs", "vectors", "offsets", "dim"))
        if dim is not None:
            dim = _count(dim, "dim", 1)
        if kind == "multivector" and dim is not None:
            raise TypeError("dim: a parameter of kind='sparse' only")
        directory = Path(os.fspath(path))
        if (directory / "manifest.json").exists() and not overwrite:
            raise FileExistsError(f"path: {directory} already holds a sharded index (pass overwrite=True)")
        specs, n_shards = _sources.split_source(source, kind, n_shards)
        if kind == "sparse" and dim is None and any(how == "dataset" for how, _ in specs):
            raise ValueError("dim: required for a Ray Dataset source of kind='sparse' (the vocabulary size)")
        directory.mkdir(parents=True, exist_ok=True)
        if overwrite:
            (directory / "manifest.json").unlink(missing_ok=True)  # no half-old, half-new index opens
        task = ray.remote(_build_shard).options(num_cpus=num_cpus_per_task, max_retries=1)
        threads = max(1, int(num_cpus_per_task))
        files = [shard_file_name(i) for i in range(n_shards)]
        start = time.perf_counter()
        refs = [
            task.remote(spec, kind, params, str(directory / files[i]), threads, dim)
            for i, spec in enumerate(specs)
        ]
        built = []
        for i, ref in enumerate(refs):
            try:
                built.append(ray.get(ref))
            except RayTaskError as exc:
                cause = getattr(exc, "cause", None)
                if isinstance(cause, (ValueError, TypeError, OSError)):
                    raise cause from None
                raise
        seconds = time.perf_counter() - start
        dims = {b["dim"] for b in built}
        if len(dims) != 1:
            raise ValueError(f"source: the shards have different dims {[b['dim'] for b in built]}")
        entries, offset = [], 0
        for i, b in enumerate(built):
            entries.append(
                ShardEntry(
                    shard=i, file=files[i], n_docs=b["n_docs"], id_offset=offset,
                    file_size_bytes=b["file_size_bytes"], size_bytes=b["size_bytes"],
                    build_seconds=round(b["build_seconds"], 6),
                )
            )
            offset += b["n_docs"]
        manifest = Manifest(
            kind=kind, n_docs=offset, dim=dims.pop(), build=built[0]["build"], shards=tuple(entries),
            aftershock_version=__version__, extra={"build_wall_seconds": round(seconds, 6)},
        )
        write_manifest(directory, manifest)
        return cls.open(directory, **(open_options or {}))

    # ------------------------------------------------------------------------- open
    @classmethod
    def open(
        cls,
        path: str | os.PathLike,
        *,
        replicas: int = 1,
        num_cpus_per_actor: float | None = None,
        num_threads: int | None = None,
        max_restarts: int = 3,
        max_task_retries: int = 3,
        actor_options: dict | None = None,
        ready_timeout_s: float = 300.0,
    ) -> "ShardedIndex":
        """Open a sharded index: check the manifest, start one actor per shard and replica,
        and wait until every shard has loaded its file.

        Parameters
        ----------
        path : str or os.PathLike
            The directory :meth:`build` wrote.
        replicas : int >= 1
            Actors per shard; searches go to them in turn, and a failed replica's query is
            sent once to the next.
        num_cpus_per_actor : float, optional
            Ray CPUs each actor reserves. Default: Ray's actor default (one free CPU to be
            placed, none held while it runs), so shard actors never wait for each other or
            block build tasks. On a cluster, reserve the cores a shard searches with (and
            pass ``actor_options={"scheduling_strategy": "SPREAD"}``); an actor that does not
            fit stays pending, and ``open`` fails after ``ready_timeout_s``.
        num_threads : int, optional
            Search threads per actor (default ``max(1, int(num_cpus_per_actor))``, 1 when unset).
        max_restarts : int >= -1
            Ray restarts of a dead actor (``-1``: unlimited); a restart loads the shard file again.
        max_task_retries : int >= -1
            Ray retries of a query in flight when its actor died (``-1``: unlimited).
        actor_options : dict, optional
            More options for ``ActorClass.options`` (``resources``, ``scheduling_strategy``,
            ``runtime_env``...).
        ready_timeout_s : float
            Seconds to wait for each actor to load its shard.

        Raises
        ------
        FileNotFoundError
            No manifest or a shard file is missing.
        aftershock.FormatError
            The manifest is damaged, or a shard file does not match it (size, documents, dim)
            or fails the index's own checks.
        ValueError, TypeError
            A bad option (named).
        ShardError
            An actor did not load its shard within ``ready_timeout_s``.
        """
        directory = Path(os.fspath(path))
        manifest = read_manifest(directory)
        replicas = _count(replicas, "replicas", 1)
        max_restarts = _count(max_restarts, "max_restarts", -1)
        max_task_retries = _count(max_task_retries, "max_task_retries", -1)
        if num_cpus_per_actor is not None and (
            isinstance(num_cpus_per_actor, bool)
            or not isinstance(num_cpus_per_actor, numbers.Real)
            or num_cpus_per_actor < 0
        ):
            raise ValueError(f"num_cpus_per_actor: expected a number >= 0, got {num_cpus_per_actor!r}")
        if num_threads is None:
            num_threads = max(1, int(num_cpus_per_actor or 1))
        num_threads = _count(num_threads, "num_threads", 0)
        options = {
            **({} if num_cpus_per_actor is None else {"num_cpus": num_cpus_per_actor}),
            "max_restarts": max_restarts,
            "max_task_retries": max_task_retries,
            **(actor_options or {}),
        }
        actor_class = ray.remote(_ShardServer).options(**options)
        self = object.__new__(cls)
        self._path = directory
        self._manifest = manifest
        self._options = {"replicas": replicas, "num_threads": num_threads, **options}
        self._actors = tuple(
            tuple(
                actor_class.remote(str(directory / s.file), manifest.kind, s.n_docs, manifest.dim, num_threads)
                for _ in range(replicas)
            )
            for s in manifest.shards
        )
        self._turn = itertools.count()
        self._closed = False
        self._owns_actors = True
        try:
            for s, actors in zip(manifest.shards, self._actors):
                for actor in actors:
                    try:
                        ray.get(actor.ready.remote(), timeout=ready_timeout_s)
                    except GetTimeoutError:
                        raise ShardError(
                            s.shard, str(directory / s.file),
                            f"its actor was not ready within {ready_timeout_s} s (pending on Ray resources: "
                            f"it asks for {options}; free: {ray.available_resources()})",
                        ) from None
                    except RayError as exc:
                        raise _load_error(exc, directory / s.file) from None
        except BaseException:
            self.close()
            raise
        return self

    # ------------------------------------------------------------------------- properties
    @property
    def path(self) -> Path:
        return self._path

    @property
    def kind(self) -> str:
        """``"sparse"`` or ``"multivector"``."""
        return self._manifest.kind

    @property
    def n_docs(self) -> int:
        """Documents over all shards; their global ids are ``0 .. n_docs - 1``."""
        return self._manifest.n_docs

    @property
    def dim(self) -> int:
        return self._manifest.dim

    @property
    def n_shards(self) -> int:
        return self._manifest.n_shards

    @property
    def shards(self) -> tuple[ShardEntry, ...]:
        """The manifest's shard entries (file, ``n_docs``, ``id_offset``, sizes)."""
        return self._manifest.shards

    @property
    def actors(self) -> tuple[tuple[Any, ...], ...]:
        """The actor handles, ``actors[shard][replica]`` (for monitoring and fault tests)."""
        return self._actors

    def __len__(self) -> int:
        return self.n_docs

    def __repr__(self) -> str:
        return (
            f"ShardedIndex(kind={self.kind!r}, n_docs={self.n_docs}, dim={self.dim}, "
            f"n_shards={self.n_shards}, replicas={self._options['replicas']}, path={str(self._path)!r})"
        )

    def info(self) -> dict:
        """The manifest as a dictionary plus the serving options.

        Returns
        -------
        dict
            ``kind``, ``n_docs``, ``dim``, ``n_shards``, ``size_bytes`` (sum over shards, one
            replica), ``build`` (the shards' resolved build parameters, those of shard 0),
            ``shards`` (one dict per shard), ``serving`` (replicas, threads, Ray options).
        """
        m = self._manifest
        return {
            "kind": m.kind,
            "n_docs": m.n_docs,
            "dim": m.dim,
            "n_shards": m.n_shards,
            "size_bytes": sum(s.size_bytes for s in m.shards),
            "build": dict(m.build),
            "shards": [dict(vars(s)) for s in m.shards],
            "serving": dict(self._options),
        }

    # ------------------------------------------------------------------------- search
    def _prepare(self, queries, k, query_offsets, params) -> tuple[Any, int, int, dict]:
        if self._closed:
            raise ValueError("ShardedIndex: closed")
        k = _count(k, "k", 1)
        cls = _CLASSES[self.kind]
        _check_keywords(cls.search, params, f"{cls.__name__}.search", ("queries", "k", "query_offsets"))
        if self.kind == "sparse":
            if query_offsets is not None:
                raise TypeError("query_offsets: a parameter of kind='multivector' only")
            n_queries = _n_sparse_queries(queries, self.dim)
        else:
            n_queries = _n_multivector_queries(queries, query_offsets)
        if n_queries > 64:  # one copy in the object store instead of one per shard
            queries = ray.put(queries)
        return queries, k, n_queries, params

    def _submit(self, shard: int, method: str, args: tuple, attempt: int = 0):
        actors = self._actors[shard]
        actor = actors[(next(self._turn) + attempt) % len(actors)]
        return getattr(actor, method).remote(*args)

    def search(
        self,
        queries,
        k: int = 10,
        *,
        query_offsets=None,
        allow_partial: bool = False,
        timeout_s: float | None = None,
        **params,
    ) -> ShardedSearchResult:
        """Search every shard and merge their top-``k`` exactly.

        Parameters
        ----------
        queries
            As for ``SparseIndex.search`` (scipy matrix, dense array, CSR tuple, or one
            ``(indices, values)`` query) or ``MultiVectorIndex.search`` (list of ``[m, dim]``
            arrays, 3-d array, or 2-d array with ``query_offsets``).
        k : int >= 1
            Results per query over the whole collection (each shard returns its own top-``k``).
        query_offsets : array_like, optional
            Multi-vector only: offsets into a 2-d ``queries``.
        allow_partial : bool
            If False (default) a shard that does not answer raises :class:`ShardError`. If
            True its results are left out and the result's ``failed`` names it.
        timeout_s : float, optional
            Seconds to wait for each shard (after the first replica failed, again for the
            retry); a shard past it counts as failed.
        **params
            Search parameters of the shards' class (``query_cut``, ``heap_factor``,
            ``n_knn``, ``num_threads``; or ``n_candidates``, ``n_probe``...), per shard.

        Returns
        -------
        ShardedSearchResult
            ``scores`` float32 and global ``ids`` int64 ``[n_queries, k]`` (a
            :class:`~aftershock.SearchResult`), plus ``answered`` and ``failed``.

        Raises
        ------
        TypeError, ValueError
            Bad queries, ``k`` or parameters (the shards' own errors, raised as such).
        ShardError
            A shard did not answer after its actor's restarts and retries, and
            ``allow_partial`` is False. The message names the shard and its file.
        """
        queries, k, n_queries, params = self._prepare(queries, k, query_offsets, params)
        args = (queries, k, params, query_offsets)
        refs = [self._submit(i, "search", args) for i in range(self.n_shards)]
        parts, answered, failed = {}, [], {}
        for i, ref in enumerate(refs):
            parts[i] = self._collect(i, ref, args, timeout_s, allow_partial, failed)
        for i in range(self.n_shards):
            if i not in failed:
                answered.append(i)
        merged = merge_topk(
            [(parts[i][0], self.shards[i].to_global(parts[i][1])) for i in answered], k, n_queries
        )
        return _result(merged, answered, failed)

    def _collect(self, shard, ref, args, timeout_s, allow_partial, failed, method="search"):
        """One shard's answer; on failure, one more try on each other replica, then fail or record."""
        attempts = len(self._actors[shard])
        for attempt in range(attempts):
            try:
                return ray.get(ref, timeout=timeout_s)
            except RayTaskError as exc:
                cause = getattr(exc, "cause", None)
                if isinstance(cause, (ValueError, TypeError)):
                    raise cause from None  # the caller's error, the same on every shard
                reason = str(exc).splitlines()[0]
            except GetTimeoutError:
                try:
                    ray.cancel(ref)
                except (RayError, ValueError, TypeError):
                    pass  # a best effort: the answer is dropped either way
                reason = f"no answer within {timeout_s} s"
            except RayError as exc:
                reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            if attempt + 1 < attempts:
                ref = self._submit(shard, method, args, attempt=attempt + 1)
        if not allow_partial:
            raise ShardError(shard, str(self._path / self.shards[shard].file), reason)
        failed[shard] = reason
        return None

    async def search_async(self, queries, k: int = 10, *, query_offsets=None, **params) -> SearchResult:
        """:meth:`search` for asyncio callers (the HTTP ingress): awaits the shards instead of
        blocking the event loop. Every shard must answer (no ``allow_partial``).

        Raises
        ------
        TypeError, ValueError, ShardError
            As :meth:`search`.
        """
        queries, k, n_queries, params = self._prepare(queries, k, query_offsets, params)
        args = (queries, k, params, query_offsets)
        refs = [self._submit(i, "search", args) for i in range(self.n_shards)]
        parts = []
        for i, ref in enumerate(refs):
            try:
                parts.append(await ref)
            except RayTaskError as exc:
                cause = getattr(exc, "cause", None)
                if isinstance(cause, (ValueError, TypeError)):
                    raise cause from None
                raise ShardError(i, str(self._path / self.shards[i].file), str(exc).splitlines()[0]) from None
            except RayError as exc:
                raise ShardError(i, str(self._path / self.shards[i].file), type(exc).__name__) from None
        return merge_topk([(s, self.shards[i].to_global(ids)) for i, (s, ids) in enumerate(parts)], k, n_queries)

    def search_stats(self, queries, k: int = 10, **params) -> list[dict]:
        """Sparse only: each shard's ``SparseIndex.search_stats`` (ids local to the shard).

        The counters (``blocks_visited``, ``docs_scored``...) summed over shards against one
        index's show how much work sharding adds (``benchmarks/python/bench_distributed.py``).

        Raises
        ------
        TypeError
            On a multi-vector index, or an unknown parameter.
        ShardError
            A shard did not answer.
        """
        if self.kind != "sparse":
            raise TypeError("search_stats: sparse sharded indexes only")
        queries, k, _, params = self._prepare(queries, k, None, params)
        refs = [self._submit(i, "search_stats", (queries, k, params)) for i in range(self.n_shards)]
        failed: dict[int, str] = {}
        args = (queries, k, params)
        return [self._collect(i, ref, args, None, False, failed, "search_stats") for i, ref in enumerate(refs)]

    # ------------------------------------------------------------------------- updates
    def add(self, *_args, **_kwargs):
        """Not available yet: raises ``NotImplementedError`` (needs issue 13)."""
        raise NotImplementedError(f"ShardedIndex.add: {_ISSUE_13}")

    def delete(self, *_args, **_kwargs):
        """Not available yet: raises ``NotImplementedError`` (needs issue 13)."""
        raise NotImplementedError(f"ShardedIndex.delete: {_ISSUE_13}")

    # ------------------------------------------------------------------------- lifetime
    def __getstate__(self) -> dict:
        """Pickling sends the actor handles, not the shards: a copy (e.g. in a Serve replica)
        searches the same actors, lives only as long as the process that opened them, and its
        ``close`` leaves them running."""
        state = {key: value for key, value in self.__dict__.items() if key != "_turn"}
        state["_owns_actors"] = False
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._turn = itertools.count()

    def close(self) -> None:
        """Stop the shard actors (the files stay); a pickled copy only stops using them. Idempotent."""
        if getattr(self, "_closed", True):
            return
        self._closed = True
        if not self._owns_actors:
            return
        for actors in self._actors:
            for actor in actors:
                try:
                    ray.kill(actor, no_restart=True)
                except (RayError, ValueError):
                    pass

    def __enter__(self) -> "ShardedIndex":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _load_error(exc: RayError, file: Path) -> BaseException:
    """An actor that failed to load its shard: the load's own error (FormatError, OSError) if Ray
    kept it, else a FormatError naming the file."""
    cause = getattr(exc, "cause", None)
    inner = getattr(cause, "cause", None) if cause is not None else None
    for err in (inner, cause):
        if isinstance(err, OSError):
            return err
        if isinstance(err, ValueError):  # FormatError among them: name the shard's file
            try:
                return type(err)(f"{file}: {err}" if str(file) not in str(err) else str(err))
            except TypeError:
                return err
    text = str(exc)
    return FormatError(f"{file}: the shard actor could not load it: {text.splitlines()[0] if text else type(exc).__name__}")


def _n_sparse_queries(queries, dim: int) -> int:
    if sp.issparse(queries):
        if queries.ndim != 2 or queries.shape[1] != dim:
            raise ValueError(f"queries: expected {dim} columns (the vocabulary size), got shape {queries.shape}")
        return queries.shape[0]
    if isinstance(queries, tuple):
        if len(queries) == 2:
            return 1
        if len(queries) == 3:
            return len(np.asarray(queries[2])) - 1
        raise ValueError("queries: expected a tuple (indices, values, indptr) or (indices, values)")
    if isinstance(queries, (np.ndarray, list)):
        shape = np.shape(queries)
        if len(shape) not in (1, 2) or shape[-1] != dim:
            raise ValueError(f"queries: expected a dense [n, {dim}] or [{dim}] array, got shape {shape}")
        return 1 if len(shape) == 1 else shape[0]
    raise TypeError(
        "queries: expected a scipy.sparse matrix, a dense numpy array or an (indices, values[, indptr]) "
        f"tuple, got {type(queries).__name__}"
    )


def _n_multivector_queries(queries, query_offsets) -> int:
    if query_offsets is not None:
        return len(np.asarray(query_offsets)) - 1
    if isinstance(queries, (list, tuple)):
        return len(queries)
    if isinstance(queries, np.ndarray):
        if queries.ndim == 3:
            return queries.shape[0]
        raise ValueError(
            f"queries: expected a list of [m, dim] arrays or a 3-d array (or query_offsets), got shape {queries.shape}"
        )
    raise TypeError(f"queries: expected a list of [m, dim] arrays or a 3-d array, got {type(queries).__name__}")
