"""Persistence shared by every public class: one file format for files, bytes and pickle.

Each class wraps one ``_core`` object (``self._core``) whose C++ side writes and reads the
versioned aftershock format (a header, a section table, CRC32C per section; see
``cpp/include/aftershock/io/format.hpp``). This mixin gives all of them the same
``save`` / ``load`` / ``to_bytes`` / ``from_bytes`` / pickle behaviour, written once.

Python-level sections. State that lives only in the Python object (today: the search
settings found by ``tune()``, section ``TUNE``) is stored as extra sections of the same
file, added to the core's bytes here: the payload is appended (64-byte aligned) and a new
section table, listing the core's sections plus the extra ones, is written after it; the
old table's bytes are zeroed (the reader requires every byte outside the header, the
table and the sections to be zero) and the header's count, table offset, file size and
checksums are updated. The core's reader skips tags it does not know (the format's
minor-version rule), so such a file loads in this and older builds, and a file without
the extra sections (every file written before them) loads as an object without that
state. A damaged extra section raises :class:`aftershock.FormatError`.
"""

from __future__ import annotations

import os
import secrets
import struct
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


_HEADER_BYTES = 64
_ENTRY_BYTES = 32
_ALIGNMENT = 64
_MAGIC = b"AFTSHOCK"
_DTYPE_BYTES = 0


def _format_error(why: str) -> Exception:
    return _core.FormatError(why)


def _crc32c(data: bytes) -> int:
    return _core._crc32c(bytes(data), False)


def _parse_table(header: bytes, read_at, size: int) -> dict[bytes, tuple[int, int, int]]:
    """tag -> (offset, length, crc) of every section, after the header and table checks."""
    if len(header) < _HEADER_BYTES or header[:8] != _MAGIC:
        raise _format_error("not an aftershock file (bad magic)")
    if struct.unpack_from("<I", header, 60)[0] != _crc32c(header[:60]):
        raise _format_error("header checksum mismatch (damaged file)")
    count, table_offset, file_size = struct.unpack_from("<IQQ", header, 20)
    if file_size != size or table_offset < _HEADER_BYTES or count > (size - min(table_offset, size)) // _ENTRY_BYTES:
        raise _format_error("section table out of bounds")
    table = read_at(table_offset, count * _ENTRY_BYTES)
    if struct.unpack_from("<I", header, 40)[0] != _crc32c(table):
        raise _format_error("section table checksum mismatch (damaged file)")
    out = {}
    for i in range(count):
        tag = table[i * _ENTRY_BYTES : i * _ENTRY_BYTES + 4]
        offset, length = struct.unpack_from("<QQ", table, i * _ENTRY_BYTES + 8)
        (crc,) = struct.unpack_from("<I", table, i * _ENTRY_BYTES + 24)
        if offset > size or length > size - offset:
            raise _format_error(f"section {tag!r} out of bounds")
        out[tag] = (offset, length, crc)
    return out


def read_file_sections(raw: bytes, use):
    """``use(read_at, size)`` over the open file ``raw``: ``read_at(offset, n)`` reads n
    bytes at offset (FormatError when the file ends first)."""
    with open(raw, "rb") as f:
        size = os.fstat(f.fileno()).st_size

        def read_at(offset: int, n: int) -> bytes:
            f.seek(offset)
            data = f.read(n)
            if len(data) != n:
                raise _format_error("truncated file")
            return data

        return use(read_at, size)


def _read_extra(read_at, size: int, tags: tuple[bytes, ...]) -> dict[bytes, bytes]:
    """The payloads of the sections named in ``tags`` that the file holds, CRC-checked."""
    if not tags:
        return {}
    table = _parse_table(read_at(0, _HEADER_BYTES), read_at, size)
    out = {}
    for tag in tags:
        if tag in table:
            offset, length, crc = table[tag]
            payload = read_at(offset, length)
            if _crc32c(payload) != crc:
                raise _format_error(f"section '{tag.decode()}' checksum mismatch (damaged file)")
            out[tag] = payload
    return out


def add_sections(data: bytes, extra: dict[bytes, bytes]) -> bytes:
    """``data`` (a file the core wrote) with the ``extra`` sections added (see the module
    docstring); every checksum valid."""
    if not extra:
        return data
    buf = bytearray(data)
    count, table_offset, _ = struct.unpack_from("<IQQ", buf, 20)
    table = bytearray(buf[table_offset : table_offset + count * _ENTRY_BYTES])
    buf[table_offset : table_offset + count * _ENTRY_BYTES] = bytes(count * _ENTRY_BYTES)
    for tag, payload in extra.items():
        buf += bytes(-len(buf) % _ALIGNMENT)
        entry = bytearray(_ENTRY_BYTES)
        entry[0:4] = tag
        struct.pack_into("<HHQQI", entry, 4, _DTYPE_BYTES, 0, len(buf), len(payload), _crc32c(payload))
        table += entry
        buf += payload
    buf += bytes(-len(buf) % _ALIGNMENT)
    new_table_offset = len(buf)
    buf += table
    n = count + len(extra)
    # A minor version adds sections; older readers skip them.
    (minor,) = struct.unpack_from("<H", buf, 10)
    struct.pack_into("<H", buf, 10, max(minor, 1))
    struct.pack_into("<IQQ", buf, 20, n, new_table_offset, len(buf))
    struct.pack_into("<I", buf, 40, _crc32c(bytes(table)))
    struct.pack_into("<I", buf, 60, _crc32c(bytes(buf[:60])))
    return bytes(buf)


def write_atomic(path: bytes, data: bytes) -> None:
    """The core's write protocol (docs/architecture.md, Files) for bytes made in Python:
    stale temporaries removed, a new exclusive temporary beside the target, fsync,
    rename, fsync of the directory."""
    _core.cleanup(path)
    directory, name = os.path.split(path)
    tmp = os.path.join(directory, b".%s.%d.%s.aftershock-tmp" % (name, os.getpid(), secrets.token_hex(8).encode()))
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(tmp, flags, 0o644)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    if hasattr(os, "O_DIRECTORY"):
        dfd = os.open(directory or b".", os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


class Persistent:
    """Mixin: ``save``, ``load``, ``to_bytes``, ``from_bytes`` and pickling over ``self._core``.

    A subclass sets ``_core_class`` to its ``_core`` class. Objects made by :meth:`load` or
    :meth:`from_bytes` are wrapped without running the subclass's ``__init__``.
    """

    _core_class: ClassVar[type]
    _core: Any
    # Tags of the Python-level sections this class reads (see the module docstring).
    _extra_tags: ClassVar[tuple[bytes, ...]] = ()

    @classmethod
    def _wrap(cls: type[T], core: Any) -> T:
        obj = cls.__new__(cls)
        obj._core = core
        return obj

    def _extra_sections(self) -> dict[bytes, bytes]:
        """Python-level sections to save (tag -> payload); none by default."""
        return {}

    def _restore_extra(self, sections: dict[bytes, bytes]) -> None:
        """Take back the sections of ``_extra_tags`` a file holds (FormatError if damaged)."""

    @classmethod
    def _wrap_with_extra(cls: type[T], core: Any, read_at, size: int) -> T:
        obj = cls._wrap(core)
        obj._restore_extra(_read_extra(read_at, size, cls._extra_tags))
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
        raw = path_value(path)
        extra = self._extra_sections()
        if extra:  # the core's bytes plus ours, written by the same protocol
            write_atomic(raw, add_sections(self._core.to_bytes(), extra))
        else:
            self._core.save(raw)

    @classmethod
    def load(cls: type[T], path: str | bytes | os.PathLike, **core_options) -> T:
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
        raw = path_value(path)
        core = cls._core_class.load(raw, **core_options)
        if not cls._extra_tags:
            return cls._wrap(core)
        # the Python-level sections are small: read them alone, never the whole file
        return read_file_sections(raw, lambda read_at, size: cls._wrap_with_extra(core, read_at, size))

    def to_bytes(self) -> bytes:
        """The bytes :meth:`save` writes (pickling uses them too)."""
        return add_sections(self._core.to_bytes(), self._extra_sections())

    @classmethod
    def from_bytes(cls: type[T], data: bytes) -> T:
        """Inverse of :meth:`to_bytes`, with the checks of :meth:`load`.

        Raises
        ------
        aftershock.FormatError
            The bytes are not an intact object of this class.
        """
        data = bytes(data)
        core = cls._core_class.from_bytes(data)
        return cls._wrap_with_extra(core, lambda offset, n: data[offset : offset + n], len(data))

    def __reduce__(self):
        return (self.__class__.from_bytes, (self.to_bytes(),))
