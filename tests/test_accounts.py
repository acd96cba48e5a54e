"""Accounts: argon2id hashes, normalized addresses, `kyodo staff create` (SQLite, PostgreSQL)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from aggregator.accounts import AccountError, Role, authenticate, create_user, normalize_email
from aggregator.storage import make_engine, upgrade_database
from aggregator.storage.models import UserRow

PASSWORD = "kamagaya-2026-center"


@pytest.fixture()
def session(db_url: str):
    upgrade_database(db_url)
    engine = make_engine(db_url)
    with Session(engine) as s:
        yield s
    engine.dispose()


def test_addresses_are_normalized() -> None:
    assert normalize_email("  Staff＠Example.JP ") == "staff@example.jp"
    for bad in ("", "staff", "a@b", "a b@example.jp", "x" * 250 + "@example.jp"):
        with pytest.raises(AccountError):
            normalize_email(bad)


def test_a_user_signs_in_with_the_right_password_only(session: Session) -> None:
    user = create_user(session, "Staff@Example.jp", PASSWORD, Role.STAFF, name=" 鎌ケ谷 花子 ")
    session.commit()
    assert user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash
    assert user.name == "鎌ケ谷 花子" and user.role == "staff"
    assert authenticate(session, "staff@example.jp", PASSWORD).id == user.id
    assert authenticate(session, "STAFF@example.jp", PASSWORD).id == user.id
    assert authenticate(session, "staff@example.jp", PASSWORD + "x") is None
    assert authenticate(session, "nobody@example.jp", PASSWORD) is None
    assert authenticate(session, "not an address", PASSWORD) is None
    user.disabled = True
    session.commit()
    assert authenticate(session, "staff@example.jp", PASSWORD) is None


def test_one_account_per_address_and_a_long_enough_password(session: Session) -> None:
    create_user(session, "group@example.jp", PASSWORD, Role.GROUP)
    session.commit()
    with pytest.raises(AccountError, match="すでに登録されています"):
        create_user(session, "GROUP@example.jp", PASSWORD, Role.COMPANY)
    with pytest.raises(AccountError, match="10文字以上"):
        create_user(session, "short@example.jp", "short", Role.GROUP)
    assert session.scalars(select(UserRow.email)).all() == ["group@example.jp"]


def _kyodo(tmp_path: Path, url: str, *args: str, stdin: str = ""):
    env = {**os.environ, "KYODO_DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "kyodo.cli", *args],
        input=stdin,
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_kyodo_staff_create(tmp_path: Path, sqlite_url: str) -> None:
    assert _kyodo(tmp_path, sqlite_url, "db", "upgrade").returncode == 0
    proc = _kyodo(
        tmp_path,
        sqlite_url,
        "staff",
        "create",
        "Center@Example.jp",
        "--name",
        "鎌ケ谷 花子",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert proc.returncode == 0, proc.stderr
    assert "center@example.jp" in proc.stdout
    engine = make_engine(sqlite_url)
    try:
        with Session(engine) as s:
            assert authenticate(s, "center@example.jp", PASSWORD).role == "staff"
    finally:
        engine.dispose()
    again = _kyodo(
        tmp_path,
        sqlite_url,
        "staff",
        "create",
        "center@example.jp",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert again.returncode == 1 and "すでに登録されています" in again.stderr
    short = _kyodo(
        tmp_path, sqlite_url, "staff", "create", "b@example.jp", "--password-stdin", stdin="x\n"
    )
    assert short.returncode == 1 and "10文字以上" in short.stderr
