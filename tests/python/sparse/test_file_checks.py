"""Files whose checksums are all valid but whose contents break an invariant (what a buggy
writer or a hostile file looks like, built with `aftfile`) are refused with FormatError by
the load checks of cpp/src/sparse/index_io.cpp, never read out of bounds."""

from __future__ import annotations

import numpy as np
import pytest

import aftershock
from aftershock import SparseIndex
from aftershock.datasets import synthetic_sparse
from aftfile import edit_section, rename_section, replace_sections, sections


def _set(index, value):
    def edit(a):
        a[index] = value

    return edit


def _old_layout(a):
    at = bytes(a).index(b"layout") + len(b"layout") + 1  # the digit after "layout="
    a[at] = ord("1")


def _header_doc(a):
    a[0] = a[0] + 1  # row 0's header: (doc id 0, length) as one u64 word; names doc 1


def test_duplicate_section_is_refused():
    """A file naming one section twice would leave one of them unchecked: refused."""
    docs, _ = synthetic_sparse(50, 1, vocab_size=60, doc_nnz=6, seed=5)
    data = SparseIndex.build(docs)._core.to_bytes()
    with pytest.raises(aftershock.FormatError, match="appears twice"):
        SparseIndex.from_bytes(rename_section(data, "ST32", "ST16"))


def test_an_empty_vocabulary_is_refused():
    """A file consistent in form with dim = 0 and no documents (a build refuses dim = 0) must
    be refused, not divide by zero sizing the bitmap directories."""
    docs, _ = synthetic_sparse(5, 1, vocab_size=4, doc_nnz=2, seed=1)
    data = SparseIndex.build(docs)._core.to_bytes()
    conf_at, conf_len = sections(data)["CONF"][1:]
    conf = data[conf_at : conf_at + conf_len].decode().replace("dim=4", "dim=0").replace("n_docs=5", "n_docs=0")
    u64 = lambda *v: np.array(v, np.uint64).tobytes()
    empty = {tag: b"" for tag in ("FWDR", "FWDH", "PROW", "BPST", "BSCL", "SBMP", "ST16", "ST32", "EBLK", "ECOD", "KNNG")}
    bad = replace_sections(data, {**empty, "CONF": conf.encode(), "LPST": u64(0), "LBLK": u64(0), "SPGR": u64(0),
                                  "SRUN": u64(1)})
    with pytest.raises(aftershock.FormatError, match="dim"):
        SparseIndex.from_bytes(bad)


# Files with valid checksums and one broken invariant, and the message that names it
# (test_sparse_mmap.py loads them mapped as well).
STRUCTURAL_DAMAGE = [
    ("PROW", np.uint32, lambda a: a.__setitem__(0, a[0] + 1), "posting does not name a document"),
    ("PROW", np.uint32, _set(0, 2**32 - 1), "posting does not name a document"),
    ("FWDH", np.uint32, lambda a: a.__setitem__(slice(0, 2), a[1::-1].copy()), "names the wrong document"),
    ("FWDH", np.uint32, lambda a: a.__setitem__(1, a[0]), "names the wrong document"),
    ("FWDR", np.uint64, _header_doc, "names the wrong document"),
    ("FWDR", np.uint16, _set(4, 65535), "term id out of range"),
    ("FWDR", np.uint16, lambda a: a.__setitem__(slice(4, None), 0x7E00), "out of range|invalid weight"),
    ("CONF", np.uint8, _old_layout, "another version"),
    ("SRUN", np.uint64, lambda a: a.__setitem__(0, a[0] & ~np.uint64(1)), "run bits do not match"),
    ("SRUN", np.uint64, lambda a: a.__setitem__(-1, a[-1] | np.uint64(1 << 63)), "run bits have the wrong length"),
    ("SPGR", np.uint64, lambda a: a.__setitem__(-1, a[-1] + 1), "run bits do not match|truncated"),
    ("EBLK", np.uint8, _set(0, 255), "out of order|out of range"),
    ("EBLK", np.uint8, lambda a: a.__setitem__(slice(0, 2), [3, 2]), "out of order|out of range"),
    ("ST16", np.uint16, _set(0, 65535), "not sorted or names a term out of range"),
    ("SBMP", np.uint64, lambda a: a.__setitem__(0, a[0] | np.uint64(1 << 63)), "does not match its page"),
    ("SSMP", np.uint64, lambda a: a.__setitem__(-1, a[-1] + 1), "samples disagree"),
]


@pytest.mark.parametrize("tag,dtype,edit,message", STRUCTURAL_DAMAGE)
def test_structurally_damaged_files_raise_format_error(tag, dtype, edit, message):
    """Files with valid checksums but broken invariants are refused, never read out of bounds."""
    docs, _ = synthetic_sparse(50, 1, vocab_size=60, doc_nnz=6, seed=5)
    data = SparseIndex.build(docs)._core.to_bytes()
    with pytest.raises(aftershock.FormatError, match=message):
        SparseIndex.from_bytes(edit_section(data, tag, dtype, edit))


def test_a_run_out_of_order_anywhere_is_refused():
    """The run-order check goes 64 entries at a time: damage in the first word, the middle
    and the unaligned tail must all be found, and equal blocks count as out of order."""
    docs, _ = synthetic_sparse(3000, 1, vocab_size=400, doc_nnz=20, seed=7)
    data = SparseIndex.build(docs, n_postings=200)._core.to_bytes()
    _, off, length = sections(data)["SRUN"]
    starts = np.unpackbits(np.frombuffer(data[off : off + length], np.uint8), bitorder="little").astype(bool)
    n_entries = sections(data)["EBLK"][2]
    inside = np.flatnonzero(~starts[:n_entries])  # entries continuing a run
    tail = inside[inside >= n_entries - n_entries % 64]
    picks = {int(inside[0]), int(inside[len(inside) // 2]), int(inside[-1])}
    assert inside[0] < 64 and len(tail) and n_entries > 1000
    word = n_entries // 128 * 64  # a full 64-entry word in the middle: every lane of the SIMD check
    picks |= {e for e in range(word, word + 64) if not starts[e]}
    for e in sorted(picks):
        swap = lambda a, e=e: a.__setitem__(slice(e - 1, e + 1), a[e - 1 : e + 1][::-1].copy())
        equal = lambda a, e=e: a.__setitem__(e, a[e - 1])
        for edit in (swap, equal):
            with pytest.raises(aftershock.FormatError, match="out of order"):
                SparseIndex.from_bytes(edit_section(data, "EBLK", np.uint8, edit))
    SparseIndex.from_bytes(data)  # and the undamaged file loads


@pytest.mark.parametrize(
    "key, value",
    [
        ("centroid_fraction", "-1"),
        ("centroid_fraction", "2"),
        ("summary_energy", "1e300"),
        ("summary_energy", "0"),
        ("max_fraction", "0.5"),
        ("n_postings", "0"),
        ("min_cluster_size", "0"),
    ],
)
def test_parameters_build_refuses_are_refused_on_load(key, value):
    """Load checks the CONF values with build's own check (cpp/src/sparse/params.cpp), not
    only their checksums: a file build could not have written is a FormatError naming the key."""
    docs, _ = synthetic_sparse(50, 1, vocab_size=60, doc_nnz=6, seed=5)
    data = SparseIndex.build(docs)._core.to_bytes()
    _, offset, length = sections(data)["CONF"]
    lines = data[offset : offset + length].decode().splitlines()
    assert any(line.startswith(key + "=") for line in lines)
    conf = "".join(f"{key}={value}\n" if line.startswith(key + "=") else line + "\n" for line in lines)
    with pytest.raises(aftershock.FormatError, match=key):
        SparseIndex.from_bytes(replace_sections(data, {"CONF": conf.encode()}))
