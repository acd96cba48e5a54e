"""How facts read for people, shared by pages, feeds and exports."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

# Control characters and spaces, which browsers ignore inside a URL (`java\nscript:`).
_URL_JUNK = re.compile(r"[\x00-\x20\x7f]")


def safe_url(url: str | None) -> str | None:
    """`url` if it is an absolute http(s) URL, else None: anything else must not become a link."""
    if not url:
        return None
    cleaned = _URL_JUNK.sub("", url)
    try:
        parts = urlsplit(cleaned)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return cleaned


def yen(amount: int | None) -> str | None:
    """Yen in readable Japanese units: 500000 → 50万円, 150000000 → 1億5,000万円."""
    if amount is None:
        return None
    if amount < 10_000:
        return f"{amount:,}円"
    oku, rest = divmod(amount, 100_000_000)
    man, en = divmod(rest, 10_000)
    text = ""
    if oku:
        text += f"{oku:,}億"
    if man:
        text += f"{man:,}万"
    if en:
        text += f"{en:,}"
    return text + "円"
