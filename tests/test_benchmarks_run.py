"""The benchmarks run, and the normalizer keeps its accuracy on the labelled development set.

Timing targets are measured by the benchmarks themselves, not here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.all.__main__ import ACCURACY_FLOORS

REPO = Path(__file__).resolve().parents[1]


def bench(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """`python bench/NAME ARGS` from the repository root; fails the test on a non-zero exit."""
    return subprocess.run(
        [sys.executable, *args], cwd=REPO, capture_output=True, text=True, check=True,
        timeout=timeout,
    )  # fmt: skip


# Regression floors, a little under the figures in the README (bench/all reports the same): a
# change that makes the normalizer read deadlines or amounts worse fails here.
FLOORS = ACCURACY_FLOORS


def test_accuracy_on_the_development_set() -> None:
    result = bench("bench/normalize_accuracy", "--json")
    figures = json.loads(result.stdout)
    assert figures["calls"] >= 200
    for attr, floor in FLOORS.items():
        assert figures["attributes"][attr]["accuracy"] >= floor, (attr, figures["attributes"][attr])


def test_speed_benchmark_runs() -> None:
    result = bench("bench/normalize_speed", "--calls", "300")
    assert "calls/s" in result.stdout
    assert "machine:" in result.stdout


def test_dedupe_accuracy_on_the_labelled_pairs() -> None:
    result = bench("bench/dedupe_accuracy", "--json")
    figures = json.loads(result.stdout)
    assert figures["labelled"]["tp"] + figures["labelled"]["fn"] >= 60
    assert figures["labelled"]["precision"] >= 0.98
    assert figures["labelled"]["recall"] >= 0.90


def test_crawl_benchmark_reads_every_page_of_a_large_site() -> None:
    # 504 pages: 24 list pages, more than the CANPAN spider's own limit of 20, so this also
    # checks KYODO_CRAWL_MAX_PAGES.
    result = bench("bench/crawl_speed", "--pages", "504")
    figures = json.loads(result.stdout.splitlines()[-1])
    assert figures["listings"] == 480 and figures["partial"] == 0
    assert figures["requests_served"] == 505  # every page once, plus robots.txt
    assert "machine:" in result.stdout


def test_search_latency_benchmark_runs_over_http() -> None:
    result = bench(
        "bench/search_latency", "--calls", "2000", "--repeat", "1", "--json", timeout=300
    )
    figures = json.loads(result.stdout.splitlines()[-1])
    assert figures["backend"] == "sqlite" and figures["calls"] == 2000
    assert figures["requests"] == 50  # every one of the 50 searches answered 200
    assert set(figures["by_kind"]) == {
        "1 char",
        "2 chars",
        "3+ chars",
        "filters",
        "keyword + filters",
    }
    assert 0 < figures["p50_ms"] <= figures["p95_ms"] <= figures["max_ms"]


def test_digest_benchmark_builds_and_sends_every_digest_once() -> None:
    result = bench("bench/digest_speed", "--groups", "30", "--calls", "300", "--json", timeout=300)
    figures = json.loads(result.stdout.splitlines()[-1])
    assert "machine:" in result.stdout
    for line in ("build: time", "build: groups / s", "send: mails / s", "send: received"):
        assert line in result.stdout, line
    assert figures["groups"] == 30 and figures["calls"] == 300
    assert figures["build_complete"]
    assert figures["digests"] + figures["groups_without_mail"] == figures["due_groups"] > 0
    # The SMTP server (its own process) got every outbox row once, and nothing else.
    assert figures["outbox_rows"] > 0
    assert figures["received"] == figures["sent"] == figures["outbox_rows"]
    assert figures["duplicate_message_ids"] == 0 and figures["failed"] == 0
    assert all(figures["checks"].values()), figures["checks"]


def test_load_benchmark_serves_searches_while_a_writer_ingests() -> None:
    # A tiny run: real kyodo serve, locust in its own process, kyodo ingest batches alongside.
    # The writer unthrottled (--writer-rate 0): at the default crawl pace (100 listings/s) it
    # would not fill its first 1,000-listing transaction within 5 s.
    tiny = ["--calls", "2000", "--users", "5", "--seconds", "5", "--writer-batch", "50"]
    tiny += ["--writer-rate", "0"]
    result = bench("bench/load", *tiny, "--with-writer", "--json", timeout=300)
    assert "machine:" in result.stdout and "load average before the run:" in result.stdout
    for line in ("overall: errors", "/: p95", "/api/v1/calls: p95", "writer: listings written"):
        assert line in result.stdout, line
    figures = json.loads(result.stdout.splitlines()[-1])
    assert figures["backend"] == "sqlite" and figures["calls"] == 2000
    assert figures["with_writer"] and figures["users"] == 5
    for endpoint in ("/", "/api/v1/calls"):
        fig = figures["by_endpoint"][endpoint]
        assert fig["requests"] > 0, endpoint
        assert 0 < fig["p50_ms"] <= fig["p95_ms"] <= fig["p99_ms"] <= fig["max_ms"]
    overall = figures["overall"]
    assert overall["requests"] == sum(f["requests"] for f in figures["by_endpoint"].values())
    # The error count is reported, and agrees with locust's own tally (whose CSV can miss the
    # last requests of the run).
    assert isinstance(overall["errors"], int)
    tally = figures["locust_summary"]["Aggregated"]
    assert 0.7 * overall["requests"] <= tally["requests"] <= overall["requests"]
    assert tally["failures"] <= overall["errors"]
    # One real kyodo ingest committed listings while the users searched, and finished cleanly.
    writer = figures["writer"]
    assert writer["rate_limit_per_s"] == 0
    assert writer["listings_written_during_load"] > 0, writer
    assert writer["exit"] == 0 and writer["errors"] == []
    assert writer["ingest_counts"]["inserted"] >= writer["new_listings_committed_during_load"]
    assert figures["targets"]["overall: errors"]["target"] == "0"


def test_bench_all_knows_every_benchmark_and_tabulates_one(tmp_path: Path) -> None:
    listed = subprocess.run(
        [sys.executable, "bench/all", "--list"], cwd=REPO, capture_output=True, text=True
    )
    names = {line.split()[0] for line in listed.stdout.splitlines()}
    programs = {p.name for p in (REPO / "bench").iterdir() if (p / "__main__.py").exists()}
    assert names == programs - {"all"}, names  # every bench/ program runs under bench/all
    for both in ("search_latency", "digest_speed", "load"):
        assert f"{both} postgresql" in listed.stdout and f"{both} sqlite" in listed.stdout
    out = tmp_path / "RESULTS.md"
    only = ["--only", "normalize_accuracy dev"]
    result = bench("bench/all", "--quick", *only, "--out", str(out), timeout=120)
    assert "machine:" in result.stdout and "date:" in result.stdout
    table = out.read_text(encoding="utf-8")
    assert "| benchmark | figure | value | target | result |" in table
    assert "| normalize_accuracy dev" in table and "| deadline | " in table
    assert "PASS" in table and "FAIL" not in table
    assert "`python bench/normalize_accuracy --set dev --json`" in table
