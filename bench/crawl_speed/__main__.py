"""Crawl throughput: `kyodo crawl canpan` over a local mirror of about 2,000 generated pages.

Run: python bench/crawl_speed [--pages 2000] [--ingest]
Generates a CANPAN-shaped site (list pages of 20 rows with 次へ paging, one detail page a
row; kyodo's own wording) in a temporary folder, serves it with kyodo's mirror server and runs
the real `kyodo crawl canpan --base-url …` in a subprocess with no politeness delay (the mirror
is local). Prints pages, listings, wall time and listings per second; `--ingest` also stores
them into a fresh SQLite database (instead of `-o FILE`).
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench._machine import machine_line  # noqa: E402
from bench.canpan_site import build_site  # noqa: E402
from spiders.mirror import Mirror, MirrorServer  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--ingest", action="store_true", help="ingest into SQLite, not a file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        lists, details = build_site(folder / "mirror", args.pages)
        out = folder / "out.jsonl"
        env = {
            **os.environ,
            "KYODO_DATABASE_URL": f"sqlite:///{folder / 'bench.db'}",
            "KYODO_CRAWL_DELAY": "0",
            "KYODO_CRAWL_MAX_PAGES": "100000",
        }
        kyodo = [sys.executable, "-m", "kyodo.cli"]
        if args.ingest:
            subprocess.run([*kyodo, "db", "upgrade"], env=env, check=True, capture_output=True)
        with MirrorServer(Mirror.from_folder(folder / "mirror")) as server:
            command = [*kyodo, "crawl", "canpan", "--base-url", server.url]
            if not args.ingest:
                command += ["-o", str(out)]
            start = time.perf_counter()
            proc = subprocess.run(command, env=env, capture_output=True, text=True, cwd=tmp)
            elapsed = time.perf_counter() - start
            served = len(server.mirror.requests)
        if proc.returncode != 0:
            sys.exit(f"kyodo crawl failed ({proc.returncode}):\n{proc.stderr}")
        if args.ingest:
            with sqlite3.connect(folder / "bench.db") as db:
                listings = db.execute("select count(*) from listings").fetchone()[0]
        else:
            listings = sum(1 for line in out.read_text(encoding="utf-8").splitlines() if line)
        partial = 0
        if not args.ingest:
            partial = sum(
                1 for line in out.read_text(encoding="utf-8").splitlines() if '"partial"' in line
            )
    result = {
        "pages_in_site": lists + details,
        "requests_served": served,
        "listings": listings,
        "partial": partial,
        "seconds": round(elapsed, 2),
        "listings_per_second": round(listings / elapsed, 1),
        "pages_per_second": round(served / elapsed, 1),
        "target": "database (SQLite)" if args.ingest else "file",
    }
    print(f"machine: {machine_line()}")
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
