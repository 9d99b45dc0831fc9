"""Reading a staff CSV file into checked rows, one line at a time.

The checks here need only the line itself (a phone that becomes E.164, known roles and
employment types, a well-formed grids list); `ticketing.admin.staff_import` then checks the rows
against each other and the database, and writes them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from ticketing.admin.imports import Rejections
from ticketing.exceptions import InvalidInput
from ticketing.models.people import EmploymentType, StaffRole
from ticketing.people.phones import to_e164
from ticketing.vocabulary.roles import AssignmentRole

HEADER = (
    "employee_no",
    "name",
    "phone",
    "role",
    "employment_type",
    "region",
    "department",
    "language",
    "grids",
)
LANGUAGES = ("zh-CN", "en-US")
E = TypeVar("E", StaffRole, EmploymentType)
Refuse = Callable[[str, str], None]  # (field, reason)


@dataclass
class StaffRow:
    """One line of the file, each value checked on its own."""

    line: int
    employee_no: str
    name: str
    phone: str
    role: StaffRole
    employment_type: EmploymentType | None
    region: str
    department: str
    language: str
    grids: list[tuple[str, AssignmentRole]]


def read_rows(source: str | bytes, problems: Rejections) -> list[tuple[int, dict[str, str]]]:
    """The file's non-blank lines as (line number, column -> value); shape problems go
    to `problems` (a wrong header refuses the whole file)."""
    try:
        text = source.decode("utf-8-sig") if isinstance(source, bytes) else source
    except UnicodeDecodeError:
        problems.add(-1, "file", "encoding", "not UTF-8 text")
        return []
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = [name.strip().lower() for name in next(reader, [])]
    missing = [name for name in HEADER if name not in header]
    unknown = [name for name in header if name not in HEADER]
    if missing or unknown or len(set(header)) != len(header):
        reason = f"expected the columns {','.join(HEADER)}"
        if missing:
            reason += f"; missing {','.join(missing)}"
        if unknown:
            reason += f"; unknown {','.join(unknown)}"
        problems.add(-1, "line 1", "header", reason)
        return []
    records = []
    try:
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) != len(header):
                problems.add(
                    reader.line_num,
                    f"line {reader.line_num}",
                    "row",
                    f"{len(cells)} values for {len(header)} columns",
                )
                continue
            records.append(
                (reader.line_num, {k: v.strip() for k, v in zip(header, cells, strict=True)})
            )
    except csv.Error as exc:
        problems.add(-1, f"line {reader.line_num}", "row", f"unreadable CSV: {exc}")
    return records


def parse_row(line: int, record: Mapping[str, str], problems: Rejections) -> StaffRow | None:
    """The line as a StaffRow, or None (with its problems noted) when a value is wrong."""
    where = f"line {line}"

    def refuse(field_name: str, reason: str) -> None:
        problems.add(line, where, field_name, reason)

    employee_no, name = record["employee_no"], record["name"]
    if not employee_no or len(employee_no) > 32 or " " in employee_no:
        refuse("employee_no", "required: at most 32 characters, no spaces")
    if not name or len(name) > 100:
        refuse("name", "required, at most 100 characters")
    phone = ""
    try:
        phone = to_e164(record["phone"])
    except InvalidInput as exc:
        refuse("phone", str(exc))
    role = _choice(StaffRole, record["role"])
    if role is None:
        refuse("role", f"{record['role']!r}: one of {', '.join(r.value for r in StaffRole)}")
    employment = _choice(EmploymentType, record["employment_type"])
    if record["employment_type"] and employment is None:
        refuse(
            "employment_type",
            f"{record['employment_type']!r}: empty or one of "
            + ", ".join(e.value for e in EmploymentType),
        )
    language = record["language"] or LANGUAGES[0]
    if language not in LANGUAGES:
        refuse("language", f"{language!r}: one of {', '.join(LANGUAGES)}")
    grids = _parse_grids(record["grids"], refuse)
    if grids and role is not None and role is not StaffRole.GRID_MEMBER:
        refuse("grids", f"only grid members hold grids, not a {role.value}")
    if problems.has(line) or role is None:
        return None
    return StaffRow(
        line,
        employee_no,
        name,
        phone,
        role,
        employment,
        record["region"],
        record["department"],
        language,
        grids,
    )


def _choice(kind: type[E], value: str) -> E | None:
    try:
        return kind(value.strip().lower())
    except ValueError:
        return None


def _parse_grids(text: str, refuse: Refuse) -> list[tuple[str, AssignmentRole]]:
    out: list[tuple[str, AssignmentRole]] = []
    for item in filter(None, (part.strip() for part in text.split(";"))):
        code, _, role_text = item.partition(":")
        try:
            role = AssignmentRole(role_text.strip().lower() or "primary")
        except ValueError:
            refuse("grids", f"{item!r}: the role after ':' is primary or backup")
            continue
        if code.strip() in (c for c, _ in out):
            refuse("grids", f"grid {code.strip()} is listed twice")
            continue
        out.append((code.strip(), role))
    return out
