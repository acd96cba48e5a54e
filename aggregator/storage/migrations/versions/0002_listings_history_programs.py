"""listings, history, programs

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 15:22:53.323384
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('programs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('organizer', sa.Text(), nullable=True),
    sa.Column('title', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_programs')),
    sa.UniqueConstraint('key', name=op.f('uq_programs_key'))
    )
    op.create_table('rejected_listings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=True),
    sa.Column('raw', sa.Text(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('times', sa.Integer(), nullable=False),
    sa.Column('first_seen', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rejected_listings')),
    sa.UniqueConstraint('content_hash', name=op.f('uq_rejected_listings_content_hash'))
    )
    op.create_table('call_history',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('call_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('old_value', sa.Text(), nullable=True),
    sa.Column('new_value', sa.Text(), nullable=True),
    sa.Column('source', sa.String(length=64), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['call_id'], ['calls.id'], name=op.f('fk_call_history_call_id_calls'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_call_history'))
    )
    with op.batch_alter_table('call_history', schema=None) as batch_op:
        batch_op.create_index('ix_call_history_call_id_at', ['call_id', 'at'], unique=False)

    op.create_table('listings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('call_id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('source_key', sa.String(length=255), nullable=False),
    sa.Column('url', sa.Text(), nullable=True),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('raw', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('record', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('precedence', sa.SmallInteger(), nullable=False),
    sa.Column('listed', sa.Boolean(), nullable=False),
    sa.Column('delisted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('first_seen', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['call_id'], ['calls.id'], name=op.f('fk_listings_call_id_calls'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_listings')),
    sa.UniqueConstraint('source', 'source_key', name='uq_listings_source_key')
    )
    with op.batch_alter_table('listings', schema=None) as batch_op:
        batch_op.create_index('ix_listings_call_id', ['call_id'], unique=False)

    op.create_table('dedupe_decisions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('listing_a_id', sa.Integer(), nullable=False),
    sa.Column('listing_b_id', sa.Integer(), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('merge', 'split')", name=op.f('ck_dedupe_decisions_kind')),
    sa.ForeignKeyConstraint(['listing_a_id'], ['listings.id'], name=op.f('fk_dedupe_decisions_listing_a_id_listings'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['listing_b_id'], ['listings.id'], name=op.f('fk_dedupe_decisions_listing_b_id_listings'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dedupe_decisions'))
    )
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.add_column(sa.Column('conflicts', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False, server_default=sa.text("'{}'")))
        batch_op.add_column(sa.Column('program_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('predicted', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.create_foreign_key(batch_op.f('fk_calls_program_id_programs'), 'programs', ['program_id'], ['id'], ondelete='SET NULL')



def downgrade() -> None:
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_calls_program_id_programs'), type_='foreignkey')
        batch_op.drop_column('predicted')
        batch_op.drop_column('program_id')
        batch_op.drop_column('conflicts')

    op.drop_table('dedupe_decisions')
    with op.batch_alter_table('listings', schema=None) as batch_op:
        batch_op.drop_index('ix_listings_call_id')

    op.drop_table('listings')
    with op.batch_alter_table('call_history', schema=None) as batch_op:
        batch_op.drop_index('ix_call_history_call_id_at')

    op.drop_table('call_history')
    op.drop_table('rejected_listings')
    op.drop_table('programs')
