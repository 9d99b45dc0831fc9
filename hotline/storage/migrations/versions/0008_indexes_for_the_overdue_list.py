"""indexes for the dashboard's overdue list

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 01:00:00

The dashboard lists the open cases whose deadline passed longest ago. The first deadline to
pass is the earlier of accept_by and resolve_by, so the worst cases are among the first few
open cases by accept_by and the first few by resolve_by: two short walks of these partial
indexes instead of sorting every overdue case (tens of thousands in a backlog).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

OPEN = "status IN ('accepted', 'assigned', 'new', 'returned')"


def upgrade() -> None:
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.create_index(
            "ix_tickets_open_accept_by",
            ["accept_by", "id"],
            unique=False,
            postgresql_where=sa.text(OPEN),
        )
        batch_op.create_index(
            "ix_tickets_open_resolve_by",
            ["resolve_by", "id"],
            unique=False,
            postgresql_where=sa.text(OPEN),
        )


def downgrade() -> None:
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_index("ix_tickets_open_resolve_by")
        batch_op.drop_index("ix_tickets_open_accept_by")
