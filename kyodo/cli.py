"""`kyodo`: the command line. Help in English; messages meant for centre staff in Japanese."""

from __future__ import annotations

import json
import sys
from datetime import date, datetime
from typing import IO
from zoneinfo import ZoneInfo

import click
from pydantic import ValidationError

from aggregator.stopping import graceful_stop
from kyodo import __version__

EXIT_STOPPED = 75  # EX_TEMPFAIL: stopped by a signal; running again finishes the work


def _settings():
    from aggregator.settings import Settings

    try:
        return Settings()
    except ValidationError as exc:
        errors = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise click.ClickException(f"設定が正しくありません (invalid settings): {errors}") from exc


def _today(settings) -> date:
    return datetime.now(ZoneInfo(settings.timezone)).date()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kyodo")
def main() -> None:
    """kyodo (協働): grant and corporate-donation information for citizen groups.

    Settings come from KYODO_* environment variables (KYODO_DATABASE_URL, ...).
    """


# --- kyodo db ---------------------------------------------------------------------------


@main.group()
def db() -> None:
    """Create, upgrade and inspect the database at KYODO_DATABASE_URL."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Alembic revision to reach.")
def db_upgrade(revision: str) -> None:
    """Create the database or upgrade it to the latest schema."""
    from sqlalchemy.exc import SQLAlchemyError

    from aggregator.storage.db import current_revision, upgrade_database

    settings = _settings()
    url = settings.database_url
    try:
        before = current_revision(url)
        upgrade_database(url, revision)
        after = current_revision(url)
    except (SQLAlchemyError, FileNotFoundError, OSError) as exc:
        raise click.ClickException(
            f"データベースを更新できませんでした (could not upgrade the database): {exc}"
        ) from exc
    shown = _safe_url(url)
    if before == after:
        click.echo(f"データベースは最新です: {shown} (revision {after})")
    else:
        click.echo(f"データベースを更新しました: {shown} ({before or '新規'} → {after})")


@db.command("current")
def db_current() -> None:
    """Print the schema revision of the database and the latest one kyodo knows."""
    from aggregator.storage.db import current_revision, head_revision

    settings = _settings()
    current = current_revision(settings.database_url)
    head = head_revision()
    click.echo(f"database: {_safe_url(settings.database_url)}")
    click.echo(f"current:  {current or '(none: run kyodo db upgrade)'}")
    click.echo(f"head:     {head}")
    if current != head:
        sys.exit(1)


# Tables whose rows `db backup` and `db restore` count, so a copy can be compared with its source.
_COUNTED_TABLES = ("calls", "listings", "users", "groups", "outbox", "source_runs")
_SQLITE_MAGIC, _PG_DUMP_MAGIC = b"SQLite format 3\x00", b"PGDMP"


@db.command("backup")
@click.argument("target", type=click.Path())
@click.option(
    "--keep",
    type=click.IntRange(min=1),
    default=None,
    help="With a folder as TARGET: then delete all but the newest N kyodo-* backups in it.",
)
def db_backup(target: str, keep: int | None) -> None:
    """Back up the database at KYODO_DATABASE_URL to TARGET, while kyodo keeps running.

    TARGET is a new file, or a folder that gets kyodo-YYYYMMDD-HHMMSS.db (SQLite: SQLite's
    backup API in one read transaction, then integrity_check) or .dump (PostgreSQL: pg_dump's
    custom format, which needs pg_dump on this host). The file is readable by its owner only.
    Prints the row counts of what was copied; `kyodo db restore` prints the same.
    """
    import os
    from pathlib import Path

    from sqlalchemy.exc import SQLAlchemyError

    settings = _settings()
    url = settings.database_url
    postgres = _is_postgres(url)
    folder = Path(target) if Path(target).is_dir() else None
    if folder is None and keep is not None:
        raise click.UsageError("--keep はフォルダを指定したときに使えます (--keep needs a folder)")
    path = Path(target)
    if folder is not None:
        stamp = datetime.now(ZoneInfo(settings.timezone)).strftime("%Y%m%d-%H%M%S")
        suffix = "dump" if postgres else "db"
        path, number = folder / f"kyodo-{stamp}.{suffix}", 1
        while path.exists():  # two backups within one second
            number += 1
            path = folder / f"kyodo-{stamp}-{number}.{suffix}"
    if path.exists():
        raise click.ClickException(f"既にあります。上書きはしません (exists): {path}")
    part = path.with_name(f".{path.name}.part")
    try:
        os.close(os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
        os.chmod(part, 0o600)  # personal data: addresses, password hashes
        if postgres:
            counts = _pg_dump(url, part)
        else:
            _sqlite_copy(_sqlite_file(url), part)
            counts = _row_counts(f"sqlite:///{part}")
        os.replace(part, path)
    except BaseException as exc:
        part.unlink(missing_ok=True)
        if isinstance(exc, OSError | SQLAlchemyError):
            message = f"バックアップできませんでした (backup failed): {exc}"
            raise click.ClickException(message) from exc
        raise
    size = path.stat().st_size / 1e6
    click.echo(f"バックアップしました: {path} ({size:.1f} MB)")
    click.echo(_counts_line(counts))
    if folder is not None and keep is not None:
        # Only the files named by this command (kyodo-2026…), oldest first.
        backups = [*folder.glob("kyodo-[0-9]*.db"), *folder.glob("kyodo-[0-9]*.dump")]
        for old in sorted(backups, key=lambda p: (p.stat().st_mtime, p.name))[:-keep]:
            old.unlink()
            click.echo(f"古いバックアップを削除しました: {old}")


@db.command("restore")
@click.argument("backup", type=click.Path(exists=True, dir_okay=False))
def db_restore(backup: str) -> None:
    """Restore BACKUP (made by `kyodo db backup`) into a new database at KYODO_DATABASE_URL.

    SQLite: the file must not exist yet. PostgreSQL: the database must exist and be empty
    (createdb); tables are owned by the user in the URL. Nothing existing is overwritten.
    Prints the schema revision and the row counts, to compare with the backup's.
    """
    import os
    from pathlib import Path

    from sqlalchemy.exc import SQLAlchemyError

    from aggregator.storage.db import current_revision, head_revision

    settings = _settings()
    url = settings.database_url
    source = Path(backup)
    with source.open("rb") as fh:
        magic = fh.read(len(_SQLITE_MAGIC))
    try:
        if _is_postgres(url):
            if not magic.startswith(_PG_DUMP_MAGIC):
                raise click.ClickException(
                    "PostgreSQL のバックアップ（.dump）ではありません "
                    f"(not a pg_dump file): {source}"
                )
            _pg_restore(url, source)
        else:
            if magic != _SQLITE_MAGIC:
                raise click.ClickException(
                    f"SQLite のバックアップ（.db）ではありません (not an SQLite file): {source}"
                )
            path = _sqlite_file(url)
            for existing in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                if existing.exists():
                    raise click.ClickException(
                        f"既にあります。上書きはしません。別の場所へ移してから実行してください "
                        f"(exists, not overwritten): {existing}"
                    )
            part = path.with_name(f".{path.name}.part")
            try:
                os.close(os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
                _sqlite_copy(source, part)
                os.replace(part, path)
            finally:
                part.unlink(missing_ok=True)
        revision, head = current_revision(url), head_revision()
        counts = _row_counts(url)
    except (OSError, SQLAlchemyError) as exc:
        raise click.ClickException(f"復元できませんでした (restore failed): {exc}") from exc
    click.echo(f"復元しました: {source} → {_safe_url(url)} (revision {revision})")
    click.echo(_counts_line(counts))
    if revision != head:
        click.echo(
            f"スキーマが古い版です（{revision}、最新は {head}）。"
            "kyodo db upgrade を実行してください"
        )


def _is_postgres(url: str) -> bool:
    from sqlalchemy.engine import make_url

    return make_url(url).get_backend_name() == "postgresql"


def _sqlite_file(url: str):
    from pathlib import Path

    from sqlalchemy.engine import make_url

    database = make_url(url).database
    if not database or database == ":memory:":
        raise click.ClickException(f"SQLite のファイルの URL ではありません: {url}")
    return Path(database).expanduser().resolve()


def _sqlite_copy(source, dest) -> None:
    """`source` copied into the empty file `dest` as one snapshot, then checked."""
    import sqlite3

    if not source.is_file():
        raise click.ClickException(f"データベースのファイルがありません (no such file): {source}")
    src, dst = sqlite3.connect(source, timeout=10), sqlite3.connect(dest)
    try:
        # pages=-1: the whole file in one step, so in one read transaction, which in WAL mode
        # never blocks writers (a step-by-step copy restarts whenever another process writes).
        src.backup(dst, pages=-1)
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
        problems = [row[0] for row in dst.execute("PRAGMA integrity_check")]
        if problems != ["ok"]:
            raise click.ClickException(f"コピーが壊れています (integrity_check): {problems[:5]}")
    except sqlite3.Error as exc:
        raise click.ClickException(f"SQLite のエラー (sqlite error): {exc}") from exc
    finally:
        dst.close()
        src.close()


def _pg_client(url: str) -> tuple[dict, str, dict[str, str]]:
    """psycopg's connection arguments, a libpq conninfo without the password for pg_dump and
    pg_restore, and their environment (the password in PGPASSWORD, off the command line)."""
    import os

    from psycopg.conninfo import make_conninfo
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    _, params = parsed.get_dialect()().create_connect_args(parsed)
    params = {k: str(v) for k, v in params.items() if k != "context" and v is not None}
    conninfo = make_conninfo(**{k: v for k, v in params.items() if k != "password"})
    env = dict(os.environ)
    if "password" in params:
        env["PGPASSWORD"] = params["password"]
    return params, conninfo, env


def _pg_tool(name: str, args: list[str], env: dict[str, str]) -> None:
    import shutil
    import subprocess

    program = shutil.which(name)
    if program is None:
        raise click.ClickException(
            f"{name} がありません。postgresql-client（サーバーと同じか新しい版）を入れてください "
            f"({name} not found: install postgresql-client)"
        )
    done = subprocess.run([program, *args], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise click.ClickException(f"{name} が失敗しました (failed): {done.stderr.strip()}")


def _pg_dump(url: str, dest) -> dict[str, int]:
    """pg_dump into `dest`; the row counts are read in the very snapshot pg_dump copies."""
    import psycopg

    connect, conninfo, env = _pg_client(url)
    try:
        with psycopg.connect(**connect) as conn:
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            conn.read_only = True
            snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
            names = {
                row[0]
                for row in conn.execute(
                    "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
                )
            }
            counts = {
                name: conn.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
                for name in _COUNTED_TABLES
                if name in names
            }
            dump = ["--format=custom", f"--snapshot={snapshot}", f"--file={dest}"]
            _pg_tool("pg_dump", [*dump, f"--dbname={conninfo}"], env)
    except psycopg.Error as exc:
        raise click.ClickException(f"データベースのエラー (database error): {exc}") from exc
    _pg_tool("pg_restore", ["--list", str(dest)], env)  # the archive reads back
    return counts


def _pg_restore(url: str, source) -> None:
    _, conninfo, env = _pg_client(url)
    if _table_names(url):
        raise click.ClickException(
            "復元先のデータベースにテーブルがあります。上書きはしません。createdb で作った空の"
            f"データベースを指定してください (not empty): {_safe_url(url)}"
        )
    # --no-owner: tables belong to the user in the URL; --no-comments: pg_trgm's comment
    # belongs to whoever created the extension, and kyodo's tables have none.
    restore = ["--no-owner", "--no-comments", "--exit-on-error", "--single-transaction"]
    _pg_tool("pg_restore", [*restore, f"--dbname={conninfo}", str(source)], env)


def _table_names(url: str) -> set[str]:
    from sqlalchemy import create_engine, inspect

    engine = create_engine(url)  # not make_engine: no pragmas written into a fresh copy
    try:
        with engine.connect() as conn:
            return set(inspect(conn).get_table_names())
    finally:
        engine.dispose()


def _row_counts(url: str) -> dict[str, int]:
    """Rows of the tables `db backup` and `db restore` report."""
    from sqlalchemy import create_engine, func, select, table

    names = _table_names(url)
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                name: conn.scalar(select(func.count()).select_from(table(name)))
                for name in _COUNTED_TABLES
                if name in names
            }
    finally:
        engine.dispose()


def _counts_line(counts: dict[str, int]) -> str:
    return "件数: " + " / ".join(f"{name} {count}" for name, count in counts.items())


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


# --- kyodo normalize --------------------------------------------------------------------


@main.command()
@click.option(
    "--today",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Date used to decide open/closed status (default: today in KYODO_TIMEZONE).",
)
@click.argument("input_file", type=click.File("rb"), default="-")
def normalize(today: datetime | None, input_file: IO[bytes]) -> None:
    """Normalize raw calls: JSON lines in (INPUT_FILE or standard input), JSON lines out.

    Each input line: {"id", "title", "text", "url"?, "published"? (YYYY-MM-DD), "organizer"?,
    "source"?}. Each output line: the normalized call with deadline, amounts, fields, area,
    eligibility and the evidence for each. Bad lines are reported on standard error with
    their line number; the others are still processed; exit status 1 if any line was bad.
    """

    settings = _settings()
    ref_today = today.date() if today else _today(settings)
    out = sys.stdout
    reader = _CallReader(input_file, ref_today)
    for _number, _raw, call in reader:
        out.write(call.contract_json())
        out.write("\n")
    out.flush()
    reader.finish()


# --- kyodo dedupe -----------------------------------------------------------------------


@main.command()
@click.option(
    "--today",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Date used to read yearless dates in texts without a year (default: today).",
)
@click.argument("input_file", type=click.File("rb"), default="-")
def dedupe(today: datetime | None, input_file: IO[bytes]) -> None:
    """Group raw calls that describe the same call: JSON lines in, {"id", "cluster"} out.

    Reads the same lines as `kyodo normalize` (INPUT_FILE or standard input) and writes one
    line per good input line, in order; lines of the same call share a cluster value. Uses no
    database and changes nothing. Bad lines are reported on standard error with their line
    number; exit status 1 if any line was bad.
    """
    from aggregator.dedupe import cluster_calls

    settings = _settings()
    ref_today = today.date() if today else _today(settings)
    reader = _CallReader(input_file, ref_today)
    records = []
    for number, raw, call in reader:
        # Keys are line numbers: ids need not be unique across sources.
        records.append((f"{number:09d}", raw.id, call))
    clusters = cluster_calls([(key, call) for key, _, call in records])
    names: dict[str, str] = {}
    for key, item_id, _ in records:
        # The cluster is named after the id of its first line, so output is readable.
        names.setdefault(clusters[key], item_id)
        click.echo(json.dumps({"id": item_id, "cluster": names[clusters[key]]}, ensure_ascii=False))
    reader.finish()


# --- kyodo ingest -----------------------------------------------------------------------


@main.command()
@click.option(
    "--complete",
    is_flag=True,
    help="Each source in the file is fully listed there: its stored listings missing from "
    "the file are marked 'no longer listed' (never deleted). A source with no listing in "
    "the file is left as it is.",
)
@click.option(
    "--today",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Date used to decide open/closed status (default: today in KYODO_TIMEZONE).",
)
@click.argument("input_file", type=click.File("rb"))
def ingest(complete: bool, today: datetime | None, input_file: IO[bytes]) -> None:
    """Ingest listings (JSON lines, FILE or - for standard input) into the database.

    Each line is a raw call as `kyodo normalize` reads it, with `source` and an `id` or `url`.
    Prints counts of inserted / updated / unchanged / rejected listings. Rejected listings are
    kept in the database with their reason; exit status 1 if any was rejected.
    """
    from sqlalchemy.exc import SQLAlchemyError

    from aggregator.ingest import Ingestor, read_jsonl
    from aggregator.programs import predict_upcoming

    settings = _settings()
    ref_today = today.date() if today else _today(settings)
    engine = _upgraded_engine(settings)
    try:
        try:
            report = Ingestor(engine, today=ref_today).ingest(
                read_jsonl(input_file), complete=complete
            )
            predicted = predict_upcoming(engine, today=ref_today)
            _refresh_statuses(engine, ref_today)
        finally:
            engine.dispose()
    except SQLAlchemyError as exc:
        raise click.ClickException(f"データベースのエラー (database error): {exc}") from exc
    for number, reason in report.rejections[:50]:
        click.echo(f"{number}件目: {reason}", err=True)
    if len(report.rejections) > 50:
        click.echo(f"… ほか {len(report.rejections) - 50} 件", err=True)
    counts = report.as_dict()
    click.echo(
        f"新規 {counts['inserted']} 件、更新 {counts['updated']} 件、"
        f"変更なし {counts['unchanged']} 件、"
        f"不採用 {counts['rejected']} 件、掲載終了 {counts['no_longer_listed']} 件"
        f"(新しい公募 {counts['calls_created']} 件、例年の時期から予測した募集予定 {predicted} 件)"
    )
    click.echo(json.dumps(counts))
    if report.rejected:
        sys.exit(1)


# --- kyodo crawl / sources / mirror -------------------------------------------------------


@main.command()
@click.argument("sources", nargs=-1)
@click.option("--all", "all_sources", is_flag=True, help="Crawl every source.")
@click.option(
    "--base-url",
    default=None,
    metavar="URL",
    help="Send every request to this mirror (same paths as the real sites; the real host goes "
    "in X-Forwarded-Host). For tests, demos and proxies.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True, allow_dash=True),
    default=None,
    help="Write the raw listings to this JSON-lines file (- for standard output) instead of "
    "ingesting them into the database.",
)
@click.option(
    "--today",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Date used to decide open/closed status when ingesting (default: today).",
)
@click.option("-v", "--verbose", is_flag=True, help="Show Scrapy's log (INFO) on stderr.")
def crawl(
    sources: tuple[str, ...],
    all_sources: bool,
    base_url: str | None,
    output: str | None,
    today: datetime | None,
    verbose: bool,
) -> None:
    """Crawl SOURCES (or --all) and ingest their listings into the database.

    Prints progress and, at the end, a summary per source on standard error; source health is
    stored and shown by `kyodo sources`. Exit status 1 if a source failed (no listings because
    of errors); the other sources are still ingested, and stored calls are never erased. Stopped
    by SIGTERM or Ctrl-C: what was read is ingested, nothing is marked no longer listed, and the
    exit status is 75 (running again completes the crawl).
    """
    from urllib.parse import urlsplit

    from spiders.run import crawl as run_crawl
    from spiders.run import crawler_settings

    settings = _settings()
    if base_url:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise click.BadParameter(
                f"http:// か https:// で始まる URL を指定してください (not an http(s) URL: "
                f"{base_url})",
                param_hint="--base-url",
            )
    specs = _spider_specs(settings)
    if all_sources == bool(sources):
        raise click.UsageError(
            "情報源の名前か --all のどちらかを指定してください (give SOURCE names or --all). "
            f"情報源: {', '.join(specs)}"
        )
    names = list(specs) if all_sources else list(dict.fromkeys(sources))
    unknown = [n for n in names if n not in specs]
    if unknown:
        raise click.UsageError(
            f"知らない情報源です (unknown source): {', '.join(unknown)}. 情報源: {', '.join(specs)}"
        )
    # Writing to a file, health is still stored when the database is there.
    engine = _upgraded_engine(settings) if output is None else _engine_if_upgraded(settings)
    ref_today = today.date() if today else _today(settings)
    scrapy_settings = crawler_settings(
        settings, base_url=base_url, log_level="INFO" if verbose else "CRITICAL"
    )
    results = run_crawl([specs[n] for n in names], scrapy_settings)

    if output is not None:
        _write_listings(output, [item for _, items in results for item in items])
    try:
        _store_crawl(engine, results, ingest=output is None, today=ref_today)
    finally:
        if engine is not None:
            engine.dispose()
    _print_summary(results, ingested=output is None)
    if any("stopped" in run.errors for run, _ in results):
        sys.exit(EXIT_STOPPED)
    if any(run.assess() == "failed" for run, _ in results):
        sys.exit(1)


def _spider_specs(settings):
    from spiders.run import available_spiders

    errors: list[Exception] = []
    specs = available_spiders(settings, config_errors=errors)
    for error in errors:
        click.echo(f"設定ファイルを読めないため、この情報源は除きます: {error}", err=True)
    return specs


def _upgraded_engine(settings):
    from sqlalchemy.exc import SQLAlchemyError

    from aggregator.storage.db import current_revision, head_revision, make_engine

    try:
        if current_revision(settings.database_url) != head_revision():
            raise click.ClickException(
                "データベースが最新ではありません。先に kyodo db upgrade を実行してください "
                "(database schema is not up to date: run kyodo db upgrade)"
            )
    except SQLAlchemyError as exc:
        raise click.ClickException(f"データベースのエラー (database error): {exc}") from exc
    return make_engine(settings.database_url)


def _engine_if_upgraded(settings):
    try:
        return _upgraded_engine(settings)
    except click.ClickException:
        click.echo(
            "データベースがないため、収集結果の記録（kyodo sources）は保存しません "
            "(no up-to-date database: source health not stored)",
            err=True,
        )
        return None


def _refresh_statuses(engine, today: date) -> None:
    """Stored statuses as of `today` (deadlines passed, starts reached), as searches expect;
    and the change journal of the web processes' search index kept to its last day."""
    from sqlalchemy.orm import Session

    from aggregator.search import refresh_statuses
    from aggregator.searchindex import prune_journal

    with Session(engine) as session:
        refresh_statuses(session, today)
    with Session(engine) as session, session.begin():
        prune_journal(session)


def _write_listings(output: str, items: list[dict]) -> None:
    import os

    lines = "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items)
    if output == "-":
        sys.stdout.write(lines)
        return
    tmp = f"{output}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(lines)
    os.replace(tmp, output)


def _store_crawl(engine, results, *, ingest: bool, today: date) -> None:
    """Ingests each source's listings (when asked) and stores each source's health."""
    from sqlalchemy.exc import SQLAlchemyError

    from aggregator.health import store_run
    from aggregator.ingest import Ingestor
    from aggregator.programs import predict_upcoming

    if engine is None:
        return
    ingestor = Ingestor(engine, today=today) if ingest else None
    for run, items in results:
        run.target = "database" if ingest else "file"
        try:
            if ingestor is not None and items:
                report = ingestor.ingest(items, complete=run.complete())
                run.ingest = report.as_dict()
            store_run(engine, run)
        except SQLAlchemyError as exc:
            click.echo(
                f"{run.source}: データベースに保存できませんでした (database error): {exc}",
                err=True,
            )
            run.errors["database"] = run.errors.get("database", 0) + 1
    if ingestor is not None:
        try:
            predict_upcoming(engine, today=today)
            _refresh_statuses(engine, today)
        except SQLAlchemyError as exc:
            click.echo(f"募集予定の予測に失敗しました (prediction failed): {exc}", err=True)


_OUTCOME_MARKS = {"ok": "OK", "warning": "注意", "failed": "失敗"}


def _errors_text(errors: dict[str, int]) -> str:
    from aggregator.health import error_label

    return "、".join(f"{error_label(k)} {n}件" for k, n in sorted(errors.items()))


def _print_summary(results, *, ingested: bool) -> None:
    header = f"{'情報源':<16}{'ページ':>6}{'募集':>6}{'一部':>5}{'秒':>7}  結果"
    click.echo(header, err=True)
    for run, _ in results:
        mark = _OUTCOME_MARKS[run.assess()]
        click.echo(
            f"{run.source:<16}{run.pages:>8}{run.listings:>8}{run.partial:>6}"
            f"{run.duration_s:>8.1f}  {mark}",
            err=True,
        )
        if run.errors:
            errors = _errors_text(run.errors)
            click.echo(f"    エラー: {errors}", err=True)
        for warning in run.warnings:
            click.echo(f"    ⚠ {warning}", err=True)
        if ingested and run.ingest:
            c = run.ingest
            click.echo(
                f"    新規 {c['inserted']} 件、更新 {c['updated']} 件、"
                f"変更なし {c['unchanged']} 件、不採用 {c['rejected']} 件、"
                f"掲載終了 {c['no_longer_listed']} 件",
                err=True,
            )


@main.command("sources")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def sources_command(as_json: bool) -> None:
    """List the sources with their kind, terms and the health of their last crawl."""
    from aggregator.health import latest_runs, run_dict
    from aggregator.sources import SOURCE_KIND_LABELS, SOURCES, TERMS_LABELS

    settings = _settings()
    specs = _spider_specs(settings)
    engine = _engine_if_upgraded(settings)
    runs = {}
    if engine is not None:
        try:
            runs = latest_runs(engine)
        finally:
            engine.dispose()
    tz = ZoneInfo(settings.timezone)
    rows = []
    for name in specs:
        source = SOURCES.get(name)
        run = runs.get(name)
        rows.append(
            {
                "name": name,
                "label": source.label if source else name,
                "kind": source.kind.value if source else None,
                "terms": source.terms.value if source else None,
                "site": source.site if source else None,
                "last_run": run_dict(run) if run else None,
            }
        )
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for row in rows:
        source = SOURCES.get(row["name"])
        kind = SOURCE_KIND_LABELS[source.kind] if source else "-"
        terms = TERMS_LABELS[source.terms] if source else "-"
        click.echo(f"{row['name']}  {row['label']}  [{kind}・{terms}]")
        run = runs.get(row["name"])
        if run is None:
            click.echo("    まだ収集していません (never crawled)")
            continue
        when = run.started_at.astimezone(tz).strftime("%Y-%m-%d %H:%M")
        mark = _OUTCOME_MARKS.get(run.outcome, run.outcome)
        click.echo(
            f"    最終収集 {when}（{run.duration_s:.1f}秒） ページ {run.pages}  "
            f"募集 {run.listings}  一部のみ {run.partial}  結果 {mark}"
        )
        if run.errors:
            errors = _errors_text(run.errors)
            click.echo(f"    エラー: {errors}")
        for warning in run.warnings:
            click.echo(f"    ⚠ {warning}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8765, show_default=True, type=int)
@click.option(
    "--folder",
    type=click.Path(file_okay=False, exists=True),
    default=None,
    help="Mirror folder (one folder per real host). Default: the bundled offline samples.",
)
def mirror(host: str, port: int, folder: str | None) -> None:
    """Serve a mirror of the sources' sites (default: the bundled offline samples).

    Then `kyodo crawl --all --base-url http://HOST:PORT` crawls it as if it were the real sites.
    """
    from pathlib import Path

    from spiders.mirror import SAMPLE_MIRROR, Mirror, MirrorServer

    root = Path(folder) if folder else SAMPLE_MIRROR
    try:
        server = MirrorServer(Mirror.from_folder(root), host=host, port=port)
    except OSError as exc:
        raise click.ClickException(
            f"ポート {port} で待ち受けできません (cannot listen on {host}:{port}): {exc}"
        ) from exc
    click.echo(f"ミラーを配信中: {server.url}  （{root}、Ctrl+C で終了）", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


# --- kyodo serve -------------------------------------------------------------------------------


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@click.option("--workers", default=1, show_default=True, type=int, help="Worker processes.")
@click.option(
    "--today",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Fix the date used for open/closed status (demos and tests).",
)
def serve(host: str, port: int, workers: int, today: datetime | None) -> None:
    """Serve the search pages, the JSON API, feeds and exports over KYODO_DATABASE_URL."""
    import os

    import uvicorn

    settings = _settings()
    _upgraded_engine(settings).dispose()  # refuse an old schema before listening
    if today:
        os.environ["KYODO_TODAY"] = today.date().isoformat()
    click.echo(f"kyodo: http://{host}:{port}/ を配信します（Ctrl+C で終了）", err=True)
    uvicorn.run(
        "api.asgi:make_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        proxy_headers=True,
    )


# --- kyodo staff ----------------------------------------------------------------------------


@main.group()
def staff() -> None:
    """Centre staff accounts."""


@staff.command("create")
@click.argument("email")
@click.option("--name", default=None, help="The person's name, shown to other staff.")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from standard input (one line) instead of asking twice.",
)
def staff_create(email: str, name: str | None, password_stdin: bool) -> None:
    """Create a staff account (the first one, or more) with EMAIL and a password."""
    from sqlalchemy.orm import Session

    from aggregator.accounts import AccountError, Role, create_user

    settings = _settings()
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt(
            "パスワード (password)", hide_input=True, confirmation_prompt="もう一度 (repeat)"
        )
    engine = _upgraded_engine(settings)
    try:
        with Session(engine) as session:
            try:
                user = create_user(session, email, password, Role.STAFF, name=name, confirmed=True)
                session.commit()
            except AccountError as exc:
                raise click.ClickException(str(exc)) from exc
            click.echo(f"センター職員のアカウントを作成しました: {user.email} (id {user.id})")
    finally:
        engine.dispose()


class _CallReader:
    """Raw calls from JSON lines, normalized: yields (line number, RawCall, GrantCall).

    Bad lines are reported on standard error with their number and skipped; `finish` then
    exits with status 1 if there were any.
    """

    def __init__(self, lines: IO[bytes], today: date) -> None:
        self.lines = lines
        self.today = today
        self.bad = 0

    def _reject(self, number: int, message: str) -> None:
        self.bad += 1
        click.echo(f"{number}行目: {message}", err=True)

    def __iter__(self):
        from aggregator.normalize.pipeline import normalize_call

        for number, line_bytes in enumerate(self.lines, start=1):
            raw, error = _parse_raw_line(line_bytes)
            if raw is None and error is None:
                continue  # blank line
            if error is not None:
                self._reject(number, error)
                continue
            try:
                call = normalize_call(raw, today=self.today)
            except Exception as exc:  # one broken call must not stop the others
                self._reject(
                    number,
                    f"正規化できませんでした (normalization failed: {type(exc).__name__}: {exc})",
                )
                continue
            yield number, raw, call

    def finish(self) -> None:
        if self.bad:
            click.echo(f"{self.bad}行を処理できませんでした (lines rejected: {self.bad})", err=True)
            sys.exit(1)


def _parse_raw_line(line_bytes: bytes):
    """(RawCall, None) for a good line, (None, message) for a bad one, (None, None) if blank."""
    from aggregator.record import RawCall

    try:
        line = line_bytes.decode("utf-8-sig" if line_bytes.startswith(b"\xef\xbb\xbf") else "utf-8")
    except UnicodeDecodeError as exc:
        return None, f"UTF-8 として読めません (not valid UTF-8: {exc.reason} at byte {exc.start})"
    if not line.strip():
        return None, None
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        return None, f"JSON として読めません (invalid JSON: {exc.msg}, column {exc.colno})"
    if not isinstance(data, dict):
        return None, "JSON オブジェクトではありません (not a JSON object)"
    missing = [key for key in ("id", "text") if data.get(key) in (None, "")]
    if missing:
        names = "・".join(missing)
        return None, f"{names} がありません (missing required key: {', '.join(missing)})"
    try:
        return RawCall.model_validate(data), None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False)
        )
        return None, f"項目の形式が正しくありません (invalid value: {problems})"


# --- kyodo mail -----------------------------------------------------------------------------


@main.group()
def mail() -> None:
    """The outgoing mail queue (confirmations, password resets, reminders, digests)."""


@mail.command("send")
@click.option("--limit", type=int, default=None, help="Send at most this many messages.")
def mail_send(limit: int | None) -> None:
    """Send every message due in the outbox (KYODO_SMTP_* settings); failures are retried
    later with backoff, or marked failed (5xx) for staff to see."""
    from aggregator.mail import deliver

    settings = _settings()
    engine = _upgraded_engine(settings)
    try:
        with graceful_stop() as stop:
            report = deliver(engine, settings, limit=limit, stop=stop)
    finally:
        engine.dispose()
    click.echo(f"送信 {report.sent}件・再送待ち {report.retry}件・失敗 {report.failed}件")
    for error in report.errors[:20]:
        click.echo(f"  {error}", err=True)
    if report.stopped:
        click.echo("停止の指示を受けたため、途中で終了しました。もう一度実行すると残りを送ります。")
        sys.exit(EXIT_STOPPED)
    if report.failed:
        sys.exit(1)


@mail.command("status")
def mail_status() -> None:
    """Count the outbox's messages by state."""
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from aggregator.storage.models import OutboxRow

    settings = _settings()
    engine = _upgraded_engine(settings)
    try:
        with Session(engine) as session:
            counts = dict(
                session.execute(
                    select(OutboxRow.status, func.count()).group_by(OutboxRow.status)
                ).all()
            )
    finally:
        engine.dispose()
    labels = {"pending": "送信待ち", "sent": "送信済み", "failed": "失敗"}
    for status, label in labels.items():
        click.echo(f"{label} ({status}): {counts.get(status, 0)}")


# --- kyodo reminders ------------------------------------------------------------------------


@main.command()
@click.option(
    "--today",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="The date to count days to deadlines from (default: today in KYODO_TIMEZONE).",
)
@click.option("--no-send", is_flag=True, help="Only queue the reminders in the outbox.")
def reminders(today: datetime | None, no_send: bool) -> None:
    """Queue deadline reminders for groups' saved calls (気になる), then send the outbox.

    Run it daily: each reminder (by default 7 days and 1 day before) goes once per address.
    """
    from aggregator.mail import deliver
    from aggregator.reminders import queue_reminders

    settings = _settings()
    day = today.date() if today else _today(settings)
    engine = _upgraded_engine(settings)
    try:
        queued = queue_reminders(engine, settings, day)
        click.echo(f"締切のお知らせ {queued}件をキューに入れました ({day.isoformat()})")
        if not no_send:
            with graceful_stop() as stop:
                report = deliver(engine, settings, stop=stop)
            click.echo(f"送信 {report.sent}件・再送待ち {report.retry}件・失敗 {report.failed}件")
    finally:
        engine.dispose()


# --- kyodo digest ---------------------------------------------------------------------------


@main.group()
def digest() -> None:
    """Weekly tailored digests by e-mail."""


def _week(value: str | None, settings):
    from digest.build import IsoWeek

    if value is None:
        return IsoWeek.of(_today(settings))
    try:
        return IsoWeek.parse(value)
    except ValueError as exc:
        raise click.BadParameter(f"週は 2026-W49 の形で指定してください ({exc})") from exc


@digest.command("preview")
@click.option("--group", "group_id", type=int, required=True, help="The group's id.")
@click.option("--week", default=None, help="ISO week such as 2026-W49 (default: this week).")
@click.option("--html", is_flag=True, help="Print the HTML part instead of the text.")
def digest_preview(group_id: int, week: str | None, html: bool) -> None:
    """Print the digest GROUP would get for the week (nothing is stored or sent)."""
    from sqlalchemy.orm import Session

    from aggregator.storage.models import GroupRow
    from digest.build import build_digest
    from digest.send import last_digest_at

    settings = _settings()
    iso_week = _week(week, settings)
    engine = _upgraded_engine(settings)
    try:
        with Session(engine) as session:
            group = session.get(GroupRow, group_id)
            if group is None:
                raise click.ClickException(f"団体 {group_id} はありません (no group {group_id})")
            since = last_digest_at(session, group.id, iso_week)
            built = build_digest(
                session, group, iso_week, settings, today=_today(settings), since=since
            )
    finally:
        engine.dispose()
    if built is None:
        click.echo("この週は送る内容がありません（設定：新着がない週は送らない）")
        return
    click.echo(f"件名: {built.subject}\n")
    click.echo(built.html if html else built.text)


@digest.command("send")
@click.option("--week", default=None, help="ISO week such as 2026-W49 (default: this week).")
@click.option(
    "--dry-run",
    "dry_run",
    is_flag=True,
    help="Write the mails as .eml files to --out instead of storing and sending them.",
)
@click.option("--out", default="digest-eml", show_default=True, help="Folder for --dry-run.")
@click.option(
    "--today",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="The date for deadlines and statuses (default: today in KYODO_TIMEZONE).",
)
@click.option(
    "--due",
    is_flag=True,
    help="Only groups whose digest weekday is today or earlier this week and whose digest "
    "for the week is not stored yet (what `kyodo schedule` runs daily).",
)
def digest_send(
    week: str | None, dry_run: bool, out: str, today: datetime | None, due: bool
) -> None:
    """Build the week's digests for every group with digests on, and send them.

    Each mail is stored in the outbox before sending: a run stopped at any point and started
    again sends every missing mail and none twice.
    """
    from pathlib import Path

    from digest.send import send_digests, write_dry_run

    settings = _settings()
    iso_week = _week(week, settings)
    day = today.date() if today else _today(settings)
    weekday = day.weekday() if due else None
    engine = _upgraded_engine(settings)
    try:
        if dry_run:
            report = write_dry_run(
                engine, settings, iso_week, Path(out), today=day, weekday=weekday
            )
            click.echo(
                f"{iso_week}: {report.queued}通を {out}/ に書き出しました"
                f"（対象 {report.groups}団体・内容なし {report.skipped_empty}団体）"
            )
            return
        with graceful_stop() as stop:
            report = send_digests(engine, settings, iso_week, today=day, weekday=weekday, stop=stop)
    finally:
        engine.dispose()
    delivery = report.delivery
    click.echo(
        f"{iso_week}: 対象 {report.groups}団体・新たに作成 {report.queued}通・"
        f"作成済み {report.already}団体・内容なし {report.skipped_empty}団体"
    )
    click.echo(f"送信 {delivery.sent}件・再送待ち {delivery.retry}件・失敗 {delivery.failed}件")
    for error in delivery.errors[:20]:
        click.echo(f"  {error}", err=True)
    if report.stopped:
        click.echo("停止の指示を受けたため、途中で終了しました。もう一度実行すると残りを送ります。")
        sys.exit(EXIT_STOPPED)
    if delivery.failed:
        sys.exit(1)


# --- kyodo schedule -------------------------------------------------------------------------


@main.command()
@click.option("--list", "list_only", is_flag=True, help="Print each job's next and last run.")
@click.option("--once", is_flag=True, help="Run the jobs due now, then exit (for cron, tests).")
@click.option(
    "--now",
    "now_text",
    default=None,
    metavar="ISO8601",
    help="For tests: the time it is, e.g. 2026-11-30T09:01:00+09:00 (with --list or --once).",
)
def schedule(list_only: bool, once: bool, now_text: str | None) -> None:
    """Run the crawl, reminders, weekly digests and mail retries at their times.

    Stays in the foreground (systemd Type=simple, a container) and runs each job as a `kyodo`
    subprocess, one at a time, recorded in the job_runs table: `crawl` daily at
    KYODO_SCHEDULE_CRAWL_AT (03:00) with KYODO_SCHEDULE_CRAWL_ARGS (--all), `reminders` at
    KYODO_SCHEDULE_REMINDERS_AT (08:00), `digest send --due` at KYODO_SCHEDULE_DIGEST_AT (09:00;
    groups whose digest weekday is today, Monday by default) and `mail send` every
    KYODO_SCHEDULE_MAIL_MINUTES (10). Times are in KYODO_TIMEZONE; "off" turns a job off. A time
    missed while the machine was off runs when it is back (docs/scheduling.md). On SIGTERM or
    SIGINT the running job gets KYODO_SCHEDULE_STOP_GRACE seconds (30) to finish, then the
    signal; the command exits 0. With --once, exit status 1 if a job failed.
    """
    from aggregator import schedule as sched

    settings = _settings()
    if list_only and once:
        raise click.UsageError("--list と --once は同時に指定できません (use one of them)")
    if now_text is not None and not (list_only or once):
        raise click.UsageError("--now は --list か --once と一緒に指定してください")
    try:
        jobs = sched.jobs_from_settings(settings)
        now = sched.parse_now(now_text, jobs[0].tz) if now_text else None
    except sched.ScheduleError as exc:
        raise click.ClickException(str(exc)) from exc
    clock = sched.clock_from(now) if now else sched.system_clock
    engine = _upgraded_engine(settings)
    store = sched.RunStore(engine)
    try:
        if list_only:
            click.echo("\n".join(sched.list_lines(jobs, store, clock())))
            return
        log = sched.stderr_log(jobs[0].tz)
        stop = sched.StopRequest()
        stop.install(log)
        runner = sched.SubprocessRunner(stop, grace=settings.schedule_stop_grace, log=log)
        scheduler = sched.Scheduler(jobs, store, runner, clock=clock, log=log)
        if not once:
            scheduler.run_forever(stop)
            return
        ran = scheduler.run_due(stop)
    except sched.ScheduleError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        engine.dispose()
    words = {"ok": "成功", "failed": "失敗"}
    for run in ran:
        slot = sched.format_time(run.slot, jobs[0].tz)
        click.echo(f"{run.job}（{slot} の分）: {words[run.outcome]}")
    if not ran:
        click.echo("今は実行するジョブがありません")
    if any(run.outcome == "failed" and not run.interrupted for run in ran):
        sys.exit(1)


if __name__ == "__main__":
    main()
