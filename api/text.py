"""How facts read for people, shared by pages, feeds and exports."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from aggregator.wording import yen  # noqa: F401 (re-exported for pages, feeds, exports)

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
