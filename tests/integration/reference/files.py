"""Registry and agency fixture files: rows as dicts, written as CSV (any encoding) or XLSX (openpyxl)."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
from collections.abc import Sequence
from pathlib import Path

from openpyxl import Workbook
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from signalhub_ingest.reference import AGENCY_COLUMNS, REGISTRY_COLUMNS
from signalhub_platform.crypto import PersonalDataCipher
from signalhub_platform.models import Entity, EntityPersonRole, Person
from tests.factories import make_id_number, make_uscc

TODAY = dt.date(2026, 11, 27)


def registry_row(uscc: str, id_number: str, since: str, **fields: str) -> dict[str, str]:
    row = {
        "uscc": uscc,
        "name": "北京华鑫商贸有限公司",
        "type": "enterprise",
        "region": "金融街街道",
        "industry": "5212",
        "address": "北京市西城区金融大街1号",
        "status": "active",
        "registered_on": "2015-03-01",
        "legal_rep_name": "张三",
        "legal_rep_id_number": id_number,
        "legal_rep_since": since,
    }
    row.update(fields)
    return row


def write_csv(
    path: Path, rows: Sequence[dict[str, str]], *, columns: Sequence[str] = REGISTRY_COLUMNS, encoding: str = "utf-8"
) -> Path:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def write_xlsx(path: Path, rows: Sequence[dict[str, str]], *, columns: Sequence[str] = REGISTRY_COLUMNS) -> Path:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(list(columns))
    for row in rows:
        sheet.append([row.get(column, "") for column in columns])
    workbook.save(path)
    return path


def agency_rows() -> list[dict[str, str]]:
    return [
        {"agency_code": "TAX", "agency_name": "区税务局", "department_code": "T01", "department_name": "征收管理科"},
        {"agency_code": "TAX", "agency_name": "区税务局", "department_code": "T02", "department_name": "稽查局"},
        {
            "agency_code": "SAMR",
            "agency_name": "区市场监督管理局",
            "department_code": "M01",
            "department_name": "登记注册科",
        },
    ]


def write_agencies_csv(path: Path, rows: Sequence[dict[str, str]], encoding: str = "utf-8") -> Path:
    return write_csv(path, rows, columns=AGENCY_COLUMNS, encoding=encoding)


class RegistryFixture:
    """Two entities: E1 with three successive representatives, E2 whose representative also led E1."""

    def __init__(self, seed: int = 1) -> None:
        self.e1, self.e2 = make_uscc(seed * 1000 + 1), make_uscc(seed * 1000 + 2)
        self.id_a = make_id_number(dt.date(1970, 1, 2), seed * 10 + 1)
        self.id_b = make_id_number(dt.date(1981, 3, 4), seed * 10 + 2)
        self.id_c = make_id_number(dt.date(1992, 5, 6), seed * 10 + 3)
        self.rows = [
            # Deliberately not in date order: succession follows legal_rep_since, not file order.
            registry_row(self.e1, self.id_b, "2019-06-01", legal_rep_name="李四"),
            registry_row(self.e1, self.id_a, "2015-03-01", legal_rep_name="张三"),
            registry_row(self.e1, self.id_c, "2022-01-10", legal_rep_name="王五"),
            registry_row(
                self.e2,
                self.id_a,
                "2018-09-09",
                legal_rep_name="张三",
                name="西城区张三小吃店",
                type="个体工商户",
                status="吊销",
                industry="6291",
                registered_on="2018-09-09",
            ),
        ]

    @property
    def id_numbers(self) -> list[str]:
        return [self.id_a, self.id_b, self.id_c]


def roles_of(session: Session, cipher: PersonalDataCipher, uscc: str) -> list[tuple[str, str, dt.date | None]]:
    """(plaintext-free) succession of an entity: (person blind index, since, until) by since."""
    rows = session.execute(
        select(Person.id_blind_index, EntityPersonRole.since, EntityPersonRole.until)
        .join(EntityPersonRole.person)
        .join(EntityPersonRole.entity)
        .where(Entity.uscc == uscc)
        .order_by(EntityPersonRole.since)
    ).all()
    return [(bidx, since.isoformat(), until) for bidx, since, until in rows]


REGISTRY_TABLES = ("entities", "persons", "entity_person_roles")


def snapshot(session: Session, tables: Sequence[str] = REGISTRY_TABLES) -> dict[str, list[tuple[object, ...]]]:
    """Every column of every row, for "nothing changed" comparisons."""
    session.flush()
    return {
        table: [tuple(row) for row in session.execute(text(f"SELECT * FROM {table} ORDER BY 1")).all()]
        for table in tables
    }


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()
