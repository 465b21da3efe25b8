"""Persistence shared by every public class: one file format for files, bytes and pickle.

Each class wraps one ``_core`` object (``self._core``) whose C++ side writes and reads the
versioned aftershock format (a header, a section table, CRC32C per section; see
``cpp/include/aftershock/io/format.hpp``). This mixin gives all of them the same
``save`` / ``load`` / ``to_bytes`` / ``from_bytes`` / pickle behaviour, written once.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar, TypeVar

from . import _core
from ._validate import path_value

T = TypeVar("T", bound="Persistent")


def cleanup(path: str | bytes | os.PathLike) -> list[str]:
    """Remove the temporaries that interrupted saves of ``path`` left behind.

    :meth:`save` writes ``.<name>.<pid>.<random>.aftershock-tmp`` beside ``path`` and renames
    it over ``path``; a process killed mid-save (SIGKILL, power loss) leaves that temporary.
    The next save of ``path`` removes such leftovers itself; this function does it without
    saving. Only regular files matching exactly that pattern for ``path``'s name, whose pid
    is no longer alive on this machine, are removed: a save in progress keeps its temporary,
    and no other file is touched. Liveness is judged by pid, so do not let processes on
    other hosts or in other pid namespaces save the same path in a shared directory.

    Parameters
    ----------
    path : str, bytes or os.PathLike
        The saved file's path (it need not exist).

    Returns
    -------
    list of str
        The paths of the removed temporaries (empty when there were none, or when the
        directory does not exist).

    Raises
    ------
    TypeError
        ``path`` is not a str, bytes or os.PathLike.
    ValueError
        ``path`` is empty or contains a NUL byte.
    OSError
        The directory cannot be listed or a stale temporary cannot be removed.
    """
    return _core.cleanup(path_value(path))


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

    def save(self, path: str | bytes | os.PathLike) -> None:
        """Write to ``path`` atomically in the aftershock format (versioned, CRC32C per section).

        The bytes go to a new temporary in the same directory,
        ``.<name>.<pid>.<random>.aftershock-tmp`` (created exclusively, never following a
        symlink: no existing file is touched, and concurrent saves of one path never share a
        temporary), which is synced and renamed over ``path``; the directory is synced last.
        A reader sees the old file or the new one, never a partial one. Temporaries left for
        ``path`` by processes that died mid-save are removed first (see :func:`aftershock.cleanup`).

        Raises
        ------
        TypeError
            ``path`` is not a str, bytes or os.PathLike.
        ValueError
            ``path`` is empty or contains a NUL byte.
        OSError
            The file cannot be written (the errno's own subclass, e.g. ``FileNotFoundError``
            for a missing directory, ``PermissionError``, with ``errno`` and ``filename``
            set); an existing file at ``path`` is left as it was.
        """
        self._core.save(path_value(path))

    @classmethod
    def load(cls: type[T], path: str | bytes | os.PathLike) -> T:
        """Read a file written by :meth:`save`, verifying every checksum and the values.

        Raises
        ------
        TypeError
            ``path`` is not a str, bytes or os.PathLike.
        ValueError
            ``path`` is empty or contains a NUL byte.
        aftershock.FormatError
            The file holds another kind of object, another major format version, or is
            damaged (flipped bytes, truncation, inconsistent values, parameters that build
            would refuse).
        OSError
            The file cannot be read, as :func:`open` raises it: ``FileNotFoundError``,
            ``PermissionError``, ``IsADirectoryError`` (with ``errno`` and ``filename``), or
            an ``OSError`` for a path that is not a regular file (a FIFO, a device).
        """
        return cls._wrap(cls._core_class.load(path_value(path)))

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
