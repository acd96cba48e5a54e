"""Search latency: `GET /api/v1/calls` over HTTP against `kyodo serve` with 100,000 calls.

Run: python bench/search_latency [--calls 100000] [--repeat 5] [--postgres | --database-url URL]
Builds a database of generated calls (kyodo's own wording, realistic mixes of fields, areas,
statuses, deadlines and amounts; one listing each), starts the real `kyodo serve` on
127.0.0.1, and times 50 typical searches (1-, 2- and 3+-character keywords, filters, sorts,
pages) one after another over one keep-alive connection, each `--repeat` times after a warm-up.
Prints p50 / p95 / p99 per kind of search and overall. `--postgres` starts a throwaway
PostgreSQL cluster (C.UTF-8, pg_trgm) for the run.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert  # noqa: E402

from aggregator.fields import FIELDS  # noqa: E402
from aggregator.searchtext import search_columns  # noqa: E402
from aggregator.storage import make_engine, upgrade_database  # noqa: E402
from aggregator.storage.models import CallField, CallRow, ListingRow  # noqa: E402
from bench._keywords import ONE_CHAR, THREE_PLUS, TWO_CHARS  # noqa: E402
from bench._machine import machine_line  # noqa: E402
from bench._pg import PostgresCluster, pg_bindir  # noqa: E402

TODAY = date(2026, 11, 28)
THEMES = [
    ("子ども食堂", "children_youth"),
    ("学習支援", "children_youth"),
    ("子育て支援", "children_youth"),
    ("高齢者の見守り", "health_welfare"),
    ("地域福祉", "health_welfare"),
    ("障害者の外出支援", "health_welfare"),
    ("里山の保全", "environment"),
    ("海岸清掃", "environment"),
    ("防災訓練", "disaster_relief"),
    ("災害ボランティア", "disaster_relief"),
    ("まちづくり", "community_development"),
    ("商店街の活性化", "community_development"),
    ("多文化共生", "international"),
    ("日本語教室", "international"),
    ("伝統芸能の継承", "culture_arts_sports"),
    ("地域スポーツ", "culture_arts_sports"),
    ("NPOの基盤強化", "npo_support"),
    ("就労支援", "employment"),
    ("消費者教育", "consumer_protection"),
    ("防犯パトロール", "community_safety"),
]
ORG_HEADS = ["あおば", "ひかり", "みどり", "さくら", "こもれび", "なのはな", "つばさ", "わかば"]
ORG_KINDS = ["財団", "福祉基金", "社会貢献基金", "市民活動支援財団", "共同募金会"]
SOURCES = ["jgrants", "wam", "canpan", "jfc", "chiba_npo", "chiba_shakyo", "shakyo", "musubie"]
AREAS = (
    ["national"] * 12
    + ["prefecture:千葉県"] * 4
    + ["municipality:鎌ケ谷市"]
    + ["prefecture:東京都", "prefecture:京都府", "municipality:千葉市", "municipality:浦安市"]
)
FILLER = (
    "地域で活動する市民団体の取り組みを応援します。応募にあたっては募集要項をよくお読みください。"
    "対象となる経費は事業の実施に直接必要なものに限ります。選考は書類審査と面接により行います。"
)


def generate(n: int, seed: int = 7):
    """(call, fields, listing) rows for `n` generated calls."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    for i in range(n):
        theme, field = rng.choice(THEMES)
        other = rng.choice(list(FIELDS))
        organizer = f"公益財団法人{rng.choice(ORG_HEADS)}{rng.choice(ORG_KINDS)}"
        title = (
            f"{rng.choice(['2026年度', '2027年度', '令和8年度'])} {theme}活動助成 第{i % 12 + 1}回"
        )
        deadline = TODAY + timedelta(days=rng.randrange(-200, 300))
        start = deadline - timedelta(days=rng.randrange(20, 90))
        kind = rng.choices(["fixed", "rolling", "unknown"], [90, 5, 5])[0]
        status = "closed" if deadline < TODAY else ("upcoming" if start > TODAY else "open")
        cap = rng.choice([None, 50_000, 100_000, 300_000, 500_000, 1_000_000, 3_000_000])
        informal = rng.choice([True, False, None])
        text = (
            f"募集期間: {start:%Y年%-m月%-d日}～{deadline:%Y年%-m月%-d日}\n"
            f"助成金額: 上限{(cap or 0) // 10_000}万円\n対象: {theme}に取り組む団体。"
            + ("任意団体も応募できます。" if informal else "")
            + FILLER * rng.randrange(1, 4)
        )
        source = SOURCES[i % len(SOURCES)]
        call = {
            "id": i + 1,
            "source": source,
            "source_item_id": f"{source}/{i}",
            "source_url": f"https://{source}.example.org/{i}",
            "title": title,
            "organizer": organizer,
            "deadline": deadline if kind == "fixed" else None,
            "deadline_kind": kind,
            "deadline_note": {},
            "application_start": start,
            "rounds": [],
            "max_amount_yen": cap,
            "total_budget_yen": None,
            "subsidy_rate": None,
            "field_terms": {},
            "area": rng.choice(AREAS),
            "informal_groups_ok": informal,
            "legal_forms": [],
            "min_members": None,
            "min_years_active": None,
            "cost_personnel": rng.choice(["yes", "no", "not_stated"]),
            "cost_honoraria": rng.choice(["yes", "not_stated"]),
            "cost_rent": rng.choice(["yes", "no", "not_stated"]),
            "cost_equipment": "not_stated",
            "status": status,
            "raw_text": text,
            **search_columns(title, organizer, text),
            "published": start,
            "first_seen": now - timedelta(days=rng.randrange(0, 400)),
            "last_seen": now,
            "evidence": {},
            "conflicts": {},
            "predicted": False,
        }
        fields = [{"call_id": i + 1, "field": field, "rank": 0}]
        if other != field:
            fields.append({"call_id": i + 1, "field": other, "rank": 1})
        listing = {
            "call_id": i + 1,
            "source": source,
            "source_key": str(i),
            "url": call["source_url"],
            "content_hash": uuid.uuid4().hex,
            "raw": {"id": str(i), "title": title},
            "record": {"title": title},
            "precedence": 2,
            "listed": True,
            "first_seen": call["first_seen"],
            "last_seen": now,
        }
        yield call, fields, listing


def build(url: str, n: int) -> float:
    upgrade_database(url)
    engine = make_engine(url)
    start = time.perf_counter()
    try:
        calls, fields, listings = [], [], []
        with engine.begin() as conn:
            for call, call_fields, listing in generate(n):
                calls.append(call)
                fields.extend(call_fields)
                listings.append(listing)
                if len(calls) >= 5000:
                    _flush(conn, calls, fields, listings)
            _flush(conn, calls, fields, listings)
        finish(engine)
    finally:
        engine.dispose()
    return time.perf_counter() - start


def finish(engine) -> None:
    """After inserting generated rows with their own ids: PostgreSQL's id sequences moved past
    them (so that later inserts get new ids), and fresh statistics (and, on PostgreSQL, the
    visibility map for index-only scans)."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if engine.dialect.name == "postgresql":
            for table in ("calls", "listings"):
                sequence = f"pg_get_serial_sequence('{table}', 'id')"
                conn.exec_driver_sql(f"SELECT setval({sequence}, max(id)) FROM {table}")
        conn.exec_driver_sql("ANALYZE" if engine.dialect.name == "sqlite" else "VACUUM ANALYZE")


def _flush(conn, calls: list, fields: list, listings: list) -> None:
    if calls:
        conn.execute(insert(CallRow), calls)
        conn.execute(insert(CallField), fields)
        conn.execute(insert(ListingRow), listings)
    calls.clear()
    fields.clear()
    listings.clear()


def searches() -> list[tuple[str, dict]]:
    """50 typical searches: (kind, query parameters)."""
    out: list[tuple[str, dict]] = []
    out += [("1 char", {"q": q}) for q in ONE_CHAR]
    out += [("2 chars", {"q": q}) for q in TWO_CHARS]
    out += [("3+ chars", {"q": q}) for q in THREE_PLUS]
    filters = [
        {},
        {"field": "children_youth"},
        {"field": ["health_welfare", "community_development"]},
        {"area": "reachable"},
        {"area": "municipality"},
        {"min_amount": 500000},
        {"informal_groups_ok": "true"},
        {"source_kind": "national"},
        {"status": "all"},
        {"status": "upcoming"},
        {"sort": "amount"},
        {"sort": "new"},
        {"deadline_before": "2026-12-31"},
        {"page": 3},
        {"page": 50, "per_page": 50},
        {"field": "children_youth", "area": "reachable", "informal_groups_ok": "true"},
    ]
    out += [("filters", f) for f in filters]
    combos = [
        {"q": "福祉", "area": "reachable"},
        {"q": "子ども", "field": "children_youth", "sort": "amount"},
        {"q": "防災", "status": "all"},
        {"q": "子", "min_amount": 300000},
    ]
    out += [("keyword + filters", c) for c in combos]
    assert len(out) == 50, len(out)
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(url: str, port: int) -> subprocess.Popen:
    env = {**os.environ, "KYODO_DATABASE_URL": url}
    proc = subprocess.Popen(
        [sys.executable, "-m", "kyodo.cli", "serve", "--port", str(port), "--today", str(TODAY)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc
        except OSError:
            if proc.poll() is not None:
                raise SystemExit(f"kyodo serve exited: {proc.stderr.read().decode()}") from None
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("kyodo serve did not start")


def measure(port: int, repeat: int) -> dict[str, list[float]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    times: dict[str, list[float]] = {}
    plan = searches()
    for round_ in range(repeat + 1):  # round 0 warms up
        for kind, params in plan:
            path = "/api/v1/calls?" + urlencode(params, doseq=True)
            start = time.perf_counter()
            conn.request("GET", path)
            response = conn.getresponse()
            body = response.read()
            elapsed = (time.perf_counter() - start) * 1000
            if response.status != 200:
                raise SystemExit(f"{path}: HTTP {response.status} {body[:200]!r}")
            if round_:
                times.setdefault(kind, []).append(elapsed)
    conn.close()
    return times


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--postgres", action="store_true", help="on a throwaway PostgreSQL")
    parser.add_argument("--database-url", default=None, help="an empty database to fill")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cluster = None
        if args.postgres:
            bindir = pg_bindir()
            if bindir is None:
                raise SystemExit("PostgreSQL server binaries not found")
            cluster = PostgresCluster(bindir, Path("/tmp") / f"kyodo-bench-{uuid.uuid4().hex[:6]}")
            cluster.port = free_port()
            cluster.start()
        try:
            if cluster:
                url = cluster.create_database()
            else:
                url = args.database_url or f"sqlite:///{Path(tmp) / 'search.db'}"
            built = build(url, args.calls)
            port = free_port()
            server = serve(url, port)
            try:
                times = measure(port, args.repeat)
            finally:
                server.terminate()
                server.wait(timeout=10)
        finally:
            if cluster:
                cluster.stop()
    all_times = [t for values in times.values() for t in values]
    backend = (
        "postgresql"
        if (args.postgres or (args.database_url or "").startswith("postgres"))
        else "sqlite"
    )
    result = {
        "backend": backend,
        "calls": args.calls,
        "build_seconds": round(built, 1),
        "requests": len(all_times),
        "by_kind": {
            kind: {
                "n": len(v),
                "p50_ms": round(statistics.median(v), 1),
                "p95_ms": round(percentile(v, 95), 1),
            }
            for kind, v in times.items()
        },
        "p50_ms": round(statistics.median(all_times), 1),
        "p95_ms": round(percentile(all_times, 95), 1),
        "p99_ms": round(percentile(all_times, 99), 1),
        "max_ms": round(max(all_times), 1),
    }
    print(f"machine: {machine_line()}")
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        print(
            f"{backend}: {args.calls:,} calls (built in {built:.1f} s); {len(all_times)} requests"
        )
        for kind, figures in result["by_kind"].items():
            print(f"  {kind:<18} p50 {figures['p50_ms']:6.1f} ms   p95 {figures['p95_ms']:6.1f} ms")
        print(
            f"  {'all':<18} p50 {result['p50_ms']:6.1f} ms   p95 {result['p95_ms']:6.1f} ms"
            f"   p99 {result['p99_ms']:6.1f} ms   max {result['max_ms']:.1f} ms"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
