"""Synthetic template rows for the ingest tests and the validator timing script.

Codes are built with the identifiers' own check-character functions, so every generated USCC and
ID number is valid unless a test spoils it on purpose.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
from collections.abc import Iterator

from signalhub_ingest.rules import COLUMNS
from signalhub_platform.identifiers.resident_id import id_check_char
from signalhub_platform.identifiers.uscc import ALPHABET, organisation_check_char, uscc_check_char

TODAY = dt.date(2026, 4, 15)
DEPARTMENTS = {"JD01": 11, "执法一科": 11, "JD02": 12, "执法二科": 12, "示例科室": 99}
ZH_HEADER = [column.label_zh for column in COLUMNS]
EN_HEADER = [column.key for column in COLUMNS]
_ORG_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def make_uscc(rng: random.Random) -> str:
    """A valid 18-character USCC (national and organisation check characters both right)."""
    org = "".join(rng.choice(_ORG_CHARS) for _ in range(8))
    org_check = organisation_check_char(org)
    region = rng.choice(["110101", "110105", "110108", "310115"])
    first17 = "91" + region + org + org_check
    assert all(char in ALPHABET for char in first17)
    return first17 + uscc_check_char(first17)


def spoil_check_char(code: str) -> str:
    """The same code with a different (wrong) last character."""
    wrong = "1" if code[-1] != "1" else "2"
    return code[:-1] + wrong


def make_id_number(rng: random.Random) -> str:
    born = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(365 * 50))
    first17 = rng.choice(["110101", "110105", "350203"]) + born.strftime("%Y%m%d") + f"{rng.randrange(1000):03d}"
    return first17 + id_check_char(first17)


def good_row(index: int, rng: random.Random | None = None) -> dict[str, str]:
    """A valid row keyed by English column keys; a risk row or a penalty row by turns."""
    rng = rng or random.Random(index)
    is_risk = index % 2 == 0
    return {
        "department": "JD01" if index % 3 else "执法二科",
        "kind": "风险" if is_risk else "处罚",
        "risk_level": rng.choice(["低", "中", "高"]) if is_risk else "",
        "openness": rng.choice(["暂不开放", "有条件开放", "完全开放"]),
        "uscc": make_uscc(rng),
        "entity_name": f"北京测试商贸有限公司{index}",
        "person_name": "张三",
        "person_id_number": make_id_number(rng),
        "category": "食品安全",
        "description": "抽检不合格，已责令整改。" * 3,
        "occurred_on": (TODAY - dt.timedelta(days=rng.randrange(3000))).isoformat(),
        "source_ref": f"JD-{index:07d}",
    }


def cells(row: dict[str, str], header: list[str] = EN_HEADER) -> list[str]:
    keys = [column.key for column in COLUMNS]
    by_header = dict(zip(header, keys, strict=True))
    return [row[by_header[name]] for name in header]


def good_rows(count: int, seed: int = 1) -> Iterator[dict[str, str]]:
    rng = random.Random(seed)
    for index in range(count):
        yield good_row(index, rng)


def csv_text(rows: list[dict[str, str]], header: list[str] = ZH_HEADER) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(cells(row, header))
    return buffer.getvalue()
