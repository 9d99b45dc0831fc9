"""What the grid and staff imports share: the rejected-row report, the counts, progress.

An import is all or nothing: the whole file is checked first, every problem is reported
with where it is (a CSV line, a GeoJSON feature), the field and the reason, and if any row
is refused nothing at all is written. A city fixes the file and runs it again; re-running
a file already imported changes nothing (rows are matched on their natural keys).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

Progress = Callable[[int, int], None]  # (done, total), for a progress bar

CHUNK = 5_000  # rows checked or written between two progress reports


def no_progress(done: int, total: int) -> None:
    """The default progress callback: report nothing."""


@dataclass(frozen=True)
class Rejection:
    """One refused value: `where` is "line 7" or "feature 12"; `field` the column or key."""

    where: str
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.field}: {self.reason}"


@dataclass
class ImportResult:
    """The outcome of one import: counts of what was written, or why nothing was."""

    kind: str  # "grids" or "staff"
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    extra: dict[str, int] = field(default_factory=dict)  # e.g. assignment counts

    @property
    def ok(self) -> bool:
        return not self.rejected

    def counts(self) -> dict[str, int]:
        """The numbers for the audit row and the report."""
        return {
            "rows": self.rows,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            **self.extra,
        }

    def summary(self) -> str:
        """One line for people: what was written, or how many rows were refused."""
        if not self.ok:
            return f"{len(self.rejected)} problem(s) in the {self.kind} file: nothing was imported"
        parts = [
            f"{self.created} created",
            f"{self.updated} updated",
            f"{self.unchanged} unchanged",
        ]
        parts += [f"{value} {name.replace('_', ' ')}" for name, value in self.extra.items()]
        return f"{self.rows} {self.kind} row(s): " + ", ".join(parts)


class Rejections:
    """Collects problems while a file is checked; rows with a problem are left out."""

    def __init__(self) -> None:
        self.items: list[Rejection] = []
        self._bad: set[int] = set()

    def add(self, row: int, where: str, field_name: str, reason: str) -> None:
        self.items.append(Rejection(where, field_name, reason))
        self._bad.add(row)

    def has(self, row: int) -> bool:
        return row in self._bad

    def __bool__(self) -> bool:
        return bool(self.items)
