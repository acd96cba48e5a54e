"""Wording shared by pages, feeds, exports and e-mails."""

from __future__ import annotations


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
