"""Imports point only down the stack: dashboard -> incidents -> ingest -> geo.

geo imports none of our packages; ingest imports geo; incidents imports ingest and geo;
dashboard imports all three. Only dashboard imports streamlit (or its plug-ins).
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO_ROOT

LAYERS = ("geo", "ingest", "incidents", "dashboard")  # bottom to top
ALLOWED = {layer: set(LAYERS[: i + 1]) for i, layer in enumerate(LAYERS)}
UI_ONLY = ("streamlit", "streamlit_folium")


def _imported_modules(tree: ast.AST, package: str) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: stays inside its own package
                found.append((node.lineno, package))
            elif node.module:
                found.append((node.lineno, node.module))
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", None)) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.lineno, node.args[0].value))
    return found


def check_source(source: str, package: str, filename: str = "<string>") -> list[str]:
    """Return the layering violations in one module's source (empty when it is clean)."""
    problems: list[str] = []
    tree = ast.parse(source, filename=filename)
    for lineno, module in _imported_modules(tree, package):
        top = module.split(".")[0]
        if top in LAYERS and top not in ALLOWED[package]:
            problems.append(f"{filename}:{lineno}: {package} imports {module} (up the stack)")
        if top in UI_ONLY and package != "dashboard":
            problems.append(f"{filename}:{lineno}: {package} imports {module} (UI outside dashboard)")
    return problems


def test_every_module_imports_only_downwards():
    problems: list[str] = []
    checked = 0
    for package in LAYERS:
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            source = path.read_text(encoding="utf-8")
            problems += check_source(source, package, str(path.relative_to(REPO_ROOT)))
            checked += 1
    assert checked > 10
    assert problems == []


def test_checker_catches_violations():
    bad_geo = "import numpy\nfrom ingest.records import ParseResult\n"
    assert check_source(bad_geo, "geo") == [
        "<string>:2: geo imports ingest.records (up the stack)"
    ]
    bad_ingest = "import importlib\nm = importlib.import_module('incidents.store.engine')\n"
    assert len(check_source(bad_ingest, "ingest")) == 1
    bad_incidents = "def f():\n    import streamlit as st\n    from dashboard import app\n"
    problems = check_source(bad_incidents, "incidents")
    assert len(problems) == 2
    assert any("streamlit" in p for p in problems) and any("dashboard" in p for p in problems)
    fine = "from geo.crs import METRIC_CRS\nfrom ingest import records\nfrom . import models\n"
    assert check_source(fine, "incidents") == []
    assert check_source("import streamlit as st\nfrom incidents import db\n", "dashboard") == []


def test_serve_starts_the_dashboard_by_path_without_importing_it():
    cli = (REPO_ROOT / "incidents" / "cli" / "app.py").read_text(encoding="utf-8")
    assert check_source(cli, "incidents") == []
    assert '"dashboard" / "app.py"' in cli


def test_layers_are_real_packages():
    for package in LAYERS:
        assert Path(REPO_ROOT / package / "__init__.py").is_file()
