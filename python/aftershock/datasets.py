"""Data for tests, demos and benchmarks: a SPLADE-like generator and the real Debian set.

Nothing here downloads anything. :func:`synthetic_sparse` generates data from a seed;
:func:`load_debian_sparse` reads the files described in ``../shared/data/README.md``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import scipy.sparse as sp

__all__ = ["load_debian_sparse", "recall_at_k", "synthetic_sparse"]

# ---------------------------------------------------------------------------------------------
# Model constants of the generator (see the docstring of synthetic_sparse).
_ZIPF_EXPONENT = 1.0  # global term popularity: p(rank r) ~ 1 / (r + _ZIPF_OFFSET) ** _ZIPF_EXPONENT
_ZIPF_OFFSET = 2.0
_TOPIC_SIZE = 300  # terms per topic
_TOPIC_RANK_EXPONENT = 0.9  # Zipf exponent of term probabilities inside a topic
_TOPIC_TERM_BIAS = 0.35  # topic terms are drawn with probability ~ p_global ** bias (favours mid-frequency)
_TOPIC_POPULARITY_EXPONENT = 0.7  # p(topic t) ~ 1 / (t + 1) ** exponent
_MIX_PRIMARY = 0.55  # share of a document's draws from its primary topic
_MIX_SECONDARY = 0.15  # ... from its secondary topic; the rest comes from the global Zipf
_LENGTH_SIGMA = 0.4  # log-normal sigma of the per-row number of nonzeros
_WEIGHT_SIGMA = 0.6  # log-normal sigma of the pre-activation weight
_QUERY_FROM_DOC = 0.6  # share of a query's terms taken from its source document
_QUERY_FROM_TOPIC = 0.3  # ... from the source document's primary topic; the rest from the global Zipf

_GLOBAL_TABLE_BITS = 22  # inverse-CDF lookup table of the global Zipf: 2**22 slots
_RANK_TABLE_BITS = 16  # ... of the in-topic rank distribution
_SELECT_BITS = 10  # bits used to choose the source of a draw
_DRAWS_PER_CHUNK = 4_000_000  # bounds the generator's working memory (~0.5 GB)


def _lookup_table(p: np.ndarray, bits: int) -> np.ndarray:
    """Map ``2**bits`` equiprobable slots to outcomes so that outcome i gets ~``p[i] * 2**bits`` slots."""
    n_slots = 1 << bits
    expected = p * n_slots
    counts = np.floor(expected).astype(np.int64)
    missing = n_slots - int(counts.sum())
    if missing > 0:  # largest remainders first, so the table sums exactly to n_slots
        counts[np.argsort(counts - expected, kind="stable")[:missing]] += 1
    return np.repeat(np.arange(p.size, dtype=np.int32), counts)


def _weights(rng: np.random.Generator, mu: np.ndarray) -> np.ndarray:
    """SPLADE-style activation ``log(1 + x)`` of a log-normal ``x`` with log-mean ``mu``."""
    x = np.exp(mu + _WEIGHT_SIGMA * rng.standard_normal(mu.size, dtype=np.float32))
    return np.log1p(x).astype(np.float32)


def _row_lengths(rng: np.random.Generator, n: int, mean: float, lo: int, hi: int) -> np.ndarray:
    sigma = _LENGTH_SIGMA
    raw = rng.lognormal(math.log(mean) - sigma * sigma / 2.0, sigma, n)
    return np.clip(np.rint(raw), lo, hi).astype(np.int64)


def _draw_counts(target: np.ndarray, oversample: float, hi: int) -> np.ndarray:
    return np.minimum(np.rint(target * oversample).astype(np.int64), 8 * hi)


class _Model:
    """Global Zipf, topics and per-term weight means shared by documents and queries."""

    def __init__(self, rng: np.random.Generator, vocab_size: int, n_topics: int):
        self.vocab_size = vocab_size
        self.n_topics = n_topics
        ranks = np.arange(vocab_size, dtype=np.float64)
        p_rank = (ranks + _ZIPF_OFFSET) ** -_ZIPF_EXPONENT
        p_rank /= p_rank.sum()
        # term_of_rank: popularity rank -> term id (popular terms are scattered over the vocabulary)
        term_of_rank = rng.permutation(vocab_size).astype(np.int32)
        self.p_global = np.empty(vocab_size)
        self.p_global[term_of_rank] = p_rank
        self.global_table = term_of_rank[_lookup_table(p_rank, _GLOBAL_TABLE_BITS)]

        size = min(_TOPIC_SIZE, vocab_size)
        q = p_rank**_TOPIC_TERM_BIAS
        q /= q.sum()
        self.topic_terms = np.empty((n_topics, size), dtype=np.int32)
        for t in range(n_topics):
            self.topic_terms[t] = term_of_rank[rng.choice(vocab_size, size, replace=False, p=q)]
        p_in_topic = (np.arange(size) + 1.0) ** -_TOPIC_RANK_EXPONENT
        p_in_topic /= p_in_topic.sum()
        self.rank_table = _lookup_table(p_in_topic, _RANK_TABLE_BITS)
        p_topic = (np.arange(n_topics) + 1.0) ** -_TOPIC_POPULARITY_EXPONENT
        self.p_topic = p_topic / p_topic.sum()

        # IDF-like weight mean: frequent (stop-word-like) terms get small weights, rare ones large.
        specificity = np.log(1.0 / self.p_global)
        specificity = (specificity - specificity.min()) / max(float(np.ptp(specificity)), 1e-12)
        self.mu_global = (-1.6 + 1.2 * specificity).astype(np.float32)
        self.topic_boost = np.float32(0.9)  # terms drawn from a topic are salient for the document

    def draw(self, rng, rows, primary, secondary, p_primary, p_secondary):
        """Draw one term per entry of ``rows``; returns (term ids, is_global flags)."""
        raw = rng.bit_generator.random_raw(rows.size)
        g_slot = raw & ((1 << _GLOBAL_TABLE_BITS) - 1)
        r_slot = (raw >> _GLOBAL_TABLE_BITS) & ((1 << _RANK_TABLE_BITS) - 1)
        select = (raw >> (_GLOBAL_TABLE_BITS + _RANK_TABLE_BITS)) & ((1 << _SELECT_BITS) - 1)
        cut_primary = round(p_primary * (1 << _SELECT_BITS))
        cut_topic = round((p_primary + p_secondary) * (1 << _SELECT_BITS))
        topic = np.where(select < cut_primary, primary[rows], secondary[rows])
        term = self.topic_terms[topic, self.rank_table[r_slot]]
        is_global = select >= cut_topic
        term[is_global] = self.global_table[g_slot[is_global]]
        return term, is_global


def _dedupe(rows: np.ndarray, terms: np.ndarray, is_global: np.ndarray, vocab_size: int):
    """Sort draws by (row, term) and merge repeats.

    Returns row, term, whether every draw of the pair was global (no topic draw), and the
    number of draws of the pair (its term frequency).
    """
    key = ((rows * vocab_size + terms) << 1) | is_global.astype(np.int64)
    key.sort()
    pair = key >> 1
    first = np.flatnonzero(np.concatenate(([True], pair[1:] != pair[:-1])))
    tf = np.diff(np.append(first, key.size))
    head = key[first]  # the smallest flag of a pair comes first: 0 if any draw was topical
    pair = head >> 1
    row = pair // vocab_size
    return row, (pair - row * vocab_size).astype(np.int32), (head & 1).astype(bool), tf


def synthetic_sparse(
    n_docs: int,
    n_queries: int,
    *,
    vocab_size: int = 30522,
    doc_nnz: int = 120,
    query_nnz: int = 40,
    n_topics: int | None = None,
    seed: int = 0,
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Generate SPLADE-like learned sparse documents and queries.

    Model
    -----
    * **Terms.** Global term popularity is Zipfian: the term of popularity rank r has
      probability ``~ 1 / (r + 2)``; ranks are assigned to term ids by a random permutation.
      There are ``n_topics`` topics; each is a set of 300 distinct terms, drawn with probability
      ``~ p_global ** 0.35`` (so mostly mid- and low-frequency terms), with Zipfian
      probabilities ``~ 1 / i ** 0.9`` inside the topic. Topic popularity is Zipfian too
      (``~ 1 / (t + 1) ** 0.7``).
    * **Documents.** Each document has a primary topic (drawn by popularity) and a uniformly
      random secondary topic, and a target length drawn log-normally (sigma 0.4) around
      ``doc_nnz``. Its term draws come 55 % from the primary topic, 15 % from the secondary
      topic and 30 % from the global Zipf; repeated draws merge into one nonzero, so the number
      of draws is calibrated so that documents average about ``doc_nnz`` nonzeros.
    * **Weights** are SPLADE-style activations ``log(1 + x)`` with ``x`` log-normal
      (sigma 0.6); the log-mean grows with the term's rarity (IDF-like: frequent terms get
      small weights), is higher for terms drawn from a topic and grows with
      ``log(term frequency)``. All weights are positive.
    * **Queries** are known-item-like, as in MS MARCO: each query picks a random source
      document; about 60 % of its terms are sampled from that document's terms in proportion
      to their weight (query weight ``~ doc_weight ** 0.7`` times log-normal noise), about 30 %
      from the document's primary topic and the rest from the global Zipf (small weights).
      Query lengths are log-normal around ``query_nnz``. The exact top-10 of a query
      therefore holds its source document and topically related documents, which makes
      recall@10 against exact search meaningful.

    Generation is vectorized and chunked (about 4 million draws at a time), so the working
    memory beyond the output stays near half a gigabyte; one million documents take a few
    tens of seconds. The result depends only on the arguments.

    Parameters
    ----------
    n_docs, n_queries : int
        Number of rows of each matrix (``n_queries`` may be 0; it needs ``n_docs >= 1``).
    vocab_size : int
        Number of columns (default: BERT WordPiece's 30,522).
    doc_nnz, query_nnz : int
        Average nonzeros per document / query (rows vary around it).
    n_topics : int, optional
        Number of topics; default ``max(16, round(2 * sqrt(n_docs)))``.
    seed : int
        Seed of the generator.

    Returns
    -------
    docs : scipy.sparse.csr_matrix
        float32 ``[n_docs, vocab_size]``; column indices sorted and unique in every row;
        weights positive.
    queries : scipy.sparse.csr_matrix
        float32 ``[n_queries, vocab_size]``, same invariants.

    Raises
    ------
    ValueError
        If a count is negative, ``vocab_size`` < 1, ``doc_nnz`` or ``query_nnz`` < 1, or
        queries are requested from an empty collection.
    """
    n_docs, n_queries, vocab_size = int(n_docs), int(n_queries), int(vocab_size)
    if n_docs < 0 or n_queries < 0:
        raise ValueError(f"n_docs and n_queries: expected >= 0, got {n_docs} and {n_queries}")
    if vocab_size < 1 or vocab_size > (1 << 31) - 1:
        raise ValueError(f"vocab_size: expected 1 <= vocab_size < 2**31, got {vocab_size}")
    if doc_nnz < 1 or query_nnz < 1:
        raise ValueError(f"doc_nnz and query_nnz: expected >= 1, got {doc_nnz} and {query_nnz}")
    if n_queries > 0 and n_docs == 0:
        raise ValueError("n_queries: queries are drawn from documents, so n_docs must be >= 1")
    if n_topics is None:
        n_topics = max(16, round(2.0 * math.sqrt(max(n_docs, 1))))
    n_topics = int(n_topics)
    if n_topics < 1:
        raise ValueError(f"n_topics: expected >= 1, got {n_topics}")

    seeds = np.random.SeedSequence(seed).spawn(4)
    model_rng, assign_rng, query_rng = (np.random.default_rng(s) for s in seeds[:3])
    model = _Model(model_rng, vocab_size, n_topics)

    primary = assign_rng.choice(n_topics, n_docs, p=model.p_topic).astype(np.int32)
    secondary = assign_rng.integers(0, n_topics, n_docs, dtype=np.int32)
    hi = max(1, min(vocab_size, 4 * doc_nnz))
    target = _row_lengths(assign_rng, n_docs, doc_nnz, min(hi, max(1, doc_nnz // 8)), hi)

    # Repeated draws merge, so draw more than the target; the ratio is measured on a pilot.
    # Two fixed-point steps on a pilot of 2,000 documents (merging grows with the draw count).
    n_pilot = min(n_docs, 2000)
    oversample = 1.0
    for pilot_seed in seeds[3].spawn(2) if n_pilot > 0 else []:
        rows = np.repeat(np.arange(n_pilot), _draw_counts(target[:n_pilot], oversample, hi))
        terms, is_global = model.draw(
            np.random.default_rng(pilot_seed), rows, primary, secondary, _MIX_PRIMARY, _MIX_SECONDARY
        )
        unique = _dedupe(rows, terms, is_global, vocab_size)[0].size
        oversample *= float(target[:n_pilot].sum()) / max(unique, 1)
    draws = _draw_counts(target, oversample, hi)

    docs = _generate_docs(model, seeds[3], primary, secondary, draws, vocab_size)
    queries = _generate_queries(model, query_rng, docs, primary, n_queries, query_nnz)
    return docs, queries


def _generate_docs(model, seed_seq, primary, secondary, draws, vocab_size) -> sp.csr_matrix:
    n_docs = draws.size
    capacity = int(draws.sum())  # an upper bound on nnz: merging only removes entries
    indices = np.empty(capacity, dtype=np.int32)
    data = np.empty(capacity, dtype=np.float32)
    indptr = np.zeros(n_docs + 1, dtype=np.int64)
    mean_draws = max(1.0, capacity / max(n_docs, 1))
    chunk = max(1, int(_DRAWS_PER_CHUNK / mean_draws))
    starts = list(range(0, n_docs, chunk))
    chunk_seeds = seed_seq.spawn(len(starts))
    nnz = 0
    for start, chunk_seed in zip(starts, chunk_seeds):
        rng = np.random.default_rng(chunk_seed)
        stop = min(n_docs, start + chunk)
        local = np.repeat(np.arange(stop - start, dtype=np.int64), draws[start:stop])
        terms, is_global = model.draw(
            rng, local, primary[start:stop], secondary[start:stop], _MIX_PRIMARY, _MIX_SECONDARY
        )
        row, term, only_global, tf = _dedupe(local, terms, is_global, vocab_size)
        del local, terms, is_global
        mu = model.mu_global[term] + np.where(only_global, np.float32(0), model.topic_boost)
        mu += (0.5 * np.log(tf)).astype(np.float32)
        n = row.size
        indices[nnz : nnz + n] = term
        data[nnz : nnz + n] = _weights(rng, mu)
        counts = np.bincount(row, minlength=stop - start)
        indptr[start + 1 : stop + 1] = nnz + np.cumsum(counts)
        nnz += n
    # Shrink in place (realloc) instead of copying: the buffers were sized for the draws.
    indices.resize(nnz, refcheck=False)
    data.resize(nnz, refcheck=False)
    if nnz < np.iinfo(np.int32).max:
        indptr = indptr.astype(np.int32)
    docs = sp.csr_matrix((data, indices, indptr), shape=(n_docs, vocab_size))
    docs.has_sorted_indices = True
    return docs


def _generate_queries(model, rng, docs, primary, n_queries, query_nnz) -> sp.csr_matrix:
    vocab_size = model.vocab_size
    n_docs = docs.shape[0]
    if n_queries == 0:
        return sp.csr_matrix((0, vocab_size), dtype=np.float32)
    if n_queries <= n_docs:
        source = rng.choice(n_docs, n_queries, replace=False)
    else:
        source = rng.integers(0, n_docs, n_queries)
    hi = max(1, min(vocab_size, 4 * query_nnz))
    length = _row_lengths(rng, n_queries, query_nnz, min(hi, 2), hi)

    # Terms of the source document, sampled without replacement in proportion to their weight
    # (Gumbel top-k: sort each row by log(w) + Gumbel noise and keep the first n_from_doc).
    doc_len = np.diff(docs.indptr)[source].astype(np.int64)
    n_from_doc = np.minimum(np.rint(_QUERY_FROM_DOC * length).astype(np.int64), doc_len)
    row_of = np.repeat(np.arange(n_queries, dtype=np.int64), doc_len)
    pos = np.arange(row_of.size) - np.repeat(np.cumsum(doc_len) - doc_len, doc_len)
    entry = np.repeat(docs.indptr[source].astype(np.int64), doc_len) + pos
    doc_w = docs.data[entry].astype(np.float64)
    key = np.log(np.maximum(doc_w, 1e-30)) + rng.gumbel(size=entry.size)
    order = np.lexsort((-key, row_of))
    rank = np.arange(order.size) - np.repeat(np.cumsum(doc_len) - doc_len, doc_len)
    keep = order[rank < np.repeat(n_from_doc, doc_len)]
    d_rows, d_terms = row_of[keep], docs.indices[entry[keep]].astype(np.int32)
    d_weights = (doc_w[keep] ** 0.7 * np.exp(0.3 * rng.standard_normal(keep.size))).astype(np.float32)

    # The rest: expansion terms from the source document's topic and global (stop-word-like) terms.
    # Some of these repeat a document term and merge, hence the 20 % extra.
    n_rest = np.rint(1.2 * np.maximum(length - n_from_doc, 0)).astype(np.int64)
    rest_rows = np.repeat(np.arange(n_queries, dtype=np.int64), n_rest)
    share_topic = _QUERY_FROM_TOPIC / max(1.0 - _QUERY_FROM_DOC, 1e-9)
    topic = primary[source]
    r_terms, r_global = model.draw(rng, rest_rows, topic, topic, share_topic, 0.0)
    mu = model.mu_global[r_terms] + np.where(r_global, np.float32(0), model.topic_boost)
    r_weights = _weights(rng, mu)

    rows = np.concatenate((d_rows, rest_rows))
    terms = np.concatenate((d_terms, r_terms))
    weights = np.concatenate((d_weights, r_weights))
    # Repeated (row, term) pairs keep their largest weight rather than a sum.
    return _max_duplicates(rows, terms, weights, n_queries, vocab_size)


def _max_duplicates(rows, terms, weights, n_rows, vocab_size) -> sp.csr_matrix:
    key = rows.astype(np.int64) * vocab_size + terms
    order = np.lexsort((-weights, key))
    key = key[order]
    first = np.concatenate(([True], key[1:] != key[:-1]))
    key, w = key[first], weights[order][first]
    row = key // vocab_size
    indptr = np.concatenate(([0], np.cumsum(np.bincount(row, minlength=n_rows)))).astype(np.int32)
    out = sp.csr_matrix(
        (w.astype(np.float32), (key - row * vocab_size).astype(np.int32), indptr),
        shape=(n_rows, vocab_size),
    )
    out.has_sorted_indices = True
    return out


# ---------------------------------------------------------------------------------------------
def _debian_candidates(root) -> list[Path]:
    if root is not None:
        return [Path(root)]
    found = []
    env = os.environ.get("AFTERSHOCK_DATA")
    if env:
        found.append(Path(env))
    # ``../shared/data/debian`` seen from the current directory, from any folder above it,
    # and from the repository this file lives in (a source checkout or editable install).
    here = Path(__file__).resolve().parent
    for start in (Path.cwd(), here):
        for folder in (start, *start.parents):
            candidate = folder / "shared" / "data" / "debian"
            if candidate not in found:
                found.append(candidate)
    return found


def _sparse_dir(base: Path) -> Path | None:
    for d in (base / "sparse", base, base / "debian" / "sparse"):
        if all((d / name).is_file() for name in ("docs.npz", "queries.npz", "gt.npy")):
            return d
    return None


def load_debian_sparse(root: str | os.PathLike | None = None):
    """Load the real learned-sparse set: Debian descriptions and man pages, SPLADE-encoded.

    70,604 documents (154 nonzeros on average) and 1,000 queries (19 nonzeros) over the
    30,522 BERT WordPiece terms; see ``shared/data/README.md``.

    Parameters
    ----------
    root : path, optional
        The ``debian`` folder (holding ``sparse/``), or ``sparse/`` itself. Default: the
        ``AFTERSHOCK_DATA`` environment variable, else the first ``shared/data/debian`` found
        next to the current directory or any folder above it (so ``../shared/data/debian``
        from a checkout), else next to this file's folders.

    Returns
    -------
    docs : scipy.sparse.csr_matrix
        float32 ``[70604, 30522]``, sorted term ids, weights >= 0.
    queries : scipy.sparse.csr_matrix
        float32 ``[1000, 30522]``.
    gt : numpy.ndarray
        int32 ``[1000, 100]``: exact top-100 document ids by inner product (ties by id).

    Raises
    ------
    FileNotFoundError
        If no candidate folder holds ``docs.npz``, ``queries.npz`` and ``gt.npy``.
    """
    candidates = _debian_candidates(root)
    for base in candidates:
        d = _sparse_dir(base)
        if d is not None:
            break
    else:
        tried = ", ".join(str(c) for c in candidates[:4]) + (", ..." if len(candidates) > 4 else "")
        raise FileNotFoundError(
            "Debian sparse data not found (need sparse/docs.npz, sparse/queries.npz, sparse/gt.npy); "
            f"tried: {tried}. Pass root=... or set AFTERSHOCK_DATA to the 'debian' data folder."
        )
    docs = sp.load_npz(d / "docs.npz").tocsr().astype(np.float32, copy=False)
    queries = sp.load_npz(d / "queries.npz").tocsr().astype(np.float32, copy=False)
    for m in (docs, queries):
        if not m.has_sorted_indices:
            m.sort_indices()
    gt = np.load(d / "gt.npy")
    return docs, queries, gt


def recall_at_k(found_ids, true_ids, k: int) -> float:
    """Mean recall@k of approximate results against exact ones.

    For each query, ``|found[:k] ∩ true[:k]| / k``, averaged over queries. Negative ids
    (padding) never match.

    Parameters
    ----------
    found_ids, true_ids : array_like of int, shape ``[n_queries, >= k]``
        Result ids, best first (``true_ids`` may have more columns, e.g. a top-100).
    k : int

    Returns
    -------
    float

    Raises
    ------
    ValueError
        If ``k < 1``, the arrays are not 2-D, their row counts differ or either has fewer than
        ``k`` columns.
    """
    k = int(k)
    found = np.asarray(found_ids)
    true = np.asarray(true_ids)
    if k < 1:
        raise ValueError(f"k: expected >= 1, got {k}")
    if found.ndim != 2 or true.ndim != 2 or found.shape[0] != true.shape[0]:
        raise ValueError(
            f"found_ids, true_ids: expected 2-D arrays with equal rows, got {found.shape} and {true.shape}"
        )
    if found.shape[1] < k or true.shape[1] < k:
        raise ValueError(f"found_ids, true_ids: expected >= {k} columns, got {found.shape} and {true.shape}")
    if found.shape[0] == 0:
        return 0.0
    f = found[:, :k].astype(np.int64)
    t = true[:, :k].astype(np.int64)
    hit = (f[:, :, None] == t[:, None, :]) & (f[:, :, None] >= 0)
    return float(hit.any(axis=2).sum(axis=1).mean() / k)
