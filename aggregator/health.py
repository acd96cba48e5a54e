"""Source health: one stored row per crawl of a source, and what staff should be warned about."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from aggregator.storage.models import SourceRunRow

# Error kinds that mean the page is not what the spider was written for.
SHAPE_KINDS = frozenset({"shape", "parse", "invalid_listing"})

ERROR_LABELS = {
    "shape": "ページの形が想定と違います",
    "parse": "解析中のエラー",
    "invalid_listing": "不完全な募集情報",
    "timeout": "タイムアウト",
    "connection": "接続エラー",
    "dns": "ホスト名を解決できません",
    "truncated": "ページが途中で切れています",
    "encoding": "文字コードの誤り",
    "robots": "robots.txt で禁止",
    "too_large": "ページが大きすぎます",
    "redirect_loop": "転送（リダイレクト）の繰り返し",
    "start": "起動できません",
    "stopped": "収集が途中で止められました",
}


def error_label(kind: str) -> str:
    if kind.startswith("http_"):
        return f"HTTP {kind[5:]} エラー"
    return ERROR_LABELS.get(kind, kind)


@dataclass
class SourceRun:
    """What one crawl of one source did."""

    source: str
    started_at: datetime
    finished_at: datetime
    pages: int = 0
    listings: int = 0
    partial: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    error_samples: list[dict[str, str]] = field(default_factory=list)
    empty_ok: bool = False
    target: str = "database"
    ingest: dict[str, int] | None = None
    base_url: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()

    def assess(self) -> str:
        """Fills `warnings` and returns the outcome: ok, warning or failed."""
        self.warnings = []
        shape = sum(n for kind, n in self.errors.items() if kind in SHAPE_KINDS)
        if shape:
            self.warnings.append(
                f"ページの形が変わった可能性があります（{shape}件）。スパイダーの確認が必要です"
            )
        if self.listings == 0 and not self.empty_ok:
            self.warnings.append("募集情報が1件も取得できませんでした")
        if self.partial:
            self.warnings.append(
                f"詳細ページを読めず一覧の情報のみの募集が{self.partial}件あります"
            )
        invalid = self.errors.get("invalid_listing", 0)
        too_many_invalid = invalid > 0.1 * (self.listings + invalid)
        if too_many_invalid:
            self.warnings.append(f"読み取れなかった募集が{invalid}件あり、1割を超えています")
        if self.errors.get("encoding"):
            self.warnings.append("文字コードの指定が誤ったページがあります（自動で修正しました）")
        # A stopped crawl (SIGTERM, Ctrl-C) did not see the whole list: run it again.
        stopped = bool(self.errors.get("stopped"))
        if (
            too_many_invalid
            or stopped
            or (self.listings == 0 and (self.errors or not self.empty_ok))
        ):
            return "failed"
        if self.errors or self.warnings:
            return "warning"
        return "ok"

    def complete(self) -> bool:
        """Whether the run saw the source's whole list (so missing calls were delisted)."""
        return not self.errors and self.partial == 0 and self.listings > 0


def store_run(engine: Engine, run: SourceRun) -> SourceRunRow:
    outcome = run.assess()
    row = SourceRunRow(
        source=run.source,
        started_at=run.started_at,
        finished_at=run.finished_at,
        duration_s=run.duration_s,
        pages=run.pages,
        listings=run.listings,
        partial=run.partial,
        errors=dict(run.errors),
        error_samples=list(run.error_samples),
        warnings=list(run.warnings),
        outcome=outcome,
        target=run.target,
        ingest=run.ingest,
        base_url=run.base_url,
    )
    with Session(engine, expire_on_commit=False) as session:
        session.add(row)
        session.commit()
    return row


def latest_runs(engine: Engine) -> dict[str, SourceRunRow]:
    """The last run of each source that has run."""
    with Session(engine, expire_on_commit=False) as session:
        last = (
            select(SourceRunRow.source, func.max(SourceRunRow.id).label("id"))
            .group_by(SourceRunRow.source)
            .subquery()
        )
        rows = session.scalars(select(SourceRunRow).join(last, SourceRunRow.id == last.c.id))
        return {row.source: row for row in rows}


def run_dict(row: SourceRunRow) -> dict[str, Any]:
    return {
        "source": row.source,
        "started_at": row.started_at.isoformat(),
        "finished_at": row.finished_at.isoformat(),
        "duration_s": round(row.duration_s, 3),
        "pages": row.pages,
        "listings": row.listings,
        "partial": row.partial,
        "errors": row.errors,
        "error_samples": row.error_samples,
        "warnings": row.warnings,
        "outcome": row.outcome,
        "target": row.target,
        "ingest": row.ingest,
    }
