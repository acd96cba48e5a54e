"""`kyodo`: the command line. Help in English; messages meant for centre staff in Japanese."""

from __future__ import annotations

import json
import sys
from datetime import date, datetime
from typing import IO
from zoneinfo import ZoneInfo

import click
from pydantic import ValidationError

from kyodo import __version__


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
    from aggregator.storage.db import current_revision, head_revision, make_engine

    settings = _settings()
    ref_today = today.date() if today else _today(settings)
    url = settings.database_url
    try:
        if current_revision(url) != head_revision():
            raise click.ClickException(
                "データベースが最新ではありません。先に kyodo db upgrade を実行してください "
                "(database schema is not up to date: run kyodo db upgrade)"
            )
        engine = make_engine(url)
        try:
            report = Ingestor(engine, today=ref_today).ingest(
                read_jsonl(input_file), complete=complete
            )
            predicted = predict_upcoming(engine, today=ref_today)
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


if __name__ == "__main__":
    main()
