"""Accounts: people who sign in (staff, groups, companies), with argon2id password hashes."""

from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from aggregator.storage.models import AccountTokenRow, UserRow

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
    session: Session,
    email: str,
    password: str | None,
    role: Role,
    *,
    name: str | None = None,
    confirmed: bool = False,
) -> UserRow:
    """A new account; AccountError if the address is taken, malformed or the password short.

    `password=None` makes an account nobody can sign in to until a reset link sets one (a
    group staff registered and invited). `confirmed` marks the address as confirmed.
    """
    now = datetime.now(UTC)
    user = UserRow(
        email=normalize_email(email),
        password_hash=hash_password(password) if password else _HASHER.hash(secrets.token_hex(32)),
        role=Role(role).value,
        name=(name or "").strip() or None,
        disabled=False,
        email_confirmed_at=now if confirmed else None,
        created_at=now,
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


# -- single-use tokens sent by e-mail (address confirmation, password reset) --------------------


def issue_token(session: Session, user: UserRow, purpose: str, lifetime: timedelta) -> str:
    """A new token for `user`; only its SHA-256 is stored. Earlier unused ones of the same
    purpose stop working."""
    now = datetime.now(UTC)
    session.execute(
        update(AccountTokenRow)
        .where(
            AccountTokenRow.user_id == user.id,
            AccountTokenRow.purpose == purpose,
            AccountTokenRow.used_at.is_(None),
        )
        .values(used_at=now)
    )
    token = secrets.token_urlsafe(32)
    session.add(
        AccountTokenRow(
            user_id=user.id,
            purpose=purpose,
            token_hash=hashlib.sha256(token.encode()).hexdigest(),
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    session.flush()
    return token


def peek_token(session: Session, token: str, purpose: str) -> UserRow:
    """The account a valid token is for, without using it; AccountError otherwise."""
    row = _token_row(session, token, purpose)
    user = session.get(UserRow, row.user_id)
    if user is None:
        raise AccountError(_BAD_LINK)
    return user


def use_token(session: Session, token: str, purpose: str) -> UserRow:
    """Uses a token (once) and returns its account; AccountError if unknown, used or expired."""
    user = peek_token(session, token, purpose)
    row = _token_row(session, token, purpose)
    row.used_at = datetime.now(UTC)
    return user


_BAD_LINK = "このリンクは無効か、有効期限が切れています。もう一度お手続きください。"


def _token_row(session: Session, token: str, purpose: str) -> AccountTokenRow:
    digest = hashlib.sha256((token or "").encode()).hexdigest()
    row = session.scalars(
        select(AccountTokenRow).where(
            AccountTokenRow.token_hash == digest, AccountTokenRow.purpose == purpose
        )
    ).one_or_none()
    if row is None or row.used_at is not None or row.expires_at <= datetime.now(UTC):
        raise AccountError(_BAD_LINK)
    return row


def set_password(user: UserRow, password: str) -> None:
    user.password_hash = hash_password(password)


def find_user(session: Session, email: str) -> UserRow | None:
    try:
        address = normalize_email(email)
    except AccountError:
        return None
    return session.scalars(select(UserRow).where(UserRow.email == address)).one_or_none()
