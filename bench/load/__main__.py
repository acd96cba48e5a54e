"""Load: the search page and `/api/v1/calls` under 50 concurrent users, with a crawl writing.

Run: python bench/load [--database sqlite|postgresql] [--calls 100000] [--users 50]
[--seconds 60] [--think 1] [--workers 2] [--with-writer [--writer-rate 100]] [--json]

1. Fills a fresh database with `--calls` generated calls (bench/search_latency's generator;
   PostgreSQL in a throwaway cluster, bench/_pg.py).
2. Starts the real `kyodo serve --workers N` on 127.0.0.1 (default 2, one per core: with the
   in-memory search index a request is mostly Python, which one process runs on one core) and
   waits until every worker has loaded its search index (`/healthz`), then warms it up: each
   worker answers a few pages and a search for every word the users will type.
3. Runs locust (bench/load/locustfile.py, headless, its own process): `--users` users, all
   started in the first second, each waiting `--think` seconds on average between requests
   (0: none), half on the search page `/` and half on `/api/v1/calls`, with 1-, 2- and 3+-
   character keywords, fields, areas, statuses, sorts and pages drawn like real use.
4. `--with-writer`: during the whole run a writer keeps running the real `kyodo ingest FILE`
   on batches of new listings and changed ones (deadline extended, amount changed) into the
   same database, so that writes and reads overlap; its batches and errors are counted. It
   feeds at most `--writer-rate` listings a second (default 100, a crawl's pace at most; 0: as
   fast as the ingest reads, a stress test that leaves the server less than one core).
Prints requests per second, p50 / p95 / p99 latency and errors per endpoint and overall, the
machine, the load average before the run, and the targets (0 errors, p95 ≤ 200 ms) with
PASS / FAIL; `--json` ends with the figures as one JSON line. Exits 0 whatever the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import http.client
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench._machine import machine_line  # noqa: E402
from bench._pg import PostgresCluster, pg_bindir  # noqa: E402
from bench.search_latency.__main__ import (  # noqa: E402
    SOURCES,
    THEMES,
    TODAY,
    _flush,
    finish,
    free_port,
    generate,
)

LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"
TARGET_P95_MS = 200.0
# The writer's default pace, listings per second: above a whole crawl's (bench/crawl_speed
# measured 77 listings/s over the local mirror with no delay between requests; real sites are
# crawled with a delay of 1 s per site). 0 feeds as fast as the ingest reads.
WRITER_RATE = 100.0
ENDPOINTS = ("/", "/api/v1/calls")
WARM_UP = [
    "/api/v1/calls?q=子",
    "/api/v1/calls?q=福祉&area=reachable",
    "/api/v1/calls?q=子ども食堂&sort=amount",
    "/api/v1/calls?field=children_youth&page=3",
    "/?q=子",
    "/?q=環境&status=all",
    "/?q=まちづくり&field=community_development",
    "/?area=municipality&sort=new",
]


def warm_up_paths() -> list[str]:
    """WARM_UP, and one search for each word the users type (locustfile.py's vocabulary):
    a running site has read each word's matches long before (its index keeps them), where a
    server just started reads them all in the first second of the load."""
    from bench._keywords import LOAD_ONE, LOAD_THREE, LOAD_TWO

    words = [*LOAD_ONE, *LOAD_TWO, *LOAD_THREE]
    return [*WARM_UP, *(f"/api/v1/calls?q={word}" for word in words)]


# -- the database -------------------------------------------------------------------------------


def build(url: str, n: int) -> float:
    """bench/search_latency's calls, with listings as an ingest stores them.

    search_latency keeps only the title in a listing's record; the writer's `kyodo ingest`
    reads every stored record into its match index, so here each listing gets the whole
    record (GrantCall as JSON) and its text, like a crawled one.
    """

    from aggregator.ingest import _RECORD_EXCLUDE
    from aggregator.record import GrantCall
    from aggregator.storage import make_engine, upgrade_database

    upgrade_database(url)
    engine = make_engine(url)
    start = time.perf_counter()
    try:
        calls, fields, listings = [], [], []
        with engine.begin() as conn:
            for call, call_fields, listing in generate(n):
                record = GrantCall(
                    id=call["source_item_id"],
                    title=call["title"],
                    organizer=call["organizer"],
                    deadline=call["deadline"],
                    deadline_kind=call["deadline_kind"],
                    application_start=call["application_start"],
                    max_amount_yen=call["max_amount_yen"],
                    fields=[f["field"] for f in call_fields],
                    area=call["area"],
                    source=call["source"],
                    source_url=call["source_url"],
                    status=call["status"],
                    published=call["published"],
                )
                listing["record"] = record.model_dump(mode="json", exclude=_RECORD_EXCLUDE)
                listing["raw"] = {
                    "id": listing["source_key"],
                    "source": call["source"],
                    "url": call["source_url"],
                    "title": call["title"],
                    "organizer": call["organizer"],
                    "text": call["raw_text"],
                }
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


# -- the server --------------------------------------------------------------------------------


def serve(url: str, port: int, workers: int, log: Path) -> subprocess.Popen:
    """`kyodo serve` in its own process, answering once every worker is up and warm."""
    env = {**os.environ, "KYODO_DATABASE_URL": url}
    command = [sys.executable, "-m", "kyodo.cli", "serve", "--port", str(port)]
    command += ["--today", str(TODAY), "--workers", str(workers)]
    with log.open("wb") as err:
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=err)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"kyodo serve exited: {log.read_text(errors='replace')}")
        try:
            if get(port, "/api/v1/calls?per_page=1")[0] == 200:
                break
        except OSError:
            pass
        time.sleep(0.2)
    else:
        stop(proc)
        raise SystemExit("kyodo serve did not start")
    # Each worker loads its search index in the background at start (SQL meanwhile): wait until
    # /healthz keeps saying ready (new connections are spread over the workers by the kernel).
    ready = 0
    while ready < 4 * workers:
        if time.monotonic() > deadline + 180:
            stop(proc)
            raise SystemExit("kyodo serve: the search index did not load")
        status, body = get(port, "/healthz")
        ready = ready + 1 if status == 200 and json.loads(body)["search_index"] == "ready" else 0
        time.sleep(0 if ready else 0.2)
    # Every worker answers a few of each kind of page (templates compiled, caches filled).
    paths = warm_up_paths()
    for _ in range(3 * workers):
        for path in paths:
            status, body = get(port, path)
            if status != 200:
                stop(proc)
                raise SystemExit(f"warm-up {path}: HTTP {status} {body[:200]!r}")
    return proc


def get(port: int, path: str) -> tuple[int, bytes]:
    from urllib.parse import quote

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", quote(path, safe="/?&=:"))
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- the writer ----------------------------------------------------------------------------------


def writer_batch(batch: int, size: int, calls: int, rng: random.Random) -> list[dict]:
    """`size` listings: half new calls, half changed versions of stored listings."""
    items = []
    for k in range(size):
        theme, _field = rng.choice(THEMES)
        deadline = TODAY + timedelta(days=rng.randrange(5, 200))
        start = deadline - timedelta(days=rng.randrange(20, 60))
        cap = rng.choice([10, 30, 50, 100, 300]) * 10_000
        if k % 2 == 0:
            source, key = rng.choice(SOURCES), f"w{batch}-{k}"
            title = f"2027年度 {theme}活動助成(新着 {batch}-{k})"
        else:  # a stored listing (bench/search_latency's keys) with a new deadline or amount
            i = rng.randrange(calls)
            source, key = SOURCES[i % len(SOURCES)], str(i)
            title = f"2026年度 {theme}活動助成 第{i % 12 + 1}回【締切延長】"
        items.append(
            {
                "source": source,
                "id": key,
                "url": f"https://{source}.example.org/{key}",
                "title": title,
                "organizer": f"公益財団法人{theme}支援財団",
                "published": str(start),
                "text": (
                    f"募集期間: {start:%Y年%-m月%-d日}～{deadline:%Y年%-m月%-d日}\n"
                    f"助成金額: 上限{cap // 10_000}万円\n対象: {theme}に取り組む団体。"
                    f"任意団体も応募できます。(更新 {batch})"
                ),
            }
        )
    return items


class Writer(threading.Thread):
    """One real `kyodo ingest -` fed a stream of listings, as a crawl feeds it, until stopped.

    The ingest reads every stored listing into its match index first (tens of seconds at
    100,000), then commits each 1,000 listings it reads in one transaction. `wait_ready`
    returns once the first of the writer's listings is committed, so that the load started
    after it overlaps a steady stream of write transactions.
    """

    def __init__(self, url: str, folder: Path, calls: int, size: int, rate: float = 0) -> None:
        super().__init__(daemon=True)
        self.url, self.folder, self.calls, self.size = url, folder, calls, size
        self.rate = rate  # listings per second at most (0: as fast as the ingest reads them)
        self.stopping = threading.Event()
        self.batches = 0  # batches of `size` listings handed to the ingest
        self.errors: list[str] = []
        self.counts: dict = {}
        self.exit: int | None = None

    def run(self) -> None:
        rng = random.Random(11)
        env = {**os.environ, "KYODO_DATABASE_URL": self.url}
        command = [sys.executable, "-m", "kyodo.cli", "ingest", "--today", str(TODAY), "-"]
        out, err = self.folder / "ingest.out", self.folder / "ingest.err"
        with out.open("wb") as stdout, err.open("wb") as stderr:
            proc = subprocess.Popen(
                command, env=env, stdin=subprocess.PIPE, stdout=stdout, stderr=stderr
            )
            try:
                started = time.monotonic()
                while not self.stopping.is_set():
                    if self.rate > 0:  # a crawl's pace: wait for this batch's time
                        due = started + self.batches * self.size / self.rate
                        self.stopping.wait(max(0.0, due - time.monotonic()))
                        if self.stopping.is_set():
                            break
                    self.batches += 1
                    lines = [
                        json.dumps(item, ensure_ascii=False) + "\n"
                        for item in writer_batch(self.batches, self.size, self.calls, rng)
                    ]
                    proc.stdin.write("".join(lines).encode())  # waits while the ingest is busy
                    proc.stdin.flush()
            except BrokenPipeError:
                self.errors.append("kyodo ingest stopped reading")
            finally:
                with contextlib.suppress(BrokenPipeError):
                    proc.stdin.close()
                self.exit = proc.wait()
        lines = out.read_text(encoding="utf-8").strip().splitlines()
        if self.exit == 0 and lines:
            self.counts = json.loads(lines[-1])
        else:
            text = err.read_text(encoding="utf-8", errors="replace").strip().splitlines() or [""]
            cause = next((ln for ln in text if "Error" in ln), text[-1])
            self.errors.append(f"kyodo ingest exit {self.exit}: {cause[:300]}")

    def committed(self) -> int:
        """The writer's new listings committed so far (read through another connection)."""
        from sqlalchemy import func, select

        from aggregator.storage import make_engine
        from aggregator.storage.models import ListingRow

        engine = make_engine(self.url)
        try:
            with engine.connect() as conn:
                query = select(func.count()).select_from(ListingRow)
                return conn.scalar(query.where(ListingRow.source_key.like("w%"))) or 0
        finally:
            engine.dispose()

    def wait_ready(self, timeout: float) -> float:
        """Seconds until the first batch was committed (SystemExit after `timeout`)."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.committed() > 0:
                return time.monotonic() - started
            if not self.is_alive():
                raise SystemExit(f"the writer stopped: {self.errors}")
            time.sleep(0.5)
        raise SystemExit("the writer committed nothing in time")


# -- locust and the figures -------------------------------------------------------------------


def run_locust(port: int, users: int, seconds: int, think: float, folder: Path) -> dict:
    record = folder / "requests.jsonl"
    prefix = folder / "locust"
    env = {
        **os.environ,
        "KYODO_LOAD_THINK": str(think),
        "KYODO_LOAD_RECORD": str(record),
        "PYTHONPATH": str(ROOT),
    }
    command = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless"]
    command += ["-u", str(users), "-r", str(users), "-t", f"{seconds}s"]
    command += ["--host", f"http://127.0.0.1:{port}", "--csv", str(prefix), "--only-summary"]
    command += ["--loglevel", "WARNING"]
    started = time.time()
    proc = subprocess.run(command, env=env, capture_output=True, text=True, cwd=folder)
    ended = time.time()
    if not record.exists():
        raise SystemExit(f"locust failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    rows = [json.loads(line) for line in record.read_text(encoding="utf-8").splitlines()]
    summary = {}
    stats = Path(f"{prefix}_stats.csv")
    if stats.exists():
        with stats.open(encoding="utf-8") as f:
            for row in csv.DictReader(f):
                summary[row["Name"]] = {
                    "requests": int(row["Request Count"]),
                    "failures": int(row["Failure Count"]),
                    "rps": round(float(row["Requests/s"]), 1),
                    "p50_ms": float(row["50%"]),
                    "p95_ms": float(row["95%"]),
                    "p99_ms": float(row["99%"]),
                }
    return {"rows": rows, "started": started, "ended": ended, "locust_summary": summary}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def figures(rows: list, seconds: float) -> dict:
    times = [row[3] for row in rows]
    errors = [row[4] for row in rows if row[4]]
    if not times:
        return {"requests": 0, "errors": 0, "rps": 0.0}
    return {
        "requests": len(times),
        "errors": len(errors),
        "rps": round(len(times) / seconds, 1),
        "p50_ms": round(percentile(times, 50), 1),
        "p95_ms": round(percentile(times, 95), 1),
        "p99_ms": round(percentile(times, 99), 1),
        "max_ms": round(max(times), 1),
    }


def summarize(run: dict, seconds: int) -> dict:
    rows = run["rows"]
    by_endpoint = {e: figures([r for r in rows if r[0] == e], seconds) for e in ENDPOINTS}
    kinds = sorted({r[1] for r in rows})
    by_kind = {
        e: {k: figures([r for r in rows if r[0] == e and r[1] == k], seconds) for k in kinds}
        for e in ENDPOINTS
    }
    error_kinds: dict[str, int] = {}
    for row in rows:
        if row[4]:
            error_kinds[row[4]] = error_kinds.get(row[4], 0) + 1
    return {
        "overall": figures(rows, seconds),
        "by_endpoint": by_endpoint,
        "by_kind": by_kind,
        "error_kinds": error_kinds,
    }


def verdicts(result: dict) -> list[tuple[str, str, str, bool]]:
    """(what, value, target, passed) rows for the table."""
    out = []
    for name, fig in [("overall", result["overall"]), *result["by_endpoint"].items()]:
        out.append((f"{name}: errors", str(fig["errors"]), "0", fig["errors"] == 0))
        p95 = fig.get("p95_ms")
        out.append(
            (
                f"{name}: p95",
                f"{p95} ms",
                f"≤ {TARGET_P95_MS:.0f} ms",
                p95 is not None and p95 <= TARGET_P95_MS,
            )
        )
    if result.get("writer"):
        w = result["writer"]
        out.append(("writer: errors", str(len(w["errors"])), "0", not w["errors"]))
        written = w["listings_written_during_load"]
        out.append(("writer: listings written during the load", str(written), "> 0", written > 0))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--think", type=float, default=1.0, help="mean seconds between requests")
    parser.add_argument("--workers", type=int, default=2, help="kyodo serve --workers")
    parser.add_argument("--with-writer", action="store_true", help="kyodo ingest while loading")
    parser.add_argument("--writer-batch", type=int, default=200, help="listings per write")
    parser.add_argument(
        "--writer-rate",
        type=float,
        default=WRITER_RATE,
        help="listings per second the writer feeds at most (0: as fast as the ingest reads)",
    )
    parser.add_argument("--json", action="store_true", help="end with the figures as JSON")
    args = parser.parse_args()

    loadavg = Path("/proc/loadavg").read_text().split()[:3]
    with tempfile.TemporaryDirectory(prefix="kyodo-load-") as tmp:
        folder = Path(tmp)
        cluster = None
        if args.database == "postgresql":
            bindir = pg_bindir()
            if bindir is None:
                raise SystemExit("PostgreSQL server binaries not found")
            cluster = PostgresCluster(bindir, Path("/tmp") / f"kyodo-load-{uuid.uuid4().hex[:6]}")
            cluster.port = free_port()
            cluster.start()
        try:
            url = cluster.create_database() if cluster else f"sqlite:///{folder / 'load.db'}"
            built = build(url, args.calls)
            port = free_port()
            server_log = folder / "serve.log"
            server = serve(url, port, args.workers, server_log)
            writer = None
            try:
                if args.with_writer:
                    writer = Writer(url, folder, args.calls, args.writer_batch, args.writer_rate)
                    writer.start()
                    writer_ready_s = writer.wait_ready(timeout=600)
                    committed_before = writer.committed()
                run = run_locust(port, args.users, args.seconds, args.think, folder)
                if writer:
                    committed_after = writer.committed()
                    writer.stopping.set()
                    writer.join()
            finally:
                stop(server)
            server_errors = server_log.read_text(errors="replace").count("Traceback")
        finally:
            if cluster:
                cluster.stop()

    result = {
        "backend": args.database,
        "calls": args.calls,
        "users": args.users,
        "seconds": args.seconds,
        "think_s": args.think,
        "workers": args.workers,
        "with_writer": args.with_writer,
        "build_seconds": round(built, 1),
        "loadavg_before": " ".join(loadavg),
        **summarize(run, args.seconds),
        "server_tracebacks": server_errors,
        "locust_summary": run["locust_summary"],
    }
    if writer:
        result["writer"] = {
            "listings_per_batch": args.writer_batch,
            "rate_limit_per_s": args.writer_rate,
            "index_load_s": round(writer_ready_s, 1),
            "new_listings_committed_during_load": committed_after - committed_before,
            # Half of each batch is new listings, half changed ones: both written together.
            "listings_written_during_load": 2 * (committed_after - committed_before),
            "transactions_during_load": 2 * (committed_after - committed_before) // 1000,
            "ingest_counts": writer.counts,
            "exit": writer.exit,
            "errors": writer.errors,
        }
    checks = verdicts(result)
    result["targets"] = {what: {"value": v, "target": t, "pass": ok} for what, v, t, ok in checks}
    result["pass"] = all(ok for *_, ok in checks)

    print(f"machine: {machine_line()}")
    print(f"load average before the run: {result['loadavg_before']}")
    pace = f"at most {args.writer_rate:g}/s" if args.writer_rate > 0 else "unthrottled"
    writer_text = (
        f", writer: kyodo ingest of {args.writer_batch} listings a batch, {pace}" if writer else ""
    )
    print(
        f"{args.database}: {args.calls:,} calls (built in {built:.1f} s); kyodo serve "
        f"--workers {args.workers}; {args.users} users for {args.seconds} s, think "
        f"{args.think:g} s{writer_text}"
    )
    print(
        f"  {'endpoint':<16}{'requests':>9}{'req/s':>8}{'errors':>8}"
        f"{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}"
    )
    for name, fig in [*result["by_endpoint"].items(), ("overall", result["overall"])]:
        print(
            f"  {name:<16}{fig['requests']:>9}{fig['rps']:>8}{fig['errors']:>8}"
            f"{fig.get('p50_ms', '-'):>9}{fig.get('p95_ms', '-'):>9}{fig.get('p99_ms', '-'):>9}"
            f"{fig.get('max_ms', '-'):>9}"
        )
    for endpoint, kinds in result["by_kind"].items():
        line = "; ".join(
            f"{k} p50 {f.get('p50_ms', '-')} / p95 {f.get('p95_ms', '-')}" for k, f in kinds.items()
        )
        print(f"  {endpoint} by keyword: {line}")
    if result["error_kinds"]:
        print(f"  errors: {result['error_kinds']}")
    print(f"  server tracebacks: {server_errors}")
    if writer:
        w = result["writer"]
        print(
            f"  writer: one kyodo ingest, fed {args.writer_batch} listings at a time (half new, "
            f"half changed); index read in {w['index_load_s']} s, then "
            f"{w['listings_written_during_load']} listings written during the load (about "
            f"{w['transactions_during_load']} transactions of 1,000); exit {w['exit']}, "
            f"{len(w['errors'])} errors; ingest: {w['ingest_counts']}"
        )
        for error in w["errors"][:5]:
            print(f"    {error}")
    print(f"  {'target':<36}{'value':>12}  {'goal':<10}")
    for what, value, target, ok in checks:
        print(f"  {what:<36}{value:>12}  {target:<10}{'PASS' if ok else 'FAIL'}")
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
