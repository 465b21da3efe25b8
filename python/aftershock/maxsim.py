"""Deprecated alias of :mod:`aftershock.store` (removed in aftershock 0.3).

``from aftershock.maxsim import MultiVectorStore`` still works, with a ``DeprecationWarning``;
use ``aftershock.MultiVectorStore`` or ``aftershock.store.MultiVectorStore``.
"""

from __future__ import annotations

from ._compat import warn_renamed

__all__ = ["MultiVectorStore"]


def __getattr__(name: str):
    if name == "MultiVectorStore":
        warn_renamed("aftershock.maxsim.MultiVectorStore", "aftershock.store.MultiVectorStore")
        from .store import MultiVectorStore

        return MultiVectorStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
