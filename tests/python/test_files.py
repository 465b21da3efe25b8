"""Files of every class (cpp/src/io/format.cpp, python/aftershock/_persist.py): the save
protocol (a unique temporary beside the target, never an existing file or symlink; stale
temporaries of dead savers removed, also by aftershock.cleanup), OSError subclasses with
errno and filename as open() raises them, and paths with NUL bytes refused."""

from __future__ import annotations

import errno
import os
import pathlib
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import aftershock
from aftershock import MultiVectorIndex, MultiVectorStore, SparseIndex
from aftershock.datasets import synthetic_sparse

CLASSES = ["SparseIndex", "MultiVectorStore", "MultiVectorIndex"]
SUFFIX = ".aftershock-tmp"


def _tokens(seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((int(rng.integers(2, 6)), 8)).astype(np.float32) for _ in range(30)]


@pytest.fixture(scope="module")
def objects():
    docs, _ = synthetic_sparse(60, 1, vocab_size=50, doc_nnz=5, seed=1)
    return {
        "SparseIndex": SparseIndex.build(docs, n_postings=20, seed=3),
        "MultiVectorStore": MultiVectorStore.build(_tokens()),
        "MultiVectorIndex": MultiVectorIndex.build(_tokens(), method="centroid", n_centroids=4, seed=3),
    }


def _dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _temporaries(directory: pathlib.Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(SUFFIX))


@pytest.mark.parametrize("cls", CLASSES)
def test_save_leaves_an_existing_tmp_file_alone(tmp_path, objects, cls):
    # The old protocol wrote (O_TRUNC) to path + ".tmp": a user's file of that name was lost.
    precious = tmp_path / "index.aft.tmp"
    precious.write_bytes(b"the user's own file")
    path = tmp_path / "index.aft"
    objects[cls].save(path)
    assert precious.read_bytes() == b"the user's own file"
    assert getattr(aftershock, cls).load(path).to_bytes() == objects[cls].to_bytes()
    assert _temporaries(tmp_path) == []


@pytest.mark.parametrize("cls", CLASSES)
def test_save_does_not_follow_a_symlink_at_the_old_tmp_name(tmp_path, objects, cls):
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"must not be overwritten")
    link = tmp_path / "index.aft.tmp"
    link.symlink_to(victim)
    objects[cls].save(tmp_path / "index.aft")
    assert victim.read_bytes() == b"must not be overwritten"
    assert link.is_symlink() and os.readlink(link) == str(victim)


def test_concurrent_saves_never_expose_a_partial_file(tmp_path):
    # Two processes save different indexes to one path in a loop while a third loads it:
    # with one shared temporary (O_TRUNC) a writer truncated the other's file just before
    # its rename, and loads failed. Every load must now see one complete file.
    path = tmp_path / "shared.aft"
    docs, _ = synthetic_sparse(300, 1, vocab_size=200, doc_nnz=10, seed=2)
    for seed in (1, 2):
        SparseIndex.build(docs, n_postings=50, seed=seed).save(tmp_path / f"source{seed}.aft")
    SparseIndex.load(tmp_path / "source1.aft").save(path)
    writer = textwrap.dedent(
        """
        import sys
        from aftershock import SparseIndex
        index = SparseIndex.load(sys.argv[1])
        for _ in range(60):
            index.save(sys.argv[2])
        """
    )
    reader = textwrap.dedent(
        """
        import sys
        from aftershock import SparseIndex
        loads = 0
        while True:
            stop = open(sys.argv[2]).read() == "stop"
            assert len(SparseIndex.load(sys.argv[1])) == 300
            loads += 1
            if stop:
                break
        print(loads)
        """
    )
    flag = tmp_path / "flag"
    flag.write_text("go")
    read = subprocess.Popen([sys.executable, "-c", reader, str(path), str(flag)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    writers = [
        subprocess.Popen([sys.executable, "-c", writer, str(tmp_path / f"source{seed}.aft"), str(path)],
                         stderr=subprocess.PIPE, text=True)
        for seed in (1, 2)
    ]
    for w in writers:
        _, err = w.communicate(timeout=300)
        assert w.returncode == 0, err
    flag.write_text("stop")
    out, err = read.communicate(timeout=300)
    assert read.returncode == 0, err
    assert int(out) >= 1
    assert _temporaries(tmp_path) == []


@pytest.mark.parametrize("cls", CLASSES)
def test_stale_temporaries_are_removed_by_save_and_by_cleanup(tmp_path, objects, cls):
    dead, alive = _dead_pid(), os.getpid()
    stale = f".index.aft.{dead}.0123456789abcdef{SUFFIX}"
    kept = [
        f".index.aft.{alive}.0123456789abcdef{SUFFIX}",  # a save in progress (live pid)
        f".other.aft.{dead}.0123456789abcdef{SUFFIX}",  # another file's temporary
        f".index.aft.{dead}.0123456789ABCDEF{SUFFIX}",  # not the exact pattern
        f".index.aft.{dead}.0123{SUFFIX}",
        f"index.aft.{dead}.0123456789abcdef{SUFFIX}",
        "index.aft.tmp",
    ]
    for name in [stale, *kept]:
        (tmp_path / name).write_bytes(b"partial")
    path = tmp_path / "index.aft"

    assert aftershock.cleanup(path) == [str(tmp_path / stale)]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(kept)
    assert aftershock.cleanup(path) == []

    (tmp_path / stale).write_bytes(b"partial")
    objects[cls].save(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*kept, "index.aft"])


def test_cleanup_of_a_missing_directory_and_bad_paths(tmp_path):
    assert aftershock.cleanup(tmp_path / "no" / "such" / "index.aft") == []
    assert aftershock.cleanup(str(tmp_path / "index.aft")) == []
    with pytest.raises(ValueError, match="path"):
        aftershock.cleanup("index.aft\0x")
    with pytest.raises(TypeError, match="path"):
        aftershock.cleanup(3)


@pytest.mark.parametrize("cls", CLASSES)
def test_load_errors_are_the_errno_subclass_with_filename(tmp_path, cls):
    load = getattr(aftershock, cls).load
    missing = tmp_path / "missing.aft"
    with pytest.raises(FileNotFoundError) as info:
        load(missing)
    assert info.value.errno == errno.ENOENT and info.value.filename == str(missing)
    with pytest.raises(IsADirectoryError) as info:
        load(tmp_path)
    assert info.value.errno == errno.EISDIR and info.value.filename == str(tmp_path)


@pytest.mark.parametrize("cls", CLASSES)
def test_save_errors_are_the_errno_subclass_with_filename(tmp_path, objects, cls):
    target = tmp_path / "no" / "such" / "dir.aft"
    with pytest.raises(FileNotFoundError) as info:
        objects[cls].save(target)
    assert info.value.errno == errno.ENOENT and info.value.filename == str(target)
    (tmp_path / "taken").mkdir()
    with pytest.raises(IsADirectoryError) as info:
        objects[cls].save(tmp_path / "taken")
    assert info.value.filename == str(tmp_path / "taken")
    assert _temporaries(tmp_path) == []


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root may write anywhere")
def test_save_into_a_read_only_directory_is_a_permission_error(tmp_path, objects):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        with pytest.raises(PermissionError) as info:
            objects["SparseIndex"].save(locked / "index.aft")
        assert info.value.errno == errno.EACCES and info.value.filename == str(locked / "index.aft")
    finally:
        locked.chmod(0o755)


@pytest.mark.parametrize("cls", CLASSES)
def test_a_nul_byte_in_the_path_is_refused(tmp_path, objects, cls):
    # The OS stops at the NUL: save("victim.aft\0x") used to overwrite victim.aft.
    victim = tmp_path / "victim.aft"
    victim.write_bytes(b"keep")
    for path in (str(victim) + "\0x", os.fsencode(victim) + b"\0x"):
        with pytest.raises(ValueError, match="path"):
            objects[cls].save(path)
        with pytest.raises(ValueError, match="path"):
            getattr(aftershock, cls).load(path)
    assert victim.read_bytes() == b"keep"
    # The core refuses as well, for callers that skip the Python layer.
    with pytest.raises(ValueError, match="path"):
        objects[cls]._core.save(str(victim) + "\0x")
    with pytest.raises(ValueError, match="path"):
        getattr(aftershock._core, cls).load(str(victim) + "\0x")
    assert victim.read_bytes() == b"keep"


class _PathLike:
    def __init__(self, path):
        self._path = path

    def __fspath__(self):
        return self._path


@pytest.mark.parametrize("cls", CLASSES)
def test_path_forms(tmp_path, objects, cls):
    want = objects[cls].to_bytes()
    load = getattr(aftershock, cls).load
    for path in (tmp_path / "a.aft", str(tmp_path / "b.aft"), os.fsencode(tmp_path / "c.aft"),
                 _PathLike(str(tmp_path / "d.aft")), tmp_path / "caf\udce9.aft"):
        objects[cls].save(path)
        assert load(path).to_bytes() == want
    assert os.path.exists(os.fsencode(tmp_path) + b"/caf\xe9.aft")
    for bad in (3, None, 1.5):
        with pytest.raises(TypeError, match="path"):
            objects[cls].save(bad)
        with pytest.raises(TypeError, match="path"):
            load(bad)
    with pytest.raises(ValueError, match="path"):
        objects[cls].save("")
