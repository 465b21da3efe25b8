"""The living index: stable external ids, add / delete / update, segments, filtered search.

One mechanism for every index kind (:class:`~aftershock.SparseIndex`,
:class:`~aftershock.MultiVectorIndex`, :class:`~aftershock.MultiVectorStore`); the
engine-specific parts are a handful of hooks each class implements (build a segment,
export its documents, search one segment with an allow-bitset and a score floor, score
a list of its rows exactly). docs/living-index.md is the user's guide.

Model (Lucene's): an index is an immutable *snapshot* -- a tuple of immutable *segments*
and the next default id. A segment is one ``_core`` index built by the engine's own
algorithm, the int64 external ids of its rows (ascending, so a segment's own tie rule,
"smaller row first", is the external "smaller id first"), and its tombstones (a
copy-on-write bool mask of deleted rows). A write (add / delete / update / merge) builds
what it needs, then replaces the snapshot by one assignment under the writer lock;
searches read the snapshot once and never lock, so they see one consistent state, run
concurrently with one writer, and never see a partial write.

Search walks the segments largest first. Each segment gets the query batch, an
allow-bitset (live rows that pass the filter; none when every row qualifies) and, per
query, the k-th score found so far as a *floor*: the segment returns only documents
scoring at least that, and prunes with it from its first block on. The per-segment
top-k lists are merged by (score desc, external id asc), which is exactly the top-k of
the union. A segment where the filter leaves few rows is scored exactly over those rows
(the planner, ``_plan_exact``).
"""

from __future__ import annotations

import base64
import errno
import io
import json
import math
import os
import secrets
import tarfile
import threading
import weakref
from typing import Any, Callable, ClassVar, NamedTuple

import numpy as np

from . import _core
from ._persist import _crc32c, _format_error, _read_extra, add_sections, read_file_sections, write_atomic
from ._validate import path_value, positive_int, real, strict_bool

__all__ = ["IdFilter", "TieredMergePolicy"]

INT64_MAX = np.iinfo(np.int64).max
_IDS_TAG = b"IDS "
_MANIFEST = "MANIFEST.json"
_MANIFEST_FORMAT = "aftershock-living-index"
_MANIFEST_VERSION = 1


# ---------------------------------------------------------------------------- ids
def check_ids(ids, n: int, name: str = "ids") -> np.ndarray:
    """``n`` unique non-negative integer ids as int64 (ValueError naming a duplicate or a
    negative one, TypeError for a non-integer array)."""
    arr = np.asarray(ids)
    if arr.size == 0 and arr.dtype.kind == "f":
        arr = arr.astype(np.int64)
    if arr.dtype == np.bool_ or arr.dtype.kind not in "iu":
        raise TypeError(f"{name}: expected an integer array, got dtype {arr.dtype}")
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"{name}: expected a 1-d array of {n} ids (one per document), got shape {arr.shape}")
    if arr.size and arr.dtype.kind == "u" and int(arr.max()) > INT64_MAX:
        raise ValueError(f"{name}: id {int(arr.max())} does not fit int64")
    arr = np.ascontiguousarray(arr, dtype=np.int64)
    if arr.size:
        if int(arr.min()) < 0:
            raise ValueError(f"{name}: ids must be >= 0, got {int(arr.min())}")
        s = np.sort(arr)
        dup = np.flatnonzero(s[1:] == s[:-1])
        if dup.size:
            raise ValueError(f"{name}: id {int(s[dup[0]])} appears more than once")
    return arr


def id_list(ids, name: str = "ids") -> np.ndarray:
    """Any integer id or array of ids -> 1-d int64 (duplicates kept)."""
    arr = np.asarray(ids)
    if arr.size == 0 and arr.dtype.kind == "f":
        arr = arr.astype(np.int64)
    if arr.dtype == np.bool_ or arr.dtype.kind not in "iu":
        raise TypeError(f"{name}: expected integer ids, got dtype {arr.dtype}")
    if arr.size and arr.dtype.kind == "u" and int(arr.max()) > INT64_MAX:
        return np.full(1, -1, dtype=np.int64) if arr.ndim == 0 else np.where(arr > INT64_MAX, -1, arr).astype(np.int64)
    return np.ascontiguousarray(arr.reshape(-1), dtype=np.int64)


def bits_of(mask: np.ndarray) -> np.ndarray:
    """bool [n] -> uint64 words [ceil(n / 64)]: bit (d & 63) of word (d >> 6) is mask[d]."""
    n = mask.shape[0]
    padded = np.zeros(-(-n // 64) * 64, dtype=np.bool_)
    padded[:n] = mask
    return np.frombuffer(np.packbits(padded, bitorder="little").tobytes(), dtype="<u8").astype(np.uint64)


# ------------------------------------------------------------------------ filters
class IdFilter:
    """A set of external ids to search within (``exclude=False``) or to leave out
    (``exclude=True``), prepared once and reusable across searches.

    ``index.search(queries, filter=IdFilter(allowed))`` returns only documents whose id is
    in ``allowed``; a plain array of ids passed as ``filter=`` is the same as
    ``IdFilter(ids)``. Ids that are not in the index match nothing (they are not an
    error: a filter often comes from another system's view of the corpus). The filter is
    applied inside each segment's candidate loop, so a query still returns ``k`` results
    when ``k`` documents pass it. The per-segment masks are computed on first use and
    cached on the filter (a segment never changes), so reusing one filter object across
    queries costs its preparation once.

    Parameters
    ----------
    ids : array_like of int
        External ids (duplicates are fine).
    exclude : bool
        False: an allow-list. True: a deny-list (every other live document may be returned).
    materialize : bool
        Search a small index built over the documents the filter lets through instead of
        filtering the whole index: on the first search of each segment, its allowed
        documents (as stored) are indexed by the index's own algorithm and parameters, and
        kept with the filter. For a filter reused over many queries that selects a
        *correlated* part of the corpus (a category, a language, a tenant): its documents
        sit deep in the lists pruned for the whole corpus, where an allow-bitset cannot
        reach them (measured: recall@10 0.86 against 0.95+ for the man-page part of the
        real set, docs/living-index.md). Costs one build of the allowed documents per
        segment (seconds per ten thousand) and its memory (:attr:`size_bytes`). Selective
        filters still go to exact scoring (the planner), never to a tiny index.
    """

    def __init__(self, ids, *, exclude: bool = False, materialize: bool = False) -> None:
        for name, value in (("exclude", exclude), ("materialize", materialize)):
            if not isinstance(value, (bool, np.bool_)):
                raise TypeError(f"{name}: expected a bool, got {type(value).__name__}")
        self.ids = np.unique(id_list(ids, "filter"))
        self.exclude = bool(exclude)
        self.materialize = bool(materialize)
        self._cache: dict[int, tuple[Any, tuple]] = {}
        self._views: dict[int, tuple[Any, Segment]] = {}
        self._lock = threading.Lock()

    @property
    def size_bytes(self) -> int:
        """Bytes held by the filter's materialized indexes (0 unless ``materialize``)."""
        return sum(view.core.size_bytes + view.ids.nbytes for _, view in self._views.values())

    def view(self, seg: Segment, owner: Living) -> Segment:
        """The materialized index of ``seg``'s allowed live rows, built on first use."""
        key = id(seg)
        hit = self._views.get(key)
        if hit is not None and hit[0]() is seg:
            return hit[1]
        mask = self.prepared(seg)[0]
        rows = np.flatnonzero(mask)
        docs = owner._take_docs(owner._export_docs(seg.core), rows)
        view = Segment(owner._build_view_core(docs, seg), seg.ids[rows].copy())
        with self._lock:
            for k in [k for k, (ref, _) in self._views.items() if ref() is None]:
                del self._views[k]  # views of segments merged away
            self._views[key] = (weakref.ref(seg), view)
        return view

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def __repr__(self) -> str:
        return f"IdFilter({len(self)} ids, exclude={self.exclude}, materialize={self.materialize})"

    def prepared(self, seg: Segment) -> tuple[np.ndarray, int, np.ndarray]:
        """(mask, count, allow-bitset) of the segment's live rows the filter lets through,
        computed once per segment state and cached (a segment never changes; a delete makes
        a new segment object)."""
        key = id(seg)
        hit = self._cache.get(key)
        if hit is not None and hit[0]() is seg:
            return hit[1]
        pos = np.searchsorted(self.ids, seg.ids)
        pos[pos == len(self.ids)] = 0
        inside = self.ids[pos] == seg.ids if len(self.ids) else np.zeros(seg.n_docs, dtype=np.bool_)
        mask = ~inside if self.exclude else inside
        if seg.deleted is not None:
            mask &= ~seg.deleted
        mask.setflags(write=False)
        out = (mask, int(np.count_nonzero(mask)), bits_of(mask))
        with self._lock:
            if len(self._cache) > 64:  # segments come and go with merges; keep the cache small
                self._cache.clear()
            # A weak reference: the cache must not keep merged-away segments (their whole
            # index) alive, and an id reused by a new object must not hit.
            self._cache[key] = (weakref.ref(seg), out)
        return out


def as_filter(value) -> IdFilter | None:
    if value is None or isinstance(value, IdFilter):
        return value
    return IdFilter(value)


# ----------------------------------------------------------------------- segments
class Segment:
    """One immutable segment: a ``_core`` index, its rows' external ids (ascending), and
    its tombstones. ``with_deleted`` returns a new segment sharing the core."""

    __slots__ = ("__weakref__", "_live_bits", "core", "del_gen", "deleted", "identity", "ids", "n_deleted", "uid")

    def __init__(self, core, ids: np.ndarray, deleted: np.ndarray | None = None, uid: str | None = None,
                 del_gen: int = 0) -> None:
        self.core = core
        ids.setflags(write=False)
        self.ids = ids
        # Ascending unique ids from 0 to n - 1 are the row numbers: no mapping needed.
        self.identity = ids.shape[0] == 0 or (int(ids[0]) == 0 and int(ids[-1]) == ids.shape[0] - 1)
        if deleted is not None:
            deleted.setflags(write=False)
        self.deleted = deleted
        self.n_deleted = 0 if deleted is None else int(np.count_nonzero(deleted))
        self.uid = uid or secrets.token_hex(8)
        self.del_gen = del_gen
        self._live_bits = None

    @property
    def n_docs(self) -> int:
        return int(self.ids.shape[0])

    @property
    def n_live(self) -> int:
        return self.n_docs - self.n_deleted

    def live_mask(self) -> np.ndarray:
        return np.ones(self.n_docs, dtype=np.bool_) if self.deleted is None else ~self.deleted

    def live_bits(self) -> np.ndarray | None:
        """Allow-bitset of the live rows; None when nothing is deleted."""
        if self.n_deleted == 0:
            return None
        if self._live_bits is None:
            self._live_bits = bits_of(~self.deleted)
        return self._live_bits

    def live_rows_of(self, ids: np.ndarray) -> np.ndarray:
        """Row of each external id in this segment, -1 when absent or deleted."""
        if self.n_docs == 0 or ids.size == 0:
            return np.full(ids.shape, -1, dtype=np.int64)
        pos = np.searchsorted(self.ids, ids)
        pos[pos == self.n_docs] = 0
        found = self.ids[pos] == ids
        if self.deleted is not None:
            found &= ~self.deleted[pos]
        return np.where(found, pos, -1)

    def with_deleted(self, rows: np.ndarray) -> Segment:
        deleted = np.zeros(self.n_docs, dtype=np.bool_) if self.deleted is None else self.deleted.copy()
        deleted[rows] = True
        return Segment(self.core, self.ids, deleted, self.uid, self.del_gen + 1)


class Snapshot(NamedTuple):
    segments: tuple[Segment, ...]
    next_id: int  # the first default id of the next add()

    @property
    def n_live(self) -> int:
        return sum(s.n_live for s in self.segments)


# ------------------------------------------------------------------- merge policy
class TieredMergePolicy:
    """When segments are merged, after Lucene's tiered merge policy (simplified).

    Segments are grouped in tiers by live size: tier ``t`` holds the segments of
    ``floor * segments_per_tier**t`` to ``floor * segments_per_tier**(t+1)`` live
    documents (smaller ones count as ``floor``). When a tier holds ``segments_per_tier``
    segments or more, its ``max_merge_at_once`` smallest are merged into one (which lands
    in a higher tier), so the number of segments grows with the logarithm of the corpus
    size while every document is rewritten O(log n) times. A segment whose deleted
    fraction exceeds ``max_deleted_fraction`` is rewritten alone, reclaiming its space and
    the time its dead rows cost search. ``index.compact()`` merges everything into one
    segment regardless.

    The defaults keep fewer segments than Lucene's (10 per tier): every segment costs a
    search its own per-query work (bounding the blocks of the walked lists), which does not
    shrink with the segment, so a 1,000-document segment costs a query about a tenth of
    what a 63,000-document one does (measured on the real set, docs/living-index.md).

    Merges run inside the write that triggers them (``add`` / ``update`` / ``delete``), on
    the writer's thread; searches go on meanwhile on the previous snapshot.

    Parameters
    ----------
    segments_per_tier : int >= 2
    max_merge_at_once : int >= 2
    floor_docs : int >= 1, optional
        The size below which segments count as equal. Default: 2% of the index's live
        documents, at least 1,000.
    max_deleted_fraction : float in (0, 1]
    """

    def __init__(self, *, segments_per_tier: int = 4, max_merge_at_once: int = 4, floor_docs: int | None = None,
                 max_deleted_fraction: float = 0.33) -> None:
        self.segments_per_tier = positive_int(segments_per_tier, "segments_per_tier", minimum=2)
        self.max_merge_at_once = positive_int(max_merge_at_once, "max_merge_at_once", minimum=2)
        self.floor_docs = None if floor_docs is None else positive_int(floor_docs, "floor_docs")
        frac = real(max_deleted_fraction, "max_deleted_fraction")
        if not 0.0 < frac <= 1.0:
            raise ValueError(f"max_deleted_fraction: expected a number in (0, 1], got {frac!r}")
        self.max_deleted_fraction = frac

    def as_dict(self) -> dict:
        return {"segments_per_tier": self.segments_per_tier, "max_merge_at_once": self.max_merge_at_once,
                "floor_docs": self.floor_docs, "max_deleted_fraction": self.max_deleted_fraction}

    def __repr__(self) -> str:
        return "TieredMergePolicy(" + ", ".join(f"{k}={v!r}" for k, v in self.as_dict().items()) + ")"

    def floor(self, n_live_total: int) -> int:
        return self.floor_docs if self.floor_docs is not None else max(1000, n_live_total // 50)

    def tier(self, n_live: int, floor: int) -> int:
        size = max(n_live, floor)
        return math.floor(math.log(size / floor) / math.log(self.segments_per_tier) + 1e-9)

    def find_merge(self, segments: tuple[Segment, ...]) -> list[Segment] | None:
        """The segments to merge next (two or more, or one to rewrite), or None."""
        for s in segments:
            if s.n_docs and s.n_deleted / s.n_docs > self.max_deleted_fraction and (s.n_live or len(segments) > 1):
                return [s]
        floor = self.floor(sum(s.n_live for s in segments))
        tiers: dict[int, list[Segment]] = {}
        for s in segments:
            tiers.setdefault(self.tier(s.n_live, floor), []).append(s)
        for t in sorted(tiers):
            group = tiers[t]
            if len(group) >= self.segments_per_tier:
                return sorted(group, key=lambda s: s.n_live)[: self.max_merge_at_once]
        return None


def merge_topk(s1, i1, s2, i2, k: int):
    """Row-wise top-k of two result lists by (score desc, id asc). Padding entries (id -1)
    score -inf, which no document scores, so they sort last whatever their id."""
    s = np.concatenate([s1, s2], axis=1)
    i = np.concatenate([i1, i2], axis=1)
    order = np.lexsort((i, -s), axis=1)[:, :k]
    return np.take_along_axis(s, order, axis=1), np.take_along_axis(i, order, axis=1)


# ------------------------------------------------------------------------- mixin
class Living:
    """The living-index behaviour over engine hooks (see the module docstring).

    A class using it implements:

    * ``_build_segment_core(docs, merged)``: a ``_core`` object over ``docs`` (the engine's
      build input, rows already in id order) with this index's build parameters;
      ``merged`` is True when the documents come from a merge (the segment is then
      rebuilt from scratch: e.g. multi-vector centroids are retrained).
    * ``_export_docs(core)``: the segment's stored documents in build-input form.
    * ``_normalize_docs(user_docs)`` (checked, in build-input form), ``_n_docs_of(docs)``,
      ``_take_docs(docs, rows)``, ``_concat_docs(list)``.
    * ``_segment_search(seg, prepared, k, opts, allowed_bits, floors, stats)`` -> (scores,
      rows) and ``_segment_exact(seg, prepared, k, rows, floors, opts)``;
      ``_plan_exact(seg, n_allowed, k, opts)`` decides which one a filtered segment gets.
    * optionally ``_search_steps(steps, prepared, k, opts, stats)``: every segment in one
      call, ``steps`` being (segment, allow-bitset | None, exact rows | None, options) in
      search order; returns (scores, ids) equal to the per-segment loop's, or None when the
      engine has no such call (the default: the loop runs). ``_segment_loop = True`` (a
      private switch, for tests) forces the loop.
      ``opts`` holds the search parameters and ``total_live`` (live documents in all).
    """

    _lock: threading.RLock
    _segment_loop: bool = False  # force the per-segment loop over _search_steps (tests)
    _state: Snapshot
    _segment_params: dict
    merge_policy: TieredMergePolicy
    _core_class: ClassVar[type]

    def _search_steps(self, steps: list, prepared, k: int, opts: dict, stats: list | None):
        """Every planned segment in one engine call (see the class docstring); None: not
        supported, the per-segment loop runs."""

    # ------------------------------------------------------------ state plumbing
    def _init_living(self, core, ids: np.ndarray | None = None, params: dict | None = None) -> None:
        n = core.n_docs
        if ids is None:
            ids = np.arange(n, dtype=np.int64)
        next_id = int(ids.max()) + 1 if n else 0
        self.__dict__["_state"] = Snapshot((Segment(core, ids),), next_id)
        self.__dict__["_lock"] = threading.RLock()
        self.__dict__["_segment_params"] = dict(self._params_of_core(core) if params is None else params)
        self.__dict__["merge_policy"] = TieredMergePolicy()

    def _params_of_core(self, core) -> dict:
        """Build parameters for new segments, read back from a loaded core (hook)."""
        return {}

    @property
    def _core(self):
        """The ``_core`` object of a single-segment index (inspection, tuning helpers)."""
        segs = self._state.segments
        if len(segs) != 1:
            raise ValueError(
                f"{type(self).__name__}: this operation needs a single segment, the index has {len(segs)}; "
                "call compact() first"
            )
        return segs[0].core

    @_core.setter
    def _core(self, core) -> None:
        self._init_living(core)

    @property
    def _is_plain(self) -> bool:
        """A plain segment (below) and no larger id ever assigned (a single file does not
        record the next id): saved as a single file."""
        snap = self._state
        seg = self._plain_segment(snap)
        return seg is not None and snap.next_id == seg.n_docs

    def _plain_segment(self, snap=None):
        """The only segment of ``snap`` (default: the current snapshot) when it holds every
        document under ids = row numbers with nothing deleted, else None."""
        segs = (snap or self._state).segments
        if len(segs) == 1 and segs[0].n_deleted == 0 and segs[0].identity:
            return segs[0]
        return None

    def verify(self) -> None:
        """Check every checksum and structural invariant of a memory-mapped index or store.

        What ``load(..., mmap=True, verify=True)`` checks, deferred: reads each mapped file
        once (O(file size)); what that covers per class: the ``cpp/src/*/README.md``
        sections "Serving from disk". Nothing to do for one loaded into memory or built
        (checked when loaded). Safe to call while other threads search.

        Raises
        ------
        aftershock.FormatError
            A mapped file is damaged.
        """
        for seg in self._state.segments:
            seg.core.verify()

    def _mapping_stats(self) -> dict:
        """``info()["stats"]["mapping"]``: whether every segment is mapped, the mapped
        files' bytes and how many of them are resident (mincore)."""
        segs = self._state.segments
        return {
            "is_mapped": all(seg.core.is_mapped for seg in segs),
            "mapped_bytes": sum(seg.core.mapped_bytes for seg in segs),
            "resident_bytes": sum(seg.core.resident_bytes for seg in segs),
        }

    @property
    def n_docs(self) -> int:
        """Number of live documents (``len(index)``)."""
        return self._state.n_live

    @property
    def n_segments(self) -> int:
        """Segments the index is made of (1 after ``build`` or ``compact()``)."""
        return len(self._state.segments)

    @property
    def dim(self) -> int:
        return self._state.segments[0].core.dim

    @property
    def precision(self) -> str:
        return self._state.segments[0].core.precision

    @property
    def size_bytes(self) -> int:
        """Bytes held in memory, all segments (tombstones and id maps included)."""
        return sum(s.core.size_bytes + s.ids.nbytes + (0 if s.deleted is None else s.deleted.nbytes)
                   for s in self._state.segments)

    def __len__(self) -> int:
        return self.n_docs

    def ids(self) -> np.ndarray:
        """The ids of the live documents, ascending (int64)."""
        parts = [s.ids if s.deleted is None else s.ids[~s.deleted] for s in self._state.segments]
        return np.sort(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)

    def contains(self, ids) -> np.ndarray:
        """Whether each id is a live document: bool array shaped like ``ids``."""
        arr = np.asarray(ids)
        flat = id_list(arr, "ids")
        found = np.zeros(flat.shape, dtype=np.bool_)
        for s in self._state.segments:
            found |= s.live_rows_of(flat) >= 0
        return found.reshape(arr.shape)

    def __contains__(self, doc_id) -> bool:
        if isinstance(doc_id, (bool, np.bool_)) or not isinstance(doc_id, (int, np.integer)):
            return False
        return bool(self.contains(np.int64(doc_id) if 0 <= int(doc_id) <= INT64_MAX else -1))

    def _living_bytes(self) -> dict:
        """Bytes of the id maps and tombstones (part of ``size_bytes``; ``info()`` lists them)."""
        segs = self._state.segments
        return {"ids_bytes": sum(s.ids.nbytes for s in segs),
                "tombstones_bytes": sum(0 if s.deleted is None else s.deleted.nbytes for s in segs)}

    def segments(self) -> list[dict]:
        """One dict per segment: ``n_docs`` (rows), ``n_deleted``, ``n_live``, ``size_bytes``."""
        return [{"n_docs": s.n_docs, "n_deleted": s.n_deleted, "n_live": s.n_live, "size_bytes": s.core.size_bytes}
                for s in self._state.segments]

    # ------------------------------------------------------------------- writes
    def _new_segment(self, docs, ids: np.ndarray, merged: bool = False) -> Segment:
        order = np.argsort(ids, kind="stable")
        if np.any(order != np.arange(order.shape[0])):
            docs = self._take_docs(docs, order)
            ids = ids[order]
        return Segment(self._build_segment_core(docs, merged), np.array(ids, dtype=np.int64))

    def _locate(self, ids: np.ndarray, snap: Snapshot) -> list[np.ndarray]:
        return [s.live_rows_of(ids) for s in snap.segments]

    def _check_missing(self, ids: np.ndarray, rows: list[np.ndarray], missing: str) -> np.ndarray:
        found = np.zeros(ids.shape, dtype=np.bool_)
        for r in rows:
            found |= r >= 0
        if missing == "raise" and not found.all():
            raise KeyError(f"ids: id {int(ids[np.flatnonzero(~found)[0]])} is not in the index")
        return found

    @staticmethod
    def _check_missing_arg(missing) -> str:
        if missing not in ("raise", "ignore"):
            raise ValueError(f"missing: expected 'raise' or 'ignore', got {missing!r}")
        return missing

    def _with_deletes(self, snap: Snapshot, rows: list[np.ndarray]) -> tuple[Segment, ...]:
        out = []
        for seg, r in zip(snap.segments, rows):
            r = r[r >= 0]
            out.append(seg.with_deleted(np.unique(r)) if r.size else seg)
        return tuple(out)

    def add(self, docs, ids=None) -> np.ndarray:
        """Add documents; returns their ids (int64).

        ``docs`` takes what ``build`` takes. ``ids`` (unique int64 >= 0, one per document)
        default to consecutive ids after the largest id the index has ever assigned. An
        id already live in the index is a ``ValueError`` naming it (use :meth:`update`).
        The documents form a new segment, built by the same algorithm and parameters; the
        merge policy (:attr:`merge_policy`) may then merge segments. Searches running
        meanwhile see the index before or after the add, never in between.
        """
        docs = self._normalize_docs(docs)
        with self._lock:
            snap = self._state
            n = self._n_docs_of(docs)
            if ids is None:
                ids = np.arange(snap.next_id, snap.next_id + n, dtype=np.int64)
            else:
                ids = check_ids(ids, n)
            if n == 0:
                return ids
            live = self._check_missing(ids, self._locate(ids, snap), "ignore")
            if live.any():
                raise ValueError(f"ids: id {int(ids[np.flatnonzero(live)[0]])} is already in the index (use update())")
            seg = self._new_segment(docs, ids)
            self._state = Snapshot(snap.segments + (seg,), max(snap.next_id, int(ids.max()) + 1))
            self._merge_by_policy()
            return ids

    def delete(self, ids, *, missing: str = "raise") -> int:
        """Delete documents by id; returns how many were deleted.

        A deleted document is never returned again (the tombstones are applied inside
        every segment's candidate loop); its space is reclaimed by the next merge of its
        segment or :meth:`compact`. An id that is not live is a ``KeyError`` naming it (and
        nothing is deleted), or skipped with ``missing="ignore"``.
        """
        missing = self._check_missing_arg(missing)
        ids = np.unique(id_list(ids, "ids"))
        with self._lock:
            snap = self._state
            rows = self._locate(ids, snap)
            found = self._check_missing(ids, rows, missing)
            if found.any():
                self._state = Snapshot(self._with_deletes(snap, rows), snap.next_id)
                self._merge_by_policy()
            return int(found.sum())

    def update(self, docs, ids, *, missing: str = "raise") -> None:
        """Replace documents, atomically: a search sees every old version or every new one.

        ``docs`` as for :meth:`add`; ``ids`` unique, one per document. An id that is not
        live is a ``KeyError`` naming it, or simply added with ``missing="ignore"``.
        """
        missing = self._check_missing_arg(missing)
        docs = self._normalize_docs(docs)
        with self._lock:
            snap = self._state
            ids = check_ids(ids, self._n_docs_of(docs))
            if ids.size == 0:
                return
            rows = self._locate(ids, snap)
            self._check_missing(ids, rows, missing)
            seg = self._new_segment(docs, ids)
            self._state = Snapshot(self._with_deletes(snap, rows) + (seg,), max(snap.next_id, int(ids.max()) + 1))
            self._merge_by_policy()

    def compact(self) -> None:
        """Merge every segment into one, dropping deleted documents (ids are kept).

        The merged segment is built from scratch by the full algorithm over the live
        documents as stored (multi-vector centroids retrained), so search is then as fast
        as after a fresh ``build`` of the same documents. A no-op on a single segment
        without deletes.
        """
        with self._lock:
            segs = self._state.segments
            if len(segs) == 1 and segs[0].n_deleted == 0:
                return
            self._merge(list(segs))

    def _merge_by_policy(self) -> None:
        for _ in range(64):  # each merge shrinks the segment count or the dead rows
            before = self._state.segments
            group = self.merge_policy.find_merge(before)
            if group is None:
                return
            self._merge(group)
            if self._state.segments == before:
                return

    def _merge(self, group: list[Segment]) -> None:
        """Replace ``group`` (segments of the current snapshot) by one merged segment.
        Called with the writer lock held."""
        snap = self._state
        parts, ids = [], []
        for seg in group:
            if seg.n_live == 0:
                continue
            docs = self._export_docs(seg.core)
            keep = np.flatnonzero(seg.live_mask())
            parts.append(docs if keep.shape[0] == seg.n_docs else self._take_docs(docs, keep))
            ids.append(seg.ids[keep])
        gone = {id(s) for s in group}
        rest = tuple(s for s in snap.segments if id(s) not in gone)
        if parts:
            merged = self._new_segment(self._concat_docs(parts), np.concatenate(ids), merged=True)
            rest = rest + (merged,)
        if not rest:  # everything was deleted: keep one (empty) segment, for dim and the like
            rest = (group[0],)
        self._state = Snapshot(rest, snap.next_id)

    def _build_view_core(self, docs, seg: Segment):
        """The core of a materialized filter view over some of ``seg``'s documents (hook;
        by default a segment built from scratch)."""
        return self._build_segment_core(docs, True)

    def _live_docs(self):
        """Every live document as stored, in ascending id order: (docs, ids)."""
        parts, ids = [], []
        for seg in self._state.segments:
            if seg.n_live:
                docs = self._export_docs(seg.core)
                keep = np.flatnonzero(seg.live_mask())
                parts.append(docs if keep.shape[0] == seg.n_docs else self._take_docs(docs, keep))
                ids.append(seg.ids[keep])
        if not parts:
            return None, np.zeros(0, dtype=np.int64)
        all_ids = np.concatenate(ids)
        order = np.argsort(all_ids, kind="stable")
        return self._take_docs(self._concat_docs(parts), order), all_ids[order]

    # ------------------------------------------------------------------- search
    def _search_live(self, prepared, n_queries: int, k: int, opts: dict, filter=None, stats: list | None = None):
        """Top-k over every segment (see the module docstring): scores float32 and
        external ids int64, both [n_queries, k]."""
        snap = self._state
        flt = as_filter(filter)
        scores = ids = floors = None
        order = sorted((s for s in snap.segments if s.n_live), key=lambda s: -s.n_live)
        if flt is None:
            plan = [(seg, None, seg.n_live, seg.live_bits()) for seg in order]
        else:
            plan = [(seg, *flt.prepared(seg)) for seg in order]
            plan = [p for p in plan if p[2]]
        # The documents that can be returned, in all (a multi-vector segment's share of the
        # candidates is its part of them).
        opts = {**opts, "total_live": sum(p[2] for p in plan)}
        # The plan per segment: (segment or its materialized view, allow-bitset | None,
        # exact rows | None, options).
        steps = []
        for seg, mask, n_allowed, bits in plan:
            if mask is not None and self._plan_exact(seg, n_allowed, k, opts):
                steps.append((seg, None, np.flatnonzero(mask).astype(np.uint32), opts))
            elif flt is not None and flt.materialize and n_allowed < seg.n_live:
                # A filter-aware search setting as on the bitset path, half as strong: the
                # view's lists hold only allowed documents (the fraction is of the segment
                # the view was cut from).
                seg_opts = {**opts, "allowed_fraction": 0.5 + 0.5 * n_allowed / seg.n_docs}
                steps.append((flt.view(seg, self), None, None, seg_opts))
            else:
                seg_opts = opts if mask is None else {**opts, "allowed_fraction": n_allowed / seg.n_docs}
                steps.append((seg, bits, None, seg_opts))
        if steps and not self._segment_loop:
            found = self._search_steps(steps, prepared, k, opts, stats)
            if found is not None:
                return found
        for pos, (seg, bits, rows, seg_opts) in enumerate(steps):
            if rows is not None:
                s, r = self._segment_exact(seg, prepared, k, rows, floors, seg_opts)
            else:
                s, r = self._segment_search(seg, prepared, k, seg_opts, bits, floors, stats)
            ext = r if seg.identity else np.where(r >= 0, seg.ids[np.maximum(r, 0)], -1)
            if scores is None:
                scores, ids = s, ext
            else:
                scores, ids = merge_topk(scores, ids, s, ext, k)
            if pos + 1 < len(steps):
                floors = np.ascontiguousarray(scores[:, k - 1], dtype=np.float32)
        if scores is None:
            # Nothing can match (all deleted or filtered out): the padded result comes from a
            # search allowing no document, so the query and k checks (a huge k is a
            # ValueError naming it, not a MemoryError) are the core's as always.
            seg = snap.segments[0]
            none = np.zeros(-(-seg.n_docs // 64), dtype=np.uint64)
            scores, ids = self._segment_search(seg, prepared, k, opts, none, None, stats)
        return scores, ids

    # -------------------------------------------------------------- persistence
    def _segment_files(self) -> dict[str, Callable[[], bytes]]:
        """name -> producer of its bytes, for every file of the directory layout, and the
        manifest body (written last)."""
        snap = self._state
        files: dict[str, Callable[[], bytes]] = {}
        entries = []
        for seg in snap.segments:
            name = f"seg-{seg.uid}.aft"
            files[name] = (lambda seg=seg: add_sections(seg.core.to_bytes(), {_IDS_TAG: seg.ids.astype("<i8").tobytes()}))
            entry = {"file": name, "n_docs": seg.n_docs, "deletes": None}
            if seg.n_deleted:
                dname = f"del-{seg.uid}-{seg.del_gen}.bin"
                rows = np.flatnonzero(seg.deleted).astype("<u4").tobytes()
                files[dname] = (lambda rows=rows: rows)
                entry["deletes"] = {"file": dname, "count": seg.n_deleted, "crc32c": _crc32c(rows)}
            entries.append(entry)
        tune = self._extra_sections() if hasattr(self, "_extra_sections") else {}
        body = {
            "format": _MANIFEST_FORMAT,
            "version": _MANIFEST_VERSION,
            "kind": type(self).__name__,
            "next_id": snap.next_id,
            "segments": entries,
            "merge_policy": self.merge_policy.as_dict(),
            "segment_params": self._segment_params_json(),
            "sections": {tag.decode("latin-1"): base64.b64encode(p).decode() for tag, p in tune.items()},
        }
        text = json.dumps(body, sort_keys=True).encode()
        files[_MANIFEST] = lambda: json.dumps({"body": body, "crc32c": _crc32c(text)}, sort_keys=True).encode()
        return files

    def _segment_params_json(self) -> dict:
        return {k: v for k, v in self._segment_params.items() if isinstance(v, (int, float, str, bool, type(None)))}

    def _save_directory(self, raw: bytes) -> None:
        os.makedirs(raw, exist_ok=True)
        files = self._segment_files()
        manifest = files.pop(_MANIFEST)
        for name, produce in files.items():
            target = os.path.join(raw, os.fsencode(name))
            # Segment files and tombstone generations are immutable: an existing one holds
            # these very bytes (names are random per segment), so a save after a few adds
            # writes only the new segments, tombstones and the manifest.
            if not os.path.isfile(target):
                write_atomic(target, produce())
        write_atomic(os.path.join(raw, os.fsencode(_MANIFEST)), manifest())
        # Only after the new manifest is durable: drop the files no manifest names.
        for entry in os.listdir(raw):
            name = os.fsdecode(entry)
            ours = (name.startswith("seg-") and name.endswith(".aft")) or (name.startswith("del-") and name.endswith(".bin"))
            if ours and name not in files:
                try:
                    os.unlink(os.path.join(raw, entry))
                except OSError:
                    pass

    def _to_tar(self) -> bytes:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for name, produce in self._segment_files().items():
                data = produce()
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        return buf.getvalue()

    @classmethod
    def _load_layout(cls, read: Callable[[str], bytes], load_core: Callable[[str], Any], where: str,
                     read_sections: Callable[[str, Callable], Any]):
        """An index from the directory layout: ``read(name)`` gives a file's bytes,
        ``load_core(name)`` its ``_core`` object, ``read_sections(name, use)`` calls
        ``use(read_at, size)`` over a file (to read a few sections, never all of it)."""

        def bad(why: str) -> Exception:
            return _format_error(f"{where}: {why}")

        try:
            doc = json.loads(read(_MANIFEST))
            body = doc["body"]
            ok = _crc32c(json.dumps(body, sort_keys=True).encode()) == doc["crc32c"]
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            raise bad("manifest is not valid (damaged file)") from None
        if not ok:
            raise bad("manifest checksum mismatch (damaged file)")
        try:
            if body["format"] != _MANIFEST_FORMAT or body["version"] != _MANIFEST_VERSION:
                raise bad(f"not a living-index manifest of version {_MANIFEST_VERSION}")
            if body["kind"] != cls.__name__:
                raise bad(f"holds a {body['kind']}, not a {cls.__name__}")
            segments = []
            for e in body["segments"]:
                data_name = e["file"]
                core = load_core(data_name)
                ids = read_sections(data_name, lambda read_at, size: cls._read_ids(read_at, size, core.n_docs, bad))
                deleted = None
                if e["deletes"] is not None:
                    raw = read(e["deletes"]["file"])
                    if _crc32c(raw) != e["deletes"]["crc32c"] or len(raw) % 4:
                        raise bad(f"{e['deletes']['file']}: checksum mismatch (damaged file)")
                    rows = np.frombuffer(raw, dtype="<u4").astype(np.int64)
                    if rows.size != e["deletes"]["count"] or (rows.size and (rows[-1] >= core.n_docs or np.any(np.diff(rows) <= 0))):
                        raise bad(f"{e['deletes']['file']}: rows out of range or not ascending")
                    deleted = np.zeros(core.n_docs, dtype=np.bool_)
                    deleted[rows] = True
                uid = data_name[4:-4]
                gen = int(e["deletes"]["file"].rsplit("-", 1)[1][:-4]) if e["deletes"] else 0
                segments.append(Segment(core, ids, deleted, uid, gen))
            next_id = int(body["next_id"])
            policy = TieredMergePolicy(**body["merge_policy"])
            params = dict(body["segment_params"])
            sections = {k.encode("latin-1"): base64.b64decode(v) for k, v in body["sections"].items()}
        except _core.FormatError:
            raise
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
            raise bad(f"manifest is inconsistent ({exc})") from None
        all_ids = np.concatenate([s.ids[s.live_mask()] for s in segments]) if segments else np.zeros(0, np.int64)
        if all_ids.size and (np.unique(all_ids).size != all_ids.size or int(all_ids.max()) >= next_id):
            raise bad("live ids repeat across segments or exceed next_id")
        obj = cls.__new__(cls)
        obj.__dict__["_state"] = Snapshot(tuple(segments), next_id)
        obj.__dict__["_lock"] = threading.RLock()
        obj.__dict__["_segment_params"] = params
        obj.__dict__["merge_policy"] = policy
        if hasattr(obj, "_restore_extra"):
            obj._restore_extra(sections)
        return obj

    @staticmethod
    def _read_ids(read_at, size: int, n_docs: int, bad) -> np.ndarray:
        sections = _read_extra(read_at, size, (_IDS_TAG,))
        if _IDS_TAG not in sections:
            raise bad("a segment file has no id section")
        raw = sections[_IDS_TAG]
        if len(raw) != 8 * n_docs:
            raise bad("a segment's id section does not match its documents")
        ids = np.frombuffer(raw, dtype="<i8").astype(np.int64)
        if ids.size and (int(ids[0]) < 0 or np.any(np.diff(ids) <= 0)):
            raise bad("a segment's ids are negative or not ascending")
        return ids

    # The single-file path: Persistent's (next in the MRO).
    def _save_file(self, raw: bytes) -> None:
        super().save(raw)

    @classmethod
    def _load_file(cls, raw: bytes, **core_options):
        return super().load(raw, **core_options)

    def _file_bytes(self) -> bytes:
        return super().to_bytes()

    @classmethod
    def _from_file_bytes(cls, data: bytes):
        return super().from_bytes(data)

    # The public save / load / to_bytes / from_bytes of every living class.
    def save(self, path) -> None:
        """Save atomically.

        A plain index (one segment, nothing deleted, ids = row numbers, as ``build``
        without ``ids`` makes it) is one file, as before (an existing directory at ``path``
        is an ``IsADirectoryError``), unless ``path`` is a directory an index was saved
        into before. Otherwise ``path`` is a directory (created if missing; an existing
        one must be empty or hold an index saved before, else ``ValueError``): one
        checksummed file per segment (written once: a segment never changes), one file per
        generation of a segment's tombstones, and ``MANIFEST.json`` (checksummed) naming
        them, replaced atomically (write, fsync, rename) after every other file is durable
        -- so a save after a few adds writes only what changed, and an interrupted save
        leaves the previous index loadable. Files the new manifest does not name are
        removed last. A non-plain index cannot be saved over an existing single file
        (``ValueError`` naming ``path``).
        """
        raw = path_value(path)
        manifest = os.path.join(raw, os.fsencode(_MANIFEST))
        if self._is_plain and not os.path.isfile(manifest):
            self._save_file(raw)
            return
        if os.path.exists(raw) and not os.path.isdir(raw):
            raise ValueError(
                f"path: {os.fsdecode(raw)!r} is a file; an index with several segments, deletes or its own ids "
                "is saved as a directory (choose another path, or compact() an index without ids)"
            )
        if os.path.isdir(raw) and os.listdir(raw) and not os.path.isfile(manifest):
            raise ValueError(
                f"path: {os.fsdecode(raw)!r} is a directory holding other files; an index is saved into a new "
                "or empty directory, or over an index saved there before"
            )
        with self._lock:  # one consistent snapshot; no writer changes it meanwhile
            self._save_directory(raw)

    @classmethod
    def load(cls, path, *, mmap: bool = False, verify: bool | None = None, populate: bool = False):
        """Load what :meth:`save` wrote (a file or a directory): read into memory (default)
        or memory-mapped.

        Parameters
        ----------
        path : str, bytes or os.PathLike
            A file, or a directory :meth:`save` wrote (several segments, deletes or ids).
        mmap : bool, default False
            Map the file(s) (read-only, shared) instead of reading them: loading takes the
            same time whatever the index size, pages are read from disk on first use, and
            every process that maps the same file shares one copy of its pages (the page
            cache) instead of holding a private one. POSIX only (``ValueError``
            elsewhere). The default (in memory, on huge pages where
            available) searches fastest warm and never touches the disk again. Of a
            directory, the segment files are mapped; ids and tombstones are read.
        verify : bool, optional
            Check every checksum and every structural invariant. Default: True without
            ``mmap`` (always done there; False is a ``ValueError``), False with ``mmap``.
            A mapped load without verify checks the header, the section table, the file
            size (a truncated file raises ``FormatError``), the configuration and the
            small per-term arrays; the content of the large sections (forward index,
            postings, blocks, summaries, kNN graph) is trusted: a file damaged inside them
            may give wrong results or crash the process at search time. Use
            ``verify=True`` (or :meth:`verify` before serving) for files of unknown
            provenance; it reads every file once.
        populate : bool, default False
            With ``mmap``: read the whole file into the page cache now (``MAP_POPULATE``),
            so the first searches do not wait for the disk. ``ValueError`` without ``mmap``.

        Raises
        ------
        TypeError
            ``path`` is not a str, bytes or os.PathLike; ``mmap``, ``verify`` (other than
            None) or ``populate`` is not a bool.
        ValueError
            ``path`` is empty or has a NUL byte; ``verify=False`` or ``populate=True``
            without ``mmap``; ``mmap=True`` on a platform that cannot map.
        aftershock.FormatError
            A damaged file, manifest, segment or tombstone file (as far as checked, see
            ``verify``), another kind of object, another major format version.
        OSError
            As ``open`` raises it (``IsADirectoryError`` for a directory without a
            manifest).

        Notes
        -----
        A mapped index stays valid after its file is deleted or replaced by a new
        :meth:`save` (which writes new files and renames): the mapping keeps the old
        file's pages alive. A file truncated *in place* by another process while it is
        mapped cannot be detected: the next search touching the lost pages is killed by
        ``SIGBUS``. Replace index files by saving anew; never truncate or rewrite them in
        place. Pickling a mapped index pickles its bytes, as for any index.
        """
        core_options = cls._load_options(mmap, verify, populate)
        raw = path_value(path)
        if os.path.isdir(raw):
            where = os.fsdecode(raw)

            def read(name: str) -> bytes:
                try:
                    with open(os.path.join(raw, os.fsencode(name)), "rb") as f:
                        return f.read()
                except FileNotFoundError:
                    raise _format_error(f"{where}: {name} is missing") from None

            def file_of(name: str) -> bytes:
                p = os.path.join(raw, os.fsencode(name))
                if not os.path.isfile(p):
                    raise _format_error(f"{where}: {name} is missing")
                return p

            if not os.path.isfile(os.path.join(raw, os.fsencode(_MANIFEST))):
                raise IsADirectoryError(errno.EISDIR, f"Is a directory, not a saved index (no {_MANIFEST})", where)
            return cls._load_layout(
                read,
                lambda name: cls._core_class.load(file_of(name), **core_options),
                where,
                lambda name, use: read_file_sections(file_of(name), use),
            )
        return cls._load_file(raw, **core_options)

    @classmethod
    def _load_options(cls, mmap, verify, populate) -> dict:
        """The core's load options, checked: {} for the plain in-memory load."""
        mmap = strict_bool(mmap, "mmap")
        populate = strict_bool(populate, "populate")
        if verify is not None:
            verify = strict_bool(verify, "verify")
        if not mmap:
            if verify is False:
                raise ValueError("verify: a load into memory always verifies; verify=False needs mmap=True")
            if populate:
                raise ValueError("populate: needs mmap=True (a load into memory reads the whole file anyway)")
            return {}
        return {"mmap": True, "verify": bool(verify), "populate": populate}

    def to_bytes(self) -> bytes:
        """The bytes of :meth:`save`: the single file of a plain index, else the directory
        layout as an (uncompressed) tar archive. Pickling uses them."""
        if self._is_plain:
            return self._file_bytes()
        with self._lock:
            return self._to_tar()

    @classmethod
    def from_bytes(cls, data: bytes):
        """Inverse of :meth:`to_bytes`, with the checks of :meth:`load`."""
        data = bytes(data)
        if data[:8] != b"AFTSHOCK" and len(data) >= 512:
            blobs = None
            try:
                with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
                    blobs = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
            except tarfile.TarError:
                pass
            if blobs is not None:

                def read(name: str) -> bytes:
                    if name not in blobs:
                        raise _format_error(f"bytes: {name} is missing")
                    return blobs[name]

                return cls._load_layout(
                    read,
                    lambda name: cls._core_class.from_bytes(read(name)),
                    "bytes",
                    lambda name, use: use(lambda offset, n: read(name)[offset : offset + n], len(read(name))),
                )
        return cls._from_file_bytes(data)

    def __reduce__(self):
        return (self.__class__.from_bytes, (self.to_bytes(),))


# ------------------------------------------------------------------ ragged rows
def take_ragged(offsets: np.ndarray, arrays: list[np.ndarray], rows: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Rows ``rows`` (in that order) of a ragged collection: ``offsets`` int64 [n + 1] and
    ``arrays`` indexed by position (CSR indices/values, or token vectors)."""
    rows = np.asarray(rows, dtype=np.int64)
    starts = offsets[rows]
    lengths = offsets[rows + 1] - starts
    out = np.zeros(rows.shape[0] + 1, dtype=np.int64)
    np.cumsum(lengths, out=out[1:])
    index = np.repeat(starts - out[:-1], lengths) + np.arange(out[-1], dtype=np.int64)
    return out, [np.ascontiguousarray(a[index]) for a in arrays]


def concat_ragged(parts: list[tuple[np.ndarray, list[np.ndarray]]]) -> tuple[np.ndarray, list[np.ndarray]]:
    """``(offsets, arrays)`` pairs joined into one collection."""
    offsets = [np.zeros(1, dtype=np.int64)]
    base = 0
    for off, _ in parts:
        offsets.append(off[1:] + base)
        base += int(off[-1])
    arrays = [np.ascontiguousarray(np.concatenate([p[1][j] for p in parts])) for j in range(len(parts[0][1]))]
    return np.concatenate(offsets), arrays


class RaggedDocs:
    """The living-index hooks of the token-set classes (MultiVectorIndex, MultiVectorStore):
    documents are ``(vectors float32 [total, dim], offsets int64 [n + 1])``."""

    def add(self, vectors, offsets=None, ids=None) -> np.ndarray:
        """Add documents (``vectors`` / ``offsets`` as ``build`` takes them); returns their
        ids. The rules are :meth:`aftershock.SparseIndex.add`'s."""
        return Living.add(self, (vectors, offsets), ids)

    def update(self, vectors, offsets=None, ids=None, *, missing: str = "raise") -> None:
        """Replace the documents ``ids`` (atomically) by ``vectors`` / ``offsets``; see
        :meth:`aftershock.SparseIndex.update`."""
        if ids is None:
            raise TypeError("update: ids is required")
        Living.update(self, (vectors, offsets), ids, missing=missing)

    def _normalize_docs(self, docs):
        from ._validate import as_ragged

        vectors, offsets = docs
        if offsets is None and not isinstance(vectors, (list, tuple)) and np.ndim(vectors) == 2:
            raise ValueError("offsets: required when vectors is a 2-d [total_tokens, dim] array")
        return as_ragged(vectors, offsets, "vectors", "offsets", self.dim)

    def _n_docs_of(self, docs) -> int:
        return len(docs[1]) - 1

    def _take_docs(self, docs, rows):
        offs, (flat,) = take_ragged(docs[1], [docs[0]], rows)
        return flat, offs

    def _concat_docs(self, parts):
        offs, (flat,) = concat_ragged([(p[1], [p[0]]) for p in parts])
        return flat, offs

    def _export_docs(self, core):
        return core.tokens()
