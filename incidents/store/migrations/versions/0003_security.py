"""Security (issue 15): the audit hash chain (audit_chain), password history, disabled users.

``audit_chain`` holds one link per audit event (sequence number, previous hash, hash); the
events already in the log are chained here, in id order. Like ``audit_events`` it is
append-only (hand-written triggers at the end). ``users`` gains ``disabled_at`` and
``password_changed_at``; ``password_history`` keeps past password hashes (reuse policy).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07 21:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import incidents.store.models
from incidents.store.models_audit import EVENT_COLUMNS, GENESIS_HASH, event_hash

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHAIN_REFUSED = "audit_events is append-only (audit_chain)"


def upgrade() -> None:
    """Apply this revision."""
    op.create_table('audit_chain',
    sa.Column('seq', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('seq'),
    sa.UniqueConstraint('event_id')
    )
    op.create_table('password_history',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('set_at', incidents.store.models.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('password_history', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_password_history_user_id'), ['user_id'], unique=False)

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('disabled_at', incidents.store.models.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('password_changed_at', incidents.store.models.UTCDateTime(), nullable=True))

    _chain_existing_events()
    _create_chain_guards()


def downgrade() -> None:
    """Revert this revision."""
    _drop_chain_guards()
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('password_changed_at')
        batch_op.drop_column('disabled_at')

    with op.batch_alter_table('password_history', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_password_history_user_id'))

    op.drop_table('password_history')
    op.drop_table('audit_chain')


# --------------------------------------------------------------------------------------------
# Hand-written: chain the events already logged; the chain is append-only like the log.
# --------------------------------------------------------------------------------------------


def _chain_existing_events() -> None:
    conn = op.get_bind()
    links = sa.table(
        'audit_chain', sa.column('seq'), sa.column('event_id'), sa.column('prev_hash'),
        sa.column('hash'),
    )
    rows = conn.execute(sa.select(*EVENT_COLUMNS).order_by(EVENT_COLUMNS[0])).mappings()
    prev, batch = GENESIS_HASH, []
    for seq, row in enumerate(rows, start=1):
        digest = event_hash(seq, row, prev)
        batch.append({"seq": seq, "event_id": row["id"], "prev_hash": prev, "hash": digest})
        prev = digest
    if batch:
        conn.execute(sa.insert(links), batch)


def _create_chain_guards() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"""
            CREATE FUNCTION audit_chain_append_only() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '{CHAIN_REFUSED}: % refused', TG_OP
                    USING ERRCODE = 'insufficient_privilege';
            END
            $$
            """
        )
        op.execute(
            "CREATE TRIGGER audit_chain_no_change BEFORE UPDATE OR DELETE ON audit_chain "
            "FOR EACH ROW EXECUTE FUNCTION audit_chain_append_only()"
        )
        op.execute(
            "CREATE TRIGGER audit_chain_no_truncate BEFORE TRUNCATE ON audit_chain "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_chain_append_only()"
        )
        return
    for verb in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER audit_chain_no_{verb.lower()} BEFORE {verb} ON audit_chain "
            f"BEGIN SELECT RAISE(ABORT, '{CHAIN_REFUSED}: {verb} refused'); END"
        )


def _drop_chain_guards() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_chain_no_change ON audit_chain")
        op.execute("DROP TRIGGER IF EXISTS audit_chain_no_truncate ON audit_chain")
        op.execute("DROP FUNCTION IF EXISTS audit_chain_append_only()")
        return
    op.execute("DROP TRIGGER IF EXISTS audit_chain_no_update")
    op.execute("DROP TRIGGER IF EXISTS audit_chain_no_delete")
