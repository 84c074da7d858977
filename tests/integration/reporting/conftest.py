"""The hand-built district of ``scene`` for every report test."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from tests.integration.reporting.scene import District, build_district


@pytest.fixture
def district(db_session: Session) -> District:
    return build_district(db_session)
