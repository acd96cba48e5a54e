"""keyword search: calls.search_text/search_grams, FTS5 on SQLite, pg_trgm on PostgreSQL

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Kept in sync with calls by triggers; `rowid` is calls.id. Not in the models (SQLite only).
_FTS_SQLITE = [
    "CREATE VIRTUAL TABLE calls_fts USING fts5("
    "search_text, content='calls', content_rowid='id', tokenize='trigram')",
    "CREATE TRIGGER calls_fts_ai AFTER INSERT ON calls BEGIN "
    "INSERT INTO calls_fts(rowid, search_text) VALUES (new.id, new.search_text); END",
    "CREATE TRIGGER calls_fts_ad AFTER DELETE ON calls BEGIN "
    "INSERT INTO calls_fts(calls_fts, rowid, search_text) "
    "VALUES ('delete', old.id, old.search_text); END",
    "CREATE TRIGGER calls_fts_au AFTER UPDATE OF search_text ON calls BEGIN "
    "INSERT INTO calls_fts(calls_fts, rowid, search_text) "
    "VALUES ('delete', old.id, old.search_text); "
    "INSERT INTO calls_fts(rowid, search_text) VALUES (new.id, new.search_text); END",
    # 1–2 character keywords: single characters and pairs as tokens, no positions kept.
    "CREATE VIRTUAL TABLE calls_grams USING fts5(search_grams, content='calls', "
    "content_rowid='id', tokenize='unicode61 remove_diacritics 0', detail='none')",
    "CREATE TRIGGER calls_grams_ai AFTER INSERT ON calls BEGIN "
    "INSERT INTO calls_grams(rowid, search_grams) VALUES (new.id, new.search_grams); END",
    "CREATE TRIGGER calls_grams_ad AFTER DELETE ON calls BEGIN "
    "INSERT INTO calls_grams(calls_grams, rowid, search_grams) "
    "VALUES ('delete', old.id, old.search_grams); END",
    "CREATE TRIGGER calls_grams_au AFTER UPDATE OF search_grams ON calls BEGIN "
    "INSERT INTO calls_grams(calls_grams, rowid, search_grams) "
    "VALUES ('delete', old.id, old.search_grams); "
    "INSERT INTO calls_grams(rowid, search_grams) VALUES (new.id, new.search_grams); END",
]
# A later migration that rebuilds `calls` in SQLite batch mode drops these triggers: re-create.


def upgrade() -> None:
    from aggregator.searchtext import search_columns

    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("search_text", sa.Text(), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("search_grams", sa.Text(), nullable=False, server_default="")
        )
    conn = op.get_bind()
    calls = sa.table(
        "calls",
        sa.column("id", sa.Integer),
        sa.column("title", sa.Text),
        sa.column("organizer", sa.Text),
        sa.column("raw_text", sa.Text),
        sa.column("search_text", sa.Text),
        sa.column("search_grams", sa.Text),
    )
    rows = conn.execute(sa.select(calls.c.id, calls.c.title, calls.c.organizer, calls.c.raw_text))
    updates = []
    for cid, title, organizer, raw in rows:
        values = search_columns(title, organizer, raw)
        updates.append({"cid": cid, "text": values["search_text"], "grams": values["search_grams"]})
    if updates:
        conn.execute(
            calls.update()
            .where(calls.c.id == sa.bindparam("cid"))
            .values(search_text=sa.bindparam("text"), search_grams=sa.bindparam("grams")),
            updates,
        )
    with op.batch_alter_table("calls", schema=None) as batch_op:
        # Replaced by the covering index: the planner would otherwise pick one of these and
        # read whole rows (with their text) for every match.
        batch_op.drop_index("ix_calls_deadline")
        batch_op.drop_index("ix_calls_status_deadline")
        batch_op.drop_index("ix_calls_area")
        batch_op.create_index(
            "ix_calls_search_filters",
            [
                "status",
                "deadline_kind",
                "deadline",
                "application_start",
                "area",
                "max_amount_yen",
                "informal_groups_ok",
                "first_seen",
                "cost_personnel",
                "cost_honoraria",
                "cost_rent",
            ],
            unique=False,
        )
    with op.batch_alter_table("listings", schema=None) as batch_op:
        batch_op.create_index("ix_listings_call_id_source", ["call_id", "source"], unique=False)
    if conn.dialect.name == "sqlite":
        for statement in _FTS_SQLITE:
            op.execute(statement)
        op.execute("INSERT INTO calls_fts(calls_fts) VALUES ('rebuild')")
        op.execute("INSERT INTO calls_grams(calls_grams) VALUES ('rebuild')")
    elif conn.dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute(
            "CREATE INDEX ix_calls_search_trgm ON calls USING gin (search_text gin_trgm_ops)"
        )
        # 1–2 character keywords: the characters and pairs as an array (trigrams cannot).
        op.execute(
            "CREATE INDEX ix_calls_search_grams ON calls "
            "USING gin (string_to_array(search_grams, ' '))"
        )


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "sqlite":
        for table in ("calls_fts", "calls_grams"):
            for suffix in ("ai", "ad", "au"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_{suffix}")
            op.execute(f"DROP TABLE IF EXISTS {table}")
    elif conn.dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_calls_search_trgm")
        op.execute("DROP INDEX IF EXISTS ix_calls_search_grams")
    with op.batch_alter_table("listings", schema=None) as batch_op:
        batch_op.drop_index("ix_listings_call_id_source")
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_index("ix_calls_search_filters")
        batch_op.create_index("ix_calls_deadline", ["deadline"], unique=False)
        batch_op.create_index("ix_calls_status_deadline", ["status", "deadline"], unique=False)
        batch_op.create_index("ix_calls_area", ["area"], unique=False)
        batch_op.drop_column("search_grams")
        batch_op.drop_column("search_text")
