"""The common file format's checksum: both CRC-32C implementations agree with each other
and with the reference value, at every length and alignment."""

from __future__ import annotations

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
