"""The base every public class shares: it wraps one ``_core`` object and reports its size.

Persistence comes from :class:`~aftershock._persist.Persistent`; the accessors that every
class has (``n_docs``, ``dim``, ``size_bytes``, ``len()``, ``repr()``) are written here once.
"""

from __future__ import annotations

from typing import Any

from ._info import make_info
from ._persist import Persistent


class CoreBacked(Persistent):
    """A public class over one ``_core`` object (``self._core``).

    Objects are made by the class's ``build`` or ``load``; the constructor only wraps a core
    object and refuses anything else.
    """

    def __init__(self, core: Any) -> None:
        name = type(self).__name__
        if not isinstance(core, self._core_class):
            raise TypeError(f"{name} is created with {name}.build(...) or {name}.load(...)")
        self._core = core

    def _repr_fields(self) -> dict[str, Any]:
        """Class-specific fields shown by ``repr`` before ``n_docs`` (e.g. the method)."""
        return {}

    @property
    def n_docs(self) -> int:
        """Number of documents; their ids are ``0 .. n_docs - 1``."""
        return self._core.n_docs

    @property
    def dim(self) -> int:
        """Dimension of the vectors: the vocabulary size of a sparse index, the token
        dimension of a multi-vector store or index."""
        return self._core.dim

    @property
    def precision(self) -> str:
        """Stored precision of the vectors: ``"fp32"``, ``"fp16"``, ``"bf16"`` or ``"int8"``
        (a sparse index stores its forward-index weights in ``"fp16"`` or ``"fp32"``)."""
        return self._core.precision

    @property
    def size_bytes(self) -> int:
        """Bytes held in memory (``info()["stats"]`` breaks them down)."""
        return self._core.size_bytes

    def _make_info(self, *, build: dict[str, Any], search: dict[str, Any], stats: dict[str, Any]) -> dict[str, Any]:
        """``info()`` in the shared layout: this object's common fields plus the class's parts."""
        return make_info(
            type(self).__name__,
            n_docs=self.n_docs,
            dim=self.dim,
            precision=self.precision,
            size_bytes=self.size_bytes,
            build=build,
            search=search,
            stats=stats,
        )

    def __len__(self) -> int:
        return self.n_docs

    def __repr__(self) -> str:
        fields = {**self._repr_fields(), "n_docs": self.n_docs, "dim": self.dim,
                  "precision": self.precision, "size_bytes": self.size_bytes}
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in fields.items())})"
