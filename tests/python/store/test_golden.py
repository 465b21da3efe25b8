"""Store files written by aftershock 0.1 (before the store split: tests/data/format_v1/store_*.aft,
never regenerated silently) still load (into memory and memory-mapped), and a store built
today from the same data writes the same sections, plus the additive ones of the mappable
load (MVNM, and MVBI for int8: derived data a mapped load reads instead of the panels)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from aftershock import MultiVectorStore
from aftfile import sections
from maxsim.reference import PRECISIONS

GOLDEN = Path(__file__).resolve().parents[2] / "data" / "format_v1"
LENGTHS = [1, 15, 16, 17, 40, 3, 33]
DIM = 13


def golden_vectors():
    """The documents the golden files hold: token j of the flat per-document values is
    ((j * 37 + n * 11) % 101 - 50) / 7 for a document of n tokens, rounded to float32."""
    parts = []
    for n in LENGTHS:
        j = np.arange(n * DIM)
        parts.append((((j * 37 + n * 11) % 101 - 50) / np.float32(7)).astype(np.float32).reshape(n, DIM))
    return parts


@pytest.mark.parametrize("precision", PRECISIONS)
def test_version_0_1_store_files_load(precision):
    path = GOLDEN / f"store_{precision}.aft"
    old = MultiVectorStore.load(path)
    docs = golden_vectors()
    new = MultiVectorStore.build(docs, precision=precision, num_threads=1)
    assert old.precision == precision and old.n_docs == len(LENGTHS) and old.dim == DIM
    old_bytes, new_bytes = path.read_bytes(), new.to_bytes()
    old_sections, new_sections = sections(old_bytes), sections(new_bytes)
    added = {"MVNM", "MVBI"} if precision == "int8" else {"MVNM"}
    assert set(new_sections) == set(old_sections) | added
    for tag, (_, offset, length) in old_sections.items():
        _, new_offset, new_length = new_sections[tag]
        assert new_bytes[new_offset : new_offset + new_length] == old_bytes[offset : offset + length], tag
    mapped = MultiVectorStore.load(path, mmap=True)  # no MVNM / MVBI: derived at open
    mapped.verify()
    q = docs[4][:5]
    np.testing.assert_array_equal(old.maxsim(q), new.maxsim(q))
    np.testing.assert_array_equal(mapped.maxsim(q), new.maxsim(q))
    for i in range(len(LENGTHS)):
        np.testing.assert_array_equal(old.doc(i), new.doc(i))
        np.testing.assert_array_equal(mapped.doc(i), new.doc(i))
