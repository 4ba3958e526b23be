"""Overdue marks (issue 12): a dispatcher's acknowledgement or escalation of an overdue task.

Follows 0004 (region import).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 23:55:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import incidents.store.models

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table('overdue_marks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.Integer(), nullable=False),
    sa.Column('stage', sa.String(length=16), nullable=False),
    sa.Column('grade', sa.String(length=16), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('at', incidents.store.models.UTCDateTime(), nullable=False),
    sa.Column('escalated_to', sa.String(length=64), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['task_id'], ['tasks.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('overdue_marks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_overdue_marks_task_id'), ['task_id'], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table('overdue_marks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_overdue_marks_task_id'))

    op.drop_table('overdue_marks')
