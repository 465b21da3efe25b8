"""The type stubs of the private extension (``_core.pyi``) name exactly what it defines, so
editors and mypy see the real API (regenerate with ``pybind11-stubgen aftershock._core``)."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import aftershock
from aftershock import _core

STUB = Path(aftershock.__file__).with_name("_core.pyi")


def _members(body) -> set[str]:
    out = set()
    for item in body:
        if isinstance(item, (ast.FunctionDef, ast.ClassDef)):
            out.add(item.name)
        elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
            out.add(item.target.id)
    return out


def _stub_names() -> dict[str, set[str]]:
    """Top-level names under "", and each class's members under its name."""
    tree = ast.parse(STUB.read_text())
    names = {"": _members(tree.body)}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            names[node.name] = _members(node.body)
    return names


def _public(names) -> set[str]:
    return {n for n in names if not n.startswith("__")}


def test_stub_is_shipped():
    assert STUB.is_file()
    assert (STUB.parent / "py.typed").is_file()


def test_stub_names_match_the_extension():
    stub = _stub_names()
    module = {n for n, v in vars(_core).items() if not n.startswith("__") and (inspect.isclass(v) or callable(v))}
    assert _public(stub[""]) == module
    for name, cls in vars(_core).items():
        if inspect.isclass(cls) and not issubclass(cls, BaseException):
            members = {n for n in vars(cls) if not n.startswith("__") and n != "_pybind11_conduit_v1_"}
            assert _public(stub[name]) == members, name
