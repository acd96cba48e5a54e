"""Text clean-up shared by every normalizer: NFKC plus the mappings NFKC leaves out."""

from __future__ import annotations

import re
import unicodedata

# Characters NFKC keeps but which mean "~" or "-" in dates and amounts on real pages.
_TILDES = "〜～∼∽〰"  # U+301C, U+FF5E, U+223C, U+223D, U+3030
_DASHES = "−‐‑‒–—―─━－﹣"  # minus, hyphens, dashes, box-drawing lines
_MAP: dict[str, str] = {
    **dict.fromkeys(_TILDES, "~"),
    **dict.fromkeys(_DASHES, "-"),
    "\u3000": " ",
    "\u00a0": " ",
    "\u200b": "",
    "\ufeff": "",
    "\u2060": "",
    "\r": "\n",
}
# str.translate with a dict is slow on non-ASCII text (~20 µs/KB); a character class finds the
# few characters to map much faster, and most texts have none or a handful.
_MAP_RE = re.compile("[" + re.escape("".join(_MAP)) + "]")
# Control characters (C0 but tab and line breaks, DEL, C1), bidirectional overrides, embeddings,
# isolates and marks (crawled text could reorder how a page shows it), lone surrogates and the
# noncharacters U+FFFE/U+FFFF: none has a meaning in a call, and pages, XML and spreadsheets
# must not receive them.
_CONTROL = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
    "\ud800-\udfff\ufffe\uffff]"
)
_SPACES = re.compile(r"[ \t\f\v]{2,}|[\t\f\v]")
# A run of spaces that may sit inside a date: "2026 年 7 月 1 日 (水)". The pattern starts with
# the literal space so the scan is fast; `_date_space` decides from the characters around it.
_SPACE_RUN = re.compile(r" +(?=[0-9年月日時分(])")
_UNITS = frozenset("年月日時分")
_AFTER_UNIT = frozenset("0123456789(")
_DIGITS = frozenset("0123456789")


def _map_char(m: re.Match[str]) -> str:
    return _MAP[m.group()]


def _date_space(m: re.Match[str]) -> str:
    start, end = m.span()
    if start == 0:
        return m.group()
    before, after = m.string[start - 1], m.string[end]
    if before in _DIGITS and after in _UNITS:  # "2026 年", "1 日", "17 時"
        return ""
    if before in "年月日" and after in _AFTER_UNIT:  # "年 7", "日 ("
        return ""
    return m.group()


def normalize_text(text: str) -> str:
    """NFKC, unify tildes and dashes, collapse spaces (also inside dates), drop control chars.

    Keeps line breaks: several normalizers read the text line by line.
    """
    if not text:
        return ""
    text = unicodedata.normalize("NFKC", text).replace("\r\n", "\n")
    text = _MAP_RE.sub(_map_char, text)
    text = _CONTROL.sub("", text)
    text = _SPACES.sub(" ", text)
    if " " in text:
        text = _SPACE_RUN.sub(_date_space, text)
    return text


def clause_snippet(
    text: str, start: int, end: int, width: int = 80, *, after_comma: bool = False
) -> str:
    """Evidence for text[start:end]: its clause, cut at line breaks and 。, ≤ `width` chars.

    A longer clause keeps the match near the middle; with `after_comma` it then starts after
    a 、 close before the match, so the snippet begins at a phrase.
    """
    left = max(text.rfind("\n", 0, start), text.rfind("。", 0, start)) + 1
    right = len(text)
    newline = text.find("\n", end)
    if newline >= 0:
        right = newline
    stop = text.find("。", end, right)
    if stop >= 0:
        right = stop + 1
    if right - left > width:
        left = max(left, start - max((width - (end - start)) // 2, 0))
        if after_comma:
            comma = text.find("、", left, start)
            if 0 <= comma < start - 10:
                left = comma + 1
        right = min(right, left + width)
    return text[left:right].strip()
