"""SIMD dispatch (cpp/src/simd/dispatch.cpp): the AFTERSHOCK_SIMD override, and clear
errors for unknown levels. The per-level kernel tests live with each engine and take the
`simd_level` fixture of conftest.py."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from aftershock import _core


def test_simd_env_override_and_errors():
    code = "import aftershock; print(aftershock.simd_info()['active'])"
    env = dict(os.environ, AFTERSHOCK_SIMD="scalar")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "scalar"
    env["AFTERSHOCK_SIMD"] = "sse9"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode != 0 and "ValueError" in out.stderr and "AFTERSHOCK_SIMD" in out.stderr
    with pytest.raises(ValueError, match="expected one of"):
        _core.set_simd_level("neon9")
