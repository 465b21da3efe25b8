"""Persistence shared by every public class: one file format for files, bytes and pickle.

Each class wraps one ``_core`` object (``self._core``) whose C++ side writes and reads the
versioned aftershock format (a header, a section table, CRC32C per section; see
``cpp/include/aftershock/io/format.hpp``). This mixin gives all of them the same
``save`` / ``load`` / ``to_bytes`` / ``from_bytes`` / pickle behaviour, written once.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar, TypeVar

T = TypeVar("T", bound="Persistent")


class Persistent:
    """Mixin: ``save``, ``load``, ``to_bytes``, ``from_bytes`` and pickling over ``self._core``.

    A subclass sets ``_core_class`` to its ``_core`` class. Objects made by :meth:`load` or
    :meth:`from_bytes` are wrapped without running the subclass's ``__init__``.
    """

    _core_class: ClassVar[type]
    _core: Any

    @classmethod
    def _wrap(cls: type[T], core: Any) -> T:
        obj = cls.__new__(cls)
        obj._core = core
        return obj

    def save(self, path: str | os.PathLike) -> None:
        """Write to ``path`` atomically (``path.tmp``, fsync, rename) in the aftershock format
        (versioned, CRC32C per section).

        Raises
        ------
        OSError
            The file cannot be written; an existing file at ``path`` is left as it was.
        """
        self._core.save(os.fspath(path))

    @classmethod
    def load(cls: type[T], path: str | os.PathLike) -> T:
        """Read a file written by :meth:`save`, verifying every checksum and the values.

        Raises
        ------
        aftershock.FormatError
            The file holds another kind of object, another major format version, or is
            damaged (flipped bytes, truncation, inconsistent values).
        OSError
            The file cannot be read (missing, not a regular file, no permission).
        """
        return cls._wrap(cls._core_class.load(os.fspath(path)))

    def to_bytes(self) -> bytes:
        """The bytes :meth:`save` writes (pickling uses them too)."""
        return self._core.to_bytes()

    @classmethod
    def from_bytes(cls: type[T], data: bytes) -> T:
        """Inverse of :meth:`to_bytes`, with the checks of :meth:`load`.

        Raises
        ------
        aftershock.FormatError
            The bytes are not an intact object of this class.
        """
        return cls._wrap(cls._core_class.from_bytes(bytes(data)))

    def __reduce__(self):
        return (self.__class__.from_bytes, (self.to_bytes(),))
