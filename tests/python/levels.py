"""SIMD levels the tests run under: the one list the `simd_level` fixture iterates, and a
context manager for computing a scalar-oracle result in the middle of a per-level test."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import HealthCheck, settings

import aftershock
from aftershock import _core


def level_params() -> list:
    """One parameter per level this machine supports (`simd_info()["supported"]`), plus
    avx512 with MaxSim's BF16 / VNNI kernels switched off where the CPU has them, so the plain
    AVX-512 MaxSim fallbacks run too. Each parameter is (level, allow MaxSim extensions)."""
    info = _core.simd_info()
    params = []
    for level in info["supported"]:
        params.append(pytest.param((level, True), id=level))
        if level == "avx512" and (info["cpu"]["avx512_bf16"] or info["cpu"]["avx512_vnni"]):
            params.append(pytest.param((level, False), id=f"{level}-noext"))
    return params


@contextlib.contextmanager
def at_simd_level(level: str):
    """Runs the block at `level`, then restores the level that was active."""
    previous = aftershock.simd_info()["active"]
    _core.set_simd_level(level)
    try:
        yield level
    finally:
        _core.set_simd_level(previous)


def per_level_settings(**kwargs) -> settings:
    """hypothesis settings for a property that takes the `simd_level` fixture: the fixture
    sets the level once per test for all its examples, which is what is wanted here, so the
    function-scoped-fixture health check is off (on top of the loaded profile's choices)."""
    suppressed = [*settings.default.suppress_health_check, HealthCheck.function_scoped_fixture]
    return settings(suppress_health_check=suppressed, **kwargs)
