"""Accounts, passwords (argon2id), server-side sessions and CSRF tokens.

The session cookie is a random token; the database keeps only its sha256, so a copy of the
database opens no session. Every session has its own CSRF token, required on every POST (a form
field or the ``X-CSRF-Token`` header). A wrong name and a wrong password get the same answer, and
an unknown name still pays for one hash, so timing does not tell them apart either.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, delete, insert, select, update

from review import db
from review.queue import now

ROLES = ("steward", "supervisor")
SESSION_HOURS = 12
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")
# argon2id at OWASP's recommended floor (19 MiB, 2 passes, 1 lane): a sign-in costs a fraction of a
# second on a busy 2-core server instead of argon2-cffi's default 64 MiB x 3 x 4 lanes.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
_DUMMY = _hasher.hash("not a password of anyone")


class AuthError(ValueError):
    """A bad account request (name, role, password), with a message for the operator."""


@dataclass(frozen=True)
class User:
    id: int
    name: str
    role: str
    csrf: str = ""

    @property
    def supervisor(self) -> bool:
        return self.role == "supervisor"


def add_user(engine: Engine, name: str, role: str, password: str, replace: bool = False) -> User:
    """Create (or with ``replace`` reset the password and role of) an account."""
    if not _NAME.match(name):
        raise AuthError(f"bad user name {name!r}: letters, digits, '.', '_', '@', '-' (up to 100)")
    if role not in ROLES:
        raise AuthError(f"unknown role {role!r} (one of {', '.join(ROLES)})")
    if len(password) < 8:
        raise AuthError("the password must have at least 8 characters")
    h = _hasher.hash(password)
    with engine.begin() as conn:
        row = conn.execute(select(db.users.c.id).where(db.users.c.name == name)).first()
        if row is not None:
            if not replace:
                raise AuthError(f"user {name!r} exists already (use --replace to reset the password)")
            conn.execute(update(db.users).where(db.users.c.id == row.id).values(role=role, password_hash=h))
            conn.execute(delete(db.sessions).where(db.sessions.c.user_id == row.id))
            uid = row.id
        else:
            uid = conn.execute(insert(db.users).values(name=name, role=role, password_hash=h, created_at=now())
                               .returning(db.users.c.id)).scalar_one()
        conn.execute(insert(db.audit).values(at=now(), user_id=uid, action="user_added" if row is None
                                             else "user_reset", detail={"name": name, "role": role}))
    return User(uid, name, role)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def login(engine: Engine, name: str, password: str) -> str | None:
    """A new session token, or None for a wrong name or password (no hint which)."""
    with engine.connect() as conn:
        row = conn.execute(select(db.users).where(db.users.c.name == name)).first()
    try:
        ok = _hasher.verify(row.password_hash if row else _DUMMY, password) and row is not None
    except (VerificationError, InvalidHashError):
        ok = False
    with engine.begin() as conn:
        conn.execute(insert(db.audit).values(at=now(), user_id=row.id if ok else None,
                                             action="login" if ok else "login_failed",
                                             detail={} if ok else {"name": name[:100]}))
        if not ok:
            return None
        token = secrets.token_urlsafe(32)
        t = now()
        conn.execute(insert(db.sessions).values(token_hash=_token_hash(token), user_id=row.id,
                                                csrf=secrets.token_urlsafe(32), created_at=t,
                                                expires_at=t + timedelta(hours=SESSION_HOURS)))
    return token


def session_user(engine: Engine, token: str | None) -> User | None:
    if not token or len(token) > 200:
        return None
    with engine.connect() as conn:
        row = conn.execute(
            select(db.users.c.id, db.users.c.name, db.users.c.role, db.sessions.c.csrf, db.sessions.c.expires_at)
            .join(db.sessions, db.sessions.c.user_id == db.users.c.id)
            .where(db.sessions.c.token_hash == _token_hash(token))).first()
    if row is None or row.expires_at < now():
        return None
    return User(row.id, row.name, row.role, row.csrf)


def logout(engine: Engine, token: str | None) -> None:
    if token:
        with engine.begin() as conn:
            conn.execute(delete(db.sessions).where(db.sessions.c.token_hash == _token_hash(token)))


def csrf_ok(user: User, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(user.csrf.encode(), str(given).encode())
