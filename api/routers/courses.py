"""(being written)"""

from __future__ import annotations

from fastapi import APIRouter

from api.auth import Csrf

router = APIRouter(include_in_schema=False, dependencies=[Csrf])
