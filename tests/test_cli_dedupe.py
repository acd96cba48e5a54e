"""`kyodo dedupe`: JSON lines in, one {"id", "cluster"} line out per good line, no database."""

from __future__ import annotations

import json
import subprocess
import sys

A = {
    "id": "canpan-1",
    "title": "2026年度 子どもの居場所づくり助成",
    "organizer": "公益財団法人 あおぞら子ども財団",
    "published": "2026-05-20",
    "source": "canpan",
    "text": "募集時期 2026年6月1日~2026年6月30日\n1件あたりの上限額:500,000円",
}
B = {
    "id": "mag-3",
    "title": "(公財)あおぞら子ども財団「子どもの居場所づくり助成」",
    "published": "2026-05-25",
    "source": "chiba_npo",
    "text": "【募集期間】令和8年6月1日(月曜日)~6月30日(火曜日)\n【助成額】上限50万円",
}
NEXT_YEAR = {
    **A,
    "id": "canpan-2",
    "title": "2027年度 子どもの居場所づくり助成",
    "published": "2027-05-20",
    "text": "募集時期 2027年6月1日~2027年6月30日\n1件あたりの上限額:500,000円",
}


def run(stdin: bytes, tmp_path) -> subprocess.CompletedProcess[bytes]:
    env_db = tmp_path / "must-not-exist.db"
    return subprocess.run(
        [sys.executable, "-m", "kyodo", "dedupe", "--today", "2026-06-01"],
        input=stdin,
        capture_output=True,
        env={"KYODO_DATABASE_URL": f"sqlite:///{env_db}", "PATH": ""},
        cwd=tmp_path,
        timeout=120,
    )


def test_reposts_share_a_cluster_and_a_new_round_does_not(tmp_path) -> None:
    lines = b"".join(json.dumps(x, ensure_ascii=False).encode() + b"\n" for x in (A, B, NEXT_YEAR))
    result = run(lines + b"{bad\n", tmp_path)
    assert result.returncode == 1
    assert "4行目" in result.stderr.decode()
    out = [json.loads(x) for x in result.stdout.decode().splitlines()]
    assert [o["id"] for o in out] == ["canpan-1", "mag-3", "canpan-2"]
    assert out[0]["cluster"] == out[1]["cluster"]
    assert out[2]["cluster"] != out[0]["cluster"]
    assert not (tmp_path / "must-not-exist.db").exists()  # no database used
    assert not (tmp_path / "kyodo.db").exists()


NO_ORGANIZER = {
    "id": "kamagaya-9",
    "title": "子どもの居場所づくり助成",
    "published": "2026-05-28",
    "source": "kamagaya",
    "text": (
        "◆子どもの居場所づくり助成(あおぞら子ども財団)New\n"
        "■助成額:上限50万円\n■期間:6月30日(火)まで"
    ),
}
OTHER_FUNDER = {
    "id": "shakyo-4",
    "title": "子どもの居場所づくり助成",
    "organizer": "社会福祉法人千葉県共同募金会",
    "published": "2026-05-21",
    "text": "受付期間 2026年6月1日(月)~6月30日(火)\n助成金額 1団体10万円を上限として助成",
}


def test_funder_named_in_text_other_funder_and_bad_lines(tmp_path) -> None:
    good = [json.dumps(x, ensure_ascii=False).encode() + b"\n" for x in (A, B, NO_ORGANIZER)]
    stdin = (
        b"\xef\xbb\xbf"
        + good[0]
        + b'{"id": "x", "text": "\xff"}\n'  # line 2: not UTF-8
        + b"\n"  # line 3: blank, ignored
        + json.dumps(OTHER_FUNDER, ensure_ascii=False).encode()
        + b"\n"
        + b'{"id": "no-text"}\n'  # line 5: no text
        + good[1]
        + good[2]
        + good[0]  # line 8: the same listing again (ids need not be unique)
    )
    result = run(stdin, tmp_path)
    assert result.returncode == 1
    err = result.stderr.decode()
    assert "2行目" in err and "5行目" in err
    assert all(f"{n}行目" not in err for n in (1, 3, 4, 6, 7, 8))
    out = [json.loads(x) for x in result.stdout.decode().splitlines()]
    assert [o["id"] for o in out] == ["canpan-1", "shakyo-4", "mag-3", "kamagaya-9", "canpan-1"]
    cluster = [o["cluster"] for o in out]
    assert cluster[0] == cluster[2] == cluster[3] == cluster[4]
    assert cluster[1] != cluster[0]
