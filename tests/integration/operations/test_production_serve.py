"""``signalhub serve --production``: gunicorn with worker processes and no scheduler inside, started
for real on a free port against a scratch database, and stopped with SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from signalhub_config import Settings
from signalhub_platform.cli import CliContext, main
from signalhub_platform.models import SchedulerLease

SIGNALHUB = Path(sys.executable).with_name("signalhub")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def children_of(pid: int) -> list[int]:
    """Live child processes of ``pid`` (from /proc: field 4 of stat is the parent)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # exited meanwhile
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry.name))
    return sorted(found)


def server_env(settings: Settings, tmp_path: Path, database_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "SIGNALHUB_INSTANCE_PATH": str(tmp_path / "instance"),
        "SIGNALHUB_DATABASE_URL": database_url,
        "SIGNALHUB_SECRET_KEY": settings.secret_key,
        "SIGNALHUB_DATA_KEYS": settings.data_keys,
        "SIGNALHUB_INDEX_KEY": settings.index_key,
        "SIGNALHUB_SIGNING_KEY": settings.signing_key,
        "SIGNALHUB_LOG_LEVEL": "INFO",
    }


@pytest.fixture
def production_server(
    scratch_database: Engine, settings: Settings, tmp_path: Path
) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    port = free_port()
    url = scratch_database.url.render_as_string(hide_password=False)
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 -- our own CLI on a loopback port
            [str(SIGNALHUB), "serve", "--production", "--workers", "2", "--host", "127.0.0.1", "--port", str(port)],
            env=server_env(settings, tmp_path, url),
            stdout=log,
            stderr=log,
        )
        try:
            yield process, f"http://127.0.0.1:{port}", log_path
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)


def get(url: str) -> tuple[int, dict[str, object]]:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 -- loopback http
        return response.status, json.loads(response.read())


def wait_until_serving(process: subprocess.Popen[bytes], base: str, log_path: Path) -> tuple[int, dict[str, object]]:
    deadline = time.monotonic() + 60  # a shared, busy machine
    while True:
        try:
            return get(f"{base}/healthz")
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the server did not start:\n{log_path.read_text()}") from None
            time.sleep(0.2)


@pytest.mark.slow
@pytest.mark.concurrency
def test_production_serves_with_two_workers_without_a_scheduler_and_stops_on_sigterm(
    production_server: tuple[subprocess.Popen[bytes], str, Path], scratch_database: Engine
) -> None:
    process, base, log_path = production_server

    status, health = wait_until_serving(process, base, log_path)

    assert status == 200
    assert health["database"] == "ok"
    workers = children_of(process.pid)
    assert len(workers) == 2, workers
    # Several requests are answered (keep-alive or not) while the workers stay the same two.
    for _ in range(5):
        assert get(f"{base}/healthz")[0] == 200
    assert children_of(process.pid) == workers
    # No scheduler in the workers: no lease was ever taken, and the health check says so.
    assert health["status"] == "degraded" and health["scheduler"] == {"heartbeat_at": None, "fresh": False}
    with scratch_database.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(SchedulerLease)) == 0

    process.send_signal(signal.SIGTERM)

    assert process.wait(timeout=40) == 0
    assert all(not Path(f"/proc/{pid}").exists() for pid in workers)
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    messages = [line["message"] for line in lines]
    assert "Handling signal: term" in messages and "Shutting down: Master" in messages
    assert all(line["logger"] for line in lines)  # gunicorn's own lines are JSON lines like ours


def test_workers_need_production(settings: Settings) -> None:
    result = CliRunner().invoke(main, ["serve", "--workers", "2"], obj=CliContext(settings=settings))
    assert result.exit_code != 0 and "--workers needs --production" in result.output


def test_production_refuses_to_start_without_keys(tmp_path: Path) -> None:
    settings = Settings(instance_path=str(tmp_path / "empty"))
    result = CliRunner().invoke(main, ["serve", "--production", "--port", "0"], obj=CliContext(settings=settings))
    assert result.exit_code != 0 and "missing keys" in result.output
