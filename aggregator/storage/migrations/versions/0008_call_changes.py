"""call_changes: a journal of which calls changed, filled by triggers (the search index)

Every insert, delete or search-relevant update of `calls`, `call_fields` or `listings` adds a
row naming the call, whichever code path or process made it. Web processes keep the search
facts of all calls in memory (aggregator/searchindex.py) and read only the journal's new rows
on each search. PostgreSQL rows also carry the writing transaction's id: a transaction that
commits after a later one is still found (see searchindex.Journal).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 11:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The columns of `calls` a search filters, sorts or matches keywords on.
SEARCH_COLUMNS = (
    "status",
    "deadline",
    "deadline_kind",
    "application_start",
    "area",
    "max_amount_yen",
    "informal_groups_ok",
    "first_seen",
    "cost_personnel",
    "cost_honoraria",
    "cost_rent",
    "search_text",
    "search_grams",
)
_OF = ", ".join(SEARCH_COLUMNS)

_SQLITE = [
    "CREATE TRIGGER call_changes_calls_ai AFTER INSERT ON calls BEGIN "
    "INSERT INTO call_changes(call_id) VALUES (new.id); END",
    f"CREATE TRIGGER call_changes_calls_au AFTER UPDATE OF id, {_OF} ON calls BEGIN "
    "INSERT INTO call_changes(call_id) VALUES (new.id); END",
    "CREATE TRIGGER call_changes_calls_ad AFTER DELETE ON calls BEGIN "
    "INSERT INTO call_changes(call_id) VALUES (old.id); END",
    "CREATE TRIGGER call_changes_fields_ai AFTER INSERT ON call_fields BEGIN "
    "INSERT INTO call_changes(call_id) VALUES (new.call_id); END",
    "CREATE TRIGGER call_changes_fields_au AFTER UPDATE ON call_fields BEGIN "
    "INSERT INTO call_changes(call_id) VALUES (old.call_id); "
    "INSERT INTO call_changes(call_id) VALUES (new.call_id); END",
    "CREATE TRIGGER call_changes_fields_ad AFTER DELETE ON call_fields BEGIN "
    "INSERT INTO call_changes(call_id) VALUES (old.call_id); END",
    "CREATE TRIGGER call_changes_listings_ai AFTER INSERT ON listings BEGIN "
    "INSERT INTO call_changes(call_id) VALUES (new.call_id); END",
    "CREATE TRIGGER call_changes_listings_au AFTER UPDATE OF call_id, source ON listings BEGIN "
    "INSERT INTO call_changes(call_id) VALUES (old.call_id); "
    "INSERT INTO call_changes(call_id) VALUES (new.call_id); END",
    "CREATE TRIGGER call_changes_listings_ad AFTER DELETE ON listings BEGIN "
    "INSERT INTO call_changes(call_id) VALUES (old.call_id); END",
]

_POSTGRESQL = [
    """
    CREATE FUNCTION kyodo_call_changed() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        column_name text := TG_ARGV[0];
        old_id integer;
        new_id integer;
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
            old_id := (to_jsonb(OLD) ->> column_name)::integer;
        END IF;
        IF TG_OP IN ('UPDATE', 'INSERT') THEN
            new_id := (to_jsonb(NEW) ->> column_name)::integer;
        END IF;
        IF old_id IS NOT NULL THEN
            INSERT INTO call_changes(call_id, xid)
            VALUES (old_id, pg_current_xact_id()::text::bigint);
        END IF;
        IF new_id IS NOT NULL AND new_id IS DISTINCT FROM old_id THEN
            INSERT INTO call_changes(call_id, xid)
            VALUES (new_id, pg_current_xact_id()::text::bigint);
        END IF;
        RETURN NULL;
    END $$
    """,
    "CREATE TRIGGER call_changes_calls_ins_del AFTER INSERT OR DELETE ON calls "
    "FOR EACH ROW EXECUTE FUNCTION kyodo_call_changed('id')",
    f"CREATE TRIGGER call_changes_calls_upd AFTER UPDATE OF id, {_OF} ON calls "
    "FOR EACH ROW EXECUTE FUNCTION kyodo_call_changed('id')",
    "CREATE TRIGGER call_changes_fields AFTER INSERT OR UPDATE OR DELETE ON call_fields "
    "FOR EACH ROW EXECUTE FUNCTION kyodo_call_changed('call_id')",
    "CREATE TRIGGER call_changes_listings_ins_del AFTER INSERT OR DELETE ON listings "
    "FOR EACH ROW EXECUTE FUNCTION kyodo_call_changed('call_id')",
    "CREATE TRIGGER call_changes_listings_upd AFTER UPDATE OF call_id, source ON listings "
    "FOR EACH ROW EXECUTE FUNCTION kyodo_call_changed('call_id')",
]


def upgrade() -> None:
    op.create_table(
        "call_changes",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.Integer(), nullable=False),
        sa.Column("xid", sa.BigInteger(), nullable=True),
        sa.Column(
            "changed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("CURRENT_TIMESTAMP"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_call_changes")),
    )
    # Only PostgreSQL writes xid: on SQLite the partial index stays empty and costs nothing.
    # No AUTOINCREMENT and no index on changed_at: every write of an ingest adds a row, and
    # each of those made the first ingest of 100,000 listings slower; `seq` still only grows,
    # because pruning keeps the newest row (searchindex.prune_journal).
    with op.batch_alter_table("call_changes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_call_changes_xid",
            ["xid"],
            unique=False,
            sqlite_where=sa.text("xid IS NOT NULL"),
            postgresql_where=sa.text("xid IS NOT NULL"),
        )
    dialect = op.get_bind().dialect.name
    for statement in _SQLITE if dialect == "sqlite" else _POSTGRESQL:
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for statement in _SQLITE:
            op.execute(f"DROP TRIGGER IF EXISTS {statement.split()[2]}")
    else:
        for table, name in (
            ("calls", "call_changes_calls_ins_del"),
            ("calls", "call_changes_calls_upd"),
            ("call_fields", "call_changes_fields"),
            ("listings", "call_changes_listings_ins_del"),
            ("listings", "call_changes_listings_upd"),
        ):
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        op.execute("DROP FUNCTION IF EXISTS kyodo_call_changed()")
    op.drop_table("call_changes")
