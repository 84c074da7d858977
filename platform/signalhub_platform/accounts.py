"""Accounts: passwords, login with lockout and rate limit, issuing users and tokens, disabling them.

One service for the web UI and the CLI. Functions take the session and the acting ``Actor`` as
parameters, flush and never commit: the request or command commits once. Login failures are
reported with one generic error whatever the cause (unknown user, wrong password, locked,
disabled) so that the response is no oracle for which accounts exist or are locked.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import re
import secrets
from collections.abc import Iterable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from argon2.profiles import RFC_9106_LOW_MEMORY
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, selectinload

from signalhub_audit.services import record_event
from signalhub_audit.tags import AuditTag
from signalhub_config import Settings
from signalhub_platform.models import (
    PLATFORM_OFFICE_CODE,
    Actor,
    Agency,
    ApiToken,
    LoginAttempt,
    Role,
    User,
    UserRole,
    WebSession,
)

# argon2id, RFC 9106 "second recommended" profile (t=3, 64 MiB, p=4): about 0.1 s per hash on one
# core. Raising these later upgrades each stored hash at its owner's next successful login.
PASSWORD_PARAMETERS = RFC_9106_LOW_MEMORY
PASSWORD_HASHER = PasswordHasher.from_parameters(PASSWORD_PARAMETERS)

# The version of the confidentiality pledge (安全保密承诺书) users must accept; bump it when the
# text changes and everybody is asked again at their next request.
PLEDGE_VERSION = "2026-1"

MIN_PASSWORD_LENGTH = 12
RATE_WINDOW = dt.timedelta(minutes=1)
USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{1,63}$")
# What a login form may put into the log and audit: long digit runs (e.g. an ID number typed into
# the user name field) are replaced, and the length fits the column.
_LONG_DIGITS = re.compile(r"[0-9]{6,}")


class AccountError(ValueError):
    """An account operation was refused; the message is safe to show to an operator."""


class AuthenticationError(Exception):
    """Login failed. Deliberately one generic error, whatever the cause."""

    def __init__(self) -> None:
        super().__init__("invalid user name or password")


class LoginRateLimitedError(Exception):
    """Too many login attempts from one client address in the last minute (HTTP 429)."""


class PasswordChangeError(ValueError):
    """A new password was refused; ``reason`` is one of the ``REASON_*`` codes, mapped to UI text."""

    REASON_WRONG_CURRENT = "wrong_current"
    REASON_TOO_SHORT = "too_short"
    REASON_UNCHANGED = "unchanged"
    REASON_CONTAINS_USERNAME = "contains_username"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --- passwords ---------------------------------------------------------------------------------


def hash_password(password: str) -> str:
    return PASSWORD_HASHER.hash(password)


@functools.lru_cache(maxsize=4)
def _dummy_hash(parameters: tuple[int, ...]) -> str:
    # Keyed on the hasher's parameters so that verifying the dummy costs what a real hash costs;
    # made lazily so that CLI commands do not pay for it.
    return PASSWORD_HASHER.hash(secrets.token_urlsafe(16))


def _verify(password_hash: str, password: str) -> bool:
    try:
        return PASSWORD_HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _verify_dummy(password: str) -> None:
    """Spend the time a real verification would: unknown, locked or disabled accounts are no oracle."""
    _verify(_dummy_hash(_parameters_key()), password)


def _parameters_key() -> tuple[int, ...]:
    h = PASSWORD_HASHER
    return (h.time_cost, h.memory_cost, h.parallelism, h.hash_len, h.salt_len)


def check_password_policy(user: User, new_password: str) -> None:
    if len(new_password) < MIN_PASSWORD_LENGTH:
        raise PasswordChangeError(PasswordChangeError.REASON_TOO_SHORT)
    if user.username.lower() in new_password.lower():
        raise PasswordChangeError(PasswordChangeError.REASON_CONTAINS_USERNAME)


# --- login -------------------------------------------------------------------------------------


def authenticate(
    session: Session, username: str, password: str, *, client_ip: str, now: dt.datetime, settings: Settings
) -> User:
    """Return the user or raise ``AuthenticationError`` (one generic error) / ``LoginRateLimitedError``.

    Every outcome is recorded (LoginAttempt row for the per-address limit, audit event); on an
    error the caller still commits, or the lockout counters and the audit trail would be lost.
    """
    username = username.strip()
    safe_name = redact_username(username)
    public = Actor.public(client_ip)
    recent = session.scalar(
        select(func.count())
        .select_from(LoginAttempt)
        .where(LoginAttempt.client_ip == client_ip, LoginAttempt.attempted_at > now - RATE_WINDOW)
    )
    attempt = LoginAttempt(client_ip=client_ip, username=safe_name, attempted_at=now)
    session.add(attempt)
    if (recent or 0) >= settings.login_rate_per_minute:
        # Rejected attempts count too, so a flood stays limited; audited once per window.
        if recent == settings.login_rate_per_minute:
            record_event(session, AuditTag.SECURITY_RATE_LIMITED, actor=public, data={"username": safe_name}, at=now)
        session.flush()
        raise LoginRateLimitedError

    # FOR UPDATE (PostgreSQL): concurrent failures for one account must not lose an increment.
    user = session.scalars(select(User).where(User.username == username).with_for_update(of=User)).first()
    if user is None:
        _verify_dummy(password)
        _record_failure(session, None, public, safe_name, "unknown_user", now)
        raise AuthenticationError
    if user.locked_until is not None and user.locked_until > now:
        # No verification during the lock: guesses are not tested, and the lock is not extended.
        _verify_dummy(password)
        _record_failure(session, user, public, safe_name, "locked", now)
        raise AuthenticationError
    is_valid = _verify(user.password_hash, password)
    if not is_valid:
        user.failed_login_count += 1
        if user.failed_login_count >= settings.lockout_threshold:
            exponent = user.failed_login_count - settings.lockout_threshold
            seconds = min(settings.lockout_base_seconds * 2 ** min(exponent, 32), settings.lockout_max_seconds)
            user.locked_until = now + dt.timedelta(seconds=seconds)
            record_event(
                session,
                AuditTag.SECURITY_LOCKOUT,
                actor=public,
                subjects=[("user", user.id)],
                data={"failures": user.failed_login_count, "seconds": seconds},
                at=now,
            )
        _record_failure(session, user, public, safe_name, "bad_password", now)
        raise AuthenticationError
    if not user.is_active:
        _record_failure(session, user, public, safe_name, "disabled", now)
        raise AuthenticationError

    if PASSWORD_HASHER.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.failed_login_count = 0
    user.locked_until = None
    attempt.is_success = True
    session.flush()
    record_event(
        session, AuditTag.WEB_AUTH_LOGIN, actor=Actor.for_user(user, client_ip), subjects=[("user", user.id)], at=now
    )
    return user


def _record_failure(
    session: Session, user: User | None, actor: Actor, safe_name: str, reason: str, now: dt.datetime
) -> None:
    record_event(
        session,
        AuditTag.WEB_AUTH_LOGIN_FAILED,
        actor=actor,
        subjects=[("user", user.id)] if user else (),
        data={"username": safe_name, "reason": reason},
        at=now,
    )


def redact_username(username: str) -> str:
    """A form-supplied user name as it may be stored: bounded, without long digit runs."""
    return _LONG_DIGITS.sub("#", username)[:64]


def is_pledge_current(user: User) -> bool:
    return user.pledge_accepted_at is not None and user.pledge_version == PLEDGE_VERSION


def accept_pledge(session: Session, user: User, *, actor: Actor, now: dt.datetime) -> None:
    user.pledge_accepted_at = now
    user.pledge_version = PLEDGE_VERSION
    session.flush()
    record_event(
        session, AuditTag.WEB_AUTH_PLEDGE, actor=actor, subjects=[("user", user.id)], data={"version": PLEDGE_VERSION}
    )


def change_password(
    session: Session,
    user: User,
    current_password: str,
    new_password: str,
    *,
    actor: Actor,
    now: dt.datetime,
    keep_session_id: int | None = None,
) -> None:
    """Check the current password and the policy, store the new hash, end the user's other sessions."""
    if not _verify(user.password_hash, current_password):
        raise PasswordChangeError(PasswordChangeError.REASON_WRONG_CURRENT)
    if new_password == current_password:
        raise PasswordChangeError(PasswordChangeError.REASON_UNCHANGED)
    check_password_policy(user, new_password)
    user.password_hash = hash_password(new_password)
    user.must_change_password = False
    ended = end_user_sessions(session, user, now=now, except_id=keep_session_id)
    record_event(
        session, AuditTag.WEB_AUTH_PASSWORD, actor=actor, subjects=[("user", user.id)], data={"sessions_ended": ended}
    )


# --- administration ----------------------------------------------------------------------------


def can_disable_user(actor: Actor, user: User) -> bool:
    """Platform admins manage everyone; agency admins the users of their own agency; nobody themselves."""
    if actor.user_id is not None and actor.user_id == user.id:
        return False
    if actor.is_system or actor.has_role(Role.PLATFORM_ADMIN):
        return True
    return actor.has_role(Role.AGENCY_ADMIN) and actor.agency_id is not None and user.agency_id == actor.agency_id


def list_manageable_users(session: Session, actor: Actor) -> list[User]:
    """The users an admin may see on the user page (everyone, or their own agency's); audited."""
    query = select(User).options(selectinload(User.agency)).order_by(User.username)
    if not (actor.is_system or actor.has_role(Role.PLATFORM_ADMIN)):
        if not actor.has_role(Role.AGENCY_ADMIN) or actor.agency_id is None:
            return []
        query = query.where(User.agency_id == actor.agency_id)
    users = list(session.scalars(query))
    record_event(session, AuditTag.WEB_USER_LIST, actor=actor, data={"count": len(users)})
    return users


def get_user(session: Session, username: str) -> User:
    user = session.scalars(select(User).where(User.username == username)).first()
    if user is None:
        raise AccountError(f"no such user: {username}")
    return user


def add_user(
    session: Session,
    username: str,
    agency_code_or_platform: str,
    roles: Iterable[Role | str],
    *,
    actor: Actor,
    display_name: str = "",
) -> tuple[User, str]:
    """Create a user with a one-time password, which they must change (and pledge) at first login."""
    if not USERNAME_PATTERN.fullmatch(username):
        raise AccountError("user names are 2-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
    if session.scalars(select(User.id).where(User.username == username)).first() is not None:
        raise AccountError(f"user {username} already exists")
    try:
        role_set = sorted({Role(role) for role in roles})
    except ValueError as exc:
        raise AccountError(str(exc)) from exc
    if not role_set:
        raise AccountError("give at least one role")
    agency: Agency | None = None
    if agency_code_or_platform != PLATFORM_OFFICE_CODE:
        agency = session.scalars(select(Agency).where(Agency.code == agency_code_or_platform)).first()
        if agency is None or not agency.is_active:
            raise AccountError(f"no active agency with code {agency_code_or_platform}")
    elif Role.AGENCY_ADMIN in role_set:
        raise AccountError("agency_admin belongs to a member agency, not the platform office")
    if agency is not None and Role.PLATFORM_ADMIN in role_set:
        raise AccountError("platform_admin belongs to the platform office (--agency platform)")

    one_time_password = secrets.token_urlsafe(12)
    user = User(
        username=username,
        display_name=display_name,
        agency_id=agency.id if agency else None,
        password_hash=hash_password(one_time_password),
        must_change_password=True,
    )
    user.role_rows = [UserRole(role=role) for role in role_set]
    session.add(user)
    session.flush()
    record_event(
        session,
        _tag(actor, web=AuditTag.WEB_USER_ADD, cli=AuditTag.CLI_USER_ADD),
        actor=actor,
        subjects=[("user", user.id)],
        data={"username": username, "agency": agency_code_or_platform, "roles": [role.value for role in role_set]},
    )
    return user, one_time_password


def issue_api_token(session: Session, username: str, *, actor: Actor, label: str = "") -> str:
    """A new bearer token (256 random bits) for an active user; only its SHA-256 is stored."""
    user = get_user(session, username)
    if not user.is_active:
        raise AccountError(f"user {username} is disabled")
    token = secrets.token_urlsafe(32)
    row = ApiToken(user_id=user.id, token_sha256=sha256_hex(token), label=label[:100])
    session.add(row)
    session.flush()
    record_event(
        session,
        _tag(actor, web=AuditTag.WEB_USER_TOKEN, cli=AuditTag.CLI_USER_TOKEN),
        actor=actor,
        subjects=[("user", user.id), ("api_token", row.id)],
        data={"username": username, "label": row.label},
    )
    return token


def disable_user(session: Session, user: User, *, actor: Actor, now: dt.datetime | None = None) -> None:
    """Disable at once: the flag, every open web session and every API token."""
    now = now or dt.datetime.now(dt.UTC)
    user.is_active = False
    ended = end_user_sessions(session, user, now=now)
    tokens = session.scalars(select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))).all()
    for token in tokens:
        token.revoked_at = now
    revoked = len(tokens)
    session.flush()
    record_event(
        session,
        _tag(actor, web=AuditTag.WEB_USER_DISABLE, cli=AuditTag.CLI_USER_DISABLE),
        actor=actor,
        subjects=[("user", user.id)],
        data={"username": user.username, "sessions_ended": ended, "tokens_revoked": revoked},
    )


def end_user_sessions(session: Session, user: User, *, now: dt.datetime, except_id: int | None = None) -> int:
    """End the user's open web sessions (all, or all but ``except_id``); returns how many."""
    query = select(WebSession).where(WebSession.user_id == user.id, WebSession.ended_at.is_(None))
    if except_id is not None:
        query = query.where(WebSession.id != except_id)
    open_sessions = session.scalars(query).all()
    for web_session in open_sessions:
        web_session.ended_at = now
    session.flush()
    return len(open_sessions)


def prune_login_attempts(session: Session, *, now: dt.datetime, keep: dt.timedelta = dt.timedelta(days=1)) -> int:
    """Delete attempt rows the rate limit no longer reads (the audit log keeps the history)."""
    result = session.execute(delete(LoginAttempt).where(LoginAttempt.attempted_at < now - keep))
    return int(getattr(result, "rowcount", 0) or 0)


def sha256_hex(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _tag(actor: Actor, *, web: AuditTag, cli: AuditTag) -> AuditTag:
    # Operator commands and scheduled jobs act as system actors; everyone else came through the web.
    return cli if actor.is_system else web
