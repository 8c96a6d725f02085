"""Logins of the staff web app: argon2 password hashes, lockout after repeated failures.

``baoxue users add`` and ``baoxue users list`` call :func:`add_user` and :func:`list_users`;
the login page calls :func:`check_login`. Head teachers, counsellors and principals must
be in the ``staff`` table the county supplies (their class, cases and school come from it);
county and researcher logins need not be.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.engine import Connection, Engine

from jobs.storage import WEB_ROLES, Staff, User

__all__ = ["STAFF_ROLES", "LoginResult", "hash_password", "add_user", "list_users", "check_login"]

#: web roles that must match a ``staff`` row of the same role
STAFF_ROLES: tuple[str, ...] = ("head_teacher", "counsellor", "principal")

_hasher = PasswordHasher()
_MIN_PASSWORD = 8


def hash_password(password: str, *, hasher: PasswordHasher | None = None) -> str:
    """The argon2id hash of ``password`` (at least 8 characters); ``hasher``: other argon2
    costs (tests use cheap ones; a hash records its costs, so checking follows them)."""
    if len(password) < _MIN_PASSWORD:
        raise ValueError(f"a password needs at least {_MIN_PASSWORD} characters")
    return (hasher or _hasher).hash(password)


def add_user(
    engine: Engine,
    staff_id: str,
    role: str,
    password: str,
    *,
    now: dt.datetime | None = None,
    hasher: PasswordHasher | None = None,
) -> None:
    """Create the login ``staff_id`` (or set its role and password again, unlocking it)."""
    if role not in WEB_ROLES:
        raise ValueError(f"role {role!r}: use one of {', '.join(WEB_ROLES)}")
    digest = hash_password(password, hasher=hasher)
    with engine.begin() as conn:
        if role in STAFF_ROLES:
            staff = conn.execute(sa.select(Staff).where(Staff.staff_id == staff_id)).first()
            if staff is None:
                raise ValueError(
                    f"staff_id {staff_id!r} is not in the staff table (a {role} login is tied to its "
                    "staff row: run the nightly job on the county's staff file first)"
                )
            if staff.role != role:
                raise ValueError(f"staff_id {staff_id!r} is a {staff.role} in the staff table, not a {role}")
        t = User.__table__
        values = {
            "role": role,
            "password_hash": digest,
            "failed_logins": 0,
            "locked_until": None,
            "active": True,
        }
        if conn.execute(sa.select(t.c.staff_id).where(t.c.staff_id == staff_id)).first():
            conn.execute(sa.update(t).where(t.c.staff_id == staff_id).values(**values))
        else:
            conn.execute(
                sa.insert(t).values(staff_id=staff_id, created_at=now or dt.datetime.now(), **values)
            )


def list_users(engine: Engine) -> pd.DataFrame:
    """Logins: ``staff_id, role, school_id, class_id, failed_logins, locked_until, active``."""
    u, s = User.__table__, Staff.__table__
    stmt = (
        sa.select(
            u.c.staff_id,
            u.c.role,
            s.c.school_id,
            s.c.class_id,
            u.c.failed_logins,
            u.c.locked_until,
            u.c.active,
        )
        .join(s, s.c.staff_id == u.c.staff_id, isouter=True)
        .order_by(u.c.role, u.c.staff_id)
    )
    with engine.connect() as conn:
        result = conn.execute(stmt)
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


@dataclass(frozen=True)
class LoginResult:
    """``ok``; else ``locked`` (until ``locked_until``) or a wrong id or password."""

    ok: bool
    locked: bool = False
    locked_until: dt.datetime | None = None


def check_login(
    conn: Connection,
    staff_id: str,
    password: str,
    *,
    now: dt.datetime,
    max_failures: int = 5,
    lockout: dt.timedelta = dt.timedelta(minutes=15),
) -> LoginResult:
    """Check a password inside the caller's transaction; count failures and lock the account
    for ``lockout`` after ``max_failures`` in a row (a locked account refuses even the right
    password). An unknown id is checked against a dummy hash, so it takes as long."""
    t = User.__table__
    row = conn.execute(sa.select(t).where(t.c.staff_id == staff_id)).first()
    if row is None or not row.active:
        _verify(_DUMMY, password)
        return LoginResult(False)
    if row.locked_until is not None and row.locked_until > now:
        return LoginResult(False, locked=True, locked_until=row.locked_until)
    if _verify(row.password_hash, password):
        conn.execute(sa.update(t).where(t.c.staff_id == staff_id).values(failed_logins=0, locked_until=None))
        return LoginResult(True)
    failures = (0 if row.locked_until is not None else row.failed_logins) + 1
    until = now + lockout if failures >= max_failures else None
    conn.execute(
        sa.update(t)
        .where(t.c.staff_id == staff_id)
        .values(failed_logins=0 if until else failures, locked_until=until)
    )
    return LoginResult(False, locked=until is not None, locked_until=until)


def _verify(digest: str, password: str) -> bool:
    try:
        return _hasher.verify(digest, password)
    except (VerificationError, InvalidHashError):
        return False


_DUMMY = _hasher.hash("not-a-password-of-anyone")
