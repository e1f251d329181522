"""outbox: claim indexes whose plans do not depend on table statistics

The claim walks (status, next_attempt_at, id) in order and stops at its limit; the lock-key
check looks only at open jobs. Both replace indexes that let a planner with stale statistics
(a table that grew from a few rows to a backlog) scan every pending row per claim.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

OPEN_JOBS = "status IN ('pending', 'in_flight')"


def upgrade() -> None:
    with op.batch_alter_table("outbox_jobs") as batch_op:
        batch_op.drop_index("ix_outbox_jobs_status_next_attempt_at")
        batch_op.drop_index("ix_outbox_jobs_lock_key_id")
        batch_op.create_index(
            "ix_outbox_jobs_status_next_attempt_at_id", ["status", "next_attempt_at", "id"]
        )
        batch_op.create_index(
            "ix_outbox_jobs_open_lock_key",
            ["lock_key", "id"],
            sqlite_where=sa.text(OPEN_JOBS),
            postgresql_where=sa.text(OPEN_JOBS),
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox_jobs") as batch_op:
        batch_op.drop_index("ix_outbox_jobs_open_lock_key")
        batch_op.drop_index("ix_outbox_jobs_status_next_attempt_at_id")
        batch_op.create_index("ix_outbox_jobs_lock_key_id", ["lock_key", "id"])
        batch_op.create_index(
            "ix_outbox_jobs_status_next_attempt_at", ["status", "next_attempt_at"]
        )
