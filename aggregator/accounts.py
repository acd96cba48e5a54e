"""Accounts: people who sign in (staff, groups, companies), with argon2id password hashes."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from aggregator.storage.models import UserRow

MIN_PASSWORD_CHARS = 10
_HASHER = PasswordHasher()  # argon2id with the library's current recommended parameters
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class Role(StrEnum):
    STAFF = "staff"  # センター職員
    GROUP = "group"  # 団体
    COMPANY = "company"  # 企業


class AccountError(ValueError):
    """A request about an account that cannot be done; the message is for people (Japanese)."""


def normalize_email(email: str) -> str:
    """Trimmed, NFKC (full-width ＠ and letters), lower case; raises AccountError if malformed."""
    value = unicodedata.normalize("NFKC", email or "").strip().lower()
    if not _EMAIL.match(value) or len(value) > 254:
        raise AccountError(f"メールアドレスの形式が正しくありません: {email}")
    return value


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_CHARS:
        raise AccountError(f"パスワードは{MIN_PASSWORD_CHARS}文字以上にしてください")


def hash_password(password: str) -> str:
    check_password(password)
    return _HASHER.hash(password)


def create_user(
    session: Session, email: str, password: str, role: Role, *, name: str | None = None
) -> UserRow:
    """A new account; AccountError if the address is taken, malformed or the password short."""
    user = UserRow(
        email=normalize_email(email),
        password_hash=hash_password(password),
        role=Role(role).value,
        name=(name or "").strip() or None,
        disabled=False,
        created_at=datetime.now(UTC),
    )
    session.add(user)
    try:
        session.flush()
    except IntegrityError as exc:
        session.rollback()
        raise AccountError(f"このメールアドレスはすでに登録されています: {user.email}") from exc
    return user


def authenticate(session: Session, email: str, password: str) -> UserRow | None:
    """The account whose address and password these are, or None (also for a disabled one).

    Hashes are upgraded in place when the library's parameters have changed.
    """
    try:
        address = normalize_email(email)
    except AccountError:
        return None
    user = session.scalars(select(UserRow).where(UserRow.email == address)).one_or_none()
    if user is None:
        _HASHER.hash(password)  # same work either way: no timing hint of which addresses exist
        return None
    try:
        _HASHER.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    if user.disabled:
        return None
    if _HASHER.check_needs_rehash(user.password_hash):
        user.password_hash = _HASHER.hash(password)
    return user
