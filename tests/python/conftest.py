"""Shared pytest configuration: hypothesis profiles and the per-SIMD-level fixture."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

import aftershock
from aftershock import _core

settings.register_profile("dev", max_examples=30, deadline=None)
settings.register_profile(
    "ci", max_examples=40, deadline=None, print_blob=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("nightly", max_examples=1000, deadline=None, print_blob=True)
settings.register_profile("wheel", max_examples=25, deadline=None, derandomize=True, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

SUPPORTED_LEVELS = list(_core.simd_info()["supported"])


@pytest.fixture(params=SUPPORTED_LEVELS)
def simd_level(request):
    """Runs the test once per SIMD level this machine supports, restoring the level after."""
    previous = aftershock.simd_info()["active"]
    _core.set_simd_level(request.param)
    try:
        yield request.param
    finally:
        _core.set_simd_level(previous)
