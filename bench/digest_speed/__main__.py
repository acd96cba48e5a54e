"""Digest speed: build every group's weekly digest, then send them all to a local SMTP server.

Run: python bench/digest_speed [--groups 10000] [--calls 100000] [--database sqlite|postgresql]
[--profile] [--build-limit SECONDS] [--json]

Fills a fresh, migrated database with generated data (bench/_digest_data.py, in a child
process: ~2 years of crawled calls, groups in 千葉県 with profiles, saved and dismissed calls,
last week's digest, offers and courses), then times
1. build: `digest.send.queue_digests` for 2026-W49 (today 2026-11-30): every due group's digest
   built and stored in the outbox, one row per recipient. Target ≤ 60 s for 10,000 groups.
2. send: `aggregator.mail.deliver` over SMTP to an aiosmtpd server on 127.0.0.1 running in its
   own process, which counts what it receives. Target ≥ 100 mails/s. The server must receive
   exactly the outbox's rows, with no Message-ID twice.
`--profile` prints where the build's time goes (cProfile; the build is slower under it).
`--build-limit` stops a build that runs longer (between batches) and extrapolates its time.
Exits 1 when the send loses or duplicates mail; missed timing targets only show as FAIL.
"""

from __future__ import annotations

import argparse
import cProfile
import inspect
import io
import json
import pstats
import re
import resource
import socket
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

BUILD_TARGET_S = 60.0  # for 10,000 groups
BUILD_TARGET_RATE = 10_000 / BUILD_TARGET_S  # groups per second, to judge other sizes by
SEND_TARGET_PER_S = 100.0
_MESSAGE_ID = re.compile(rb"^message-id:[ \t]*(\S+)", re.IGNORECASE | re.MULTILINE)
_NEW_COUNT = re.compile(r"新着(\d+)件")


# -- the SMTP server, in its own process ------------------------------------------------------


def run_sink(port: int) -> int:
    """An SMTP server on 127.0.0.1:`port` that counts messages and their Message-IDs.

    Prints "ready" once it listens; answers a "stats" line on stdin with JSON; ends on EOF.
    """
    from aiosmtpd.controller import Controller

    class Counter:
        def __init__(self) -> None:
            self.received = 0
            self.bytes = 0
            self.ids: set[bytes] = set()
            self.duplicates = 0
            self.without_id = 0

        async def handle_DATA(self, server, session, envelope) -> str:
            content = envelope.content
            head = re.split(rb"\r?\n\r?\n", content, maxsplit=1)[0]
            match = _MESSAGE_ID.search(head)
            self.received += 1
            self.bytes += len(content)
            if match is None:
                self.without_id += 1
            elif match.group(1) in self.ids:
                self.duplicates += 1
            else:
                self.ids.add(match.group(1))
            return "250 Message accepted"

    counter = Counter()
    controller = Controller(counter, hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    try:
        for line in sys.stdin:
            if line.strip() == "stats":
                stats = {
                    "received": counter.received,
                    "bytes": counter.bytes,
                    "duplicates": counter.duplicates,
                    "without_id": counter.without_id,
                    "ids": sorted(i.decode("ascii", "replace") for i in counter.ids),
                }
                print(json.dumps(stats), flush=True)
    finally:
        controller.stop()
    return 0


class Sink:
    """The counting SMTP server as a child process (it must not share the sender's GIL)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve().parent), "--smtp-sink", str(self.port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            self.proc.kill()
            raise SystemExit(f"the SMTP server did not start: {line!r}")

    def stats(self) -> dict:
        self.proc.stdin.write("stats\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- measuring --------------------------------------------------------------------------------


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def fill(url: str, groups: int, calls: int, seed: int) -> dict:
    """Generated data, made by bench/_digest_data.py in a child process (its memory and time
    stay out of the build's figures)."""
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "_digest_data.py"),
            "--url",
            url,
            "--groups",
            str(groups),
            "--calls",
            str(calls),
            "--seed",
            str(seed),
        ],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise SystemExit(f"generating the data failed:\n{result.stderr}")
    return json.loads(result.stdout.splitlines()[-1])


def _short_paths(text: str) -> str:
    for prefix in {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["stdlib"], str(ROOT)}:
        text = text.replace(prefix + "/", "")
    return text


def profile_text(profiler: cProfile.Profile, top: int = 25) -> str:
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    out.write(f"\n== build profile: top {top} by cumulative time ==\n")
    stats.sort_stats("cumulative").print_stats(top)
    out.write(f"\n== build profile: top {top} by own time ==\n")
    stats.sort_stats("tottime").print_stats(top)
    return _short_paths(out.getvalue())


def build(engine, settings, week, today: date, *, limit: float | None, profile: bool) -> dict:
    """Phase 1: queue_digests, timed (and profiled); stopped between batches after `limit` s."""
    from digest.send import SendReport, queue_digests

    params = inspect.signature(queue_digests).parameters
    report = SendReport()
    kwargs: dict = {"today": today}
    if "report" in params:
        kwargs["report"] = report
    stopped = []
    start = time.perf_counter()
    if limit and "stop" in params:

        def stop() -> bool:
            if time.perf_counter() - start > limit:
                stopped.append(True)
                return True
            return False

        kwargs["stop"] = stop
    elif limit:
        print("--build-limit ignored: queue_digests takes no stop()", file=sys.stderr)
    profiler = cProfile.Profile() if profile else None
    if profiler:
        profiler.enable()
    try:
        report = queue_digests(engine, settings, week, **kwargs)
    finally:
        if profiler:
            profiler.disable()
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "report": report,
        "stopped": bool(stopped),
        "profile": profile_text(profiler) if profiler else None,
    }


def digest_figures(engine, week: str) -> dict:
    """What the stored digests hold: rows, groups with a mail, 新着 counts from the subjects."""
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from aggregator.storage.models import GroupRecipientRow, GroupRow, OutboxRow

    with Session(engine) as session:
        rows = session.execute(
            select(OutboxRow.group_id, OutboxRow.subject, OutboxRow.message_id).where(
                OutboxRow.kind == "digest",
                OutboxRow.key.like(f"digest:%:{week}:%"),
            )
        ).all()
        due = session.scalar(
            select(func.count(func.distinct(GroupRow.id)))
            .join(GroupRecipientRow, GroupRecipientRow.group_id == GroupRow.id)
            .where(GroupRow.digest_enabled.is_(True))
        )
    subjects = {group_id: subject for group_id, subject, _ in rows}
    new_counts = []
    for subject in subjects.values():
        match = _NEW_COUNT.search(subject)
        new_counts.append(int(match.group(1)) if match else 0)
    return {
        "due_groups": due,
        "outbox_rows": len(rows),
        "message_ids": {m for _, _, m in rows},
        "digests": len(subjects),
        "digests_without_new": sum(1 for n in new_counts if n == 0),
        "avg_new_per_digest": round(statistics.fmean(new_counts), 1) if new_counts else 0.0,
        "max_new_per_digest": max(new_counts, default=0),
    }


def send(engine, settings, sink: Sink) -> dict:
    """Phase 2: deliver the whole outbox to the counting server, timed."""
    from aggregator.mail import deliver

    start = time.perf_counter()
    report = deliver(engine, settings)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "report": report, "server": sink.stats()}


# -- the run ----------------------------------------------------------------------------------


def run(args: argparse.Namespace, url: str) -> dict:
    from aggregator.settings import Settings
    from aggregator.storage import make_engine
    from bench._digest_data import TODAY, WEEK
    from digest.build import IsoWeek

    t0 = time.perf_counter()
    data = fill(url, args.groups, args.calls, args.seed)
    fill_seconds = time.perf_counter() - t0

    sink = Sink()
    try:
        settings = Settings(
            database_url=url,
            site_url="https://kyodo.example.jp",
            smtp_host="127.0.0.1",
            smtp_port=sink.port,
            mail_from="info@kyodo.example.jp",
            mail_retry_seconds=0,
        )
        engine = make_engine(url)
        try:
            rss_before = peak_rss_mib()
            built = build(
                engine,
                settings,
                IsoWeek.parse(WEEK),
                TODAY,
                limit=args.build_limit,
                profile=args.profile,
            )
            rss_build = peak_rss_mib()
            digests = digest_figures(engine, WEEK)
            sent = send(engine, settings, sink)
        finally:
            engine.dispose()
    finally:
        sink.close()

    report = built["report"]
    processed = digests["digests"] + report.skipped_empty
    build_s = built["seconds"]
    extrapolated = (
        build_s * digests["due_groups"] / processed if built["stopped"] and processed else None
    )
    groups_per_s = processed / build_s if build_s > 0 else 0.0
    server = sent["server"]
    delivery = sent["report"]
    rows = digests["outbox_rows"]
    mails_per_s = delivery.sent / sent["seconds"] if sent["seconds"] > 0 else 0.0
    received_ids = set(server["ids"])
    checks = {
        "received_equals_outbox": server["received"] == rows == delivery.sent,
        "no_duplicate_message_id": server["duplicates"] == 0 and server["without_id"] == 0,
        "received_ids_are_the_outbox_ids": received_ids == digests["message_ids"],
    }
    return {
        "backend": url.split(":", 1)[0].split("+", 1)[0],
        "groups": args.groups,
        "calls": args.calls,
        "data": {k: v for k, v in data.items() if k not in ("groups", "calls")},
        "fill_seconds": round(fill_seconds, 1),
        "due_groups": digests["due_groups"],
        "build_seconds": round(build_s, 2),
        "build_complete": not built["stopped"],
        "build_groups_processed": processed,
        "build_extrapolated_seconds": round(extrapolated, 1) if extrapolated else None,
        "build_profiled": bool(args.profile),
        "groups_per_s": round(groups_per_s, 1),
        "digests": digests["digests"],
        "skipped_empty": report.skipped_empty,
        "groups_without_mail": report.skipped_empty,
        "groups_not_built": digests["due_groups"] - processed,
        "digests_without_new": digests["digests_without_new"],
        "avg_new_per_digest": digests["avg_new_per_digest"],
        "max_new_per_digest": digests["max_new_per_digest"],
        "outbox_rows": rows,
        "peak_rss_before_build_mib": round(rss_before),
        "peak_rss_build_mib": round(rss_build),
        "send_seconds": round(sent["seconds"], 2),
        "sent": delivery.sent,
        "failed": delivery.failed,
        "retry": delivery.retry,
        "mails_per_s": round(mails_per_s, 1),
        "avg_mail_kib": round(server["bytes"] / server["received"] / 1024, 1)
        if server["received"]
        else 0.0,
        "received": server["received"],
        "duplicate_message_ids": server["duplicates"],
        "checks": checks,
        "pass": {
            # The time target is for 10,000 groups; smaller runs are judged by the rate.
            "build": (extrapolated or build_s) <= BUILD_TARGET_S if args.groups >= 10_000 else None,
            "build_rate": groups_per_s >= BUILD_TARGET_RATE,
            "send": mails_per_s >= SEND_TARGET_PER_S,
            "delivery": all(checks.values()),
        },
        "profile": built["profile"],
    }


def table(r: dict) -> str:
    """The figures, their targets and PASS / FAIL."""

    def verdict(ok: bool) -> str:
        return "PASS" if ok else "FAIL"

    rows: list[tuple[str, str, str, str]] = []
    note = "" if r["build_complete"] else " (stopped)"
    if r["build_profiled"]:
        note += " (cProfile)"
    full_size = r["groups"] >= 10_000
    rows.append(
        (
            "build: time" + note,
            f"{r['build_seconds']:,.1f} s",
            f"≤ {BUILD_TARGET_S:.0f} s" if full_size else "",
            verdict(r["pass"]["build"]) if full_size else "",
        )
    )
    if r["build_extrapolated_seconds"]:
        rows.append(("build: extrapolated, all groups", f"{r['build_extrapolated_seconds']:,.1f} s",
                     "", ""))  # fmt: skip
    rows += [
        (
            "build: groups / s",
            f"{r['groups_per_s'] or 0:,.1f}",
            f"≥ {BUILD_TARGET_RATE:.0f}",
            verdict(r["pass"]["build_rate"]),
        ),
        ("build: digests stored", f"{r['digests']:,}", "", ""),
        ("build: outbox rows (mails)", f"{r['outbox_rows']:,}", "", ""),
        ("build: peak RSS", f"{r['peak_rss_build_mib']:,} MiB", "", ""),
        ("send: time", f"{r['send_seconds']:,.1f} s", "", ""),
        (
            "send: mails / s",
            f"{r['mails_per_s']:,.1f}",
            f"≥ {SEND_TARGET_PER_S:.0f}",
            verdict(r["pass"]["send"]),
        ),
        (
            "send: received / outbox rows",
            f"{r['received']:,} / {r['outbox_rows']:,}",
            "equal",
            verdict(r["checks"]["received_equals_outbox"]),
        ),
        (
            "send: duplicate Message-IDs",
            f"{r['duplicate_message_ids']:,}",
            "0",
            verdict(r["checks"]["no_duplicate_message_id"]),
        ),
        ("send: failed / retried", f"{r['failed']:,} / {r['retry']:,}", "", ""),
    ]
    lines = [f"{'figure':<36} {'value':>18}  {'target':<9} result"]
    lines += [f"{a:<36} {b:>18}  {c:<9} {d}".rstrip() for a, b, c, d in rows]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=10_000)
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--profile", action="store_true", help="print the build's cProfile top 25")
    parser.add_argument(
        "--build-limit",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop the build after this long and extrapolate its time",
    )
    parser.add_argument("--json", action="store_true", help="end with the figures as JSON")
    parser.add_argument("--smtp-sink", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.smtp_sink is not None:
        return run_sink(args.smtp_sink)

    from bench._machine import machine_line
    from bench._pg import PostgresCluster, pg_bindir

    with tempfile.TemporaryDirectory() as tmp:
        cluster = None
        if args.database == "postgresql":
            bindir = pg_bindir()
            if bindir is None:
                raise SystemExit("PostgreSQL server binaries not found")
            cluster = PostgresCluster(bindir, Path("/tmp") / f"kyodo-bench-{uuid.uuid4().hex[:6]}")
            cluster.port = free_port()
            cluster.start()
        try:
            url = cluster.create_database() if cluster else f"sqlite:///{Path(tmp) / 'digest.db'}"
            result = run(args, url)
        finally:
            if cluster:
                cluster.stop()

    data = result["data"]
    print(f"machine: {machine_line()}")
    print(
        f"{result['backend']}: {result['groups']:,} groups ({result['due_groups']:,} with digests "
        f"on), {result['calls']:,} calls; data made in {result['fill_seconds']:.1f} s"
    )
    print(
        f"data: calls open {data['status_share']['open']:.0%}, upcoming "
        f"{data['status_share']['upcoming']:.0%}, closed {data['status_share']['closed']:.0%}; "
        f"{data['first_seen_since_last_digest']:,} first seen since last week's digest; "
        f"{data['predicted']:,} predicted; {data['changes_last_week']:,} changes last week"
    )
    print(
        f"digests: {result['digests']:,} stored, {result['groups_without_mail']:,} groups with "
        f"nothing to send, {result['digests_without_new']:,} short (no new calls)"
        + (
            f", {result['groups_not_built']:,} not built (stopped)"
            if result["groups_not_built"]
            else ""
        )
        + "; new calls "
        f"per digest: mean {result['avg_new_per_digest']}, max {result['max_new_per_digest']}; "
        f"mail {result['avg_mail_kib']} KiB on average"
    )
    print(table(result))
    if result["profile"]:
        print(result["profile"])
    if args.json:
        figures = {k: v for k, v in result.items() if k != "profile"}
        print(json.dumps(figures, ensure_ascii=False))
    return 0 if result["pass"]["delivery"] else 1


if __name__ == "__main__":
    sys.exit(main())
