"""Text clean-up shared by every normalizer: NFKC plus the mappings NFKC leaves out."""

from __future__ import annotations

import re
import unicodedata

# Characters NFKC keeps but which mean "~" or "-" in dates and amounts on real pages.
_TILDES = "〜～∼∽〰~"  # U+301C, U+FF5E, U+223C, U+223D, U+3030
_DASHES = "−‐‑‒–—―─━－﹣"  # minus, hyphens, dashes, box-drawing lines
_TRANSLATE = str.maketrans(
    {
        **{c: "~" for c in _TILDES},
        **{c: "-" for c in _DASHES},
        "\u3000": " ",
        "\u00a0": " ",
        "\u200b": "",
        "\ufeff": "",
        "\u2060": "",
        "\r": "\n",
    }
)
_SPACES = re.compile(r"[ \t\f\v]+")
# Spaces between digits and date units: "2026 年 7 月 1 日" -> "2026年7月1日".
_DATE_SPACES = re.compile(r"(?<=[0-9])[ ]+(?=[年月日時分])|(?<=[年月日])[ ]+(?=[0-9(])")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def normalize_text(text: str) -> str:
    """NFKC, unify tildes and dashes, collapse spaces (also inside dates), drop control chars.

    Keeps line breaks: several normalizers read the text line by line.
    """
    if not text:
        return ""
    text = unicodedata.normalize("NFKC", text).replace("\r\n", "\n")
    text = text.translate(_TRANSLATE)
    text = _CONTROL.sub("", text)
    text = _SPACES.sub(" ", text)
    text = _DATE_SPACES.sub("", text)
    return text
