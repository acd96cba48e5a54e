"""normalize_text: NFKC plus the mappings NFKC leaves out."""

from __future__ import annotations

import pytest

from aggregator.normalize.text import normalize_text


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("２０２６年１月３０日", "2026年1月30日"),  # full-width digits
        ("1⽉30⽇", "1月30日"),  # Kangxi radical look-alikes (U+2F49, U+2F47)
        ("4月1日〜5月15日", "4月1日~5月15日"),  # WAVE DASH U+301C: NFKC keeps it
        ("4月1日～5月15日", "4月1日~5月15日"),  # FULLWIDTH TILDE
        ("2025/10/01 − 2025/10/31", "2025/10/01 - 2025/10/31"),  # MINUS SIGN U+2212
        ("5月1日─5月29日", "5月1日-5月29日"),  # BOX DRAWINGS LIGHT HORIZONTAL
        ("5月1日－5月29日", "5月1日-5月29日"),  # FULLWIDTH HYPHEN-MINUS
        ("5月1日–5月29日", "5月1日-5月29日"),  # EN DASH
        (
            "2026 年 7 月 1 日 (水) ～ 2026 年 8 月 15 日 (土)",
            "2026年7月1日(水) ~ 2026年8月15日(土)",
        ),
        ("２０２６　年　７　月　１　日", "2026年7月1日"),  # ideographic spaces inside a date
        ("上限３０万円　（１件）", "上限30万円 (1件)"),
        ("㈱あおば", "(株)あおば"),
        ("①申請書", "1申請書"),
        ("締切\u200b：\ufeff8月13日", "締切:8月13日"),  # zero-width characters
        ("a\x00b\x07c", "abc"),  # control characters
        ("一行目\r\n二行目\r三行目", "一行目\n二行目\n三行目"),
        ("", ""),
    ],
)
def test_normalize_text(raw: str, expected: str) -> None:
    assert normalize_text(raw) == expected


def test_katakana_long_vowel_is_kept() -> None:
    # ー must stay a long-vowel mark: it is not a dash (ボランティア, センター).
    assert normalize_text("ボランティアセンター") == "ボランティアセンター"


def test_idempotent() -> None:
    text = "令和８年４月１日（水）〜５月１５日（金）　必着　上限３０万円"
    once = normalize_text(text)
    assert normalize_text(once) == once
