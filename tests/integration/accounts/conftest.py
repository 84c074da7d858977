"""Account tests hash with the factories' fast argon2 parameters; K10 swaps in its own hasher."""

from __future__ import annotations

import pytest

from signalhub_platform import accounts
from tests.factories import TEST_HASHER


@pytest.fixture(autouse=True)
def fast_password_hasher(monkeypatch: pytest.MonkeyPatch) -> None:
    # Same parameters as the factories' hashes, so no test pays for a rehash unless it means to.
    monkeypatch.setattr(accounts, "PASSWORD_HASHER", TEST_HASHER)
