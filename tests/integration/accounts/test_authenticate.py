"""``authenticate``: generic failures, lockout with backoff, per-address rate limit, rehash (W9, W10, K10, K11)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.orm import Session

from signalhub_config import Settings
from signalhub_platform import accounts
from signalhub_platform.models import AuditEvent, AuditSubject, LoginAttempt, Role, User
from tests.factories import TEST_HASHER, make_agency, make_user

PASSWORD = "correct horse battery staple"
T0 = dt.datetime(2026, 11, 27, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def user(db_session: Session) -> User:
    return make_user(db_session, make_agency(db_session), Role.SUPERVISOR, username="alice")


@pytest.fixture
def login(db_session: Session, settings: Settings) -> Callable[..., User]:
    def attempt(username: str, password: str, *, ip: str = "10.0.0.1", now: dt.datetime = T0) -> User:
        return accounts.authenticate(db_session, username, password, client_ip=ip, now=now, settings=settings)

    return attempt


def _events(session: Session, tag: str) -> list[dict[str, object]]:
    payloads = session.scalars(select(AuditEvent.payload).where(AuditEvent.tag == tag).order_by(AuditEvent.seq))
    return [json.loads(payload) for payload in payloads]


def test_success_returns_the_user_resets_failures_and_is_audited(
    db_session: Session, user: User, login: Callable[..., User]
) -> None:
    user.failed_login_count = 3
    assert login("alice", PASSWORD) is user
    assert user.failed_login_count == 0
    attempt = db_session.scalars(select(LoginAttempt)).one()
    assert (attempt.is_success, attempt.client_ip, attempt.username) == (True, "10.0.0.1", "alice")
    [event] = _events(db_session, "web:auth:login")
    assert (event["actor"], event["ip"], event["subjects"]) == ("alice", "10.0.0.1", [["user", str(user.id)]])


def test_wrong_password_and_unknown_user_raise_the_same_error_and_are_audited(
    db_session: Session, user: User, login: Callable[..., User]
) -> None:
    with pytest.raises(accounts.AuthenticationError) as wrong:
        login("alice", "not the password")
    with pytest.raises(accounts.AuthenticationError) as unknown:
        login("mallory", "whatever")
    assert str(wrong.value) == str(unknown.value)
    assert type(wrong.value) is type(unknown.value)
    events = _events(db_session, "web:auth:login_failed")
    assert [(e["data"]["username"], e["data"]["reason"]) for e in events] == [  # type: ignore[index]
        ("alice", "bad_password"),
        ("mallory", "unknown_user"),
    ]
    assert user.failed_login_count == 1


def test_unknown_user_still_verifies_a_dummy_hash(
    monkeypatch: pytest.MonkeyPatch, user: User, login: Callable[..., User]
) -> None:
    """K11: the unknown-user path spends an argon2 verification like the wrong-password path."""
    calls: list[str] = []

    class SpyHasher(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> bool:  # noqa: A002 (argon2's name)
            calls.append(str(hash))
            return super().verify(hash, password)

    monkeypatch.setattr(accounts, "PASSWORD_HASHER", SpyHasher(time_cost=1, memory_cost=8, parallelism=1))
    with pytest.raises(accounts.AuthenticationError):
        login("nobody", "guess")
    assert len(calls) == 1
    assert calls[0].startswith("$argon2id$v=19$m=8,t=1,p=1$")  # a dummy made with the current parameters
    assert calls[0] != user.password_hash
    with pytest.raises(accounts.AuthenticationError):
        login("alice", "guess")
    assert calls[1] == user.password_hash


def test_hash_with_old_parameters_is_upgraded_on_successful_login(
    monkeypatch: pytest.MonkeyPatch, user: User, login: Callable[..., User]
) -> None:
    """K10."""
    stronger = PasswordHasher(time_cost=2, memory_cost=16, parallelism=1)
    monkeypatch.setattr(accounts, "PASSWORD_HASHER", stronger)
    old_hash = user.password_hash
    assert stronger.check_needs_rehash(old_hash)
    login("alice", PASSWORD)
    assert user.password_hash != old_hash
    assert "m=16,t=2,p=1" in user.password_hash
    assert not stronger.check_needs_rehash(user.password_hash)
    assert stronger.verify(user.password_hash, PASSWORD)


def test_failed_login_does_not_rehash(monkeypatch: pytest.MonkeyPatch, user: User, login: Callable[..., User]) -> None:
    monkeypatch.setattr(accounts, "PASSWORD_HASHER", PasswordHasher(time_cost=2, memory_cost=16, parallelism=1))
    old_hash = user.password_hash
    with pytest.raises(accounts.AuthenticationError):
        login("alice", "wrong")
    assert user.password_hash == old_hash


def test_twenty_failures_from_rotating_addresses_lock_the_account_until_the_lock_expires(
    db_session: Session, user: User, login: Callable[..., User], settings: Settings
) -> None:
    """W9: the lock is per account, so rotating addresses does not help; it expires."""
    now = T0
    for i in range(20):
        with pytest.raises(accounts.AuthenticationError):
            login("alice", f"guess {i}", ip=f"10.1.0.{i}", now=now)
        now += dt.timedelta(seconds=1)
    assert user.locked_until is not None and user.locked_until > now
    # Inside the lock the right password gets the very same error.
    with pytest.raises(accounts.AuthenticationError) as during:
        login("alice", PASSWORD, ip="10.2.0.1", now=now)
    assert str(during.value) == str(accounts.AuthenticationError())
    assert _events(db_session, "web:auth:login_failed")[-1]["data"]["reason"] == "locked"  # type: ignore[index]
    assert _events(db_session, "security:account:locked")
    # After the lock the right password works, and the counter starts again.
    assert login("alice", PASSWORD, ip="10.2.0.1", now=user.locked_until + dt.timedelta(seconds=1)) is user
    assert (user.failed_login_count, user.locked_until) == (0, None)


def test_lock_doubles_per_further_failure_up_to_the_maximum(
    db_session: Session, user: User, login: Callable[..., User], settings: Settings
) -> None:
    assert (settings.lockout_threshold, settings.lockout_base_seconds, settings.lockout_max_seconds) == (5, 60, 3600)
    now = T0
    for i in range(settings.lockout_threshold - 1):
        with pytest.raises(accounts.AuthenticationError):
            login("alice", f"guess {i}", now=now)
    assert user.locked_until is None
    durations = []
    for _ in range(8):
        with pytest.raises(accounts.AuthenticationError):
            login("alice", "guess", now=now)
        assert user.locked_until is not None
        durations.append((user.locked_until - now).total_seconds())
        now = user.locked_until  # the lock has just expired: the next wrong guess is verified again
    assert durations == [60, 120, 240, 480, 960, 1920, 3600, 3600]
    locks = _events(db_session, "security:account:locked")
    assert [e["data"]["seconds"] for e in locks] == durations  # type: ignore[index]


def test_attempts_during_the_lock_do_not_extend_it(user: User, login: Callable[..., User], settings: Settings) -> None:
    for i in range(settings.lockout_threshold):
        with pytest.raises(accounts.AuthenticationError):
            login("alice", f"guess {i}")
    locked_until, failures = user.locked_until, user.failed_login_count
    for _ in range(10):
        with pytest.raises(accounts.AuthenticationError):
            login("alice", "guess", now=T0 + dt.timedelta(seconds=10))
    assert (user.locked_until, user.failed_login_count) == (locked_until, failures)


def test_disabled_user_with_the_right_password_gets_the_generic_error(
    db_session: Session, user: User, login: Callable[..., User]
) -> None:
    user.is_active = False
    with pytest.raises(accounts.AuthenticationError):
        login("alice", PASSWORD)
    assert _events(db_session, "web:auth:login_failed")[-1]["data"]["reason"] == "disabled"  # type: ignore[index]


def test_rate_limit_per_address_across_accounts(
    db_session: Session, user: User, login: Callable[..., User], settings: Settings
) -> None:
    """W10: more than ``login_rate_per_minute`` attempts from one address in a minute → limited."""
    limit = settings.login_rate_per_minute
    for i in range(limit):
        with pytest.raises(accounts.AuthenticationError):
            login(f"user{i}", "guess", ip="10.9.9.9", now=T0 + dt.timedelta(seconds=i % 50))
    with pytest.raises(accounts.LoginRateLimitedError):
        login("alice", PASSWORD, ip="10.9.9.9", now=T0 + dt.timedelta(seconds=55))
    with pytest.raises(accounts.LoginRateLimitedError):
        login("alice", PASSWORD, ip="10.9.9.9", now=T0 + dt.timedelta(seconds=56))
    # Another address is unaffected; the limited one recovers once the window has passed.
    assert login("alice", PASSWORD, ip="10.9.9.10", now=T0 + dt.timedelta(seconds=56)) is user
    assert login("alice", PASSWORD, ip="10.9.9.9", now=T0 + dt.timedelta(seconds=120)) is user
    assert len(_events(db_session, "security:login:rate_limited")) == 1  # once per window, not per request


def test_rate_limited_attempt_is_not_verified_nor_counted_against_the_account(
    monkeypatch: pytest.MonkeyPatch, user: User, login: Callable[..., User], settings: Settings
) -> None:
    for i in range(settings.login_rate_per_minute):
        with pytest.raises(accounts.AuthenticationError):
            login(f"user{i}", "guess")
    monkeypatch.setattr(accounts, "_verify", lambda *_: pytest.fail("verified while rate-limited"))
    with pytest.raises(accounts.LoginRateLimitedError):
        login("alice", "guess")
    assert user.failed_login_count == 0


def test_an_id_number_typed_as_user_name_is_not_stored(db_session: Session, login: Callable[..., User]) -> None:
    with pytest.raises(accounts.AuthenticationError):
        login("11010519491231002X", "guess")
    assert db_session.scalars(select(LoginAttempt.username)).all() == ["#X"]
    assert _events(db_session, "web:auth:login_failed")[0]["data"]["username"] == "#X"  # type: ignore[index]


def test_lockout_event_names_the_account(db_session: Session, user: User, login: Callable[..., User]) -> None:
    for i in range(5):
        with pytest.raises(accounts.AuthenticationError):
            login("alice", f"guess {i}")
    [seq] = db_session.scalars(select(AuditEvent.seq).where(AuditEvent.tag == "security:account:locked")).all()
    subjects = db_session.scalars(select(AuditSubject.ref).where(AuditSubject.seq == seq)).all()
    assert subjects == [str(user.id)]


def test_prune_login_attempts_keeps_the_rate_window(db_session: Session, login: Callable[..., User]) -> None:
    for offset in (dt.timedelta(days=3), dt.timedelta(0)):
        with pytest.raises(accounts.AuthenticationError):
            login("nobody", "guess", now=T0 - offset)
    assert accounts.prune_login_attempts(db_session, now=T0) == 1
    assert len(db_session.scalars(select(LoginAttempt)).all()) == 1


def test_test_hasher_matches_factories() -> None:
    # The fixture's premise: factory hashes need no rehash under the patched hasher.
    assert not accounts.PASSWORD_HASHER.check_needs_rehash(TEST_HASHER.hash("x"))
