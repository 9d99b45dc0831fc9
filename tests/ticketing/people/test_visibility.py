"""Who sees which case: `case_filter` for each role on the demo city, on the real database."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hotline.bootstrap import Services
from hotline.cli.users import demo_logins, demo_passwords
from tests.factories import NOW, grid_member, open_case
from ticketing.cases import intake
from ticketing.cases import services as cases
from ticketing.demo import seeding
from ticketing.exceptions import InvalidInput
from ticketing.models.accounts import AuditEntry, User, UserRole
from ticketing.models.cases import Ticket
from ticketing.models.catalogue import Department
from ticketing.models.people import Staff, StaffRole
from ticketing.models.places import Region
from ticketing.people import accounts
from ticketing.people.accounts import Area
from ticketing.people.visibility import can_see, case_filter, region_ids_under
from ticketing.unit_of_work import UnitOfWork
from ticketing.vocabulary.events import Actor

pytestmark = pytest.mark.integration


# name -> (category, where keyed): where each test case is reported
PLACES = {
    "light_1101": ("street_light", "1101"),  # street S1, community 11: grid member's case
    "road_1101": ("road_damage", "1101"),  # transport department, but in grid 1101
    "leak_1105": ("water_leak", "1105"),  # water company, street S1
    "light_2101": ("street_light", "2101"),  # street S2
    "leak_2201": ("water_leak", "2201"),  # water company, street S2
    "garbage_12": ("garbage", "12"),  # community 12 (street S1), no grid
}


def _region_id(session: Session, code: str) -> int:
    return session.scalars(select(Region.id).where(Region.code == code)).one()


def _codes(session: Session, ids: list[int]) -> set[str]:
    return set(session.scalars(select(Region.code).where(Region.id.in_(ids))))


def _user(session: Session, username: str) -> User:
    return session.scalars(select(User).where(User.username == username)).one()


def _open_cases(uow: UnitOfWork) -> dict[str, Ticket]:
    """One case at each of PLACES, by name: what every visibility test looks through."""
    return {
        name: open_case(uow, NOW, category=category, where=where)
        for name, (category, where) in PLACES.items()
    }


def _seen(session: Session, user: User, opened: dict[str, Ticket]) -> set[str]:
    ids = set(session.scalars(select(Ticket.id).where(case_filter(session, user))))
    return {name for name, ticket in opened.items() if ticket.id in ids}


def _new_user(uow: UnitOfWork, username: str, role: UserRole, area: Area | None = None) -> User:
    return accounts.add_user(
        uow,
        username=username,
        password="long-enough-pw",
        role=role,
        area=area or Area(),
        actor=Actor.cli("test"),
        now=NOW,
    )


def test_region_ids_under_goes_down_every_level(services: Services) -> None:
    with services.uow() as uow:
        s = uow.session
        assert _codes(s, region_ids_under(s, _region_id(s, "S1"))) == {"S1", "11", "12", "13"}
        assert _codes(s, region_ids_under(s, _region_id(s, "11"))) == {"11"}
        district = _codes(s, region_ids_under(s, _region_id(s, "410105")))
        assert len(district) == 1 + 3 + 9
        assert {"410105", "S3", "33"} <= district
        everything = region_ids_under(s, _region_id(s, "4101"))
        assert len(everything) == len(set(everything)) == 14


def test_each_demo_role_sees_its_cases(services: Services) -> None:
    with services.uow() as uow:
        opened = _open_cases(uow)
        s = uow.session
        everything = set(PLACES)
        assert _seen(s, _user(s, "agent"), opened) == everything
        assert _seen(s, _user(s, "admin"), opened) == everything
        # the supervisor of street S1 (over grid 1101): communities 11 and 12
        assert _seen(s, _user(s, "supervisor"), opened) == {
            "light_1101",
            "road_1101",
            "leak_1105",
            "garbage_12",
        }
        # the water company's dispatcher: its two leaks, wherever they are
        assert _seen(s, _user(s, "dispatcher"), opened) == {"leak_1105", "leak_2201"}
        # grid 1101's primary member: both cases in its grid, nothing else
        assert _seen(s, _user(s, "grid_member"), opened) == {"light_1101", "road_1101"}


def test_supervisors_see_their_own_level(services: Services) -> None:
    with services.uow() as uow:
        opened = _open_cases(uow)
        s = uow.session
        community = _new_user(uow, "sv.c11", UserRole.SUPERVISOR, Area(region_code="11"))
        street2 = _new_user(uow, "sv.s2", UserRole.SUPERVISOR, Area(region_code="S2"))
        district = _new_user(uow, "sv.d", UserRole.SUPERVISOR, Area(region_code="410105"))
        assert _seen(s, community, opened) == {"light_1101", "road_1101", "leak_1105"}
        assert _seen(s, street2, opened) == {"light_2101", "leak_2201"}
        assert _seen(s, district, opened) == set(PLACES)


def test_a_case_assigned_to_a_grid_member_elsewhere_is_theirs_to_see(services: Services) -> None:
    with services.uow() as uow:
        opened = _open_cases(uow)
        s = uow.session
        member = _user(s, "grid_member")
        assert not can_see(s, member, opened["light_2101"].id)
        cases.reassign(
            uow,
            opened["light_2101"],
            member.staff,
            None,
            Actor.user(1),
            "covering for a colleague",
            NOW,
        )
        uow.commit()
        assert can_see(s, member, opened["light_2101"].id)
        assert _seen(s, member, opened) == {"light_1101", "road_1101", "light_2101"}


def test_a_department_case_taken_by_a_colleague_stays_visible_to_the_dispatcher(
    services: Services,
) -> None:
    with services.uow() as uow:
        opened = _open_cases(uow)
        s = uow.session
        dispatcher = _user(s, "dispatcher")
        colleague = s.scalars(
            select(Staff).where(
                Staff.role == StaffRole.DISPATCHER,
                Staff.department_id == dispatcher.department_id,
            )
        ).first()
        assert colleague is not None
        intake.assign(uow, opened["leak_1105"], colleague.id, None, "taken", Actor.user(1), NOW)
        uow.commit()
        assert opened["leak_1105"].department_id is None
        assert can_see(s, dispatcher, opened["leak_1105"].id)
        transport = _new_user(
            uow, "dp.transport", UserRole.DISPATCHER, Area(department_code="transport")
        )
        assert _seen(s, transport, opened) == {"road_1101"}


def test_a_disabled_account_or_one_without_an_area_sees_nothing(services: Services) -> None:
    with services.uow() as uow:
        opened = _open_cases(uow)
        s = uow.session
        agent = _user(s, "agent")
        agent.active = False
        assert _seen(s, agent, opened) == set()
        for role in (UserRole.SUPERVISOR, UserRole.DISPATCHER, UserRole.GRID_MEMBER):
            orphan = User(username="x", display_name="x", password_hash="", role=role, active=True)
            assert _seen(s, orphan, opened) == set()


def test_a_grid_member_whose_staff_record_is_inactive_sees_nothing(services: Services) -> None:
    with services.uow() as uow:
        opened = _open_cases(uow)
        s = uow.session
        member = _user(s, "grid_member")
        assert _seen(s, member, opened) == {"light_1101", "road_1101"}
        staff = s.get(Staff, member.staff_id)
        assert staff is not None
        staff.active = False  # left the job: the account itself is still active
        s.flush()
        assert member.active
        assert _seen(s, member, opened) == set()
        assert not can_see(s, member, opened["light_1101"].id)


def test_demo_accounts_are_tied_to_the_walkthrough(services: Services) -> None:
    with services.uow() as uow:
        s = uow.session
        users = {u.username: u for u in accounts.list_users(s)}
        for role in UserRole:  # the demo usernames are the roles' names
            assert users[role.value].role is role
        supervisor_region = s.get(Region, users["supervisor"].region_id)
        assert supervisor_region is not None
        assert supervisor_region.code == "S1"  # the street office over grid 1101
        department = s.get(Department, users["dispatcher"].department_id)
        assert department is not None
        assert department.code == "water_utility"
        member = s.get(Staff, users["grid_member"].staff_id)
        assert member is not None
        assert member.id == grid_member(s, "1101").id
        assert users["grid_member"].display_name == member.name


def test_loading_the_demo_again_adds_no_user_and_changes_no_password(services: Services) -> None:
    with services.uow() as uow:
        before = {u.username: u.password_hash for u in accounts.list_users(uow.session)}
        audits = uow.session.scalar(select(func.count(AuditEntry.id)))
    for _ in range(2):
        with services.uow() as uow:
            seeding.load_demo_city(uow, demo_passwords=dict.fromkeys(before, "changed-pass-1"))
    with services.uow() as uow:
        after = {u.username: u.password_hash for u in accounts.list_users(uow.session)}
        assert after == before
        assert uow.session.scalar(select(func.count(AuditEntry.id))) == audits


def test_demo_users_get_the_given_passwords_when_created(services: Services) -> None:
    with services.uow() as uow:
        for user in accounts.list_users(uow.session):
            uow.session.delete(user)
        uow.session.flush()
        seeding.load_demo_city(uow, demo_passwords={"agent": "agent-pass-123"}, now=NOW)
    with services.uow() as uow:
        users = {u.username: u for u in accounts.list_users(uow.session)}
        assert set(users) == {r.value for r in UserRole}
        assert accounts.verify_password("agent-pass-123", users["agent"].password_hash)
        # no password given: a random one, not a guessable default
        assert not accounts.verify_password("agent-pass-123", users["admin"].password_hash)
        added = uow.session.scalars(
            select(AuditEntry.target).where(AuditEntry.action == "user.add", AuditEntry.at == NOW)
        )
        assert len(list(added)) == 5


def test_the_demo_password_file_is_made_once_and_private(tmp_path: Path) -> None:
    first = demo_passwords(tmp_path)
    path = tmp_path / "demo_passwords.txt"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert set(first) == {r.value for r in UserRole}
    assert all(len(p) >= accounts.MIN_PASSWORD_LENGTH for p in first.values())
    assert demo_passwords(tmp_path) == first
    lines = demo_logins(tmp_path)
    assert len(lines) == 5
    assert any(first["grid_member"] in line and "grid_member" in line for line in lines)


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short", "at least 10 characters"),
        ("aaaaaaaaaaaa", "at least 4 different characters"),
        ("new.person", "must not be the username"),
    ],
)
def test_weak_passwords_are_refused_with_the_reason(
    services: Services, password: str, reason: str
) -> None:
    with services.uow() as uow, pytest.raises(InvalidInput, match=reason):
        accounts.add_user(
            uow,
            username="new.person",
            password=password,
            role="agent",
            actor=Actor.cli("test"),
            now=NOW,
        )


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"username": "Bad Name"}, "lower-case letters"),
        ({"username": "agent"}, "is taken"),
        ({"role": "boss"}, "Unknown role 'boss'"),
        ({"role": "supervisor"}, "A supervisor needs a region"),
        ({"role": "supervisor", "area": Area(region_code="ZZ")}, "no region 'ZZ'"),
        ({"role": "dispatcher", "area": Area(department_code="nope")}, "no department 'nope'"),
        ({"role": "agent", "area": Area(region_code="S1")}, "A agent has no region"),
    ],
)
def test_add_user_says_what_is_wrong(
    services: Services, fields: dict[str, object], reason: str
) -> None:
    values: dict[str, object] = {
        "username": "new.person",
        "password": "long-enough-pw",
        "role": "agent",
        "area": Area(),
        **fields,
    }
    with services.uow() as uow, pytest.raises(InvalidInput, match=reason):
        accounts.add_user(uow, actor=Actor.cli("test"), now=NOW, **values)  # type: ignore[arg-type]


def test_hashes_carry_their_parameters_and_old_ones_still_verify() -> None:
    cheap = accounts.hash_password("long-enough-pw", n=2**10)
    assert cheap.startswith("scrypt$1024$8$1$")
    assert accounts.verify_password("long-enough-pw", cheap)
    assert not accounts.verify_password("long-enough-px", cheap)
    assert accounts.needs_rehash(cheap)
    assert not accounts.needs_rehash(accounts.hash_password("long-enough-pw"))
    assert not accounts.verify_password("long-enough-pw", "md5$garbage")
    a, b = accounts.hash_password("same-password"), accounts.hash_password("same-password")
    assert a != b  # a random salt each time
