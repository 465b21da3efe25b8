"""Old spellings kept for one release, each with a ``DeprecationWarning`` naming the new one.

The API speaks one vocabulary across classes (``precision``, ``size_bytes``, ``info()``,
``X.build(...)``); the spellings of version 0.1 still work through these helpers until 0.3.
"""

from __future__ import annotations

import warnings


def warn_renamed(old: str, new: str, stacklevel: int = 3) -> None:
    """Warn that ``old`` is deprecated in favour of ``new`` (removed in aftershock 0.3)."""
    warnings.warn(
        f"{old} is deprecated and will be removed in aftershock 0.3; use {new}",
        DeprecationWarning,
        stacklevel=stacklevel,
    )
