"""Ingest throughput: generated listings with ~30% duplicates across 10 sources.

Run: python bench/ingest_speed [--listings 100000] [--database-url URL]
Ingests into a fresh SQLite file (or the empty database at --database-url), then ingests the
same listings again (all unchanged), then predicts every program's next round (as `kyodo
ingest` does at its end), and prints times and peak memory (RSS).
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from aggregator.ingest import Ingestor  # noqa: E402
from aggregator.programs import predict_upcoming  # noqa: E402
from aggregator.storage import make_engine, upgrade_database  # noqa: E402
from aggregator.storage.models import ProgramRow  # noqa: E402
from bench._machine import machine_line  # noqa: E402

SOURCES = [
    "canpan",
    "jfc",
    "chiba_npo",
    "akaihane",
    "akaihane_chiba",
    "chiba_shakyo",
    "shakyo",
    "musubie",
    "kamagaya",
    "organizer_site",
]
THEMES = [
    "子ども食堂",
    "高齢者サロン",
    "里山保全",
    "防災訓練",
    "多文化共生",
    "学習支援",
    "障がい者スポーツ",
    "フードバンク",
    "読み聞かせ",
    "海岸清掃",
    "伝統芸能",
    "見守り活動",
]
KINDS = ["福祉財団", "子ども基金", "環境財団", "文化振興会", "地域基金", "市民財団"]
SYL = "あかさたなはまやらわいきしちにひみりけせてねへめれこそとのほもよろ"


def make_listings(n: int, seed: int = 2026) -> Iterator[dict]:
    """About 70% distinct calls, the rest reposts of them by other sources: a stream, as a
    crawl or a file gives them, so the benchmark's own memory stays out of the figure."""
    rng = random.Random(seed)
    distinct = int(n * 0.7)
    calls = []
    for i in range(distinct):
        name = "".join(rng.choice(SYL) for _ in range(3)) + rng.choice(KINDS)
        theme = rng.choice(THEMES)
        start = date(2025, 1, 1) + timedelta(days=rng.randrange(700))
        end = start + timedelta(days=rng.randrange(20, 90))
        cap = rng.choice([10, 20, 30, 50, 100, 200]) * 10_000
        calls.append((i, name, theme, start, end, cap))
    for j in range(n):
        i, name, theme, start, end, cap = calls[j] if j < distinct else rng.choice(calls)
        source = SOURCES[j % len(SOURCES)] if j < distinct else rng.choice(SOURCES)
        if j < distinct:
            title = f"{start.year}年度 {theme}活動助成 第{i % 9 + 1}回 {i}"
            text = (
                f"募集期間:{start:%Y年%-m月%-d日}~{end:%Y年%-m月%-d日}\n"
                f"助成金額:1件あたり上限{cap // 10_000}万円\n対象:{theme}に取り組む団体"
            )
            org = f"公益財団法人 {name}"
        else:
            title = f"({name[:3]}){theme}活動助成 第{i % 9 + 1}回 {i}【転載】"
            text = f"【募集期間】{end:%Y/%m/%d}締切\n【助成額】{cap:,}円まで\n【対象】{theme}の団体"
            org = f"(公財){name}"
        yield {
            "id": f"{source}-{j}",
            "source": source,
            "title": title,
            "text": text,
            "organizer": org,
            "published": start.isoformat(),
            "url": f"https://{source}.example.org/{j}",
        }


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--listings", type=int, default=100_000)
    parser.add_argument("--database-url", default=None, help="an empty, upgraded-or-new database")
    parser.add_argument("--json", action="store_true", help="end with the figures as JSON")
    args = parser.parse_args()

    n = args.listings
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade_database(url)
        engine = make_engine(url)
        today = date(2026, 6, 1)
        t0 = time.perf_counter()
        first = Ingestor(engine, today=today, now=datetime.now(UTC)).ingest(make_listings(n))
        t1 = time.perf_counter()
        second = Ingestor(engine, today=today, now=datetime.now(UTC)).ingest(make_listings(n))
        t2 = time.perf_counter()
        # What `kyodo ingest` does next: predicted next rounds of every program.
        predicted = predict_upcoming(engine, today=today)
        t3 = time.perf_counter()
        with engine.connect() as conn:
            programs = conn.scalar(select(func.count()).select_from(ProgramRow)) or 0
        engine.dispose()
    backend = url.split(":", 1)[0]
    print(f"machine: {machine_line()}")
    print(f"backend: {backend}; listings: {n} (about 30% reposts), 10 sources")
    print(f"first ingest: {t1 - t0:.1f} s ({n / (t1 - t0):,.0f} listings/s); {first.as_dict()}")
    print(f"unchanged re-run: {t2 - t1:.1f} s; {second.as_dict()}")
    print(f"predicted rounds: {t3 - t2:.1f} s for {programs:,} programs ({predicted:,} predicted)")
    print(f"peak memory (RSS): {peak_rss_mib():.0f} MiB")
    if args.json:
        figures = {
            "backend": backend,
            "listings": n,
            "first_seconds": round(t1 - t0, 1),
            "rerun_seconds": round(t2 - t1, 1),
            "peak_rss_mib": round(peak_rss_mib()),
            "predict_seconds": round(t3 - t2, 1),
            "programs": programs,
            "predicted": predicted,
            "first": first.as_dict(),
            "rerun": second.as_dict(),
        }
        print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
