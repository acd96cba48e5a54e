"""`kyodo dedupe` as a user runs it: JSON lines in, {"id", "cluster"} lines out, bad lines named."""

from __future__ import annotations

import json
import subprocess
import sys

FIRST = {
    "id": "c2",
    "title": "2026年度 地域福祉活動助成",
    "text": "募集期間：2026年7月1日～8月31日(月)必着\n助成金額：1件あたり上限50万円",
    "published": "2026-07-03",
    "organizer": "公益財団法人ひかり福祉財団",
    "source": "canpan",
}
REPOST = {
    "id": "c1",
    "title": "【助成先募集】ひかり福祉財団「2026年度 地域福祉活動助成」",
    "text": "応募期間（締切） 2026/07/01～2026/08/31\n助成金額 500千円/1件",
    "published": "2026-07-06",
    "organizer": "(公財)ひかり福祉財団",
    "source": "jfc",
}
NO_ORGANIZER = {
    "id": "c9",
    "title": "2026年度 地域福祉活動助成",
    "text": "◆2026年度 地域福祉活動助成(ひかり福祉財団)New\n■助成額:上限50万円\n■期間:8月31日(月)まで",
    "published": "2026-07-10",
    "source": "kamagaya",
}
LAST_YEAR = {
    "id": "c3",
    "title": "2025年度 地域福祉活動助成",
    "text": "募集期間：2025年7月1日～8月29日(金)必着\n助成金額：1件あたり上限50万円",
    "published": "2025-07-03",
    "organizer": "公益財団法人ひかり福祉財団",
}
OTHER_FUNDER = {
    "id": "c4",
    "title": "令和8年度 地域福祉活動助成",
    "text": "受付期間：令和8年9月1日から10月30日(金)必着\n助成額：上限20万円",
    "published": "2026-08-20",
    "organizer": "社会福祉法人千葉県共同募金会",
}


def run(stdin: bytes, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "kyodo", "dedupe", *args],
        input=stdin,
        capture_output=True,
        timeout=120,
    )


def lines(*objs) -> bytes:
    return b"".join(
        (o if isinstance(o, bytes) else json.dumps(o, ensure_ascii=False).encode()) + b"\n"
        for o in objs
    )


def test_reposts_share_a_cluster_and_other_calls_do_not() -> None:
    result = run(lines(FIRST, REPOST, LAST_YEAR, NO_ORGANIZER, OTHER_FUNDER))
    assert result.returncode == 0, result.stderr.decode()
    out = [json.loads(x) for x in result.stdout.decode().splitlines()]
    assert [o["id"] for o in out] == ["c2", "c1", "c3", "c9", "c4"]  # input order
    assert all(o.keys() == {"id", "cluster"} for o in out)
    cluster = {o["id"]: o["cluster"] for o in out}
    # The cluster is named by its smallest id, whatever the order of the lines.
    assert cluster["c2"] == cluster["c1"] == cluster["c9"] == "c1"
    assert cluster["c3"] == "c3"
    assert cluster["c4"] == "c4"


def test_bad_lines_are_reported_and_the_rest_still_clustered(tmp_path) -> None:
    stdin = (
        b"\xef\xbb\xbf"
        + lines(FIRST, b"{not json", {"id": "no-text"}, b"", REPOST)
        + b'{"id": "x", "text": "\xff"}\n'
        + lines({**LAST_YEAR, "published": "2025-13-01"}, {**FIRST, "id": "c2"})
    )
    path = tmp_path / "calls.jsonl"
    path.write_bytes(stdin)
    result = run(b"", str(path))
    assert result.returncode == 1
    out = [json.loads(x) for x in result.stdout.decode().splitlines()]
    assert [o["id"] for o in out] == ["c2", "c1", "c2"]  # a repeated id is kept, line by line
    assert {o["cluster"] for o in out} == {"c1"}
    err = result.stderr.decode()
    for number in (2, 3, 6, 7):
        assert f"{number}行目" in err
    for number in (1, 4, 5, 8):
        assert f"{number}行目" not in err
    assert "Traceback" not in err
