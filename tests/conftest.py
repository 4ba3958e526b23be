"""Shared fixtures: the same tests run on a SQLite file and on PostGIS.

PostGIS tests use WINTEROPS_TEST_POSTGIS_URL (a database with the postgis extension); each test
gets a fresh schema. When WINTEROPS_REQUIRE_POSTGIS=1 (CI), an unreachable PostGIS fails the
tests instead of skipping them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from incidents.settings import Settings
from incidents.store.engine import init_db, make_engine
from incidents.store.engine import session_factory as make_session_factory

POSTGIS_URL = os.environ.get("WINTEROPS_TEST_POSTGIS_URL", "")
REQUIRE_POSTGIS = os.environ.get("WINTEROPS_REQUIRE_POSTGIS") == "1"
REPO_ROOT = Path(__file__).resolve().parents[1]
REALDATA = REPO_ROOT.parent / "shared" / "realdata"


def _postgis_schema_url() -> Iterator[str]:
    if not POSTGIS_URL:
        if REQUIRE_POSTGIS:
            pytest.fail("WINTEROPS_REQUIRE_POSTGIS=1 but WINTEROPS_TEST_POSTGIS_URL is not set")
        pytest.skip("PostGIS not configured (set WINTEROPS_TEST_POSTGIS_URL)")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGIS_URL)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # noqa: BLE001 - turned into a skip or a failure below
        admin.dispose()
        if REQUIRE_POSTGIS:
            pytest.fail(f"PostGIS at {POSTGIS_URL} unreachable: {exc}")
        pytest.skip(f"PostGIS unreachable: {exc}")
    sep = "&" if "?" in POSTGIS_URL else "?"
    try:
        yield f"{POSTGIS_URL}{sep}options=-csearch_path%3D{schema},public"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URL: a SQLite file in tmp_path, or a fresh schema in the test PostGIS."""
    if request.param == "sqlite":
        yield f"sqlite:///{(tmp_path / 'winterops.db').as_posix()}"
    else:
        yield from _postgis_schema_url()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite file URL only (for tests that are about SQLite itself)."""
    return f"sqlite:///{(tmp_path / 'winterops.db').as_posix()}"


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on `db_url` with the schema at its newest version."""
    eng = make_engine(db_url)
    init_db(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def session_factory(engine: Engine) -> sessionmaker[Session]:
    """A session factory on `engine`."""
    return make_session_factory(engine)


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    """Settings with var_dir in tmp_path and the test database."""
    base = Settings.from_env({})
    return replace(base, database_url=db_url, var_dir=tmp_path / "var")


@pytest.fixture
def realdata() -> Path:
    """The shared real sample files; skips the test when the folder is absent."""
    if not REALDATA.is_dir():
        pytest.skip(f"{REALDATA} not present")
    return REALDATA


