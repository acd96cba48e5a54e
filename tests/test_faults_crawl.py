"""Every crawl fault at once, and nothing stored is lost.

One `kyodo crawl --all` (a real subprocess) against one mirror of the bundled sample sites, where
nine sources each get one fault: HTTP 500 on a list page and on a detail page, a page that never
answers within the timeout, a dropped connection, a truncated page, a Shift_JIS page whose header
says UTF-8, a redirect loop, a 50 MB feed, and a list whose markup was renamed since the good run
before. The four other sources have none. Before it, a good run of the faulty sources stored
their calls; a clean run of every source into another database is the reference.

`tests/test_cli_crawl.py` tests each fault alone on a fresh database; here they come together over
stored calls. The end of the file kills `kyodo crawl` mid-crawl with SIGKILL and SIGTERM.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select

from aggregator.health import error_label
from aggregator.storage import make_engine, upgrade_database
from aggregator.storage.models import CallHistoryRow, CallRow, ListingRow, SourceRunRow
from spiders.mirror import SAMPLE_MIRROR, Mirror, MirrorServer, Route, Site
from tests.cli import kyodo
from tests.test_cli_crawl import sources_json
from tests.test_faults_ingest import assert_consistent, assert_same, snapshot

TODAY = "2026-11-29"
TIMEOUT_S = 2  # KYODO_CRAWL_TIMEOUT: the hanging page is given up after this (and one retry)
HANG_S = 10  # the hanging page would answer only after this long (the crawl gave up at 4 s)


@dataclass(frozen=True)
class Fault:
    source: str
    host: str
    kind: str  # the error kind source health must name
    outcome: str  # the source's outcome in the faulty run
    routes: list[Route]


def _page(path: str) -> str:
    return (SAMPLE_MIRROR / path).read_text(encoding="utf-8")


def _renamed(path: str) -> bytes:
    """The list page after a redesign: the same posts under renamed classes."""
    return (
        _page(path).replace("post-list", "entry-cards").replace("post-item", "entry-card").encode()
    )


def faults() -> list[Fault]:
    shimisen = "shimisen-kyoto.org/subsidies/index.html"
    genki = "chiba-urayasu.genki365.net/system/subsidy/index.html"
    return [
        Fault(
            "akaihane",
            "www.akaihane.or.jp",
            "http_500",
            "failed",
            [Route(path="/subsidies/", status=500, body=b"internal error")],
        ),
        Fault(
            "shimane_ikiiki",  # a detail page: its list row arrives, flagged partial
            "shimane-ikiiki.jp",
            "http_500",
            "warning",
            [Route(path="/subsidies/2051", status=500, body=b"internal error")],
        ),
        Fault(
            "akaihane_chiba",
            "akaihane-chiba.jp",
            "timeout",
            "failed",
            [Route(path="/publics/index/36/", body=b"<html></html>", delay=HANG_S)],
        ),
        Fault(
            "chiba_npo",
            "www.pref.chiba.lg.jp",
            "connection",
            "failed",
            [Route(path="/kkbunka/npo/mailmagazine/", drop=True)],
        ),
        Fault(
            "genki365_urayasu",
            "chiba-urayasu.genki365.net",
            "truncated",
            "failed",
            [Route(path="/system/subsidy/", body=_page(genki).encode(), truncate=2000)],
        ),
        Fault(
            "shimisen",  # Shift_JIS bytes, UTF-8 in the HTTP header: repaired, same listings
            "shimisen-kyoto.org",
            "encoding",
            "warning",
            [
                Route(
                    path="/subsidies",
                    body=_page(shimisen)
                    .replace('charset="utf-8"', 'charset="Shift_JIS"')
                    .encode("cp932"),
                    content_type="text/html; charset=utf-8",
                )
            ],
        ),
        Fault(
            "jfc",
            "www.jfc.or.jp",
            "redirect_loop",
            "failed",
            [
                Route(
                    path="/news_subsidy/feed/",
                    status=301,
                    headers={"Location": "/news_subsidy/feed/?from=feed"},
                )
            ],
        ),
        Fault(
            "musubie",
            "musubie.org",
            "too_large",
            "failed",
            [
                Route(
                    path="/news_cat/subsidy/feed",
                    body=lambda: b"<rss>" + b"a" * (50 * 1024 * 1024),
                    content_type="application/rss+xml; charset=utf-8",
                )
            ],
        ),
        Fault(
            "chiba_shakyo",  # good in the first run, renamed list markup in the second
            "chiba-shakyo.jp",
            "shape",
            "failed",
            [
                Route(
                    path="/vc/subsidy-vc/",
                    body=_renamed("chiba-shakyo.jp/vc/subsidy-vc/index.html"),
                ),
                Route(
                    path="/vc/subsidy-vc/page/2/",
                    body=_renamed("chiba-shakyo.jp/vc/subsidy-vc/page/2/index.html"),
                ),
            ],
        ),
    ]


FAULTY = [f.source for f in faults()]
CLEAN = ["canpan", "jgrants", "shakyo", "wam"]  # every other source of the sample mirror


def faulty_mirror() -> Mirror:
    mirror = Mirror.from_folder(SAMPLE_MIRROR)
    for fault in faults():
        mirror.sites[fault.host].routes[:0] = fault.routes  # before the folder's own routes
    return mirror


class SlowSite(Site):
    """Every answer `delay` seconds late, so that a signal lands in the middle of a crawl."""

    def __init__(self, root: Path, delay: float) -> None:
        super().__init__(root)
        self.delay = delay

    def find(self, path: str, query: dict[str, str]) -> Route | None:
        route = super().find(path, query)
        return route if route is None else dataclasses.replace(route, delay=self.delay)


def slow_mirror(delay: float = 0.2) -> Mirror:
    return Mirror(
        {p.name: SlowSite(p, delay) for p in sorted(SAMPLE_MIRROR.iterdir()) if p.is_dir()}
    )


def crawl_env(url: str) -> dict[str, str]:
    return {
        **os.environ,
        "KYODO_DATABASE_URL": url,
        "KYODO_CRAWL_DELAY": "0",
        "KYODO_RETRY_BACKOFF": "0",
        "KYODO_CRAWL_TIMEOUT": str(TIMEOUT_S),
        "KYODO_CRAWL_RETRIES": "1",
    }


def crawl(url: str, mirror: Mirror, cwd: Path, *sources: str) -> subprocess.CompletedProcess:
    names = sources or ("--all",)
    with MirrorServer(mirror) as server:
        return kyodo(
            "crawl", *names, "--base-url", server.url, "--today", TODAY, env=crawl_env(url), cwd=cwd
        )


def rows_by_id(url: str, model: Any) -> dict[int, dict[str, Any]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return {r["id"]: dict(r) for r in conn.execute(select(model.__table__)).mappings()}
    finally:
        engine.dispose()


def blocks(output: str, names: list[str]) -> dict[str, str]:
    """A summary or `kyodo sources` listing cut into one block per source: the source's line
    and the indented lines under it."""
    found: dict[str, str] = {}
    current = None
    for line in output.splitlines():
        first = line.split(" ", 1)[0]
        if first in names:
            current = first
            found[current] = line
        elif current and line.startswith("    "):
            found[current] += "\n" + line
        else:
            current = None
    return found


# -- the runs ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """A clean crawl of every source of the sample mirror into its own database."""
    tmp = tmp_path_factory.mktemp("reference")
    url = f"sqlite:///{tmp / 'reference.db'}"
    upgrade_database(url)
    proc = crawl(url, Mirror.from_folder(SAMPLE_MIRROR), tmp)
    assert proc.returncode == 0, proc.stderr
    return SimpleNamespace(url=url, path=tmp / "reference.db", snapshot=snapshot(url))


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """A good run of the faulty sources, then the run with every fault, on one database."""
    tmp = tmp_path_factory.mktemp("faults")
    url = f"sqlite:///{tmp / 'kyodo.db'}"
    upgrade_database(url)
    good = crawl(url, Mirror.from_folder(SAMPLE_MIRROR), tmp, *FAULTY)
    assert good.returncode == 0, good.stderr
    before = SimpleNamespace(
        calls=rows_by_id(url, CallRow),
        listings=rows_by_id(url, ListingRow),
        history=rows_by_id(url, CallHistoryRow),
    )
    assert {row["source"] for row in before.listings.values()} == set(FAULTY)
    faulty = crawl(url, faulty_mirror(), tmp)
    return SimpleNamespace(
        url=url,
        before=before,
        proc=faulty,
        calls=rows_by_id(url, CallRow),
        listings=rows_by_id(url, ListingRow),
        history=rows_by_id(url, CallHistoryRow),
        health=sources_json(crawl_env(url), tmp),
        source_runs=rows_by_id(url, SourceRunRow),
        shown=kyodo("sources", env=crawl_env(url), cwd=tmp).stdout,
    )


# -- everything at once -----------------------------------------------------------------------


def test_sources_without_a_fault_ingest_as_in_a_clean_run(runs, reference) -> None:
    ref = reference.snapshot
    got = snapshot(runs.url)
    for name in CLEAN:
        run = runs.health[name]["last_run"]
        assert run["outcome"] == "ok" and run["errors"] == {}, (name, run)
        want = {k: v for k, v in ref["listings"].items() if k.startswith(f"{name}/")}
        assert want or name == "wam", name
        assert run["ingest"]["inserted"] == run["listings"] == len(want), (name, run)
        assert {k: v for k, v in got["listings"].items() if k.startswith(f"{name}/")} == want
        for cluster, facts in ref["calls"].items():
            if any(k.startswith(f"{name}/") for k in cluster):
                assert got["calls"].get(cluster) == facts, cluster
    # And as a whole: the faulty sources' stored listings and these make what a clean run makes
    # (but for the order of "listed" history: here the faulty sources came first).
    assert_same(got, ref, history=False)
    assert_consistent(runs.url)


def test_stored_calls_of_faulty_sources_are_untouched(runs) -> None:
    before, after = runs.before, runs
    # Listings: the same rows with the same values, still listed; only `last_seen` moves, for
    # the sources whose list was still read (the repaired page, the failed detail page).
    read = {f.source for f in faults() if f.outcome == "warning"}
    for lid, row in before.listings.items():
        assert row["listed"]
        now = after.listings[lid]
        assert {**now, "last_seen": None} == {**row, "last_seen": None}, (lid, row["source_key"])
        assert (now["last_seen"] > row["last_seen"]) == (row["source"] in read), row["source_key"]
    # Calls: those no other source joined are the same rows; none closed, none deleted.
    members = {}
    for row in after.listings.values():
        members.setdefault(row["call_id"], set()).add(row["source"])
    for cid, row in before.calls.items():
        assert cid in after.calls, cid
        if members[cid] <= set(FAULTY):
            assert after.calls[cid] == row, (cid, row["title"])
        else:  # a clean source's listing joined it (compared with the clean run above)
            assert after.calls[cid]["status"] == row["status"], (cid, row["title"])
    new_history = [h for hid, h in after.history.items() if hid not in before.history]
    assert {h["kind"] for h in new_history} <= {"listed"}, new_history
    assert all(h["source"] in CLEAN for h in new_history), new_history
    # The failed detail page did bring its list row, flagged partial, and it changed nothing.
    assert runs.health["shimane_ikiiki"]["last_run"]["partial"] == 1
    (kept,) = [r for r in after.listings.values() if r["source_key"] == "shimane_ikiiki/2051"]
    assert not kept["raw"].get("partial") and after.calls[kept["call_id"]]["max_amount_yen"]


def test_source_health_names_each_fault_for_its_source(runs) -> None:
    shown = blocks(runs.shown, FAULTY + CLEAN)
    latest: dict[str, dict[str, Any]] = {}
    for rid in sorted(runs.source_runs):
        latest[runs.source_runs[rid]["source"]] = runs.source_runs[rid]
    for fault in faults():
        run = runs.health[fault.source]["last_run"]
        assert set(run["errors"]) == {fault.kind}, (fault.source, run["errors"])
        assert run["outcome"] == fault.outcome, (fault.source, run)
        samples = run["error_samples"]
        assert samples and all(s["kind"] == fault.kind for s in samples), samples
        assert all(s["url"].startswith(f"https://{fault.host}/") for s in samples), samples
        stored = latest[fault.source]
        assert (stored["errors"], stored["outcome"]) == (run["errors"], run["outcome"])
        assert error_label(fault.kind) in shown[fault.source], (fault.kind, shown[fault.source])
    for name in CLEAN:
        assert latest[name]["errors"] == {} and latest[name]["outcome"] == "ok", name
        assert "エラー" not in shown[name], shown[name]


def test_exit_code_and_summary_name_the_failed_sources(runs) -> None:
    assert runs.proc.returncode == 1, runs.proc.stderr
    summary = blocks(runs.proc.stderr, FAULTY + CLEAN)
    marks = {"failed": "失敗", "warning": "注意", "ok": "OK"}
    for fault in faults():
        line, *details = summary[fault.source].splitlines()
        assert line.endswith(marks[fault.outcome]), line
        assert any(error_label(fault.kind) in d for d in details), summary[fault.source]
    for name in CLEAN:
        assert summary[name].splitlines()[0].endswith("OK"), summary[name]


# -- kyodo crawl killed mid-crawl -------------------------------------------------------------


def _start_slow_crawl(url: str, cwd: Path, server: MirrorServer) -> subprocess.Popen:
    args = ["crawl", "--all", "--base-url", server.url, "--today", TODAY]
    return subprocess.Popen(
        [sys.executable, "-m", "kyodo.cli", *args],
        env=crawl_env(url),
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _signal_mid_crawl(
    url: str, cwd: Path, sig: signal.Signals, after_requests: int = 25
) -> tuple[int, str, int]:
    """Crawls a slow mirror and sends `sig` once `after_requests` were served: (exit status,
    standard error, requests served by then)."""
    mirror = slow_mirror()
    with MirrorServer(mirror) as server:
        proc = _start_slow_crawl(url, cwd, server)
        try:
            deadline = time.monotonic() + 60
            while len(mirror.requests) < after_requests:
                assert proc.poll() is None, proc.stderr.read()
                assert time.monotonic() < deadline, "the crawl did not get going"
                time.sleep(0.02)
            served = len(mirror.requests)
            proc.send_signal(sig)
            _, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return proc.returncode, err, served


def test_sigkill_mid_crawl_then_a_rerun_completes(reference, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'kyodo.db'}"
    upgrade_database(url)
    status, _, served = _signal_mid_crawl(url, tmp_path, signal.SIGKILL)
    assert status == -signal.SIGKILL
    assert served < 80  # mid-crawl: a whole crawl of the sample mirror asks about 100 pages
    assert_consistent(url)
    assert snapshot(url)["listings"] == {}  # listings are ingested after the crawl
    again = crawl(url, Mirror.from_folder(SAMPLE_MIRROR), tmp_path)
    assert again.returncode == 0, again.stderr
    assert_consistent(url)
    assert_same(snapshot(url), reference.snapshot)


def test_sigterm_mid_crawl_keeps_every_stored_call(reference, tmp_path: Path) -> None:
    """A stopped crawl ingests what it read but, not having seen whole lists, marks nothing
    "no longer listed"; it exits 75 (EX_TEMPFAIL, as every command stopped by a signal) and
    names the stop in source health."""
    path = tmp_path / "kyodo.db"
    with sqlite3.connect(reference.path) as src, sqlite3.connect(path) as dst:
        src.backup(dst)  # a database after a full, good crawl
    url = f"sqlite:///{path}"
    status, err, served = _signal_mid_crawl(url, tmp_path, signal.SIGTERM)
    assert served < 80
    assert status == 75, err
    assert error_label("stopped") in err
    assert_consistent(url)
    assert_same(snapshot(url), reference.snapshot)  # nothing delisted, closed or lost
    health = sources_json(crawl_env(url), tmp_path)
    stopped = [n for n, row in health.items() if "stopped" in row["last_run"]["errors"]]
    assert stopped, health
    assert all(health[n]["last_run"]["outcome"] == "failed" for n in stopped)
    again = crawl(url, Mirror.from_folder(SAMPLE_MIRROR), tmp_path)
    assert again.returncode == 0, again.stderr
    assert_same(snapshot(url), reference.snapshot)
