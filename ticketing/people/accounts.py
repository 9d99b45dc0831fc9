"""Console accounts: password hashing, creating users, logging in with a lockout.

Each change to an account (`add_user`, `authenticate`, `change_password`, `unlock`,
`set_password`, `set_active`, `end_sessions`) is a use case: it takes the unit of work the
edge opened and commits it, its audit row with it. The look-ups (`find_user`, `list_users`,
...) only read. A console session is valid while the account's `session_generation` is the
one it began in: logging out, a password change or reset and disabling raise it.

Passwords are hashed with the standard library's scrypt, so the core needs no extra
package. The stored string names its parameters (`scrypt$n$r$p$salt$hash`), so they can be
raised later: old hashes still verify, and `needs_rehash` tells the login to upgrade them.
A failed login gives the same answer for an unknown username, a wrong password and a
locked or disabled account, and costs the same time, so the form cannot be used to find out
who has an account. Failures are counted in SQL, so parallel guesses cannot undercount.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from ticketing.exceptions import InvalidInput, NotFound
from ticketing.models.accounts import User, UserRole
from ticketing.models.catalogue import Department
from ticketing.models.people import Staff
from ticketing.models.places import Region
from ticketing.people.audit import record_change
from ticketing.unit_of_work import UnitOfWork
from ticketing.vocabulary.events import Actor

SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
_KEY_BYTES = 32
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 200
MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
USERNAME_PATTERN = re.compile(r"[a-z][a-z0-9._-]{2,59}")
# The one answer to every refused login: it must not tell a locked or unknown account apart.
WRONG_CREDENTIALS = (
    f"Wrong username or password. After {MAX_FAILED_LOGINS} failed logins in a row an account "
    f"is locked for {LOCKOUT.seconds // 60} minutes; an administrator can unlock it sooner."
)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def hash_password(password: str, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    """A salted scrypt hash as `scrypt$n$r$p$salt$hash` (base64 salt and hash)."""
    salt = secrets.token_bytes(16)
    key = _scrypt(password, salt, n, r, p)
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(key)}"


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    # maxmem: scrypt needs 128 * n * r bytes; leave headroom above OpenSSL's 32 MB default.
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=_KEY_BYTES, maxmem=2**27
    )


def verify_password(password: str, encoded: str) -> bool:
    """Whether the password matches the stored hash (constant-time comparison)."""
    try:
        scheme, n, r, p, salt, key = encoded.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(key)
        actual = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def needs_rehash(encoded: str) -> bool:
    """Whether the hash was made with other parameters than today's."""
    return not encoded.startswith(f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}$")


@cache
def _dummy_hash() -> str:
    """Verified against when the username is unknown, so that answer takes as long as a
    real one (made on first use: importing this module stays cheap)."""
    return hash_password(secrets.token_urlsafe(16))


def check_new_password(password: str, username: str = "") -> None:
    """Raise InvalidInput when a new password is too weak to accept."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"The password must be at least {MIN_PASSWORD_LENGTH} characters long.")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput(f"The password must be at most {MAX_PASSWORD_LENGTH} characters long.")
    if username and password.lower() == username.lower():
        raise InvalidInput("The password must not be the username.")
    if len(set(password)) < 4:
        raise InvalidInput("The password must use at least 4 different characters.")


def check_username(username: str) -> str:
    """The username, or InvalidInput when it breaks the pattern."""
    if not USERNAME_PATTERN.fullmatch(username):
        raise InvalidInput(
            "The username must be 3 to 60 characters: lower-case letters, digits, '.', '_' or "
            "'-', starting with a letter."
        )
    return username


def find_user(session: Session, username: str) -> User | None:
    """The user with that username (any case), or None."""
    return session.scalars(select(User).where(User.username == username.strip().lower())).first()


def get_user(session: Session, username: str) -> User:
    """The user with that username, or NotFound."""
    user = find_user(session, username)
    if user is None:
        raise NotFound(f"There is no user {username!r}.")
    return user


def list_users(session: Session) -> list[User]:
    """Every account, by username."""
    return list(session.scalars(select(User).order_by(User.username)))


@dataclass(frozen=True)
class Area:
    """Where a new user works: the one field its role needs, by natural key."""

    region_code: str | None = None
    department_code: str | None = None
    employee_no: str | None = None


def add_user(
    uow: UnitOfWork,
    *,
    username: str,
    password: str,
    role: UserRole | str,
    display_name: str = "",
    area: Area = Area(),  # frozen, so one shared default is safe
    actor: Actor,
    now: datetime,
) -> User:
    """Create an account after checking every field, and commit; InvalidInput says what
    is wrong."""
    user = add_user_uncommitted(
        uow,
        username=username,
        password=password,
        role=role,
        display_name=display_name,
        area=area,
        actor=actor,
        now=now,
    )
    uow.commit()
    return user


def add_user_uncommitted(
    uow: UnitOfWork,
    *,
    username: str,
    password: str,
    role: UserRole | str,
    display_name: str = "",
    area: Area = Area(),  # frozen, so one shared default is safe
    actor: Actor,
    now: datetime,
) -> User:
    """`add_user` inside a transaction its caller commits (the demo loader adds its
    accounts with the demo city)."""
    session = uow.session
    username = check_username(username.strip().lower())
    try:
        role = UserRole(role)
    except ValueError:
        choices = ", ".join(r.value for r in UserRole)
        raise InvalidInput(f"Unknown role {role!r}: choose one of {choices}.") from None
    if find_user(session, username) is not None:
        raise InvalidInput(f"The username {username!r} is taken.")
    check_new_password(password, username)
    user = User(
        username=username,
        display_name=display_name.strip() or username,
        password_hash=hash_password(password),
        role=role,
        active=True,
        failed_logins=0,
    )
    _set_area(session, user, area)
    if len(user.display_name) > 100:
        raise InvalidInput("The name must be at most 100 characters long.")
    session.add(user)
    session.flush()
    record_change(
        session, actor, "user.add", now, target=f"user:{username}", data={"role": role.value}
    )
    return user


def _set_area(session: Session, user: User, area: Area) -> None:
    """Check and set the area the role needs; other roles must not be given one."""
    given = {
        UserRole.SUPERVISOR: area.region_code,
        UserRole.DISPATCHER: area.department_code,
        UserRole.GRID_MEMBER: area.employee_no,
    }
    needed = {
        UserRole.SUPERVISOR: "a region (--region CODE)",
        UserRole.DISPATCHER: "a department (--department CODE)",
        UserRole.GRID_MEMBER: "a staff member (--staff EMPLOYEE_NO)",
    }
    extra = [k for k, v in given.items() if v and k is not user.role]
    if extra:
        raise InvalidInput(
            f"A {user.role.value} has no {needed[extra[0]].split(' (')[0].removeprefix('a ')}."
        )
    if user.role not in given:
        return
    code = (given[user.role] or "").strip()
    if not code:
        raise InvalidInput(f"A {user.role.value} needs {needed[user.role]}.")
    if user.role is UserRole.SUPERVISOR:
        region = session.scalars(select(Region).where(Region.code == code)).first()
        if region is None:
            raise InvalidInput(f"There is no region {code!r}.")
        user.region_id = region.id
    elif user.role is UserRole.DISPATCHER:
        department = session.scalars(select(Department).where(Department.code == code)).first()
        if department is None:
            raise InvalidInput(f"There is no department {code!r}.")
        user.department_id = department.id
    else:
        staff = session.scalars(select(Staff).where(Staff.employee_no == code)).first()
        if staff is None:
            raise InvalidInput(f"There is no staff member {code!r}.")
        user.staff_id = staff.id
        if not user.display_name or user.display_name == user.username:
            user.display_name = staff.name


@dataclass(frozen=True)
class LoginResult:
    """A login attempt's outcome: the user when it succeeded, else the reason to show."""

    user: User | None
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.user is not None


def authenticate(
    uow: UnitOfWork, username: str, password: str, now: datetime, source: str = ""
) -> LoginResult:
    """Check a login and count failures, and commit either way, so the count sticks.
    `source` is the address the attempt came from, kept on the lockout's audit row.

    After MAX_FAILED_LOGINS failures in a row the account is locked for LOCKOUT; while it is,
    even the right password is refused. Every refusal (unknown name, wrong password, locked
    or disabled account) gives the same WRONG_CREDENTIALS and costs one scrypt, so neither
    the page nor the time taken says whether a username exists or is locked.
    """
    result = _check_login(uow.session, username, password, now, source)
    uow.commit()
    return result


def _check_login(
    session: Session, username: str, password: str, now: datetime, source: str
) -> LoginResult:
    user = find_user(session, username)
    if user is None:
        verify_password(password, _dummy_hash())
        return LoginResult(None, WRONG_CREDENTIALS)
    right = verify_password(password, user.password_hash)  # also when locked: same cost
    locked = user.locked_until is not None and user.locked_until > now
    if locked:
        return LoginResult(None, WRONG_CREDENTIALS)
    if not right or not user.active:
        _count_failure(session, user, now, source)
        return LoginResult(None, WRONG_CREDENTIALS)
    if not _claim_login(session, user, now):  # locked meanwhile by a parallel attempt
        return LoginResult(None, WRONG_CREDENTIALS)
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return LoginResult(user)


def _claim_login(session: Session, user: User, now: datetime) -> bool:
    """Reset the count and stamp the login, unless a lock landed since `user` was read.

    One UPDATE with the lock in its WHERE: PostgreSQL re-checks the row after waiting for a
    parallel attempt's lock, so a lockout committed meanwhile wins over this login.
    """
    claimed = session.execute(
        update(User)
        .where(
            User.id == user.id,
            User.active,
            or_(User.locked_until.is_(None), User.locked_until <= now),
        )
        .values(failed_logins=0, locked_until=None, last_login_at=now)
        .returning(User.id),
        execution_options={"synchronize_session": False},
    ).scalar_one_or_none()
    session.expire(user, ["failed_logins", "locked_until", "last_login_at", "active"])
    return claimed is not None


def _count_failure(session: Session, user: User, now: datetime, source: str) -> None:
    """Add one failure in SQL (`failed_logins + 1 ... RETURNING`), never over a copy read
    earlier: parallel attempts each count, so guessing in parallel still reaches the lock.
    The lock is set by the attempt whose count reaches the limit (one audit row)."""
    count = session.execute(
        update(User)
        .where(User.id == user.id)
        .values(failed_logins=func.coalesce(User.failed_logins, 0) + 1)
        .returning(User.failed_logins),
        execution_options={"synchronize_session": False},
    ).scalar_one()
    if count >= MAX_FAILED_LOGINS:
        until = now + LOCKOUT
        locked = session.execute(
            update(User)
            .where(User.id == user.id, User.failed_logins >= MAX_FAILED_LOGINS)
            .values(failed_logins=0, locked_until=until)
            .returning(User.id),
            execution_options={"synchronize_session": False},
        ).scalar_one_or_none()
        if locked is not None:
            record_change(
                session,
                Actor.system().coming_from(source),
                "user.lockout",
                now,
                target=f"user:{user.username}",
                data={"until": until.isoformat()},
            )
    session.expire(user, ["failed_logins", "locked_until"])


def unlock(uow: UnitOfWork, username: str, actor: Actor, now: datetime) -> User:
    """Lift a lockout and forget the failed attempts."""
    session = uow.session
    user = get_user(session, username)
    user.locked_until = None
    user.failed_logins = 0
    record_change(session, actor, "user.unlock", now, target=f"user:{user.username}")
    uow.commit()
    return user


def change_password(
    uow: UnitOfWork,
    user_id: int,
    old_password: str,
    new_password: str,
    now: datetime,
    source: str = "",
) -> User:
    """A user changes their own password (from the address `source`); the old one must be
    right."""
    session = uow.session
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("That account no longer exists.")
    if not verify_password(old_password, user.password_hash):
        raise InvalidInput("The current password is wrong.")
    if new_password == old_password:
        raise InvalidInput("The new password must differ from the current one.")
    check_new_password(new_password, user.username)
    user.password_hash = hash_password(new_password)
    _bump_generation(user)
    record_change(
        session,
        Actor.user(user.id).coming_from(source),
        "user.password",
        now,
        target=f"user:{user.username}",
    )
    uow.commit()
    return user


def set_password(
    uow: UnitOfWork, username: str, new_password: str, actor: Actor, now: datetime
) -> User:
    """An administrator sets a user's password (a reset); it also lifts any lockout."""
    session = uow.session
    user = get_user(session, username)
    check_new_password(new_password, user.username)
    user.password_hash = hash_password(new_password)
    user.locked_until = None
    user.failed_logins = 0
    _bump_generation(user)
    record_change(session, actor, "user.password_reset", now, target=f"user:{user.username}")
    uow.commit()
    return user


def set_active(uow: UnitOfWork, username: str, active: bool, actor: Actor, now: datetime) -> User:
    """Enable or disable an account; a disabled account cannot log in, and its sessions
    end for good (enabling it again does not bring them back)."""
    session = uow.session
    user = get_user(session, username)
    user.active = active
    if not active:
        _bump_generation(user)
    action = "user.enable" if active else "user.disable"
    record_change(session, actor, action, now, target=f"user:{user.username}")
    uow.commit()
    return user


def count_users(session: Session) -> int:
    """How many accounts exist."""
    return int(session.scalar(select(func.count(User.id))) or 0)


def end_sessions(uow: UnitOfWork, user_id: int) -> None:
    """Log a user out on the server: every session cookie issued so far stops working.

    Called on logout. The generation is per account, so logging out on one device ends the
    user's sessions on the others as well; a copied cookie is worthless either way. Not
    audited: a logout is not an administrative change.
    """
    user = uow.session.get(User, user_id)
    if user is not None:
        _bump_generation(user)
        uow.commit()


def _bump_generation(user: User) -> None:
    # Two bumps racing may both write the same next value; either way it is past the
    # generation every earlier cookie carries, which is all that matters.
    user.session_generation = (user.session_generation or 0) + 1


def logged_in_user(
    session: Session, user_id: int, fingerprint: str, generation: int
) -> User | None:
    """The active user a login session names, if its password is still the one it logged
    in with (`session_fingerprint`) and it was not ended since (`session_generation`, the
    generation the session began in); None otherwise."""
    user = session.get(User, user_id)
    if user is None or not user.active or user.session_generation != generation:
        return None
    if not hmac.compare_digest(fingerprint, session_fingerprint(user)):
        return None
    return user


def session_fingerprint(user: User) -> str:
    """A short digest of the password hash: a session remembers it, so changing the
    password ends every other session of that user."""
    return hashlib.sha256(user.password_hash.encode("ascii")).hexdigest()[:16]
