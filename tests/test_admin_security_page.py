"""The admin page's security parts in Streamlit's AppTest: the audit chain's last verification
with a verify button, and unlock / reset / disable / enable of accounts (issue 15)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from incidents.service.users import create_user
from incidents.store.engine import make_engine, session_factory, session_scope
from incidents.store.models import AuditEvent, User
from tests.test_dashboard_apptest import PASSWORDS, login, seed_fixture, switch, texts

APP = str(Path(__file__).resolve().parents[1] / "dashboard" / "app.py")


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite database with the demo region and users (no storm) and one extra dispatcher."""
    folder = tmp_path_factory.mktemp("adminsec")
    url = f"sqlite:///{(folder / 'winterops.db').as_posix()}"
    seed_fixture(url, folder / "var", storm=False)
    engine = make_engine(url)
    with session_scope(session_factory(engine)) as s:
        create_user(s, "night-shift", "night-shift-pw-1", "dispatcher")
    engine.dispose()
    return url


def _admin(url: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("WINTEROPS_DATABASE_URL", url)
    at = AppTest.from_file(APP, default_timeout=90)
    at.run()
    login(at, "admin", PASSWORDS["admin"])
    switch(at, "admin")
    assert not at.exception, at.exception
    return at


def _user(url: str, name: str) -> User:
    engine = make_engine(url)
    try:
        with session_factory(engine)() as s:
            return s.scalars(select(User).where(User.username == name)).one()
    finally:
        engine.dispose()


def test_the_admin_page_shows_and_runs_the_chain_verification(demo_url, monkeypatch):
    at = _admin(demo_url, monkeypatch)
    assert "审计链尚未校验" in texts(at)
    at.button(key="wo_audit_verify").click()
    at.run()
    assert not at.exception, at.exception
    shown = texts(at)
    assert "审计链上次校验" in shown and "完整无损" in shown
    engine = make_engine(demo_url)
    with session_factory(engine)() as s:
        ev = s.scalars(select(AuditEvent).where(AuditEvent.action == "audit.verify")).one()
    engine.dispose()
    assert (ev.actor, ev.outcome) == ("admin", "ok")


def test_the_admin_page_disables_resets_and_enables_an_account(demo_url, monkeypatch):
    at = _admin(demo_url, monkeypatch)
    at.selectbox(key="wo_account_pick").set_value("night-shift")
    at.run()
    at.button(key="wo_account_disable").click()
    at.run()
    assert not at.exception, at.exception
    assert _user(demo_url, "night-shift").disabled_at is not None
    at.text_input(key="wo_account_pw").input("short")
    at.button(key="wo_account_reset").click()
    at.run()
    assert "密码至少 12 位" in texts(at)  # the policy's own translated message
    at.text_input(key="wo_account_pw").input("night-shift-pw-2")
    at.button(key="wo_account_reset").click()
    at.run()
    assert not at.exception, at.exception
    at.button(key="wo_account_enable").click()
    at.run()
    assert _user(demo_url, "night-shift").disabled_at is None
    engine = make_engine(demo_url)
    with session_factory(engine)() as s:
        trail = [
            (e.action, e.outcome) for e in s.scalars(
                select(AuditEvent).where(AuditEvent.target == "user:night-shift")
                .order_by(AuditEvent.id))
        ]
    engine.dispose()
    assert ("user.disable", "ok") in trail and ("user.enable", "ok") in trail
    assert ("user.reset_password", "ok") in trail


def test_a_disabled_user_is_told_so_on_the_log_in_page(demo_url, monkeypatch):
    from streamlit.testing.v1 import AppTest

    engine = make_engine(demo_url)
    with session_scope(session_factory(engine)) as s:
        create_user(s, "gone-away", "gone-away-pw-1", "dispatcher")
    from incidents.service.users import disable_user

    with session_scope(session_factory(engine)) as s:
        disable_user(s, "system", "gone-away")
    engine.dispose()
    monkeypatch.setenv("WINTEROPS_DATABASE_URL", demo_url)
    at = AppTest.from_file(APP, default_timeout=90)
    at.run()
    login(at, "gone-away", "gone-away-pw-1")
    assert "wo_user" not in at.session_state
    assert "账户已停用" in " ".join(str(e.value) for e in at.error)
