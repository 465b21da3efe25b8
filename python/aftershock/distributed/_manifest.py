"""The manifest of a sharded index: which shard files exist, their documents and their ids.

A sharded index is a directory::

    manifest.json          this file's content (written last, atomically)
    shard-00000.aftershock an ordinary aftershock index (SparseIndex or MultiVectorIndex)
    shard-00001.aftershock ...

Each shard holds the documents ``id_offset .. id_offset + n_docs - 1`` of the whole
collection as its local rows ``0 .. n_docs - 1``. :meth:`ShardEntry.to_global` is the one
place local ids become global ids: once indexes keep their own external ids (issue 13),
only that method changes.

No Ray here: the manifest can be read and checked without it.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._core import FormatError
from .._persist import write_atomic

MANIFEST_NAME = "manifest.json"
FORMAT_NAME = "aftershock-sharded-index"
FORMAT_VERSION = 1
KINDS = ("sparse", "multivector")


def shard_file_name(shard: int) -> str:
    return f"shard-{shard:05d}.aftershock"


@dataclass(frozen=True)
class ShardEntry:
    """One shard: its file (a name inside the index directory), documents and id range."""

    shard: int
    file: str
    n_docs: int
    id_offset: int
    file_size_bytes: int
    size_bytes: int  # bytes the loaded index holds in memory (its info()["size_bytes"])
    build_seconds: float = 0.0

    def to_global(self, local_ids: np.ndarray) -> np.ndarray:
        """Local row ids (int64, ``-1`` padding) -> global ids (``-1`` stays ``-1``)."""
        local_ids = np.asarray(local_ids, dtype=np.int64)
        return np.where(local_ids >= 0, local_ids + self.id_offset, -1)


@dataclass(frozen=True)
class Manifest:
    kind: str
    n_docs: int
    dim: int
    build: dict[str, Any]
    shards: tuple[ShardEntry, ...]
    aftershock_version: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def n_shards(self) -> int:
        return len(self.shards)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "kind": self.kind,
            "n_docs": self.n_docs,
            "dim": self.dim,
            "n_shards": self.n_shards,
            "build": self.build,
            "aftershock_version": self.aftershock_version,
            "extra": self.extra,
            "shards": [asdict(s) for s in self.shards],
        }


def write_manifest(directory: str | os.PathLike, manifest: Manifest) -> Path:
    """Write ``manifest.json`` atomically, by the package's one write protocol (``_persist.write_atomic``)."""
    directory = Path(directory)
    check_manifest(manifest, f"{directory / MANIFEST_NAME}")
    target = directory / MANIFEST_NAME
    write_atomic(os.fsencode(target), json.dumps(manifest.to_json(), indent=1, sort_keys=True).encode("utf-8"))
    return target


def _field(obj: dict, key: str, kind: type | tuple, where: str):
    if key not in obj:
        raise FormatError(f"{where}: missing field {key!r}")
    value = obj[key]
    if isinstance(value, bool) or not isinstance(value, kind):
        raise FormatError(f"{where}: field {key!r} has the wrong type ({type(value).__name__})")
    return value


def read_manifest(directory: str | os.PathLike) -> Manifest:
    """Read and check ``manifest.json`` and the shard files it names.

    Raises
    ------
    FileNotFoundError
        No manifest, or a shard file is missing.
    aftershock.FormatError
        The manifest is not valid JSON of this format and version, its id ranges are not
        contiguous, or a shard file's size differs from the one recorded.
    """
    directory = Path(directory)
    path = directory / MANIFEST_NAME
    with open(path, "rb") as f:
        raw = f.read()
    where = str(path)
    try:
        obj = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FormatError(f"{where}: not valid JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise FormatError(f"{where}: expected a JSON object")
    if obj.get("format") != FORMAT_NAME:
        raise FormatError(f"{where}: not an aftershock sharded-index manifest (format {obj.get('format')!r})")
    version = _field(obj, "format_version", int, where)
    if version != FORMAT_VERSION:
        raise FormatError(f"{where}: format_version {version}; this build reads {FORMAT_VERSION}")
    shards = []
    for i, s in enumerate(_field(obj, "shards", list, where)):
        sw = f"{where}: shards[{i}]"
        if not isinstance(s, dict):
            raise FormatError(f"{sw}: expected an object")
        shards.append(
            ShardEntry(
                shard=_field(s, "shard", int, sw),
                file=_field(s, "file", str, sw),
                n_docs=_field(s, "n_docs", int, sw),
                id_offset=_field(s, "id_offset", int, sw),
                file_size_bytes=_field(s, "file_size_bytes", int, sw),
                size_bytes=_field(s, "size_bytes", int, sw),
                build_seconds=float(_field(s, "build_seconds", (int, float), sw)),
            )
        )
    manifest = Manifest(
        kind=_field(obj, "kind", str, where),
        n_docs=_field(obj, "n_docs", int, where),
        dim=_field(obj, "dim", int, where),
        build=_field(obj, "build", dict, where),
        shards=tuple(shards),
        aftershock_version=str(obj.get("aftershock_version", "")),
        extra=obj.get("extra", {}) if isinstance(obj.get("extra", {}), dict) else {},
    )
    if _field(obj, "n_shards", int, where) != manifest.n_shards:
        raise FormatError(f"{where}: n_shards {obj['n_shards']} but {manifest.n_shards} shard entries")
    check_manifest(manifest, where)
    for s in manifest.shards:
        file = directory / s.file
        size = os.stat(file).st_size  # FileNotFoundError names the missing shard file
        if size != s.file_size_bytes:
            raise FormatError(
                f"{file}: shard {s.shard} has {size} bytes, the manifest records {s.file_size_bytes}"
            )
    return manifest


def check_manifest(m: Manifest, where: str) -> None:
    """The invariants: a known kind, shards numbered 0.., plain file names, contiguous id ranges."""
    if m.kind not in KINDS:
        raise FormatError(f"{where}: kind {m.kind!r}, expected one of {KINDS}")
    if m.n_shards < 1:
        raise FormatError(f"{where}: no shards")
    if m.dim < 1 or m.n_docs < 0:
        raise FormatError(f"{where}: dim {m.dim}, n_docs {m.n_docs}")
    offset = 0
    names = set()
    for i, s in enumerate(m.shards):
        if s.shard != i:
            raise FormatError(f"{where}: shard entry {i} is numbered {s.shard}")
        if os.path.basename(s.file) != s.file or s.file in ("", ".", "..") or s.file in names:
            raise FormatError(f"{where}: shard {i}: file {s.file!r} must be a distinct plain file name")
        names.add(s.file)
        if s.id_offset != offset or s.n_docs < 0:
            raise FormatError(
                f"{where}: shard {i}: id range starts at {s.id_offset} with {s.n_docs} documents; "
                f"expected to start at {offset}"
            )
        offset += s.n_docs
    if offset != m.n_docs:
        raise FormatError(f"{where}: the shards hold {offset} documents, the manifest records {m.n_docs}")
