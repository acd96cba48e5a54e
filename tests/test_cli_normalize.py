"""`kyodo normalize` as a user runs it: JSON lines in, JSON lines out, bad lines named."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

CONTRACT_KEYS = {
    "id",
    "title",
    "organizer",
    "deadline",
    "deadline_kind",
    "application_start",
    "max_amount_yen",
    "total_budget_yen",
    "fields",
    "area",
    "informal_groups_ok",
    "evidence",
}

GOOD = {
    "id": "c1",
    "title": "令和8年度 子ども食堂活動助成",
    "text": (
        "募集期間：令和8年4月1日（水）～5月15日（金）必着\n"
        "助成金額：1団体あたり上限30万円\n"
        "対象：千葉県内で子ども食堂を運営する団体（法人格の有無は問いません）"
    ),
    "published": "2026-03-20",
    "organizer": "公益財団法人 ちば子ども未来財団",
    "source": "test",
}


def run(stdin: bytes, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "kyodo", "normalize", *args],
        input=stdin,
        capture_output=True,
        timeout=120,
    )


def lines(*objs) -> bytes:
    return b"".join(
        (o if isinstance(o, bytes) else json.dumps(o, ensure_ascii=False).encode()) + b"\n"
        for o in objs
    )


def test_one_good_line() -> None:
    result = run(lines(GOOD), "--today", "2026-04-10")
    assert result.returncode == 0, result.stderr.decode()
    out = [json.loads(x) for x in result.stdout.decode().splitlines()]
    assert len(out) == 1
    call = out[0]
    assert call.keys() >= CONTRACT_KEYS
    assert call["id"] == "c1"
    assert call["deadline"] == "2026-05-15"
    assert call["deadline_kind"] == "fixed"
    assert call["application_start"] == "2026-04-01"
    assert call["max_amount_yen"] == 300_000
    assert call["total_budget_yen"] is None
    assert call["fields"][0] == "children_youth"
    assert call["area"] == "prefecture:千葉県"
    assert call["informal_groups_ok"] is True
    assert "5月15日" in call["evidence"]["deadline"]
    assert "30万円" in call["evidence"]["max_amount_yen"]
    assert call["status"] == "open"
    assert call["deadline_note"]["basis"] == "arrival"


def test_output_order_and_bad_lines_reported_with_line_numbers() -> None:
    second = {**GOOD, "id": "c2", "text": "締切：随時（予算がなくなり次第終了）"}
    stdin = lines(
        GOOD,
        b"{not json",
        {"id": "no-text"},
        second,
        {"text": "id is missing"},
        b"[1, 2]",
        {**GOOD, "id": "c3", "published": "2026-13-40"},
        {**GOOD, "id": "c4"},
    )
    result = run(stdin, "--today", "2026-04-10")
    assert result.returncode == 1
    out = [json.loads(x) for x in result.stdout.decode().splitlines()]
    assert [o["id"] for o in out] == ["c1", "c2", "c4"]
    assert out[1]["deadline_kind"] == "rolling"
    err = result.stderr.decode()
    for number in (2, 3, 5, 6, 7):
        assert f"{number}行目" in err
    for number in (1, 4, 8):
        assert f"{number}行目" not in err
    assert "text" in err and "id" in err and "published" in err
    assert "Traceback" not in err


def test_invalid_utf8_line_is_rejected_alone() -> None:
    stdin = lines(GOOD) + b'{"id": "x", "text": "\xff\xfe"}\n' + lines({**GOOD, "id": "c9"})
    result = run(stdin, "--today", "2026-04-10")
    assert result.returncode == 1
    assert [json.loads(x)["id"] for x in result.stdout.decode().splitlines()] == ["c1", "c9"]
    assert "2行目" in result.stderr.decode()


def test_blank_lines_and_bom_are_accepted() -> None:
    stdin = b"\xef\xbb\xbf" + lines(GOOD) + b"\n   \n" + lines({**GOOD, "id": "c2"})
    result = run(stdin, "--today", "2026-04-10")
    assert result.returncode == 0, result.stderr.decode()
    assert len(result.stdout.decode().splitlines()) == 2


def test_numeric_id_and_missing_optionals() -> None:
    result = run(lines({"id": 7, "text": "締切 2026年9月30日"}))
    assert result.returncode == 0, result.stderr.decode()
    call = json.loads(result.stdout)
    assert call["id"] == "7"
    assert call["deadline"] == "2026-09-30"
    assert call["organizer"] is None
    assert call["area"] == "national"


def test_without_published_the_year_comes_from_the_text() -> None:
    raw = {"id": "y", "title": "2027年度 地域福祉助成", "text": "応募締切：5月31日(月)必着"}
    result = run(lines(raw))
    assert result.returncode == 0, result.stderr.decode()
    assert json.loads(result.stdout)["deadline"] == "2027-05-31"


def test_reads_a_file_argument(tmp_path) -> None:
    path = tmp_path / "calls.jsonl"
    path.write_bytes(lines(GOOD))
    result = subprocess.run(
        [sys.executable, "-m", "kyodo", "normalize", "--today", "2026-04-10", str(path)],
        capture_output=True,
    )
    assert result.returncode == 0
    assert json.loads(result.stdout)["id"] == "c1"


@pytest.mark.parametrize("bad_today", ["2026/04/10", "tomorrow"])
def test_bad_today_option_is_a_usage_error(bad_today: str) -> None:
    result = run(lines(GOOD), "--today", bad_today)
    assert result.returncode == 2
    assert b"--today" in result.stderr
