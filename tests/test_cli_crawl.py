"""`kyodo crawl` and `kyodo sources` end to end: real subprocesses, real HTTP, real databases.

The sites are the bundled sample mirror and a generated CANPAN-shaped site served by kyodo's
mirror server, with faults injected per path: errors, slow and dropped responses, truncated
and mis-encoded pages, redirects, robots.txt, a changed page shape and a 50 MB answer.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from bench.canpan_site import HOST, build_site
from spiders.mirror import SAMPLE_MIRROR, Mirror, MirrorServer, Route, Site
from tests.cli import kyodo

CONTRACT = {"id", "title", "text", "url", "published", "organizer", "source", "status"}


@pytest.fixture()
def env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "KYODO_DATABASE_URL": f"sqlite:///{tmp_path / 'kyodo.db'}",
        "KYODO_CRAWL_DELAY": "0",
        "KYODO_RETRY_BACKOFF": "0",
        "KYODO_CRAWL_TIMEOUT": "2",
    }


@pytest.fixture()
def upgraded(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    assert kyodo("db", "upgrade", env=env, cwd=tmp_path).returncode == 0
    return env


def canpan_site(tmp_path: Path, pages: int = 14, routes: list[Route] | None = None) -> Mirror:
    """A generated CANPAN site (one list page of 13 rows by default), faults first."""
    folder = tmp_path / "site"
    if not folder.exists():
        build_site(folder, pages)
    return Mirror({HOST: Site(folder / HOST, routes=routes)})


def sources_json(env: dict[str, str], cwd: Path) -> dict[str, dict]:
    proc = kyodo("sources", "--json", env=env, cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    return {row["name"]: row for row in json.loads(proc.stdout)}


def db_rows(env: dict[str, str], sql: str) -> list[tuple]:
    engine = create_engine(env["KYODO_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql))]
    finally:
        engine.dispose()


# -- the whole bundled mirror ---------------------------------------------------------------


def test_crawl_all_of_the_sample_mirror_into_the_database(upgraded, tmp_path: Path) -> None:
    with MirrorServer(Mirror.from_folder(SAMPLE_MIRROR)) as server:
        proc = kyodo("crawl", "--all", "--base-url", server.url, env=upgraded, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        hosts = {host for host, _ in server.mirror.requests}
    health = sources_json(upgraded, tmp_path)
    for name, row in health.items():
        run = row["last_run"]
        assert run is not None, name
        assert run["outcome"] in ("ok", "warning"), (name, run)
        assert run["pages"] >= 1, name
        assert run["target"] == "database"
        assert row["kind"] in ("national", "prefecture", "municipality", "foundation", "corporate")
        assert row["terms"] in ("reprint", "link_only")
    # Every source but WAM out of season brought listings, and all went to the database.
    by_source = dict(db_rows(upgraded, "select source, count(*) from listings group by source"))
    for name, row in health.items():
        assert by_source.get(name, 0) == row["last_run"]["listings"], name
        if name != "wam":
            assert by_source.get(name, 0) > 0, name
    assert len(hosts) >= 10  # one mirror served every site
    for name in health:
        assert name in proc.stderr  # the summary names each source
    calls = db_rows(upgraded, "select count(*) from calls")[0][0]
    assert calls > 20

    # A second run changes nothing and duplicates nothing.
    with MirrorServer(Mirror.from_folder(SAMPLE_MIRROR)) as server:
        again = kyodo("crawl", "--all", "--base-url", server.url, env=upgraded, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert db_rows(upgraded, "select count(*) from calls")[0][0] == calls
    assert dict(db_rows(upgraded, "select source, count(*) from listings group by source")) == (
        by_source
    )
    runs = sources_json(upgraded, tmp_path)
    assert all(
        r["last_run"]["ingest"] is None or r["last_run"]["ingest"]["inserted"] == 0
        for r in runs.values()
    )


def test_listings_to_a_file_follow_the_normalize_contract(env, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    env = {**env, "KYODO_CRAWL_CONTACT": "center@example.jp"}
    with MirrorServer(canpan_site(tmp_path)) as server:
        proc = kyodo(
            "crawl", "canpan", "--base-url", server.url, "-o", str(out), env=env, cwd=tmp_path
        )
        (agent,) = server.mirror.user_agents
        robots_first = server.mirror.requests[0]
    assert proc.returncode == 0, proc.stderr
    assert agent.startswith("kyodo/") and "contact: center@example.jp" in agent
    assert robots_first == (HOST, "/robots.txt")  # robots.txt of the real host, asked first
    lines = out.read_text(encoding="utf-8").splitlines()
    items = [json.loads(line) for line in lines]
    assert len(items) == 13
    for item in items:
        assert set(item) >= CONTRACT, item
        assert item["source"] == "canpan"
        assert item["url"].startswith(f"https://{HOST}/grant/detail/")  # real URLs, not the mirror
        assert "127.0.0.1" not in json.dumps(item)
        assert "partial" not in item
    assert {item["status"] for item in items} <= {"募集中", "募集予定", "募集終了"}
    normalized = kyodo("normalize", str(out), env=env, cwd=tmp_path)
    assert normalized.returncode == 0, normalized.stderr
    assert len(normalized.stdout.splitlines()) == 13
    assert "収集完了" in proc.stderr and "canpan" in proc.stderr


# -- faults ----------------------------------------------------------------------------------


def _detail(tmp_path: Path, n: int) -> str:
    return (tmp_path / "site" / HOST / "grant" / "detail" / f"{n}.html").read_text(encoding="utf-8")


def _cp932_detail(tmp_path: Path, n: int = 6) -> bytes:
    return _detail(tmp_path, n).replace('charset="utf-8"', 'charset="Shift_JIS"').encode("cp932")


def _malformed_detail(tmp_path: Path, n: int) -> bytes:
    page = _detail(tmp_path, n)
    for closer in ("</td>", "</tr>", "</tbody>", "</body>", "</html>"):
        page = page.replace(closer, "")
    return page.encode()


def test_failed_detail_pages_still_bring_their_list_rows(upgraded, tmp_path: Path) -> None:
    build_site(tmp_path / "site", 14)
    faults = [
        Route(path="/grant/detail/1", status=404, body=b"not found"),
        Route(path="/grant/detail/2", status=500, body=b"error"),
        Route(path="/grant/detail/3", body=b"<html>late</html>", delay=4),
        Route(path="/grant/detail/4", body=b"<html>" + b"x" * 5000, truncate=300),
        Route(path="/grant/detail/5", drop=True),
        # Shift_JIS page whose HTTP header wrongly says UTF-8
        Route(
            path="/grant/detail/6",
            body=_cp932_detail(tmp_path),
            content_type="text/html; charset=utf-8",
        ),
        Route(
            path="/grant/detail/7", body="<html><body><p>移転しました</p></body></html>".encode()
        ),
        # Shift_JIS declared only in <meta>, no charset in the header: read as it should be
        Route(path="/grant/detail/8", body=_cp932_detail(tmp_path, 8), content_type="text/html"),
        # Malformed HTML: cells, rows and the page left unclosed
        Route(path="/grant/detail/9", body=_malformed_detail(tmp_path, 9)),
    ]
    with MirrorServer(canpan_site(tmp_path, routes=faults)) as server:
        proc = kyodo("crawl", "canpan", "--base-url", server.url, env=upgraded, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr  # warnings, not a failure
    raw = {
        json.loads(r)["id"]: json.loads(r)
        for (r,) in db_rows(upgraded, "select raw from listings where source = 'canpan'")
    }
    assert len(raw) == 13
    partial = {key for key, item in raw.items() if item.get("partial")}
    assert partial == {f"canpan/{n}" for n in (1, 2, 3, 4, 5, 7)}
    for key in partial:  # the list row's facts arrived
        assert raw[key]["title"] and raw[key]["organizer"] and raw[key]["status"]
    for n in (6, 8, 9):  # repaired, decoded by <meta>, parsed although malformed
        assert "募集時期" in raw[f"canpan/{n}"]["text"], raw[f"canpan/{n}"]
        assert "市民団体の事業を応援します" in raw[f"canpan/{n}"]["text"]
    run = sources_json(upgraded, tmp_path)["canpan"]["last_run"]
    assert run["outcome"] == "warning"
    assert run["partial"] == 6
    errors = run["errors"]
    for kind in ("http_404", "http_500", "timeout", "truncated", "connection", "encoding", "shape"):
        assert errors.get(kind, 0) >= 1, (kind, errors)
    assert any("ページの形が変わった" in w for w in run["warnings"])
    shown = kyodo("sources", env=upgraded, cwd=tmp_path).stdout
    assert "HTTP 404 エラー" in shown and "タイムアウト" in shown


def test_a_failing_source_stops_nothing_and_erases_nothing(upgraded, tmp_path: Path) -> None:
    with MirrorServer(canpan_site(tmp_path)) as server:
        first = kyodo("crawl", "canpan", "--base-url", server.url, env=upgraded, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    before = db_rows(upgraded, "select count(*) from calls")[0][0]

    broken = canpan_site(tmp_path, routes=[Route(path="/grant/", status=500, body=b"down")])
    sample = Mirror.from_folder(SAMPLE_MIRROR)
    broken.sites.update({h: s for h, s in sample.sites.items() if h != HOST})
    with MirrorServer(broken) as server:
        proc = kyodo(
            "crawl", "canpan", "musubie", "--base-url", server.url, env=upgraded, cwd=tmp_path
        )
    assert proc.returncode == 1  # canpan failed
    assert "失敗" in proc.stderr
    health = sources_json(upgraded, tmp_path)
    assert health["canpan"]["last_run"]["outcome"] == "failed"
    assert health["canpan"]["last_run"]["errors"] == {"http_500": 1}
    assert health["musubie"]["last_run"]["listings"] > 0
    assert db_rows(upgraded, "select count(*) from listings where source='musubie'")[0][0] > 0
    # The canpan calls stored before are untouched: still listed, none deleted.
    assert (
        db_rows(upgraded, "select count(*) from listings where source='canpan' and listed")[0][0]
        == 13
    )
    assert db_rows(upgraded, "select count(*) from calls")[0][0] >= before


def test_a_changed_page_shape_is_an_error_not_garbage(upgraded, tmp_path: Path) -> None:
    with MirrorServer(canpan_site(tmp_path)) as server:
        assert (
            kyodo(
                "crawl", "canpan", "--base-url", server.url, env=upgraded, cwd=tmp_path
            ).returncode
            == 0
        )
    redesigned = "<html><body><div class='cards'><article>新デザイン</article></div></body></html>"
    changed = canpan_site(tmp_path, routes=[Route(path="/grant/", body=redesigned.encode())])
    with MirrorServer(changed) as server:
        proc = kyodo("crawl", "canpan", "--base-url", server.url, env=upgraded, cwd=tmp_path)
    assert proc.returncode == 1
    run = sources_json(upgraded, tmp_path)["canpan"]["last_run"]
    assert run["errors"].get("shape") == 1 and run["listings"] == 0
    assert "募集情報が1件も取得できませんでした" in run["warnings"]
    assert db_rows(upgraded, "select count(*) from listings where listed")[0][0] == 13


def test_redirects_robots_and_oversized_pages(upgraded, tmp_path: Path) -> None:
    build_site(tmp_path / "site", 14)
    list_page = (tmp_path / "site" / HOST / "list-1.html").read_bytes()
    routes = [
        Route(path="/grant/", status=301, headers={"Location": "/grant/moved"}),
        Route(path="/grant/moved", body=list_page),
        Route(
            path="/robots.txt",
            body=b"User-agent: *\nDisallow: /grant/detail/9\n",
            content_type="text/plain",
        ),
        Route(path="/grant/detail/10", body=lambda: b"<html>" + b"a" * (50 * 1024 * 1024)),
    ]
    with MirrorServer(canpan_site(tmp_path, routes=routes)) as server:
        proc = kyodo("crawl", "canpan", "--base-url", server.url, env=upgraded, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    run = sources_json(upgraded, tmp_path)["canpan"]["last_run"]
    assert run["listings"] == 13
    assert run["errors"].get("robots") == 1
    assert run["errors"].get("too_large") == 1
    assert run["partial"] == 2


# -- usage ------------------------------------------------------------------------------------


def test_usage_errors(env, tmp_path: Path) -> None:
    proc = kyodo("crawl", "nosuch", env=env, cwd=tmp_path)
    assert proc.returncode == 2 and "知らない情報源です" in proc.stderr and "canpan" in proc.stderr
    proc = kyodo("crawl", env=env, cwd=tmp_path)
    assert proc.returncode == 2 and "--all" in proc.stderr
    proc = kyodo("crawl", "canpan", "--base-url", "ftp://x", env=env, cwd=tmp_path)
    assert proc.returncode == 2 and "http://" in proc.stderr
    proc = kyodo("crawl", "canpan", env=env, cwd=tmp_path)  # no database yet
    assert proc.returncode == 1 and "kyodo db upgrade" in proc.stderr


def test_sources_lists_every_source_before_any_crawl(upgraded, tmp_path: Path) -> None:
    proc = kyodo("sources", env=upgraded, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    for name in (
        "jgrants",
        "canpan",
        "jfc",
        "wam",
        "akaihane",
        "akaihane_chiba",
        "chiba_npo",
        "chiba_shakyo",
        "shakyo",
        "musubie",
        "shimisen",
    ):
        assert name in proc.stdout
    assert "まだ収集していません" in proc.stdout
    assert "リンクのみ" in proc.stdout and "転載可" in proc.stdout


def test_the_development_http_cache_answers_a_second_run(env, tmp_path: Path) -> None:
    env = {
        **env,
        "KYODO_CRAWL_HTTP_CACHE": "true",
        "KYODO_CRAWL_CACHE_DIR": str(tmp_path / "cache"),
    }
    out = tmp_path / "out.jsonl"
    mirror = canpan_site(tmp_path)
    with MirrorServer(mirror) as server:
        args = ("crawl", "canpan", "--base-url", server.url, "-o", str(out))
        assert kyodo(*args, env=env, cwd=tmp_path).returncode == 0
        first = len(mirror.requests)
        second = kyodo(*args, env=env, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert first == 15  # robots.txt, one list page, 13 details
    assert len(mirror.requests) == first  # all from the cache
    assert len(out.read_text(encoding="utf-8").splitlines()) == 13
