"""indexes for the triage queue

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 09:00:00

The console's queue lists cases oldest first and stops at a page: an index in
(created_at, id) order lets it stop early whatever the filters, and a partial one holding
only the cases waiting for an agent keeps the default view's cost to the page it shows.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

WAITING = "status IN ('accepted', 'assigned', 'new', 'returned')"


def upgrade() -> None:
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.create_index("ix_tickets_created", ["created_at", "id"], unique=False)
        batch_op.create_index(
            "ix_tickets_waiting",
            ["created_at", "id"],
            unique=False,
            postgresql_where=sa.text(f"needs_triage AND {WAITING}"),
            sqlite_where=sa.text(f"needs_triage = 1 AND {WAITING}"),
        )


def downgrade() -> None:
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_index("ix_tickets_waiting")
        batch_op.drop_index("ix_tickets_created")
