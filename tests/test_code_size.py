"""Size rules: no module over 600 lines and no function over 80 lines (issue 13).

Checked over every Python file of the four packages (``geo``, ``ingest``, ``incidents``,
``dashboard``); tests, the data builders (``data/``) and the Alembic revisions (scripts that
replay one schema change each) are outside the rule. There is no allowlist: a module or
function that grows past its limit is split by concern (see README, "Where a change goes").
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO_ROOT

PACKAGES = ("geo", "ingest", "incidents", "dashboard")
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80
EXEMPT_PARTS = ("migrations",)  # incidents/store/migrations: Alembic revisions


def size_problems(source: str, filename: str = "<string>") -> list[str]:
    """Return the size-rule breaches of one module's source (empty when it keeps both limits).

    A function's length runs from its ``def`` line to its last line (decorators, docstring
    and nested functions included); methods and nested functions are checked too.
    """
    problems = []
    n_lines = len(source.splitlines())
    if n_lines > MAX_MODULE_LINES:
        problems.append(f"{filename}: {n_lines} lines (max {MAX_MODULE_LINES})")
    for node in ast.walk(ast.parse(source, filename=filename)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                problems.append(
                    f"{filename}:{node.lineno}: {node.name} is {length} lines "
                    f"(max {MAX_FUNCTION_LINES})"
                )
    return problems


def _checked_files() -> list[Path]:
    files = []
    for package in PACKAGES:
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            if not any(part in EXEMPT_PARTS for part in path.relative_to(REPO_ROOT).parts):
                files.append(path)
    return files


def test_no_module_over_600_lines_and_no_function_over_80():
    files = _checked_files()
    assert len(files) > 100, "the walk found the packages"
    problems: list[str] = []
    for path in files:
        problems += size_problems(path.read_text(encoding="utf-8"), str(path.relative_to(REPO_ROOT)))
    assert problems == [], "split by concern:\n" + "\n".join(problems)


def test_size_checker_catches_violations():
    long_function = "def f():\n" + "    x = 1\n" * 80
    assert size_problems(long_function, "m.py") == ["m.py:1: f is 81 lines (max 80)"]
    assert size_problems("def f():\n" + "    x = 1\n" * 79, "m.py") == []
    nested = "class C:\n    def g(self):\n" + "        y = 2\n" * 80
    assert size_problems(nested, "m.py") == ["m.py:2: g is 81 lines (max 80)"]
    long_module = "x = 1\n" * 601
    assert size_problems(long_module, "m.py") == ["m.py: 601 lines (max 600)"]
    assert size_problems("x = 1\n" * 600, "m.py") == []


def test_the_exemptions_are_only_the_alembic_revisions():
    checked = set(_checked_files())
    skipped = {
        p.relative_to(REPO_ROOT).parts[:3]
        for package in PACKAGES
        for p in (REPO_ROOT / package).rglob("*.py")
        if p not in checked
    }
    assert skipped <= {("incidents", "store", "migrations")}
