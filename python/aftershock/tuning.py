"""Tuning search parameters to a target recall: :class:`TuneResult` and the search behind ``tune()``.

``SparseIndex.tune`` and ``MultiVectorIndex.tune`` share this module. Each engine has two
knobs, ordered from cheap (fast, lower recall) to expensive (slow, higher recall):

=================  ==========================  ====================================
engine             outer knob                  inner knob
=================  ==========================  ====================================
SparseIndex        ``query_cut`` (ascending)   ``heap_factor`` (descending)
MultiVectorIndex   ``n_probe`` (ascending)     ``n_candidates`` (ascending)
  (muvera)         --                          ``n_candidates`` (ascending)
=================  ==========================  ====================================

The search (``_search``):

1. **Coarse frontier.** For each value of the outer knob on a coarse grid, bisect the
   inner knob's coarse grid for its cheapest value reaching the target recall (recall is
   monotone in the inner knob, for a fixed outer value, up to noise). That gives one point
   of the recall frontier per outer value; each point's latency is measured. The walk
   stops early once the frontier's latency has risen twice in a row (the frontier is
   U-shaped: small outer values need an expensive inner value, large ones cost by
   themselves).
2. **Refine.** Around the fastest frontier point, the outer knob is tried at the values
   between its coarse neighbours, and the inner knob is bisected again on a finer grid
   between the coarse value that missed the target and the one that reached it.
3. **Choose** the fastest setting whose recall reaches the target (and, with ``max_ms``,
   whose latency is at most ``max_ms``).

Reaching the target means that the lower 95% confidence bound of the setting's recall does:
``mean - 1.645 std / sqrt(n_queries)`` over the sample's per-query recalls (about 0.013 below
the mean for 200 queries at recall 0.95), so that the setting holds on queries outside the
sample; when no setting's bound reaches it, one whose sample recall does is taken.

Latency is the minimum over ``repeats`` runs of the whole sample (the minimum is the
least noisy statistic on a shared machine: noise only ever adds time), divided by the
number of queries. Recall is measured once per setting (it does not depend on timing).
Every setting tried is reported in :attr:`TuneResult.trials`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ._validate import positive_int, real

__all__ = ["Trial", "TuneResult"]


@dataclass(frozen=True)
class Trial:
    """One setting ``tune()`` tried.

    Attributes
    ----------
    params : dict
        The search parameters (the engine's knobs, e.g. ``{"query_cut": 8, "heap_factor": 0.8}``).
    recall : float
        Mean recall@k against exact search over the sample queries.
    ms_per_query : float
        Minimum over the repeats of the sample's wall time, per query, in milliseconds
        (with the ``num_threads`` given to ``tune``); ``nan`` when only recall was measured
        (a bisection step below the target).
    phase : str
        ``"coarse"`` or ``"refine"`` (see :mod:`aftershock.tuning`).
    """

    params: dict
    recall: float
    ms_per_query: float
    phase: str

    def as_row(self) -> dict:
        return {**self.params, "recall": self.recall, "ms_per_query": self.ms_per_query, "phase": self.phase}


@dataclass(frozen=True)
class TuneResult:
    """What ``tune()`` found and everything it tried.

    Attributes
    ----------
    params : dict
        The chosen search parameters: the fastest setting tried that reaches
        ``target_recall`` (within ``max_ms``). When none does, the setting with the best
        recall, and ``reached`` is False.
    recall, ms_per_query : float
        The chosen setting's measured recall@k and latency (see :class:`Trial`).
    reached : bool
        Whether ``params`` reaches ``target_recall`` (and ``max_ms``). Only a reached
        result is stored as the index's defaults.
    target_recall : float
    k : int
    n_queries : int
        Sample queries used.
    queries : str
        ``"given"`` (the caller's queries) or ``"documents"`` (sampled from the corpus).
    trials : tuple of Trial
        Every setting tried, in the order tried.
    """

    params: dict
    recall: float
    ms_per_query: float
    reached: bool
    target_recall: float
    k: int
    n_queries: int
    queries: str
    trials: tuple = field(default_factory=tuple)

    def table(self) -> list[dict]:
        """The trials as a list of flat dicts (one per setting: the knobs, ``recall``,
        ``ms_per_query``, ``phase`` and ``chosen``), e.g. for ``pandas.DataFrame``."""
        rows = []
        for t in self.trials:
            rows.append({**t.as_row(), "chosen": t.params == self.params})
        return rows

    def __str__(self) -> str:
        rows = self.table()
        if not rows:
            return "TuneResult(no trials)"
        keys = list(self.params)
        head = " ".join(f"{k:>14}" for k in keys) + f" {'recall':>8} {'ms/query':>9} {'phase':>7}"
        lines = [head]
        for r in rows:
            mark = " *" if r["chosen"] else ""
            lines.append(
                " ".join(f"{r[k]!s:>14}" for k in keys)
                + f" {r['recall']:8.4f} {r['ms_per_query']:9.4f} {r['phase']:>7}{mark}"
            )
        status = "reached" if self.reached else "NOT reached"
        lines.append(
            f"target recall@{self.k} {self.target_recall} {status}: {self.params} "
            f"(recall {self.recall:.4f}, {self.ms_per_query:.4f} ms/query, {self.n_queries} {self.queries} queries)"
        )
        return "\n".join(lines)


def check_target(target_recall, k) -> tuple[float, int]:
    """``target_recall`` in (0, 1] and ``k >= 1``; ValueError / TypeError naming them."""
    t = real(target_recall, "target_recall")
    if not (0.0 < t <= 1.0):
        raise ValueError(f"target_recall: expected a number in (0, 1], got {target_recall!r}")
    return t, positive_int(k, "k")


def per_query_recall(ids: np.ndarray, truth: np.ndarray, k: int) -> np.ndarray:
    """``|ids[:k] ∩ truth[:k]| / |truth[:k]|`` per query (padding ``-1`` ignored; a query
    whose exact top-k is empty counts as 1)."""
    out = np.ones(len(ids), dtype=np.float64)
    for i, (got, exp) in enumerate(zip(ids[:, :k], truth[:, :k])):
        exp_set = {int(x) for x in exp if x >= 0}
        if exp_set:
            out[i] = len(exp_set.intersection(int(x) for x in got if x >= 0)) / len(exp_set)
    return out


def recall_at_k(ids: np.ndarray, truth: np.ndarray, k: int) -> float:
    """Mean over queries of :func:`per_query_recall`."""
    return float(per_query_recall(ids, truth, k).mean()) if len(ids) else 0.0


# One-sided 95% normal quantile: a setting reaches the target when the lower confidence
# bound of its recall (mean - _Z * standard error over the sample's queries) does.
_Z = 1.645


def _between(lo, hi, n: int, integer: bool) -> list:
    """Up to ``n`` values strictly between lo and hi (either order), evenly spaced."""
    if integer:
        a, b = sorted((int(lo), int(hi)))
        inner = list(range(a + 1, b))
        if len(inner) > n:
            inner = sorted({inner[round(i * (len(inner) - 1) / (n - 1))] for i in range(n)})
        return inner if lo < hi else inner[::-1]
    return [lo + (hi - lo) * (i + 1) / (n + 1) for i in range(n)]


@dataclass
class Knob:
    name: str
    coarse: Sequence  # cheap -> expensive
    integer: bool
    fine_points: int = 4
    round_to: int = 3  # decimals for float knobs


def search_settings(
    run: Callable[[dict], np.ndarray],
    truth: np.ndarray,
    k: int,
    target: float,
    outer: Knob | None,
    inner: Knob,
    *,
    fixed: dict | None = None,
    repeats: int = 3,
    max_ms: float | None = None,
) -> tuple[dict, float, float, bool, list[Trial]]:
    """The search of the module docstring. ``run(params)`` returns ids ``[n_queries, >= k]``.

    Returns (params, recall, ms_per_query, reached, trials).
    """
    fixed = dict(fixed or {})
    n = len(truth)
    # A setting reaches the target when the lower 95% confidence bound of its recall does
    # (per-query recalls: mean - 1.645 std / sqrt(n)), so that it holds on held-out queries
    # too and not only on the sample (measured on the real sparse set: 0.9456 held out for
    # 0.9565 on the sample when the mean alone had to reach 0.95).
    trials: list[Trial] = []
    recall_of: dict[tuple, float] = {}
    lower_of: dict[tuple, float] = {}
    ms_of: dict[tuple, float] = {}

    def key(p: dict) -> tuple:
        return tuple(sorted(p.items()))

    def timed(p: dict) -> float:
        t0 = time.perf_counter()
        ids = run({**fixed, **p})
        ms = (time.perf_counter() - t0) * 1e3 / max(n, 1)
        kk = key(p)
        if kk not in recall_of:
            per = per_query_recall(np.asarray(ids), truth, k)
            recall_of[kk] = float(per.mean()) if len(per) else 0.0
            lower_of[kk] = recall_of[kk] - (_Z * float(per.std(ddof=1)) / math.sqrt(len(per)) if len(per) > 1 else 0.0)
        ms_of[kk] = min(ms_of.get(kk, math.inf), ms)
        return ms

    def measure_recall(p: dict, phase: str) -> float:
        """The lower confidence bound of the setting's recall (what must reach the target)."""
        kk = key(p)
        if kk not in recall_of:
            timed(p)
            trials.append(Trial(dict(p), recall_of[kk], math.nan, phase))
        return lower_of[kk]

    def measure_latency(p: dict, phase: str) -> float:
        kk = key(p)
        for _ in range(repeats - (1 if kk in ms_of else 0)):
            timed(p)
        # the trial row of this setting gets its latency
        for i, t in enumerate(trials):
            if key(t.params) == kk:
                trials[i] = Trial(t.params, recall_of[kk], ms_of[kk], t.phase)
                break
        else:
            trials.append(Trial(dict(p), recall_of[kk], ms_of[kk], phase))
        return ms_of[kk]

    def cheapest_inner(o_params: dict, values: Sequence, phase: str):
        """Bisection: the cheapest of ``values`` reaching the target (None if none does).

        The most expensive value is only measured when the bisection ends on it: it is the
        costliest search of the grid (e.g. ``n_candidates = n_docs``, exact search).
        """
        lo, hi = 0, len(values) - 1
        while lo < hi:
            mid = (lo + hi) // 2
            if measure_recall({**o_params, inner.name: values[mid]}, phase) >= target:
                hi = mid
            else:
                lo = mid + 1
        if measure_recall({**o_params, inner.name: values[lo]}, phase) < target:
            return None
        return lo

    def inner_value(v):
        return int(v) if inner.integer else round(float(v), inner.round_to)

    frontier: list[tuple[dict, float, int]] = []  # (params, ms, index into inner.coarse)
    outer_values = list(outer.coarse) if outer is not None else [None]
    rises = 0
    best_ms = math.inf
    for o in outer_values:
        o_params = {} if outer is None else {outer.name: o}
        j = cheapest_inner(o_params, [inner_value(v) for v in inner.coarse], "coarse")
        if j is None:
            continue
        p = {**o_params, inner.name: inner_value(inner.coarse[j])}
        ms = measure_latency(p, "coarse")
        frontier.append((p, ms, j))
        if ms < best_ms:
            best_ms, rises = ms, 0
        else:
            rises += 1
            if rises >= 2:
                break

    if frontier:
        p0, _, _ = min(frontier, key=lambda f: f[1])
        # Refine around p0: the outer knob between its coarse neighbours, the inner knob on
        # a fine grid between the coarse value below the frontier and the frontier's.
        outs = [p0.get(outer.name)] if outer is not None else [None]
        if outer is not None:
            i = list(outer.coarse).index(p0[outer.name])
            if i > 0:
                outs += _between(outer.coarse[i - 1], p0[outer.name], outer.fine_points, outer.integer)
            if i + 1 < len(outer.coarse):
                outs += _between(p0[outer.name], outer.coarse[i + 1], outer.fine_points, outer.integer)
        for o in outs:
            o_params = {} if outer is None else {outer.name: o}
            # This outer value's coarse frontier index (bisect again if it was not walked).
            j = next((f[2] for f in frontier if outer is None or f[0][outer.name] == o), None)
            if j is None:
                j = cheapest_inner(o_params, [inner_value(v) for v in inner.coarse], "refine")
                if j is None:
                    continue
            hi_v = inner.coarse[j]
            values = [inner_value(hi_v)]
            if j > 0:
                fine = [
                    inner_value(v)
                    for v in _between(inner.coarse[j - 1], hi_v, inner.fine_points, inner.integer)
                ]
                values = list(dict.fromkeys(fine + values))
            jj = cheapest_inner(o_params, values, "refine")
            if jj is None:
                continue
            p = {**o_params, inner.name: values[jj]}
            measure_latency(p, "refine")

    def qualifying(confident: bool) -> list[Trial]:
        return [
            t
            for t in trials
            if (lower_of[key(t.params)] if confident else t.recall) >= target
            and not math.isnan(t.ms_per_query)
            and (max_ms is None or t.ms_per_query <= max_ms)
        ]

    # The fastest setting whose recall bound reaches the target; failing that, one whose
    # sample recall does.
    ok = qualifying(True) or qualifying(False)
    if ok:
        best = min(ok, key=lambda t: (t.ms_per_query, -t.recall))
        return dict(best.params), best.recall, best.ms_per_query, True, trials
    # Nothing reaches the target (within max_ms): report the best recall found.
    best = max(
        trials, key=lambda t: (t.recall, -(t.ms_per_query if not math.isnan(t.ms_per_query) else math.inf))
    )
    if math.isnan(best.ms_per_query):
        measure_latency(best.params, best.phase)
        best = next(t for t in trials if t.params == best.params)
    return dict(best.params), best.recall, best.ms_per_query, False, trials


def sample_rows(n_rows: int, sample: int | None, seed: int) -> np.ndarray:
    """Sorted row numbers of a seeded sample (all rows when ``sample`` is None or >= n_rows)."""
    if sample is None or sample >= n_rows:
        return np.arange(n_rows)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_rows, size=sample, replace=False))


def check_sample(sample) -> int | None:
    return None if sample is None else positive_int(sample, "sample")


def check_max_ms(max_ms) -> float | None:
    if max_ms is None:
        return None
    v = real(max_ms, "max_ms")
    if not (v > 0 and math.isfinite(v)):
        raise ValueError(f"max_ms: expected a positive finite number of milliseconds, got {max_ms!r}")
    return v


# ---------------------------------------------------------------------------------------------
# Stored settings: the TUNE section of an index file.

TUNE_TAG = b"TUNE"
TUNE_VERSION = 1


class TunedSettings:
    """The settings ``tune()`` stored on an index, keyed by ``(target_recall, k)``, and
    which of them are the index's defaults. Serialized as JSON in the ``TUNE`` section
    (see ``_persist``); ``check_params`` validates the parameters on load."""

    def __init__(self, kind: str, check_params: Callable[[dict], dict]):
        self.kind = kind
        self.check_params = check_params
        self.entries: list[dict[str, Any]] = []
        self.default: tuple[float, int] | None = None

    def add(self, result: TuneResult) -> None:
        entry = {
            "target_recall": result.target_recall,
            "k": result.k,
            "params": dict(result.params),
            "recall": float(result.recall),
            "ms_per_query": float(result.ms_per_query),
            "n_queries": int(result.n_queries),
            "queries": result.queries,
        }
        self.entries = [
            e for e in self.entries if (e["target_recall"], e["k"]) != (result.target_recall, result.k)
        ]
        self.entries.append(entry)
        self.default = (result.target_recall, result.k)

    def default_params(self) -> dict | None:
        if self.default is None:
            return None
        return dict(self.lookup(*self.default)["params"])

    def lookup(self, target_recall: float, k: int) -> dict:
        """The fastest stored setting for this k whose target is at least ``target_recall``;
        ValueError naming ``target_recall`` when there is none."""
        fits = [e for e in self.entries if e["k"] == k and e["target_recall"] >= target_recall]
        if not fits:
            have = (
                ", ".join(f"(target_recall={e['target_recall']}, k={e['k']})" for e in self.entries) or "none"
            )
            raise ValueError(
                f"target_recall: this {self.kind} is not tuned for target_recall={target_recall}, k={k} "
                f"(tuned: {have}); call tune(queries, target_recall={target_recall}, k={k}) first"
            )
        return min(fits, key=lambda e: e["ms_per_query"])

    def to_payload(self) -> bytes:
        import json

        doc = {
            "version": TUNE_VERSION,
            "kind": self.kind,
            "default": list(self.default) if self.default else None,
            "settings": self.entries,
        }
        return json.dumps(doc, sort_keys=True, allow_nan=False).encode()

    def load_payload(self, payload: bytes, format_error: Callable[[str], Exception]) -> None:
        import json

        def bad(why: str) -> Exception:
            return format_error(f"section 'TUNE' {why} (damaged file)")

        try:
            doc = json.loads(payload.decode())
        except (UnicodeDecodeError, ValueError):
            raise bad("is not valid JSON") from None
        if not isinstance(doc, dict) or set(doc) != {"version", "kind", "default", "settings"}:
            raise bad("has unexpected fields")
        if doc["version"] != TUNE_VERSION:
            raise format_error(f"section 'TUNE' version {doc['version']!r}; this build reads {TUNE_VERSION}")
        if doc["kind"] != self.kind:
            raise bad(f"belongs to a {doc['kind']!r}, not a {self.kind!r}")
        if not isinstance(doc["settings"], list):
            raise bad("has no list of settings")
        entries = []
        fields = {"target_recall", "k", "params", "recall", "ms_per_query", "n_queries", "queries"}
        for e in doc["settings"]:
            if not isinstance(e, dict) or set(e) != fields:
                raise bad("has a setting with unexpected fields")
            t, kk = e["target_recall"], e["k"]
            if isinstance(t, bool) or not isinstance(t, (int, float)) or not (0 < t <= 1):
                raise bad(f"has target_recall {t!r}")
            if isinstance(kk, bool) or not isinstance(kk, int) or kk < 1:
                raise bad(f"has k {kk!r}")
            for name in ("recall", "ms_per_query"):
                v = e[name]
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                    raise bad(f"has {name} {v!r}")
            if isinstance(e["n_queries"], bool) or not isinstance(e["n_queries"], int) or e["n_queries"] < 1:
                raise bad(f"has n_queries {e['n_queries']!r}")
            if e["queries"] not in ("given", "documents"):
                raise bad(f"has queries {e['queries']!r}")
            if not isinstance(e["params"], dict):
                raise bad("has parameters that are not a mapping")
            try:
                params = self.check_params(e["params"])
            except (TypeError, ValueError) as exc:
                raise bad(f"has a bad parameter: {exc}") from None
            entries.append({**e, "target_recall": float(t), "params": params})
        default = doc["default"]
        if default is not None:
            if (
                not isinstance(default, list)
                or len(default) != 2
                or not any((e["target_recall"], e["k"]) == (default[0], default[1]) for e in entries)
            ):
                raise bad(f"names default {default!r}, which is not a stored setting")
            default = (float(default[0]), int(default[1]))
        self.entries, self.default = entries, default


class Tunable:
    """Mixin of the indexes that ``tune()``: the stored settings, saved in the ``TUNE``
    section of the index's file (``_persist``) and reported by :attr:`tuned`."""

    _extra_tags = (TUNE_TAG,)

    def _check_tuned_params(self, params: dict) -> dict:  # pragma: no cover - overridden
        raise NotImplementedError

    def _tuned_state(self) -> TunedSettings:
        state = self.__dict__.get("_tuning")
        if state is None:
            state = TunedSettings(type(self).__name__, self._check_tuned_params)
            self._tuning = state
        return state

    def _extra_sections(self) -> dict[bytes, bytes]:
        state = self.__dict__.get("_tuning")
        return {TUNE_TAG: state.to_payload()} if state is not None and state.entries else {}

    def _restore_extra(self, sections: dict[bytes, bytes]) -> None:
        from . import _core

        if TUNE_TAG in sections:
            self._tuned_state().load_payload(sections[TUNE_TAG], _core.FormatError)

    def _tuned_defaults(self) -> dict | None:
        state = self.__dict__.get("_tuning")
        return None if state is None else state.default_params()

    def _tuned_for(self, target_recall, k: int) -> dict:
        target, k = check_target(target_recall, k)
        state = self.__dict__.get("_tuning")
        if state is None:
            state = TunedSettings(type(self).__name__, self._check_tuned_params)
        return dict(state.lookup(target, k)["params"])

    @property
    def tuned(self) -> list[dict]:
        """The settings stored by :meth:`tune` (saved with the index): one dict per
        ``(target_recall, k)`` with ``params``, the measured ``recall`` and
        ``ms_per_query``, ``n_queries``, ``queries`` (``"given"`` or ``"documents"``) and
        ``is_default`` (the last reached tune's setting is the search default)."""
        state = self.__dict__.get("_tuning")
        if state is None:
            return []
        return [
            {**e, "params": dict(e["params"]), "is_default": (e["target_recall"], e["k"]) == state.default}
            for e in state.entries
        ]

    def clear_tuning(self) -> None:
        """Forget every tuned setting: search goes back to the built-in defaults."""
        self.__dict__.pop("_tuning", None)
