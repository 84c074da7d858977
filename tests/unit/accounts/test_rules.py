"""Pure account rules: hashing parameters, who may disable whom, what a login form may store."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher, Type

from signalhub_platform import accounts
from signalhub_platform.models import Actor, Role, User


def _actor(*roles: Role, user_id: int = 1, agency_id: int | None = 10) -> Actor:
    return Actor(name="admin", user_id=user_id, agency_id=agency_id, roles=frozenset(roles))


def _user(user_id: int, agency_id: int | None) -> User:
    return User(id=user_id, username=f"u{user_id}", agency_id=agency_id)


def test_production_hasher_is_argon2id_with_at_least_owasp_minimum_cost() -> None:
    hasher = accounts.PASSWORD_HASHER
    assert hasher.type is Type.ID
    assert hasher.memory_cost >= 19 * 1024  # KiB, OWASP minimum for argon2id
    assert hasher.time_cost >= 2
    assert (hasher.time_cost, hasher.memory_cost, hasher.parallelism) == (
        accounts.PASSWORD_PARAMETERS.time_cost,
        accounts.PASSWORD_PARAMETERS.memory_cost,
        accounts.PASSWORD_PARAMETERS.parallelism,
    )


def test_hash_with_weaker_parameters_needs_rehash_and_current_one_does_not() -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("pw")
    assert accounts.PASSWORD_HASHER.check_needs_rehash(weak)
    assert not accounts.PASSWORD_HASHER.check_needs_rehash(accounts.PASSWORD_HASHER.hash("pw"))


@pytest.mark.parametrize(
    ("actor", "target", "expected"),
    [
        (_actor(Role.PLATFORM_ADMIN, agency_id=None), _user(2, 10), True),
        (_actor(Role.PLATFORM_ADMIN, agency_id=None), _user(2, None), True),
        (_actor(Role.AGENCY_ADMIN), _user(2, 10), True),
        (_actor(Role.AGENCY_ADMIN), _user(2, 11), False),  # another agency
        (_actor(Role.AGENCY_ADMIN), _user(2, None), False),  # the platform office
        (_actor(Role.AGENCY_ADMIN), _user(1, 10), False),  # oneself
        (_actor(Role.SUPERVISOR), _user(2, 10), False),
        (_actor(Role.AGENCY_ADMIN, agency_id=None), _user(2, None), False),
        (Actor.cli(), _user(2, 10), True),
        (Actor.public(), _user(2, 10), False),
    ],
)
def test_can_disable_user(actor: Actor, target: User, expected: bool) -> None:
    assert accounts.can_disable_user(actor, target) is expected


def test_redact_username_removes_long_digit_runs_and_bounds_length() -> None:
    assert accounts.redact_username("alice.w") == "alice.w"
    assert accounts.redact_username("11010519491231002X") == "#X"
    assert accounts.redact_username("a" * 300) == "a" * 64


@pytest.mark.parametrize(
    ("password", "reason"),
    [("short", "too_short"), ("xx-Alice-long-enough", "contains_username")],
)
def test_password_policy(password: str, reason: str) -> None:
    with pytest.raises(accounts.PasswordChangeError) as caught:
        accounts.check_password_policy(User(username="alice"), password)
    assert caught.value.reason == reason


def test_password_policy_accepts_a_long_unrelated_password() -> None:
    accounts.check_password_policy(User(username="alice"), "violet-kettle-harbour")


def test_authentication_error_is_one_generic_message() -> None:
    assert str(accounts.AuthenticationError()) == "invalid user name or password"
