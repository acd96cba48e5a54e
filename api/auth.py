"""Sign-in sessions, CSRF protection and role checks for the pages.

- **Sessions** are server-side: the `kyodo_session` cookie (HttpOnly, SameSite=Lax, Secure on
  https sites) holds a random token, the database only its SHA-256 (`sessions`). A session ends
  after `KYODO_SESSION_DAYS` at most, or `KYODO_SESSION_IDLE_HOURS` unused, or at sign-out; a
  password change ends all of the account's sessions.
- **CSRF**: every form carries `csrf_token`, an HMAC of the session (or, before sign-in, of a
  random `kyodo_anon` cookie) under the site's secret. Every state-changing route is on a
  router with `Depends(verify_csrf)`; a request without a valid token gets 403.
- **Roles**: `require(Role.STAFF)` and friends give the signed-in user or answer 303 to the
  sign-in page (not signed in) or 403 (another role). Ownership is checked by each route.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie
from typing import Annotated
from urllib.parse import quote

import anyio
from fastapi import Depends, HTTPException, Request
from sqlalchemy import Engine, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from aggregator.accounts import Role
from aggregator.settings import Settings
from aggregator.storage.models import AppSecretRow, SessionRow, SignInFailureRow, UserRow

SESSION_COOKIE = "kyodo_session"
ANON_COOKIE = "kyodo_anon"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_TOUCH_EVERY = timedelta(minutes=5)  # how often last_seen_at is written


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def site_secret(engine: Engine, settings: Settings) -> bytes:
    """The key that signs CSRF tokens: the setting, else one kept in the database."""
    if settings.secret_key:
        return settings.secret_key.encode()
    with Session(engine) as session:
        row = session.get(AppSecretRow, "csrf")
        if row is None:
            session.add(AppSecretRow(name="csrf", value=secrets.token_hex(32)))
            try:
                session.commit()
            except IntegrityError:  # another worker made it first
                session.rollback()
            row = session.get(AppSecretRow, "csrf")
        return row.value.encode()


def app_secret(app) -> bytes:
    secret = getattr(app.state, "secret", None)
    if secret is None:
        secret = app.state.secret = site_secret(app.state.engine, app.state.settings)
    return secret


@dataclass(frozen=True)
class Viewer:
    """Who is asking: the signed-in user's facts (detached from any database session)."""

    user_id: int
    email: str
    role: str
    name: str | None
    session_hash: str

    @property
    def is_staff(self) -> bool:
        return self.role == Role.STAFF


# -- sessions ----------------------------------------------------------------------------------


def start_session(session: Session, user: UserRow, settings: Settings) -> str:
    """A new sign-in for `user`; returns the cookie's token."""
    token = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    session.add(
        SessionRow(
            token_hash=token_hash(token),
            user_id=user.id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(days=settings.session_days),
        )
    )
    return token


def end_sessions(session: Session, user_id: int, *, keep: str | None = None) -> None:
    """Signs the user out everywhere (but the session `keep`, a hash)."""
    query = delete(SessionRow).where(SessionRow.user_id == user_id)
    if keep:
        query = query.where(SessionRow.token_hash != keep)
    session.execute(query)


def _load_viewer(engine: Engine, settings: Settings, token: str) -> Viewer | None:
    digest = token_hash(token)
    now = datetime.now(UTC)
    with Session(engine) as session:
        row = session.get(SessionRow, digest)
        if row is None:
            return None
        idle = timedelta(hours=settings.session_idle_hours)
        if row.expires_at <= now or row.last_seen_at + idle <= now:
            session.delete(row)
            session.commit()
            return None
        user = session.get(UserRow, row.user_id)
        if user is None or user.disabled:
            return None
        if now - row.last_seen_at >= _TOUCH_EVERY:
            row.last_seen_at = now
            session.commit()
        return Viewer(user.id, user.email, user.role, user.name, digest)


class SessionMiddleware:
    """Reads the session cookie into `request.state.viewer` and gives every browser an
    anonymous CSRF cookie. Pure ASGI, so streaming answers and background tasks are untouched."""

    def __init__(self, app, *, engine: Engine, settings: Settings) -> None:
        self.app = app
        self.engine = engine
        self.settings = settings
        self.secure = settings.site_url.startswith("https://")

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cookies = _cookies(scope)
        state = scope.setdefault("state", {})
        viewer = None
        token = cookies.get(SESSION_COOKIE)
        if token:
            viewer = await anyio.to_thread.run_sync(_load_viewer, self.engine, self.settings, token)
        state["viewer"] = viewer
        anon = cookies.get(ANON_COOKIE)
        new_anon = None
        if not anon or len(anon) > 100:
            anon = new_anon = secrets.token_urlsafe(24)
        state["anon"] = anon
        drop_session = bool(token) and viewer is None

        async def send_with_cookies(message) -> None:
            if message["type"] == "http.response.start" and (new_anon or drop_session):
                headers = list(message.get("headers", []))
                if new_anon:
                    headers.append((b"set-cookie", self._cookie(ANON_COOKIE, new_anon)))
                if drop_session and not state.get("session_set"):
                    headers.append((b"set-cookie", self._cookie(SESSION_COOKIE, "", 0)))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_cookies)

    def _cookie(self, name: str, value: str, max_age: int | None = None) -> bytes:
        parts = [f"{name}={value}", "Path=/", "HttpOnly", "SameSite=Lax"]
        if max_age is not None:
            parts.append(f"Max-Age={max_age}")
        if self.secure:
            parts.append("Secure")
        return "; ".join(parts).encode()


def _cookies(scope) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    for name, value in scope.get("headers", []):
        if name == b"cookie":
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # a malformed cookie header counts as none
                continue
    return {key: morsel.value for key, morsel in jar.items()}


def set_session_cookie(request: Request, response, token: str) -> None:
    settings: Settings = request.app.state.settings
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(settings.session_days * 86400),
        httponly=True,
        samesite="lax",
        secure=settings.site_url.startswith("https://"),
        path="/",
    )
    request.state.session_set = True


def clear_session_cookie(request: Request, response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")
    request.state.session_set = True


# -- CSRF --------------------------------------------------------------------------------------


def csrf_token(request: Request) -> str:
    """The token forms on this page carry: bound to the session, or to the anonymous cookie."""
    viewer: Viewer | None = getattr(request.state, "viewer", None)
    binding = f"s:{viewer.session_hash}" if viewer else f"a:{request.state.anon}"
    key = app_secret(request.app)
    return hmac.new(key, binding.encode(), hashlib.sha256).hexdigest()


async def verify_csrf(request: Request) -> None:
    """403 for a state-changing request without this browser's token (form field
    `csrf_token` or header `X-CSRF-Token`)."""
    if request.method not in UNSAFE_METHODS:
        return
    sent = request.headers.get("x-csrf-token")
    if sent is None:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()  # cached: the route's Form() parameters reuse it
            value = form.get("csrf_token")
            sent = value if isinstance(value, str) else None
    if not sent or not hmac.compare_digest(sent, csrf_token(request)):
        raise HTTPException(
            status_code=403,
            detail="フォームの有効期限が切れました。ページを開き直して、もう一度送信してください。",
        )


Csrf = Depends(verify_csrf)


# -- who may do what ---------------------------------------------------------------------------


class SignInRequired(Exception):
    """Not signed in: pages redirect to the sign-in page, JSON gets 401."""


def current_viewer(request: Request) -> Viewer | None:
    return getattr(request.state, "viewer", None)


def require(*roles: Role):
    """A dependency giving the signed-in Viewer when its role is one of `roles`."""
    allowed = {Role(r).value for r in roles}

    def dependency(request: Request) -> Viewer:
        viewer = current_viewer(request)
        if viewer is None:
            raise SignInRequired()
        if allowed and viewer.role not in allowed:
            raise HTTPException(status_code=403, detail="このページを見る権限がありません。")
        return viewer

    return dependency


ViewerDep = Annotated[Viewer | None, Depends(current_viewer)]
StaffDep = Annotated[Viewer, Depends(require(Role.STAFF))]
GroupDep = Annotated[Viewer, Depends(require(Role.GROUP))]
CompanyDep = Annotated[Viewer, Depends(require(Role.COMPANY))]
SignedInDep = Annotated[Viewer, Depends(require())]


def sign_in_url(request: Request) -> str:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"/login?next={quote(target, safe='')}"


def safe_next(value: str | None) -> str | None:
    """A local path to go back to after sign-in; anything else (another site) is dropped."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return None
    return value


# -- throttling of failed sign-ins -------------------------------------------------------------


def client_key(request: Request) -> str:
    return f"ip:{request.client.host if request.client else 'unknown'}"


def throttled(session: Session, settings: Settings, email: str, client: str) -> bool:
    """Too many recent failures for this address or this client."""
    since = datetime.now(UTC) - timedelta(minutes=settings.signin_window_minutes)

    def count(key: str) -> int:
        return session.scalar(
            select(func.count())
            .select_from(SignInFailureRow)
            .where(SignInFailureRow.key == key, SignInFailureRow.at > since)
        )

    return (
        count(f"email:{email}") >= settings.signin_max_failures
        or count(client) >= settings.signin_max_failures_per_client
    )


def record_failure(session: Session, settings: Settings, email: str, client: str) -> None:
    now = datetime.now(UTC)
    session.add_all(
        [SignInFailureRow(key=f"email:{email}", at=now), SignInFailureRow(key=client, at=now)]
    )
    old = now - timedelta(minutes=settings.signin_window_minutes) * 4
    session.execute(delete(SignInFailureRow).where(SignInFailureRow.at < old))


def clear_failures(session: Session, email: str) -> None:
    session.execute(delete(SignInFailureRow).where(SignInFailureRow.key == f"email:{email}"))
