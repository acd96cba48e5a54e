"""Every benchmark in bench/, one after another, and one table of their figures.

Run: python bench/all [--quick] [--out bench/RESULTS.md] [--only NAME ...] [--list]

Runs each benchmark as a subprocess (with `--json` where it has it) at the sizes the README
reports — or, with `--quick`, at small sizes (for CI and the tests: the figures then say
nothing about speed) — and prints one table: benchmark, figure, value, target, PASS / FAIL,
with the machine and the date. The table is also written as Markdown to `--out`.
Targets are those of the README and of each benchmark (load: 0 errors, p95 ≤ 200 ms);
a figure without a target is reported only. A benchmark that exits with an error is a FAIL
row with the end of its output. Exits 1 when any row fails.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench._machine import machine_line  # noqa: E402

Row = tuple[str, str, str, bool | None]  # figure, value, target, passed (None: no target)

# Regression floors (also asserted by tests/test_benchmarks_run.py): a little under the README's
# development-set figures.
ACCURACY_FLOORS = {
    "deadline": 0.97,
    "deadline_kind": 0.97,
    "application_start": 0.95,
    "max_amount_yen": 0.97,
    "total_budget_yen": 0.97,
    "fields": 0.92,
    "area": 0.95,
    "informal_groups_ok": 0.93,
}


@dataclass
class Bench:
    name: str
    full: list[str]
    quick: list[str]
    rows: Callable[[dict, bool], list[Row]]
    whole_stdout: bool = False  # the JSON is all of stdout, not its last line


def last_json(stdout: str, whole: bool) -> dict:
    if whole:
        return json.loads(stdout)
    for line in reversed(stdout.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise ValueError("no JSON line in the output")


def _pct(x: float) -> str:
    return f"{x * 100:.1f}%"


def accuracy_rows(figures: dict, quick: bool, dev: bool) -> list[Row]:
    n = figures["calls"]
    rows: list[Row] = []
    for attr, r in figures["attributes"].items():
        floor = ACCURACY_FLOORS.get(attr) if dev else None
        rows.append(
            (
                attr,
                _pct(r["accuracy"]),
                f"≥ {_pct(floor)}" if floor else "",
                r["accuracy"] >= floor if floor else None,
            )
        )
    rows.append((f"all attributes right ({n} calls)", _pct(figures["all_correct"] / n), "", None))
    return rows


def normalize_speed_rows(f: dict, quick: bool) -> list[Row]:
    rows: list[Row] = [
        (
            f"normalize_call ({f['calls']:,} calls)",
            f"{f['normalize_call_per_s']:,} calls/s",
            "",
            None,
        )
    ]
    if "cli_per_s" in f:
        rows.append(
            ("kyodo normalize (JSON lines, process start)", f"{f['cli_per_s']:,} calls/s", "", None)
        )
    return rows


def dedupe_rows(f: dict, quick: bool) -> list[Row]:
    lab = f["labelled"]
    rows: list[Row] = [
        (
            "labelled pairs: precision",
            f"{lab['precision']:.3f}",
            "≥ 0.980",
            lab["precision"] >= 0.98,
        ),
        ("labelled pairs: recall", f"{lab['recall']:.3f}", "≥ 0.900", lab["recall"] >= 0.90),
        ("all implied pairs: F1", f"{f['all_pairs']['f1']:.3f}", "", None),
    ]
    if "speed" in f:
        s = f["speed"]
        rows.append(
            (
                f"Matcher.add at {s['index_calls']:,} calls",
                f"{s['add_us_at_full_index']} µs",
                "",
                None,
            )
        )
    return rows


def ingest_rows(f: dict, quick: bool) -> list[Row]:
    n = f["listings"]
    full = n >= 100_000  # the README's targets are for 100,000 listings
    return [
        (
            f"first ingest ({n:,} listings)",
            f"{f['first_seconds']} s ({n / f['first_seconds']:,.0f}/s)",
            "≤ 120 s" if full else "",
            f["first_seconds"] <= 120 if full else None,
        ),
        (
            "same listings again (unchanged)",
            f"{f['rerun_seconds']} s",
            "≤ 30 s" if full else "",
            f["rerun_seconds"] <= 30 if full else None,
        ),
        ("peak memory (RSS)", f"{f['peak_rss_mib']} MiB", "≤ 1024 MiB", f["peak_rss_mib"] <= 1024),
        (
            f"predicted rounds after it ({f['programs']:,} programs)",
            f"{f['predict_seconds']} s ({f['predicted']:,} predicted)",
            "",
            None,
        ),
    ]


def crawl_rows(f: dict, quick: bool) -> list[Row]:
    every = f["requests_served"] == f["pages_in_site"] + 1  # every page once, and robots.txt
    return [
        (f"{f['pages_in_site']:,} pages: wall time", f"{f['seconds']} s", "", None),
        ("listings / s", f"{f['listings_per_second']}", "", None),
        (
            "pages served / pages in the site",
            f"{f['requests_served']:,} / {f['pages_in_site']:,}",
            "each once (+ robots.txt)",
            every,
        ),
    ]


def search_rows(f: dict, quick: bool) -> list[Row]:
    sqlite = f["backend"] == "sqlite"
    target = sqlite and not quick  # p95 ≤ 50 ms on SQLite at 100,000 calls
    return [
        (f"{f['requests']} searches, {f['calls']:,} calls: p50", f"{f['p50_ms']} ms", "", None),
        (
            "p95",
            f"{f['p95_ms']} ms",
            "≤ 50 ms" if target else "",
            f["p95_ms"] <= 50 if target else None,
        ),
        ("p99", f"{f['p99_ms']} ms", "", None),
    ]


def digest_rows(f: dict, quick: bool) -> list[Row]:
    p = f["pass"]
    rows: list[Row] = [
        (
            f"build: {f['groups']:,} groups, {f['calls']:,} calls",
            f"{f['build_seconds']} s",
            "≤ 60 s" if p["build"] is not None else "",
            p["build"],
        ),
        (
            "build: groups / s",
            f"{f['groups_per_s']}",
            "≥ 167 (60 s for 10,000)" if not quick else "",
            p["build_rate"] if not quick else None,
        ),
        (
            "send: mails / s",
            f"{f['mails_per_s']}",
            "≥ 100" if not quick else "",
            p["send"] if not quick else None,
        ),
        (
            "send: received / outbox rows",
            f"{f['received']:,} / {f['outbox_rows']:,}",
            "equal",
            f["checks"]["received_equals_outbox"],
        ),
        (
            "send: duplicate Message-IDs",
            str(f["duplicate_message_ids"]),
            "0",
            f["checks"]["no_duplicate_message_id"],
        ),
    ]
    return rows


def load_rows(f: dict, quick: bool) -> list[Row]:
    o = f["overall"]
    rate = f.get("writer", {}).get("rate_limit_per_s", 0)
    stress = f["with_writer"] and not rate  # an unthrottled writer: figures, no target
    pace = f" at ≤ {rate:g} listings/s" if rate else " (unthrottled)"
    title = (
        f"{f['users']} users, {f['seconds']} s, {f['calls']:,} calls, "
        f"{'with writer' + pace if f['with_writer'] else 'no writer'}"
    )
    rows: list[Row] = [
        (f"{title}: requests / s", f"{o['rps']}", "", None),
        ("load average before the run", f["loadavg_before"], "", None),
    ]
    for name, fig in [("all", o), *f["by_endpoint"].items()]:
        rows.append((f"{name}: errors", str(fig["errors"]), "0", fig["errors"] == 0))
        p95 = fig.get("p95_ms")
        rows.append(
            (
                f"{name}: p50 / p95 / p99",
                f"{fig.get('p50_ms')} / {p95} / {fig.get('p99_ms')} ms",
                "" if stress else "p95 ≤ 200 ms",
                None if stress else p95 is not None and p95 <= 200,
            )
        )
    if "writer" in f:
        w = f["writer"]
        rows.append(
            (
                "writer (kyodo ingest): listings written during the load / errors",
                f"{w['listings_written_during_load']:,} / {len(w['errors'])}",
                "> 0 / 0",
                w["listings_written_during_load"] > 0 and not w["errors"],
            )
        )
    return rows


LOAD_FULL = ["--calls", "100000", "--users", "50", "--seconds", "60", "--with-writer", "--json"]
LOAD_QUICK = ["--calls", "2000", "--users", "5", "--seconds", "5", "--with-writer", "--json"]

BENCHES = [
    Bench(
        "normalize_accuracy dev",
        ["--set", "dev", "--json"],
        ["--set", "dev", "--json"],
        lambda f, q: accuracy_rows(f, q, dev=True),
        whole_stdout=True,
    ),
    Bench(
        "normalize_accuracy heldout",
        ["--set", "heldout", "--json"],
        ["--set", "heldout", "--json"],
        lambda f, q: accuracy_rows(f, q, dev=False),
        whole_stdout=True,
    ),
    Bench(
        "normalize_speed",
        ["--calls", "100000", "--cli", "--json"],
        ["--calls", "2000", "--cli", "--json"],
        normalize_speed_rows,
    ),
    Bench(
        "dedupe_accuracy",
        ["--json", "--speed", "100000"],
        ["--json"],
        dedupe_rows,
        whole_stdout=True,
    ),
    Bench(
        "ingest_speed",
        ["--listings", "100000", "--json"],
        ["--listings", "2000", "--json"],
        ingest_rows,
    ),
    Bench("crawl_speed", ["--pages", "2000"], ["--pages", "200"], crawl_rows),
    Bench(
        "search_latency sqlite",
        ["--calls", "100000", "--repeat", "5", "--json"],
        ["--calls", "2000", "--repeat", "1", "--json"],
        search_rows,
    ),
    Bench(
        "search_latency postgresql",
        ["--calls", "100000", "--repeat", "5", "--postgres", "--json"],
        ["--calls", "2000", "--repeat", "1", "--postgres", "--json"],
        search_rows,
    ),
    Bench(
        "digest_speed sqlite",
        ["--groups", "10000", "--calls", "100000", "--json"],
        ["--groups", "30", "--calls", "300", "--json"],
        digest_rows,
    ),
    Bench(
        "digest_speed postgresql",
        ["--groups", "10000", "--calls", "100000", "--database", "postgresql", "--json"],
        ["--groups", "30", "--calls", "300", "--database", "postgresql", "--json"],
        digest_rows,
    ),
    Bench(
        "load sqlite",
        ["--database", "sqlite", *LOAD_FULL],
        ["--database", "sqlite", *LOAD_QUICK],
        load_rows,
    ),
    Bench(
        "load postgresql",
        ["--database", "postgresql", *LOAD_FULL],
        ["--database", "postgresql", *LOAD_QUICK],
        load_rows,
    ),
    # Stress: the writer as fast as the ingest reads (it then takes a core of the two).
    Bench(
        "load sqlite stress",
        ["--database", "sqlite", *LOAD_FULL, "--writer-rate", "0"],
        ["--database", "sqlite", *LOAD_QUICK, "--writer-rate", "0"],
        load_rows,
    ),
    Bench(
        "load postgresql stress",
        ["--database", "postgresql", *LOAD_FULL, "--writer-rate", "0"],
        ["--database", "postgresql", *LOAD_QUICK, "--writer-rate", "0"],
        load_rows,
    ),
]


def program(bench: Bench) -> str:
    return "bench/" + bench.name.split()[0]


def run(bench: Bench, quick: bool) -> tuple[list[Row], float, str]:
    args = bench.quick if quick else bench.full
    command = [sys.executable, program(bench), *args]
    started = time.perf_counter()
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    shown = " ".join(["python", program(bench), *args])
    try:
        figures = last_json(proc.stdout, bench.whole_stdout)
        rows = bench.rows(figures, quick)
    except (ValueError, KeyError, TypeError) as exc:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return (
            [(f"exit {proc.returncode}: {exc}", " / ".join(tail)[:300], "runs", False)],
            seconds,
            shown,
        )
    if proc.returncode != 0:
        rows.append(("exit status", str(proc.returncode), "0", False))
    return rows, seconds, shown


def verdict(passed: bool | None) -> str:
    return "" if passed is None else ("PASS" if passed else "FAIL")


def markdown(results: list, header: list[str]) -> str:
    lines = [
        *header,
        "",
        "| benchmark | figure | value | target | result |",
        "|---|---|---|---|---|",
    ]
    for bench, rows, seconds, _shown in results:
        for i, (figure, value, target, passed) in enumerate(rows):
            name = f"{bench.name} ({seconds:.0f} s)" if i == 0 else ""
            cells = [name, figure, value, target, verdict(passed)]
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    lines += ["", "Commands (from the repository root):", ""]
    lines += [f"- `{shown}`" for _b, _r, _s, shown in results]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (CI, tests)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "RESULTS.md"), help="Markdown file")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help="run only this benchmark (repeatable; see --list)",
    )
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args()
    if args.list:
        for bench in BENCHES:
            print(f"{bench.name:<28} python {program(bench)} {' '.join(bench.full)}")
        return 0
    chosen = [b for b in BENCHES if not args.only or b.name in args.only]
    unknown = set(args.only) - {b.name for b in BENCHES}
    if unknown:
        parser.error(f"unknown benchmark {', '.join(sorted(unknown))}; see --list")

    started = datetime.now().astimezone()
    loadavg = Path("/proc/loadavg")
    load_before = " ".join(loadavg.read_text().split()[:3]) if loadavg.exists() else "-"
    results = []
    for bench in chosen:
        print(f"running {bench.name} …", file=sys.stderr, flush=True)
        rows, seconds, shown = run(bench, args.quick)
        results.append((bench, rows, seconds, shown))
    header = [
        "# Benchmark results" + (" (quick sizes: not speed figures)" if args.quick else ""),
        "",
        f"Machine: {machine_line()}  ",
        f"Date: {started:%Y-%m-%d %H:%M %Z}; load average before: {load_before}  ",
        f"Command: `{shlex.join(['python', 'bench/all', *sys.argv[1:]])}` "
        f"({sum(s for _b, _r, s, _c in results) / 60:.1f} min)",
    ]
    text = markdown(results, header)
    Path(args.out).write_text(text, encoding="utf-8")

    print(f"machine: {machine_line()}")
    print(f"date: {started:%Y-%m-%d %H:%M %Z}")
    width = max(len(r[0]) for _b, rows, _s, _c in results for r in rows)
    print(f"{'benchmark':<28} {'figure':<{width}}  {'value':<28} {'target':<16} result")
    for bench, rows, _seconds, _shown in results:
        for i, (figure, value, target, passed) in enumerate(rows):
            name = bench.name if i == 0 else ""
            print(f"{name:<28} {figure:<{width}}  {value:<28} {target:<16} {verdict(passed)}")
    print(f"written to {args.out}")
    failed = any(p is False for _b, rows, _s, _c in results for *_x, p in rows)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
