"""Shared pytest configuration: hypothesis profiles and the per-SIMD-level fixture.

Tests live in one folder per engine, mirroring `python/aftershock/` and `cpp/src/`
(`sparse/`, `maxsim/` (kernels), `store/`, `multivector/`); cross-cutting concerns (file checksum, SIMD
dispatch, huge pages, progress and Ctrl-C) are files at this level. The shared helpers
(`aftfile`, `strategies`, `levels`) sit here and are importable from every folder
(`pythonpath` in pyproject.toml)."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

from aftershock import _core
from levels import at_simd_level, level_params
from maxsim.reference import make_docs, make_query

settings.register_profile("dev", max_examples=30, deadline=None)
settings.register_profile(
    "ci", max_examples=40, deadline=None, print_blob=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("nightly", max_examples=1000, deadline=None, print_blob=True)
settings.register_profile("wheel", max_examples=25, deadline=None, derandomize=True, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(params=level_params())
def simd_level(request):
    """Runs the test once per SIMD level this machine supports (see `levels.level_params`),
    restoring the level and MaxSim's extension switches after. Every kernel test of every
    engine takes this fixture instead of looping over levels itself."""
    level, extensions = request.param
    with at_simd_level(level):
        _core._set_maxsim_extensions(extensions, extensions)
        try:
            yield level
        finally:
            _core._set_maxsim_extensions(False, True)  # the defaults


@pytest.fixture(scope="session")
def corpus():
    """150 ragged documents of dim 24 and 7 queries of 1-19 tokens (MaxSim kernel and store tests)."""
    rng = np.random.default_rng(1)
    dim = 24
    docs = make_docs(rng, 150, dim, rng.integers(1, 70, size=150), scale_spread=1.0)
    queries = [make_query(rng, int(m), dim) for m in rng.integers(1, 20, size=7)]
    return docs, queries
