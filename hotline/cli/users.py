"""`hotline users`: console accounts from the command line, and the demo accounts' passwords.

The demo passwords are made once per installation, kept in `var/demo_passwords.txt` (only
the owner may read it) and printed by `hotline run`, so every demo has its own passwords
and none is written in the code or the docs.
"""

from __future__ import annotations

import getpass
import secrets
import sys
from pathlib import Path
from typing import NoReturn

import click

from hotline.bootstrap import Services, bootstrap
from ticketing.demo.city import build_demo_city
from ticketing.demo.users import demo_users
from ticketing.exceptions import DomainError
from ticketing.models.accounts import UserRole
from ticketing.people import accounts
from ticketing.vocabulary.events import Actor

DEMO_PASSWORDS_FILE = "demo_passwords.txt"


def cli_actor() -> Actor:
    """How the audit log names a command-line change: "cli:<login name>"."""
    try:
        return Actor.cli(getpass.getuser())
    except (KeyError, OSError):  # no login name in some containers
        return Actor.cli(None)


def demo_passwords(var_dir: Path) -> dict[str, str]:
    """The demo accounts' passwords, made on first use and kept (mode 0600) under var/."""
    path = var_dir / DEMO_PASSWORDS_FILE
    wanted = [u.username for u in demo_users(build_demo_city())]
    known = _read_passwords(path)
    if all(name in known for name in wanted):
        return known
    for name in wanted:
        known.setdefault(name, secrets.token_urlsafe(12))
    var_dir.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    lines = ["# demo console accounts: username password (made once for this installation)"]
    lines += [f"{name} {password}" for name, password in known.items()]
    path.write_text("\n".join(lines) + "\n")
    return known


def _read_passwords(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    found = {}
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2 and not line.startswith("#"):
            found[parts[0]] = parts[1]
    return found


def demo_logins(var_dir: Path) -> list[str]:
    """Lines for `hotline run` to print: each demo account with its role and password."""
    passwords = demo_passwords(var_dir)
    return [
        f"  {u.username:<12} {passwords[u.username]:<18} {u.role.value}: {u.display_name}"
        for u in demo_users(build_demo_city())
    ]


@click.group()
def users() -> None:
    """Console accounts: add, list, disable, enable, unlock, set a password."""


def _services() -> Services:
    return bootstrap()


def _fail(exc: DomainError) -> NoReturn:
    raise click.ClickException(str(exc))


def _read_new_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password: str = click.prompt("Password", hide_input=True, confirmation_prompt="Password again")
    return password


@users.command("add")
@click.argument("username")
@click.option(
    "--role", required=True, type=click.Choice([r.value for r in UserRole]), help="The role."
)
@click.option("--region", "region_code", help="A supervisor's region code (e.g. S1, 11).")
@click.option("--department", "department_code", help="A dispatcher's department code.")
@click.option("--staff", "employee_no", help="A grid member's employee number (e.g. GM0001).")
@click.option("--name", "display_name", default="", help="The name shown in the console.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def users_add(
    username: str,
    role: str,
    region_code: str | None,
    department_code: str | None,
    employee_no: str | None,
    display_name: str,
    password_stdin: bool,
) -> None:
    """Create a console account; the password is asked twice (or read from stdin)."""
    password = _read_new_password(password_stdin)
    services = _services()
    try:
        with services.uow() as uow:
            user = accounts.add_user(
                uow,
                username=username,
                password=password,
                role=role,
                display_name=display_name,
                area=accounts.Area(region_code, department_code, employee_no),
                actor=cli_actor(),
                now=services.clock(),
            )
            click.echo(f"added {user.username} ({user.role.value}): {user.display_name}")
    except DomainError as exc:
        _fail(exc)


@users.command("list")
def users_list() -> None:
    """Every account: username, role, area, state."""
    services = _services()
    now = services.clock()
    with services.uow() as uow:
        rows = accounts.list_users(uow.session)
        if not rows:
            click.echo("no users yet: hotline users add USERNAME --role ...")
        for user in rows:
            area = (
                (user.region and f"region {user.region.code}")
                or (user.department and f"department {user.department.code}")
                or (user.staff and f"staff {user.staff.employee_no}")
                or "everywhere"
            )
            state = "active" if user.active else "disabled"
            if user.locked_until is not None and user.locked_until > now:
                local = user.locked_until.astimezone(services.settings.timezone)
                state += f", locked until {local:%Y-%m-%d %H:%M}"
            click.echo(
                f"{user.username:<16} {user.role.value:<12} {area:<24} {state}  "
                f"({user.display_name})"
            )


@users.command("unlock")
@click.argument("username")
def users_unlock(username: str) -> None:
    """Lift a lockout after too many failed logins."""
    services = _services()
    try:
        with services.uow() as uow:
            user = accounts.unlock(uow, username, cli_actor(), services.clock())
            click.echo(f"unlocked {user.username}")
    except DomainError as exc:
        _fail(exc)


@users.command("password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def users_password(username: str, password_stdin: bool) -> None:
    """Set a new password for an account (it also lifts a lockout)."""
    password = _read_new_password(password_stdin)
    services = _services()
    try:
        with services.uow() as uow:
            user = accounts.set_password(uow, username, password, cli_actor(), services.clock())
            click.echo(f"new password set for {user.username}")
    except DomainError as exc:
        _fail(exc)


@users.command("disable")
@click.argument("username")
def users_disable(username: str) -> None:
    """Disable an account: it cannot log in, and its open sessions end on their next click."""
    _set_active(username, False)


@users.command("enable")
@click.argument("username")
def users_enable(username: str) -> None:
    """Enable a disabled account again (its password is unchanged)."""
    _set_active(username, True)


def _set_active(username: str, active: bool) -> None:
    services = _services()
    try:
        with services.uow() as uow:
            user = accounts.set_active(uow, username, active, cli_actor(), services.clock())
            click.echo(f"{'enabled' if active else 'disabled'} {user.username}")
    except DomainError as exc:
        _fail(exc)
