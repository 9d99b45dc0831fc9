"""The administrator's commands through click, on a fresh SQLite database with the demo city:
imports with their rejected-rows report and exit codes, calendar dates, rosters, audit."""

from __future__ import annotations

import os
import re

import pytest
from click.testing import CliRunner, Result

from hotline.cli.main import main
from tests.conftest import FIXTURES

pytestmark = pytest.mark.functional

IMPORTS = FIXTURES / "import"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str | None]:
    """The embedded defaults on a database of this module's own, migrated and loaded."""
    var = tmp_path_factory.mktemp("admin_cli")
    cleared: dict[str, str | None] = {
        k: None for k in os.environ if k.startswith(("DATABASE_", "REDIS_", "TWILIO_", "PUBLIC_"))
    }
    environment = {**cleared, "HOTLINE_VAR_DIR": str(var)}
    for setup in (["db", "upgrade"], ["demo", "load"]):
        done = CliRunner().invoke(main, setup, env=environment, catch_exceptions=False)
        assert done.exit_code == 0, done.output
    return environment


def hotline(env: dict[str, str | None], *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def test_grid_import_then_the_same_file_again(env: dict[str, str | None]) -> None:
    sample = str(IMPORTS / "grids_sample.geojson")
    first = hotline(env, "import", "grids", sample)
    assert first.exit_code == 0, first.output
    assert "3 grids row(s): 2 created, 0 updated, 1 unchanged" in first.stdout
    again = hotline(env, "import", "grids", sample)
    assert "0 created, 0 updated, 3 unchanged" in again.stdout
    located = hotline(env, "locate", "--point", "34.779,113.668")
    assert "grid 1124" in located.stdout
    audit = hotline(env, "audit", "--limit", "2")
    lines = audit.stdout.splitlines()
    assert "grids.import" in lines[0]
    assert "grids_sample.geojson" in lines[0]
    assert "unchanged=3" in lines[0]
    assert "created=2" in lines[1]


def test_bad_files_are_reported_with_exit_code_1_and_nothing_imported(
    env: dict[str, str | None],
) -> None:
    before = hotline(env, "audit", "--limit", "1").stdout
    grids = hotline(env, "import", "grids", str(IMPORTS / "grids_bad.geojson"))
    assert grids.exit_code == 1
    assert "feature 1: geometry: invalid: Self-intersection" in grids.stderr
    assert "feature 2: community: no community region with code '99'" in grids.stderr
    assert "7 problem(s) in the grids file: nothing was imported" in grids.stderr
    staff = hotline(env, "import", "staff", str(IMPORTS / "staff_bad.csv"))
    assert staff.exit_code == 1
    assert "line 2: phone: not a" in staff.stderr
    assert "line 6: grids: grid 1101 already has a primary member: GM0001" in staff.stderr
    assert "nothing was imported" in staff.stderr
    wrong = hotline(env, "import", "staff", str(IMPORTS / "grids_sample.geojson"))
    assert wrong.exit_code == 1
    assert "expected header: employee_no,name,phone" in wrong.stderr
    assert hotline(env, "audit", "--limit", "1").stdout == before
    missing = hotline(env, "import", "staff", "no/such/file.csv")
    assert missing.exit_code == 2


def test_staff_import_after_its_grids(env: dict[str, str | None]) -> None:
    assert hotline(env, "import", "grids", str(IMPORTS / "grids_sample.geojson")).exit_code == 0
    done = hotline(env, "import", "staff", str(IMPORTS / "staff_sample.csv"))
    assert done.exit_code == 0, done.output
    assert "4 staff row(s): 4 created, 0 updated, 0 unchanged, 4 assignments added" in done.stdout
    again = hotline(env, "import", "staff", str(IMPORTS / "staff_sample.csv"))
    assert "0 created, 0 updated, 4 unchanged, 0 assignments added" in again.stdout


def test_calendar_dates(env: dict[str, str | None]) -> None:
    added = hotline(env, "calendar", "add-holiday", "2026-12-04", "--name", "City founding day")
    assert added.exit_code == 0, added.output
    assert "2026-12-04 is now a holiday on 24x7, office_hours_cn" in added.stdout
    assert "recomputed the deadlines of" in added.stderr
    workday = hotline(env, "calendar", "add-workday", "2026-12-05", "--calendar", "office_hours_cn")
    assert "2026-12-05 is now a workday on office_hours_cn" in workday.stdout
    listed = hotline(env, "calendar", "list").stdout.splitlines()
    assert listed[0].startswith("2026-12-05  workday  office_hours_cn")
    assert listed[1].endswith("City founding day")
    twice = hotline(env, "calendar", "add-holiday", "2026-12-04")
    assert twice.exit_code == 1
    assert "already a custom holiday" in twice.stderr
    bad = hotline(env, "calendar", "add-holiday", "2026-02-30")
    assert bad.exit_code == 1
    assert "'2026-02-30' is not a date like 2026-10-01" in bad.stderr
    assert hotline(env, "calendar", "remove", "2026-12-05").exit_code == 0
    assert "2026-12-05" not in hotline(env, "calendar", "list").stdout


def test_roster_shifts_and_leave(env: dict[str, str | None]) -> None:
    shift = hotline(env, "roster", "add-shift", "GM0003", "sat", "9:00", "12:00")
    assert shift.exit_code == 0, shift.output
    match = re.search(r"shift #(\d+) for GM0003: Sat 09:00-12:00", shift.stdout)
    assert match is not None
    overlap = hotline(env, "roster", "add-shift", "GM0003", "5", "11:00", "13:00")
    assert overlap.exit_code == 1
    assert "overlaps the shift Sat 09:00-12:00" in overlap.stderr
    leave = hotline(
        env, "roster", "add-leave", "GM0003", "2026-12-01", "2026-12-03", "--reason", "training"
    )
    assert "leave #" in leave.stdout
    backwards = hotline(env, "roster", "add-leave", "GM0003", "2026-12-09", "2026-12-08")
    assert backwards.exit_code == 1
    assert "last day: 2026-12-08 is before the first day 2026-12-09" in backwards.stderr
    unknown = hotline(env, "roster", "add-leave", "XX999", "2026-12-01", "2026-12-02")
    assert "no staff member 'XX999'" in unknown.stderr
    shown = hotline(env, "roster", "show", "GM0003").stdout
    assert f"shift #{match.group(1)}: Sat 09:00-12:00" in shown
    assert "2026-12-01 to 2026-12-03 training" in shown
    assert hotline(env, "roster", "remove-shift", match.group(1)).exit_code == 0
    assert "no shifts: on call" in hotline(env, "roster", "show", "GM0003").stdout
    gone = hotline(env, "roster", "remove-shift", match.group(1))
    assert gone.exit_code == 1
    audit = hotline(env, "audit", "--limit", "3").stdout.splitlines()
    assert "roster.shift.remove" in audit[0]
    assert "staff:GM0003" in audit[0]
    assert "roster.leave.add" in audit[1]


def test_sla_set_refuses_a_policy_shorter_than_a_minute_and_audits_a_change(
    env: dict[str, str | None],
) -> None:
    # Policies keep whole minutes: 30 s was stored as 0 and every rung fired at once.
    refused = hotline(env, "sla", "set", "general", "--accept", "0.5m")
    assert refused.exit_code != 0
    assert "accept within: between 1 minute and a year" in refused.output
    assert "general v1 on office_hours_cn" in hotline(env, "sla", "list").output
    changed = hotline(env, "sla", "set", "urgent", "--accept", "20m")
    assert changed.exit_code == 0, changed.output
    assert "urgent is now version 2" in changed.output
    assert "sla.policy.version" in hotline(env, "audit", "--limit", "5").output
