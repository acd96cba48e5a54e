"""The folded text calls are searched in: one form for hiragana/katakana, widths and case."""

from __future__ import annotations

import re
import unicodedata

# Katakana ァ (U+30A1) … ヶ (U+30F6) → hiragana ぁ (U+3041) … ゖ (U+3096).
_KATA_TO_HIRA = {code: code - 0x60 for code in range(0x30A1, 0x30F7)}
_SPACE = re.compile(r"\s+")
SEARCH_TEXT_CHARS = 4000  # of the call's own text; title and organizer always in full
# Keywords of 1–2 characters are looked up among the single characters and pairs of the head of
# the search text (title, organizer, then the call's text): a trigram index cannot answer them.
SHORT_GRAM_CHARS = 1000


def fold(text: str | None) -> str:
    """NFKC (full/half width), katakana as hiragana, lower case, spaces folded."""
    if not text:
        return ""
    text = unicodedata.normalize("NFKC", text).translate(_KATA_TO_HIRA).lower()
    return _SPACE.sub(" ", text).strip()


def search_text(title: str | None, organizer: str | None, raw_text: str | None) -> str:
    """What a keyword is looked for in: title, organizer and the head of the call's text."""
    return fold(" ".join(p for p in (title, organizer, (raw_text or "")[:SEARCH_TEXT_CHARS]) if p))


def short_grams(text: str) -> str:
    """Every distinct character and pair of characters of the head of a folded search text,
    space-separated: the document of the SQLite index that answers 1–2 character keywords."""
    grams: dict[str, None] = {}
    for word in text[:SHORT_GRAM_CHARS].split():
        for i, char in enumerate(word):
            grams[char] = None
            if i + 1 < len(word):
                grams[word[i : i + 2]] = None
    return " ".join(grams)


def search_columns(
    title: str | None, organizer: str | None, raw_text: str | None
) -> dict[str, str]:
    """The `calls.search_text` and `calls.search_grams` values of a call."""
    folded = search_text(title, organizer, raw_text)
    return {"search_text": folded, "search_grams": short_grams(folded)}
