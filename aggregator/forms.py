"""Small pieces shared by the forms of groups, offers and courses: reading posted values,
folding typed text, and checking the chosen fields of activity."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any

from aggregator.fields import FIELDS

UNKNOWN_FIELDS = "活動分野は一覧から選んでください。"


def form_text(data: Mapping[str, Any], name: str, limit: int | None = None) -> str:
    """A posted value as trimmed text (the first one when repeated); "" when absent."""
    value = data.get(name)
    if isinstance(value, list):
        value = value[0] if value else ""
    return value.strip()[:limit] if isinstance(value, str) else ""


def form_list(data: Mapping[str, Any], name: str) -> list[str]:
    """A posted value that may repeat (checkboxes), as a list of its text values."""
    value = data.get(name)
    values = value if isinstance(value, list) else [value] if value else []
    return [v for v in values if isinstance(v, str)]


def squeeze(text: str | None) -> str:
    """Typed text folded (full-width digits and letters to half-width) with no spaces."""
    return unicodedata.normalize("NFKC", text or "").replace(" ", "").strip()


def known_fields(chosen: Iterable[str]) -> tuple[list[str], bool]:
    """The chosen fields in the law's order without repeats, and whether all were known."""
    wanted = set(chosen)
    ordered = [f for f in FIELDS if f in wanted]
    return ordered, len(ordered) == len(wanted)
