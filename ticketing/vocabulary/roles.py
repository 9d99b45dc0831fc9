"""The roles a member holds in a grid, which routing reads and the grid assignments store."""

from __future__ import annotations

import enum


class AssignmentRole(enum.StrEnum):
    PRIMARY = "primary"
    BACKUP = "backup"
