"""The platform office's page of periodic job runs: only platform admins, in Chinese, audited."""

from __future__ import annotations

import datetime as dt

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from signalhub_audit.tags import AuditTag
from signalhub_platform import accounts
from signalhub_platform.models import AuditEvent, JobRun, JobRunOutcome, Role
from signalhub_platform.models.types import utcnow
from signalhub_platform.scheduler import acquire_lease
from tests.factories import TEST_HASHER, make_agency, make_user

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def fast_password_hasher(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(accounts, "PASSWORD_HASHER", TEST_HASHER)


@pytest.fixture
def runs(db_session: Session) -> None:
    now = utcnow()
    make_user(db_session, None, Role.PLATFORM_ADMIN, username="office")
    make_user(db_session, make_agency(db_session, "TAX"), Role.AGENCY_ADMIN, username="tax.admin")
    acquire_lease(db_session, holder="sched-1:7:ab12cd", now=now, ttl=dt.timedelta(seconds=60))
    db_session.add_all(
        [
            JobRun(
                job_name="audit_checkpoint",
                holder="sched-1:7:ab12cd",
                started_at=now - dt.timedelta(minutes=30),
                finished_at=now - dt.timedelta(minutes=30) + dt.timedelta(seconds=1),
                outcome=JobRunOutcome.OK,
            ),
            JobRun(
                job_name="evaluate_warnings",
                holder="sched-1:7:ab12cd",
                started_at=now - dt.timedelta(minutes=5),
                finished_at=now - dt.timedelta(minutes=4),
                outcome=JobRunOutcome.ERROR,
                error="OperationalError: the database went away",
            ),
            JobRun(job_name="recover_batches", holder="sched-1:7:ab12cd", started_at=now),
        ]
    )
    db_session.commit()


def signed_in(app: Flask, username: str) -> FlaskClient:
    client = app.test_client()
    assert client.post("/login", data={"username": username, "password": PASSWORD}).status_code == 302
    return client


@pytest.mark.usefixtures("runs")
def test_the_platform_office_sees_recent_runs_in_chinese(app: Flask, db_session: Session) -> None:
    response = signed_in(app, "office").get("/admin/jobs")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    for text in ("定时任务", "当前调度进程", "sched-1:7:ab12cd", "运行正常", "审计日志检查点", "每日预警研判"):
        assert text in page, text
    assert page.count("成功") == 1 and page.count("失败") == 1 and "运行中" in page
    assert "OperationalError: the database went away" in page
    # Newest first.
    assert page.index("恢复中断的批次提交") < page.index("每日预警研判") < page.index("审计日志检查点")
    tags = db_session.scalars(select(AuditEvent.tag).order_by(AuditEvent.seq)).all()
    assert tags[-1] == AuditTag.WEB_JOB_RUN_LIST


@pytest.mark.usefixtures("runs")
def test_other_admins_and_anonymous_users_are_kept_out(app: Flask) -> None:
    assert signed_in(app, "tax.admin").get("/admin/jobs").status_code == 403
    anonymous = app.test_client().get("/admin/jobs")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]


def test_an_empty_page_before_any_scheduler_ran(app: Flask, db_session: Session) -> None:
    make_user(db_session, None, Role.PLATFORM_ADMIN, username="office")
    db_session.commit()
    page = signed_in(app, "office").get("/admin/jobs").get_data(as_text=True)
    assert "尚无调度进程运行过。" in page and "尚无任务运行记录。" in page


@pytest.mark.usefixtures("runs")
def test_the_users_page_links_the_platform_office_to_it(app: Flask) -> None:
    assert 'href="/admin/jobs"' in signed_in(app, "office").get("/admin/users").get_data(as_text=True)
    assert 'href="/admin/jobs"' not in signed_in(app, "tax.admin").get("/admin/users").get_data(as_text=True)
