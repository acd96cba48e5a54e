"""ASGI factory for `kyodo serve` and other servers: `uvicorn --factory api.asgi:make_app`.

Reads KYODO_* settings when called; `KYODO_TODAY` (YYYY-MM-DD, set by `kyodo serve --today`)
fixes the date used for statuses.
"""

from __future__ import annotations

import os
from datetime import date

from fastapi import FastAPI

from api.app import create_app


def make_app() -> FastAPI:
    today = os.environ.get("KYODO_TODAY")
    return create_app(today=date.fromisoformat(today) if today else None)
