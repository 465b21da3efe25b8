"""The common file format (cpp/src/io/format.cpp): both CRC-32C implementations agree with
each other and with the reference value, at every length and alignment; a path that is not a
regular file is refused by every class without blocking."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

import aftershock
from aftershock import _core
from aftfile import crc32c as reference_crc32c


def _implementations():
    out = [False]
    if "avx2" in aftershock.simd_info()["supported"]:
        out.append(True)
    return out


def test_known_value():
    for hardware in _implementations():
        assert _core._crc32c(b"123456789", hardware) == 0xE3069283
        assert _core._crc32c(b"", hardware) == 0


@given(st.binary(max_size=300))
def test_implementations_agree(data):
    want = reference_crc32c(data)
    for hardware in _implementations():
        assert _core._crc32c(data, hardware) == want


def test_hardware_refused_where_missing():
    if True in _implementations():
        pytest.skip("this CPU has SSE4.2")
    with pytest.raises(ValueError, match="SSE4.2"):
        _core._crc32c(b"x", True)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
@pytest.mark.parametrize("cls", ["SparseIndex", "MultiVectorStore", "MultiVectorIndex"])
def test_loading_a_fifo_is_refused_without_blocking(tmp_path, cls):
    import aftershock

    fifo = tmp_path / "index.aft"
    os.mkfifo(fifo)  # nobody writes: opening it for reading would block forever
    with pytest.raises(OSError, match="not a regular file"):
        getattr(aftershock, cls).load(fifo)
