"""Files and fixtures for the batch lifecycle tests."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from signalhub_config import Settings
from signalhub_ingest import services
from signalhub_platform.crypto import PersonalDataCipher
from signalhub_platform.db import transaction
from signalhub_platform.models import Actor, Agency, Batch
from tests.factories import make_id_number, make_uscc

HEADER = [
    "department", "kind", "risk_level", "openness", "uscc", "entity_name", "person_name", "person_id_number",
    "category", "description", "occurred_on", "source_ref",
]  # fmt: skip
TODAY = dt.date(2026, 11, 27)


def record_rows(
    count: int, *, prefix: str = "R", start: int = 1, description: str = "日常检查发现问题"
) -> list[dict[str, str]]:
    """``count`` valid rows: departments D1/D2, a few named persons, codes from a fixed pool."""
    codes = [make_uscc(9000 + i) for i in range(50)]
    rows = []
    for n in range(start, start + count):
        person = n % 7 == 0
        rows.append(
            {
                "department": "D1" if n % 2 else "D2",
                "kind": "risk" if n % 3 else "penalty",
                "risk_level": ("high" if n % 5 == 0 else "medium") if n % 3 else "",
                "openness": "shared" if n % 4 else "private",
                "uscc": codes[n % len(codes)],
                "entity_name": f"北京测试{n % len(codes)}有限公司",
                "person_name": "张三" if person else "",
                "person_id_number": make_id_number(serial=n % 50) if person else "",
                "category": "投诉举报",
                "description": f"{description} {n}",
                "occurred_on": "2026-06-01",
                "source_ref": f"{prefix}-{n:07d}",
            }
        )
    return rows


def write_csv(path: Path, rows: Iterable[dict[str, str]], *, encoding: str = "utf-8-sig") -> Path:
    with path.open("w", newline="", encoding=encoding) as handle:
        writer = csv.DictWriter(handle, fieldnames=HEADER)
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture
def ingest(
    settings: Settings, session_factory: sessionmaker[Session], cipher: PersonalDataCipher
) -> Callable[..., Any]:
    """Upload a file as the CLI operator and run validation; returns the batch id."""

    def run(agency: Agency, path: Path, *, actor: Actor | None = None, period: str = "2026Q4") -> int:
        actor = actor or Actor.cli()
        with transaction(session_factory) as session, path.open("rb") as stream:
            outcome = services.store_upload(
                session, actor, agency=session.merge(agency), period=period, filename=path.name, stream=stream,
                instance_dir=settings.instance_dir, channel="cli",
            )  # fmt: skip
            batch_id = outcome.batch.id
            if outcome.is_duplicate:
                return -batch_id
        services.validate_batch(
            session_factory, batch_id, cipher=cipher, instance_dir=settings.instance_dir, today=TODAY, actor=actor
        )
        return batch_id

    return run


def batch(session: Session, batch_id: int) -> Batch:
    session.expire_all()
    found = session.get(Batch, batch_id)
    assert found is not None
    return found
