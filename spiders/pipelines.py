"""Item pipeline: every listing must be what `kyodo normalize` and ingest can read."""

from __future__ import annotations

from typing import Any

from scrapy.exceptions import DropItem

from aggregator.ingest import Rejected, parse_listing


class ValidateListing:
    """Drops (and counts in source health, as `invalid_listing`) listings ingest would reject."""

    def process_item(self, item: Any, spider: Any = None) -> Any:
        if not item.get("title") or not item.get("url"):
            raise DropItem("title または url がありません (listing without title or url)")
        try:
            parse_listing(dict(item))
        except Rejected as exc:
            raise DropItem(str(exc)) from exc
        return item
