"""Public names: every package says what it exports (``__all__``) and every exported name is real.

* every package under geo/, ingest/, incidents/ and dashboard/ has a docstring and ``__all__``
  (but those in :data:`NO_ALL_YET`);
* every name in a package's ``__all__`` is an attribute of the package or one of its importable
  submodules; none is private (``_name``) and none is listed twice;
* every module of geo/, ingest/ and incidents/ that declares ``__all__`` defines (or imports)
  every name in it at top level (read from the source; nothing is imported), unless it makes
  names on first use with a module ``__getattr__`` (PEP 562; packages are imported above).
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import types
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

LAYERS = ("geo", "ingest", "incidents", "dashboard")
# Packages that have no ``__all__`` yet. Each entry is owned by another engineer of issue 13
# and is to be removed from this list when its package gains an ``__all__``; a package not
# listed here must have one.
NO_ALL_YET = frozenset(
    {
        "dashboard",  # dashboard/__init__.py (H3/H5)
        "incidents.service",  # incidents/service/__init__.py (service owner)
    }
)


def _packages() -> list[str]:
    found = []
    for layer in LAYERS:
        for init in sorted((REPO_ROOT / layer).rglob("__init__.py")):
            rel = init.parent.relative_to(REPO_ROOT)
            if "migrations" in rel.parts:
                continue
            found.append(".".join(rel.parts))
    return found


def _modules_with_all() -> list[Path]:
    out = []
    for layer in LAYERS[:3]:
        for path in sorted((REPO_ROOT / layer).rglob("*.py")):
            if "migrations" not in path.parts and "__all__" in path.read_text(encoding="utf-8"):
                out.append(path)
    return out


def export_problems(package: types.ModuleType, *, require_all: bool = True) -> list[str]:
    """What is wrong with a package's docstring and ``__all__`` (empty when all is well)."""
    name = package.__name__
    problems = []
    if not (package.__doc__ or "").strip():
        problems.append(f"{name}: no docstring")
    exported = getattr(package, "__all__", None)
    if exported is None:
        return problems + ([f"{name}: no __all__"] if require_all else [])
    if not isinstance(exported, list | tuple) or not all(isinstance(n, str) for n in exported):
        return [*problems, f"{name}: __all__ is not a list of strings"]
    for dup in sorted({n for n in exported if list(exported).count(n) > 1}):
        problems.append(f"{name}: {dup!r} listed twice in __all__")
    for member in exported:
        if member.startswith("_"):
            problems.append(f"{name}: exports the private name {member!r}")
        elif not hasattr(package, member) and not _is_submodule(name, member):
            problems.append(f"{name}: __all__ names {member!r}, which does not exist")
    return problems


def _is_submodule(package: str, member: str) -> bool:
    try:
        spec = importlib.util.find_spec(f"{package}.{member}")
    except ModuleNotFoundError:
        return False
    if spec is None:
        return False
    importlib.import_module(f"{package}.{member}")  # importable, not merely present
    return True


def _submodules(folder: Path) -> set[str]:
    return {p.stem for p in folder.glob("*.py") if p.stem != "__init__"} | {
        p.parent.name for p in folder.glob("*/__init__.py")
    }


def _top_level_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def source_export_problems(
    source: str, filename: str, submodules: frozenset[str] = frozenset()
) -> list[str]:
    """Names a module's ``__all__`` lists that its source never defines, and private ones.

    In a package's ``__init__.py``, `submodules` (the package's modules) count as defined.
    """
    tree = ast.parse(source, filename=filename)
    exported: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            exported = list(ast.literal_eval(node.value))
    defined = _top_level_names(tree) | submodules
    problems = [f"{filename}: exports the private name {n!r}" for n in exported if n.startswith("_")]
    if "__getattr__" in defined:  # PEP 562: names made on first use; test_package_exports imports them
        return problems
    problems += [f"{filename}: __all__ names {n!r}, never defined" for n in exported if n not in defined]
    return problems


@pytest.mark.parametrize("name", _packages())
def test_package_exports(name: str) -> None:
    package = importlib.import_module(name)
    problems = export_problems(package, require_all=name not in NO_ALL_YET)
    assert problems == [], "\n".join(problems)


def test_module_exports_are_defined() -> None:
    problems: list[str] = []
    modules = _modules_with_all()
    for path in modules:
        rel = str(path.relative_to(REPO_ROOT))
        subs = frozenset(_submodules(path.parent) if path.name == "__init__.py" else ())
        problems += source_export_problems(path.read_text(encoding="utf-8"), rel, subs)
    assert len(modules) > 20
    assert problems == [], "\n".join(problems)


def test_allow_list_names_real_packages() -> None:
    assert NO_ALL_YET <= set(_packages())


def test_checkers_catch_violations() -> None:
    bad = types.ModuleType("geo.fake", None)
    bad.__all__ = ["real", "_hidden", "ghost", "real"]  # type: ignore[attr-defined]
    bad.real = 1  # type: ignore[attr-defined]
    bad._hidden = 2  # type: ignore[attr-defined]
    assert export_problems(bad) == [
        "geo.fake: no docstring",
        "geo.fake: 'real' listed twice in __all__",
        "geo.fake: exports the private name '_hidden'",
        "geo.fake: __all__ names 'ghost', which does not exist",
    ]
    assert export_problems(types.ModuleType("geo.bare", "doc")) == ["geo.bare: no __all__"]
    assert export_problems(types.ModuleType("geo.bare", "doc"), require_all=False) == []
    # a package's submodule counts as an exported member
    assert export_problems(importlib.import_module("geo")) == []
    src = '"""d."""\nfrom x import y\nA = 1\ndef f(): ...\n__all__ = ["A", "f", "y", "_p", "gone"]\n'
    assert source_export_problems(src, "m.py") == [
        "m.py: exports the private name '_p'",
        "m.py: __all__ names '_p', never defined",
        "m.py: __all__ names 'gone', never defined",
    ]
    lazy = 'def __getattr__(name):\n    raise AttributeError(name)\n__all__ = ["later", "_p"]\n'
    assert source_export_problems(lazy, "lazy.py") == ["lazy.py: exports the private name '_p'"]
