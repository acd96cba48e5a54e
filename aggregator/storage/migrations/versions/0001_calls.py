"""calls and call fields

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-28 13:39:54.384246
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('calls',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('source_item_id', sa.String(length=255), nullable=False),
    sa.Column('source_url', sa.Text(), nullable=True),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('organizer', sa.Text(), nullable=True),
    sa.Column('deadline', sa.Date(), nullable=True),
    sa.Column('deadline_kind', sa.String(length=16), nullable=False),
    sa.Column('deadline_note', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('application_start', sa.Date(), nullable=True),
    sa.Column('rounds', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('max_amount_yen', sa.BigInteger(), nullable=True),
    sa.Column('total_budget_yen', sa.BigInteger(), nullable=True),
    sa.Column('subsidy_rate', sa.Text(), nullable=True),
    sa.Column('field_terms', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('area', sa.String(length=128), nullable=False),
    sa.Column('informal_groups_ok', sa.Boolean(), nullable=True),
    sa.Column('legal_forms', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('min_members', sa.Integer(), nullable=True),
    sa.Column('min_years_active', sa.Integer(), nullable=True),
    sa.Column('cost_personnel', sa.String(length=16), nullable=False),
    sa.Column('cost_honoraria', sa.String(length=16), nullable=False),
    sa.Column('cost_rent', sa.String(length=16), nullable=False),
    sa.Column('cost_equipment', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=True),
    sa.Column('raw_text', sa.Text(), nullable=False),
    sa.Column('published', sa.Date(), nullable=True),
    sa.Column('first_seen', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen', sa.DateTime(timezone=True), nullable=False),
    sa.Column('evidence', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.CheckConstraint("deadline_kind IN ('fixed', 'rolling', 'recurring', 'unknown')", name=op.f('ck_calls_deadline_kind')),
    sa.CheckConstraint("status IS NULL OR status IN ('upcoming', 'open', 'closed')", name=op.f('ck_calls_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_calls')),
    sa.UniqueConstraint('source', 'source_item_id', name='uq_calls_source_item')
    )
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.create_index('ix_calls_area', ['area'], unique=False)
        batch_op.create_index('ix_calls_deadline', ['deadline'], unique=False)
        batch_op.create_index('ix_calls_status_deadline', ['status', 'deadline'], unique=False)

    op.create_table('call_fields',
    sa.Column('call_id', sa.Integer(), nullable=False),
    sa.Column('field', sa.String(length=32), nullable=False),
    sa.Column('rank', sa.SmallInteger(), nullable=False),
    sa.ForeignKeyConstraint(['call_id'], ['calls.id'], name=op.f('fk_call_fields_call_id_calls'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('call_id', 'field', name=op.f('pk_call_fields'))
    )
    with op.batch_alter_table('call_fields', schema=None) as batch_op:
        batch_op.create_index('ix_call_fields_field', ['field', 'call_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('call_fields', schema=None) as batch_op:
        batch_op.drop_index('ix_call_fields_field')

    op.drop_table('call_fields')
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.drop_index('ix_calls_status_deadline')
        batch_op.drop_index('ix_calls_deadline')
        batch_op.drop_index('ix_calls_area')

    op.drop_table('calls')
