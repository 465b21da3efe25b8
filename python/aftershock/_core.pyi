"""
aftershock private C++ core; use the public classes in aftershock instead
"""
from __future__ import annotations
import collections.abc
import math
import numpy
import numpy.typing
import typing
__all__: list[str] = ['FormatError', 'MultiVectorIndex', 'MultiVectorStore', 'SparseIndex', 'cleanup', 'maxsim_f32', 'maxsim_reference_f64', 'resolve_num_threads', 'search_segments', 'set_simd_level', 'simd_info', 'sparse_exact_search']
class FormatError(ValueError):
    pass
class SparseIndex:
    @staticmethod
    def build(indptr: numpy.typing.NDArray[numpy.int64], indices: numpy.typing.NDArray[numpy.uint32], values: numpy.typing.NDArray[numpy.float32], dim: typing.SupportsInt | typing.SupportsIndex, pruning: str, n_postings: typing.SupportsInt | typing.SupportsIndex, max_fraction: typing.SupportsFloat | typing.SupportsIndex, centroid_fraction: typing.SupportsFloat | typing.SupportsIndex, min_cluster_size: typing.SupportsInt | typing.SupportsIndex, summary_energy: typing.SupportsFloat | typing.SupportsIndex, precision: str, knn: typing.SupportsInt | typing.SupportsIndex, num_threads: typing.SupportsInt | typing.SupportsIndex, seed: typing.SupportsInt | typing.SupportsIndex, progress: typing.Any = None) -> SparseIndex:
        ...
    @staticmethod
    def from_bytes(data: bytes) -> SparseIndex:
        ...
    @staticmethod
    def load(path: str | bytes, *, mmap: typing.Any = False, verify: typing.Any = None, populate: typing.Any = False) -> SparseIndex:
        ...
    def _block_scores(self, term: typing.SupportsInt | typing.SupportsIndex, terms: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], weights: collections.abc.Sequence[typing.SupportsFloat | typing.SupportsIndex], level: str) -> list[float]:
        ...
    def blocks_of(self, term: typing.SupportsInt | typing.SupportsIndex) -> list[list[int]]:
        ...
    def build_knn(self, knn: typing.SupportsInt | typing.SupportsIndex, query_cut: typing.SupportsInt | typing.SupportsIndex, heap_factor: typing.SupportsFloat | typing.SupportsIndex, num_threads: typing.SupportsInt | typing.SupportsIndex, progress: typing.Any = None) -> None:
        ...
    def document(self, doc: typing.SupportsInt | typing.SupportsIndex) -> list[tuple[int, float]]:
        ...
    def documents(self) -> tuple[numpy.typing.NDArray[numpy.int64], numpy.typing.NDArray[numpy.uint32], numpy.typing.NDArray[numpy.float32]]:
        ...
    def save(self, path: str | bytes) -> None:
        ...
    def search(self, indptr: numpy.typing.NDArray[numpy.int64], indices: numpy.typing.NDArray[numpy.uint32], values: numpy.typing.NDArray[numpy.float32], dim: typing.SupportsInt | typing.SupportsIndex, k: typing.SupportsInt | typing.SupportsIndex, query_cut: typing.SupportsInt | typing.SupportsIndex, heap_factor: typing.SupportsFloat | typing.SupportsIndex, n_knn: typing.SupportsInt | typing.SupportsIndex, num_threads: typing.SupportsInt | typing.SupportsIndex, with_stats: bool = False, allowed: numpy.typing.NDArray[numpy.uint64] | None = None, floors: numpy.typing.NDArray[numpy.float32] | None = None) -> tuple:
        ...
    def search_subset(self, indptr: numpy.typing.NDArray[numpy.int64], indices: numpy.typing.NDArray[numpy.uint32], values: numpy.typing.NDArray[numpy.float32], dim: typing.SupportsInt | typing.SupportsIndex, docs: numpy.typing.NDArray[numpy.uint32], k: typing.SupportsInt | typing.SupportsIndex, floors: numpy.typing.NDArray[numpy.float32] | None = None, num_threads: typing.SupportsInt | typing.SupportsIndex = 0) -> tuple:
        ...
    def summary_of(self, term: typing.SupportsInt | typing.SupportsIndex, block: typing.SupportsInt | typing.SupportsIndex) -> list[tuple[int, float]]:
        ...
    def to_bytes(self) -> bytes:
        ...
    def verify(self) -> None:
        ...
    @property
    def build_params(self) -> dict:
        ...
    @property
    def component_bytes(self) -> dict:
        ...
    @property
    def dim(self) -> int:
        ...
    @property
    def knn(self) -> int:
        ...
    @property
    def n_blocks_total(self) -> int:
        ...
    @property
    def n_docs(self) -> int:
        ...
    @property
    def n_postings_total(self) -> int:
        ...
    @property
    def is_mapped(self) -> bool:
        ...
    @property
    def mapped_bytes(self) -> int:
        ...
    @property
    def n_summary_entries(self) -> int:
        ...
    @property
    def precision(self) -> str:
        ...
    @property
    def resident_bytes(self) -> int:
        ...
    @property
    def size_bytes(self) -> int:
        ...
class MultiVectorStore:
    """
    Ragged token vectors with exact MaxSim scoring (strict; use aftershock.MultiVectorStore)
    """
    @staticmethod
    def from_bytes(data: bytes) -> MultiVectorStore:
        ...
    @staticmethod
    def load(path: str | bytes, *, mmap: typing.Any = False, verify: typing.Any = None, populate: typing.Any = False) -> MultiVectorStore:
        ...
    def verify(self) -> None:
        ...
    @property
    def is_mapped(self) -> bool:
        ...
    @property
    def mapped_bytes(self) -> int:
        ...
    @property
    def resident_bytes(self) -> int:
        ...
    def __init__(self, vectors: numpy.typing.NDArray[numpy.float32], offsets: numpy.typing.NDArray[numpy.int64], precision: str = 'fp32', num_threads: typing.SupportsInt | typing.SupportsIndex = 0, centroids: numpy.typing.NDArray[numpy.float32] | None = None, n_centroids: typing.SupportsInt | typing.SupportsIndex = 0, seed: typing.SupportsInt | typing.SupportsIndex = 0) -> None:
        ...
    def _residual_parts(self) -> dict:
        ...
    def decode_doc(self, doc: typing.SupportsInt | typing.SupportsIndex) -> numpy.typing.NDArray[numpy.float32]:
        ...
    def maxsim(self, query: numpy.typing.NDArray[numpy.float32], num_threads: typing.SupportsInt | typing.SupportsIndex = 0) -> numpy.typing.NDArray[numpy.float32]:
        ...
    def maxsim_batch(self, queries: numpy.typing.NDArray[numpy.float32], query_offsets: numpy.typing.NDArray[numpy.int64], doc_ids: numpy.typing.NDArray[numpy.uint32] | None = None, num_threads: typing.SupportsInt | typing.SupportsIndex = 0) -> numpy.typing.NDArray[numpy.float32]:
        ...
    def n_tokens(self, doc: typing.SupportsInt | typing.SupportsIndex) -> int:
        ...
    def rerank(self, queries: numpy.typing.NDArray[numpy.float32], query_offsets: numpy.typing.NDArray[numpy.int64], candidate_ids: numpy.typing.NDArray[numpy.int64], k: typing.SupportsInt | typing.SupportsIndex, num_threads: typing.SupportsInt | typing.SupportsIndex = 0) -> tuple[numpy.typing.NDArray[numpy.float32], numpy.typing.NDArray[numpy.int64]]:
        ...
    def save(self, path: str | bytes) -> None:
        ...
    def search(self, queries: numpy.typing.NDArray[numpy.float32], query_offsets: numpy.typing.NDArray[numpy.int64], k: typing.SupportsInt | typing.SupportsIndex, num_threads: typing.SupportsInt | typing.SupportsIndex = 0, allowed: numpy.typing.NDArray[numpy.uint64] | None = None) -> tuple[numpy.typing.NDArray[numpy.float32], numpy.typing.NDArray[numpy.int64]]:
        """
        Exact top-k MaxSim; allowed: None or uint64 [ceil(n_docs / 64)] bitset (bit d & 63 of word d >> 6 allows document d): top-k among the allowed documents only.
        """
    def to_bytes(self) -> bytes:
        ...
    def tokens(self, *, num_threads: typing.SupportsInt | typing.SupportsIndex = 0) -> tuple[numpy.typing.NDArray[numpy.float32], numpy.typing.NDArray[numpy.int64]]:
        """
        Every stored token decoded to float32 [total_tokens, dim] (fp16/bf16 widened, int8 code * scale), with the int64 [n_docs + 1] offsets.
        """
    @property
    def bytes_per_token(self) -> float:
        ...
    @property
    def centroids(self) -> numpy.typing.NDArray[numpy.float32]:
        ...
    @property
    def dim(self) -> int:
        ...
    @property
    def n_centroids(self) -> int:
        ...
    @property
    def kernel(self) -> str:
        ...
    @property
    def n_docs(self) -> int:
        ...
    @property
    def offsets(self) -> numpy.typing.NDArray[numpy.int64]:
        ...
    @property
    def precision(self) -> str:
        ...
    @property
    def size_bytes(self) -> int:
        ...
    @property
    def stats(self) -> dict:
        ...
    @property
    def total_tokens(self) -> int:
        ...
class MultiVectorIndex:
    """
    Multi-vector retrieval index (private; use aftershock.MultiVectorIndex)
    """
    @staticmethod
    def build(vectors: numpy.typing.NDArray[numpy.float32], offsets: numpy.typing.NDArray[numpy.int64], *, method: str = 'centroid', precision: str = 'fp32', pool_factor: typing.SupportsFloat | typing.SupportsIndex | None = None, pool_iters: typing.SupportsInt | typing.SupportsIndex | None = None, n_centroids: typing.SupportsInt | typing.SupportsIndex | None = None, kmeans_iters: typing.SupportsInt | typing.SupportsIndex | None = None, kmeans_points_per_centroid: typing.SupportsInt | typing.SupportsIndex | None = None, k_sim: typing.SupportsInt | typing.SupportsIndex | None = None, r_reps: typing.SupportsInt | typing.SupportsIndex | None = None, d_proj: typing.SupportsInt | typing.SupportsIndex | None = None, fill_empty: bool | None = None, final_dim: typing.SupportsInt | typing.SupportsIndex | None = None, fde_precision: str | None = None, seed: typing.SupportsInt | typing.SupportsIndex = 0, num_threads: typing.SupportsInt | typing.SupportsIndex = 0, progress: typing.Any = None, centroids: numpy.typing.NDArray[numpy.float32] | None = None) -> MultiVectorIndex:
        """
        centroids (method 'centroid' only): float32 [n_centroids, dim] used instead of k-means (n_centroids must be None/0 or agree).
        """
    @staticmethod
    def from_bytes(data: bytes) -> MultiVectorIndex:
        ...
    @staticmethod
    def load(path: str | bytes, *, mmap: typing.Any = False, verify: typing.Any = None, populate: typing.Any = False) -> MultiVectorIndex:
        ...
    def verify(self) -> None:
        ...
    @property
    def is_mapped(self) -> bool:
        ...
    @property
    def mapped_bytes(self) -> int:
        ...
    @property
    def resident_bytes(self) -> int:
        ...
    def _store_residual_parts(self) -> dict:
        ...
    def decode_doc(self, doc: typing.SupportsInt | typing.SupportsIndex) -> numpy.typing.NDArray[numpy.float32]:
        ...
    def info(self) -> dict:
        ...
    def save(self, path: str | bytes) -> None:
        ...
    def search(self, queries: numpy.typing.NDArray[numpy.float32], query_offsets: numpy.typing.NDArray[numpy.int64], k: typing.SupportsInt | typing.SupportsIndex, *, n_candidates: typing.SupportsInt | typing.SupportsIndex | None = None, n_probe: typing.SupportsInt | typing.SupportsIndex | None = None, n_interaction: typing.SupportsInt | typing.SupportsIndex | None = None, bitvector_threshold: typing.SupportsFloat | typing.SupportsIndex | None = None, n_bitvector: typing.SupportsInt | typing.SupportsIndex | None = None, num_threads: typing.SupportsInt | typing.SupportsIndex = 0, allowed: numpy.typing.NDArray[numpy.uint64] | None = None) -> tuple:
        """
        allowed: None or uint64 [ceil(n_docs / 64)] bitset; disallowed documents are dropped inside candidate generation; n_candidates >= allowed count is exact over them.
        """
    def search_exact(self, queries: numpy.typing.NDArray[numpy.float32], query_offsets: numpy.typing.NDArray[numpy.int64], k: typing.SupportsInt | typing.SupportsIndex, *, num_threads: typing.SupportsInt | typing.SupportsIndex = 0, allowed: numpy.typing.NDArray[numpy.uint64] | None = None) -> tuple:
        ...
    def to_bytes(self) -> bytes:
        ...
    def tokens(self, *, num_threads: typing.SupportsInt | typing.SupportsIndex = 0) -> tuple[numpy.typing.NDArray[numpy.float32], numpy.typing.NDArray[numpy.int64]]:
        """
        The stored tokens (after pooling) decoded to float32 [total_tokens, dim], with the int64 [n_docs + 1] offsets.
        """
    @property
    def store_bytes_per_token(self) -> float:
        ...
    @property
    def centroids(self) -> numpy.typing.NDArray[numpy.float32] | None:
        """
        Centroid index: a float32 [n_centroids, dim] copy of its centroids; None for muvera.
        """
    @property
    def dim(self) -> int:
        ...
    @property
    def method(self) -> str:
        ...
    @property
    def n_docs(self) -> int:
        ...
    @property
    def precision(self) -> str:
        ...
    @property
    def size_bytes(self) -> int:
        ...
def _crc32c(arg0: bytes, arg1: bool) -> int:
    ...
def _mv_dot_rows(level: typing.SupportsInt | typing.SupportsIndex, x: numpy.typing.NDArray[numpy.float32], w: numpy.typing.NDArray[numpy.float32]) -> numpy.typing.NDArray[numpy.float32]:
    ...
def _mv_interaction(level: typing.SupportsInt | typing.SupportsIndex, codes: numpy.typing.NDArray[numpy.uint16], table: numpy.typing.NDArray[numpy.float32]) -> float:
    ...
def _mv_scan_f32(level: typing.SupportsInt | typing.SupportsIndex, rows: numpy.typing.NDArray[numpy.float32], q: numpy.typing.NDArray[numpy.float32]) -> numpy.typing.NDArray[numpy.float32]:
    ...
def _mv_scan_i8(level: typing.SupportsInt | typing.SupportsIndex, codes: numpy.typing.NDArray[numpy.int8], scales: numpy.typing.NDArray[numpy.float32], q: numpy.typing.NDArray[numpy.float32]) -> numpy.typing.NDArray[numpy.float32]:
    ...
def _set_maxsim_extensions(allow_bf16_dot: bool, allow_vnni: bool) -> None:
    """
    Tests: allow or forbid the AVX512_BF16 / VNNI MaxSim kernels (to exercise the AVX-512 fallbacks).
    """
def _sparse_accumulate(arg0: str, arg1: typing.Annotated[numpy.typing.ArrayLike, numpy.uint8], arg2: typing.Annotated[numpy.typing.ArrayLike, numpy.uint8], arg3: typing.SupportsFloat | typing.SupportsIndex, arg4: typing.Annotated[numpy.typing.ArrayLike, numpy.float32]) -> numpy.typing.NDArray[numpy.float32]:
    ...
def _sparse_dot(level: str, terms: numpy.ndarray, values: numpy.ndarray, query: typing.Annotated[numpy.typing.ArrayLike, numpy.float32], query_mass: float = 0.0, threshold: float = -math.inf) -> float:
    ...
def cleanup(path: str | bytes) -> list:
    """
    Remove the stale save temporaries of path (bytes or str); returns their paths.
    """
def maxsim_f32(query: numpy.typing.NDArray[numpy.float32], doc: numpy.typing.NDArray[numpy.float32]) -> float:
    """
    Exact MaxSim of one float32 query [m, dim] and one document [n, dim] with the active kernels.
    """
def maxsim_reference_f64(query: numpy.typing.NDArray[numpy.float32], doc: numpy.typing.NDArray[numpy.float32]) -> float:
    ...
def resolve_num_threads(num_threads: typing.SupportsInt | typing.SupportsIndex) -> int:
    ...
def set_simd_level(level: str) -> None:
    """
    Force the SIMD level (tests and benchmarks). Raises ValueError if unsupported.
    """
def simd_info() -> dict:
    """
    SIMD levels: compiled into this build, supported by this CPU, and active.
    """
def search_segments(segments: list, indptr: numpy.typing.NDArray[numpy.int64], indices: numpy.typing.NDArray[numpy.uint32], values: numpy.typing.NDArray[numpy.float32], dim: typing.SupportsInt | typing.SupportsIndex, k: typing.SupportsInt | typing.SupportsIndex, query_cut: typing.SupportsInt | typing.SupportsIndex, n_knn: typing.SupportsInt | typing.SupportsIndex, num_threads: typing.SupportsInt | typing.SupportsIndex, with_stats: bool = False) -> tuple:
    ...
def sparse_exact_search(doc_indptr: numpy.typing.NDArray[numpy.int64], doc_indices: numpy.typing.NDArray[numpy.uint32], doc_values: numpy.typing.NDArray[numpy.float32], query_indptr: numpy.typing.NDArray[numpy.int64], query_indices: numpy.typing.NDArray[numpy.uint32], query_values: numpy.typing.NDArray[numpy.float32], dim: typing.SupportsInt | typing.SupportsIndex, k: typing.SupportsInt | typing.SupportsIndex, num_threads: typing.SupportsInt | typing.SupportsIndex) -> tuple:
    ...
