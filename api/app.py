"""The FastAPI application: pages, JSON API, feeds and exports, all over one database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from http import HTTPStatus
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from aggregator.searchindex import SearchIndex
from aggregator.settings import Settings
from aggregator.storage.db import make_engine
from api.auth import SessionMiddleware, SignInRequired, csrf_token, sign_in_url
from api.deps import InvalidParameter, japanese_message

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates"
STATIC = Path(__file__).resolve().parent / "static"


def _wants_json(request: Request) -> bool:
    path = request.url.path
    return path.startswith(("/api/", "/feeds/", "/exports/")) or path.endswith(".ics")


def create_app(settings: Settings | None = None, *, today: date | None = None) -> FastAPI:
    """The app for `settings` (read from KYODO_* when None); `today` fixes the date (tests)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if app.state.search_index is not None:
            # Loaded in the background: the first searches use SQL until it is ready.
            app.state.search_index.warm_up()
        yield
        app.state.engine.dispose()
        if app.state.search_index is not None:
            app.state.search_index.dispose()

    app = FastAPI(
        lifespan=lifespan,
        title="kyodo API",
        version="1",
        description="助成金・補助金の公募情報 (grant calls for citizen groups in Japan).",
        docs_url="/api/docs",
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = make_engine(settings.database_url)
    app.state.search_index = (
        SearchIndex.for_url(settings.database_url) if settings.search_index else None
    )
    app.state.today = today
    templates = Jinja2Templates(directory=str(TEMPLATES), context_processors=[_page_context])
    templates.env.globals["site_name"] = settings.site_name
    app.state.templates = templates

    app.add_middleware(SessionMiddleware, engine=app.state.engine, settings=settings)

    @app.exception_handler(SignInRequired)
    async def sign_in_required(request: Request, exc: SignInRequired):
        if _wants_json(request):
            return JSONResponse(
                status_code=401,
                content={"error": "unauthorized", "message": "ログインしてください。"},
            )
        return RedirectResponse(sign_in_url(request), status_code=303)

    @app.exception_handler(InvalidParameter)
    async def invalid_parameter(request: Request, exc: InvalidParameter):
        message = "; ".join(f"{e['param']}: {e['message']}" for e in exc.errors)
        if _wants_json(request):
            return JSONResponse(
                status_code=422,
                content={"error": "invalid_parameter", "message": message, "errors": exc.errors},
            )
        from api.pages import invalid_search_page  # pages import this module

        return invalid_search_page(request, exc)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        errors = [
            {
                # the parameter's name, not a list index (`cost=food` → "cost")
                "param": next(
                    (str(p) for p in reversed(e["loc"]) if isinstance(p, str)), "request"
                ),
                "message": japanese_message(e),
            }
            for e in exc.errors()
        ]
        message = "; ".join(f"{e['param']}: {e['message']}" for e in errors)
        return JSONResponse(
            status_code=422,
            content={"error": "invalid_parameter", "message": message, "errors": errors},
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        if _wants_json(request):
            return JSONResponse(
                status_code=exc.status_code,
                content={
                    "error": _error_name(exc.status_code),
                    "message": _json_error_message(exc.status_code, str(exc.detail)),
                },
                headers=getattr(exc, "headers", None),
            )
        from api.pages import error_page

        return error_page(request, exc.status_code, str(exc.detail))

    from api.pages import router as pages_router
    from api.routers import (
        account,
        calls,
        companies,
        courses,
        digest_preview,
        exports,
        feeds,
        groups,
        staff,
        unsubscribe,
    )

    app.include_router(account.router)
    app.include_router(groups.router)
    app.include_router(companies.router)
    app.include_router(staff.router)
    app.include_router(courses.router)
    app.include_router(unsubscribe.router)
    app.include_router(digest_preview.router)
    app.include_router(calls.router)
    app.include_router(feeds.router)
    app.include_router(exports.router)
    app.include_router(pages_router)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> JSONResponse:
        """For load balancers and monitoring: the database answers; the search index's state
        (`loading` at start: searches use SQL meanwhile)."""
        index = app.state.search_index
        state = "off" if index is None else "ready" if index.ready else "loading"
        try:
            with app.state.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError:
            return JSONResponse(
                status_code=503,
                content={
                    "status": "error",
                    "message": "データベースに接続できません",
                    "search_index": state,
                },
            )
        return JSONResponse({"status": "ok", "search_index": state})

    if STATIC.is_dir():
        app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    return app


def _page_context(request: Request) -> dict:
    """What every page's template may read: who is signed in, and the form token."""
    return {
        "viewer": getattr(request.state, "viewer", None),
        "csrf_token": csrf_token(request) if hasattr(request.state, "anon") else "",
    }


_JSON_ERROR_MESSAGES = {
    404: "この URL にはお答えできるものがありません。",
    405: "この URL はこの HTTP メソッドでは使えません。",
}


def _json_error_message(status: int, detail: str) -> str:
    """`detail`, unless it is Starlette's English phrase ("Not Found"): then Japanese."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    if detail and detail != phrase:
        return detail
    return _JSON_ERROR_MESSAGES.get(status, "リクエストを処理できませんでした。")


def _error_name(status: int) -> str:
    return {
        401: "unauthorized",
        403: "forbidden",
        404: "not_found",
        405: "method_not_allowed",
        422: "invalid_parameter",
        429: "too_many_requests",
    }.get(status, "error")
