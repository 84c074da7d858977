"""Load test of the production server (issue 7), against PostgreSQL.

What it does, in one run:
1. a scratch database loaded with the demo district (``SIGNALHUB_BENCH_LOAD_ENTITIES`` entities,
   default 30,000: ten times the demo), served as a least-privilege application role set up by
   ``signalhub database roles``;
2. ``signalhub serve --production`` (gunicorn, ``SIGNALHUB_BENCH_LOAD_WORKERS`` workers, default
   two per core plus one, as in production)
   on 127.0.0.1 and one ``signalhub worker`` beside it (it validates the uploaded batch);
3. 16 clients for ``SIGNALHUB_BENCH_LOAD_SECONDS`` (default 60) mixing entity lookups, searches and
   warning-queue reads through the bearer-token API, and one batch upload; then 16 clients doing
   entity lookups only (``SIGNALHUB_BENCH_LOOKUP_SECONDS``, default 20);
4. the baseline: a bare Flask endpoint doing one lookup by the unique USCC index with psycopg,
   served by the same gunicorn configuration, for as long;
5. ``signalhub audit verify``, and the audit events counted per read against the requests answered.

Clients are separate processes, each with one keep-alive ``http.client`` connection, so that the
client's GIL is not the bottleneck. The machine has two cores that the clients share with the
servers and PostgreSQL: treat requests/s as a ratio against the bare baseline of the same run.
Needs ``SIGNALHUB_BENCH_DATABASE_URL`` or ``SIGNALHUB_TEST_DATABASE_URL`` (a PostgreSQL superuser
URL, used to create and drop the scratch database and the role).
"""

from __future__ import annotations

import http.client
import multiprocessing
import os
import random
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SIGNALHUB = ROOT / ".venv" / "bin" / "signalhub"
PYTHON = ROOT / ".venv" / "bin" / "python"
CLIENTS = 16
ENTITIES = int(os.environ.get("SIGNALHUB_BENCH_LOAD_ENTITIES", "30000"))
WORKERS = int(os.environ.get("SIGNALHUB_BENCH_LOAD_WORKERS", "0")) or 2 * (os.cpu_count() or 1) + 1
THREADS = int(os.environ.get("SIGNALHUB_WEB_THREADS", "1"))
MIXED_SECONDS = float(os.environ.get("SIGNALHUB_BENCH_LOAD_SECONDS", "60"))
LOOKUP_SECONDS = float(os.environ.get("SIGNALHUB_BENCH_LOOKUP_SECONDS", "20"))
UPLOAD_ROWS = 1000
UPLOAD_AFTER_SECONDS = 10.0
DATABASE = "signalhub_bench_load"
APP_ROLE = "signalhub_bench_app"
# The mix of the main phase: what supervisors do all day. The upload is one request on top.
MIX = (("lookup", 50), ("search", 25), ("warnings", 25))
EXPECTED_STATUS = {"lookup": 200, "search": 200, "warnings": 200, "upload": 202, "bare": 200}
# Each answered read writes these audit events (an entity read also audits its related-risk section).
AUDIT_TAGS = {
    "lookup": ("api:entity:read", "api:entity:linked"),
    "search": ("api:entity:search",),
    "warnings": ("api:warning:list",),
    "upload": ("api:batch:upload",),
}
TARGET_LOOKUP_P99_MS = 50.0
TARGET_BARE_SHARE = 0.5


# --- the bare baseline (imported by gunicorn in its workers) ------------------------------------


def bare_app() -> Any:
    """One lookup by the unique USCC index, psycopg, one connection per thread, JSON out."""
    import psycopg
    from flask import Flask, abort

    dsn = os.environ["SIGNALHUB_BENCH_BARE_DSN"]
    local = threading.local()
    app = Flask("bare")

    @app.get("/e/<uscc>")
    def entity(uscc: str) -> dict[str, Any]:
        connection = getattr(local, "connection", None)
        if connection is None:
            connection = local.connection = psycopg.connect(dsn, autocommit=True)
        row = connection.execute("SELECT id, uscc, name, region FROM entities WHERE uscc = %s", (uscc,)).fetchone()
        if row is None:
            abort(404)
        return {"id": row[0], "uscc": row[1], "name": row[2], "region": row[3]}

    return app


def serve_bare(port: int) -> None:
    """``python -m bench.load bare PORT``: the baseline under the platform's own gunicorn options."""
    from signalhub_config import Settings
    from signalhub_platform.wsgi import ProductionServer, gunicorn_options

    settings = Settings.from_env()
    options = gunicorn_options(settings, host="127.0.0.1", port=port, workers=WORKERS)

    class BareServer(ProductionServer):
        def load(self) -> Any:
            return bare_app()

    BareServer(settings, options).run()


# --- clients ----------------------------------------------------------------------------------


@dataclass
class Plan:
    """What the clients ask for: the same for every client process (sent through fork)."""

    host: str
    port: int
    tokens: list[str]  # supervisors of several agencies
    upload_token: str
    usccs: list[str]
    terms: list[str]
    upload_body: bytes = b""
    upload_type: str = ""
    mix: Sequence[tuple[str, int]] = MIX
    bare: bool = False


@dataclass
class Tally:
    latencies_ns: dict[str, list[int]] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)
    error_samples: list[str] = field(default_factory=list)

    def merge(self, other: Tally) -> None:
        for kind, values in other.latencies_ns.items():
            self.latencies_ns.setdefault(kind, []).extend(values)
        self.errors.update(other.errors)
        self.error_samples.extend(other.error_samples[: max(0, 5 - len(self.error_samples))])


def request_for(plan: Plan, kind: str, rng: random.Random) -> tuple[str, str, bytes | None, dict[str, str]]:
    if kind == "bare":
        return "GET", f"/e/{rng.choice(plan.usccs)}", None, {}
    headers = {"Authorization": f"Bearer {rng.choice(plan.tokens)}"}
    if kind == "lookup":
        return "GET", f"/api/v1/entities/{rng.choice(plan.usccs)}", None, headers
    if kind == "search":
        return "GET", "/api/v1/entities?q=" + urllib.request.quote(rng.choice(plan.terms)), None, headers
    if kind == "warnings":
        return "GET", "/api/v1/warnings", None, headers
    upload_headers = {"Authorization": f"Bearer {plan.upload_token}", "Content-Type": plan.upload_type}
    return "POST", "/api/v1/batches", plan.upload_body, upload_headers


def run_client(index: int, plan: Plan, start: float, seconds: float, results: Any) -> None:
    """One client: requests back to back on one keep-alive connection until the deadline."""
    rng = random.Random(index)
    kinds = [kind for kind, weight in plan.mix for _ in range(weight)]
    tally = Tally()
    connection = http.client.HTTPConnection(plan.host, plan.port, timeout=60)
    pending_upload = index == 0 and plan.upload_body
    while time.monotonic() < start:
        time.sleep(0.001)
    deadline = start + seconds
    while (now := time.monotonic()) < deadline:
        if pending_upload and now >= start + UPLOAD_AFTER_SECONDS:
            kind, pending_upload = "upload", b""
        else:
            kind = rng.choice(kinds)
        method, path, body, headers = request_for(plan, kind, rng)
        began = time.perf_counter_ns()
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            status = response.status
        except (OSError, http.client.HTTPException) as exc:
            status = 0
            if len(tally.error_samples) < 5:
                tally.error_samples.append(f"{kind}: {type(exc).__name__}: {exc}")
            connection.close()
            connection = http.client.HTTPConnection(plan.host, plan.port, timeout=60)
        elapsed = time.perf_counter_ns() - began
        if status == EXPECTED_STATUS[kind]:
            tally.latencies_ns.setdefault(kind, []).append(elapsed)
        else:
            tally.errors[kind] += 1
            if status and len(tally.error_samples) < 5:
                tally.error_samples.append(f"{kind}: HTTP {status} {path[:60]}")
    connection.close()
    results.put(tally)


def load(plan: Plan, seconds: float, clients: int = CLIENTS) -> tuple[Tally, float]:
    """``clients`` processes for ``seconds``; the merged tally and the measured wall time."""
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    start = time.monotonic() + 1.0  # every process forked and connected before the clock starts
    processes = [
        context.Process(target=run_client, args=(index, plan, start, seconds, results)) for index in range(clients)
    ]
    for process in processes:
        process.start()
    tally = Tally()
    for _ in processes:
        tally.merge(results.get(timeout=seconds + 120))
    for process in processes:
        process.join()
    return tally, seconds


# --- the platform -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5):  # noqa: S310 -- loopback http
                return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer; see {log}") from None
            time.sleep(0.3)


def signalhub(args: list[str], env: dict[str, str]) -> str:
    completed = subprocess.run(  # noqa: S603 -- our own CLI
        [str(SIGNALHUB), *args], env=env, check=True, capture_output=True, text=True
    )
    return completed.stdout


def admin_execute(admin_url: str, *statements: str) -> None:
    from signalhub_platform.db import make_engine

    engine = make_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            for statement in statements:
                connection.exec_driver_sql(statement)
    finally:
        engine.dispose()


def upload_file(rows: int) -> tuple[bytes, str]:
    """A TAX batch of ``rows`` rows (the demo's departments), as a multipart body."""
    from bench.ingest import HEADER, generate_rows

    lines = [",".join(HEADER)]
    for n, row in enumerate(generate_rows(rows, seed=7)):
        row[0] = ("T01", "T02", "T03")[n % 3]
        row[11] = f"LOAD-{n:06d}"
        lines.append(",".join(row))
    content = ("\r\n".join(lines) + "\r\n").encode("utf-8")
    boundary = secrets.token_hex(12)
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="load.csv"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    ).encode() + content + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


@dataclass
class Environment:
    admin_url: str
    owner_env: dict[str, str]
    app_env: dict[str, str]
    app_url: str
    folder: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, name: str, args: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[bytes], Path]:
        log = self.folder / f"{name}.log"
        with log.open("wb") as handle:
            process = subprocess.Popen(args, env=env, stdout=handle, stderr=handle, cwd=ROOT)  # noqa: S603
        self.processes.append(process)
        return process, log

    def stop(self, process: subprocess.Popen[bytes]) -> int:
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            return process.wait()

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                self.stop(process)


def prepare(admin_url: str, folder: Path) -> Environment:
    from sqlalchemy import make_url

    base = make_url(admin_url)
    owner_url = base.set(database=DATABASE).render_as_string(hide_password=False)
    password = secrets.token_urlsafe(16)
    app_url = base.set(database=DATABASE, username=APP_ROLE, password=password).render_as_string(hide_password=False)
    admin = base.set(database="postgres").render_as_string(hide_password=False)
    admin_execute(admin, f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)', f'CREATE DATABASE "{DATABASE}"')
    admin_execute(
        admin,
        f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN "
        f"CREATE ROLE {APP_ROLE} LOGIN; END IF; END $$",
        f"ALTER ROLE {APP_ROLE} LOGIN NOSUPERUSER PASSWORD '{password}'",
    )
    common = {**os.environ, "SIGNALHUB_INSTANCE_PATH": str(folder / "instance"), "SIGNALHUB_LOG_LEVEL": "INFO"}
    owner_env = {**common, "SIGNALHUB_DATABASE_URL": owner_url}
    app_env = {**common, "SIGNALHUB_DATABASE_URL": app_url}
    signalhub(["init"], owner_env)
    began = time.monotonic()
    signalhub(["demo", "--entities", str(ENTITIES)], owner_env)
    print(f"  demo district with {ENTITIES:,} entities loaded in {time.monotonic() - began:.0f} s")
    signalhub(["database", "roles", "--app-role", APP_ROLE], owner_env)
    return Environment(admin, owner_env, app_env, app_url, folder)


def token_for(env: dict[str, str], username: str) -> str:
    return signalhub(["users", "token", username, "--label", "bench/load.py"], env).strip().splitlines()[-1]


def district_sample(owner_url: str) -> tuple[list[str], list[str], dict[str, int]]:
    from sqlalchemy import text

    from signalhub_platform.db import make_engine

    engine = make_engine(owner_url)
    try:
        with engine.connect() as connection:
            usccs = list(connection.scalars(text("SELECT uscc FROM entities ORDER BY uscc")))
            names = list(connection.scalars(text("SELECT name FROM entities ORDER BY random() LIMIT 500")))
            counts = {
                table: int(connection.scalar(text(f"SELECT count(*) FROM {table}")) or 0)
                for table in ("entities", "persons", "records", "risk_warnings", "audit_events")
            }
    finally:
        engine.dispose()
    rng = random.Random(3)
    terms = []
    for name in names:  # a two- or three-character slice of a name, past the district prefix
        core = re.sub(r"^北京(市)?(西城区)?", "", name)
        if len(core) >= 3:
            start = rng.randrange(0, len(core) - 2)
            terms.append(core[start : start + rng.choice((2, 3))])
    return usccs, terms, counts


def audit_counts(owner_url: str, after_seq: int) -> Counter[str]:
    from sqlalchemy import text

    from signalhub_platform.db import make_engine

    engine = make_engine(owner_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT tag, count(*) FROM audit_events WHERE seq > :seq GROUP BY tag"), {"seq": after_seq}
            ).all()
            return Counter({tag: int(n) for tag, n in rows})
    finally:
        engine.dispose()


def audit_head(owner_url: str) -> int:
    from sqlalchemy import text

    from signalhub_platform.db import make_engine

    engine = make_engine(owner_url)
    try:
        with engine.connect() as connection:
            return int(connection.scalar(text("SELECT coalesce(max(seq), 0) FROM audit_events")) or 0)
    finally:
        engine.dispose()


def batch_states(owner_url: str) -> list[str]:
    from sqlalchemy import text

    from signalhub_platform.db import make_engine

    engine = make_engine(owner_url)
    try:
        with engine.connect() as connection:
            query = text("SELECT state || ' (' || row_count || ' rows)' FROM batches WHERE filename = 'load.csv'")
            return list(connection.scalars(query))
    finally:
        engine.dispose()


class LockSampler(threading.Thread):
    """Samples pg_stat_activity while the load runs: how many of the platform's backends are busy,
    and how many of those wait for a lock (the audit chain's advisory lock above all)."""

    QUERY = (
        "SELECT count(*) FILTER (WHERE state = 'active'), "
        "count(*) FILTER (WHERE state = 'active' AND wait_event_type = 'Lock' AND wait_event = 'advisory'), "
        "count(*) FILTER (WHERE state = 'active' AND wait_event_type = 'Lock') "
        "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND usename = :role"
    )

    def __init__(self, owner_url: str) -> None:
        super().__init__(daemon=True)
        self.owner_url = owner_url
        self.samples: list[tuple[int, int, int]] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        from sqlalchemy import text

        from signalhub_platform.db import make_engine

        engine = make_engine(self.owner_url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                while not self.stopping.wait(0.1):
                    row = connection.execute(text(self.QUERY), {"role": APP_ROLE}).one()
                    self.samples.append((int(row[0]), int(row[1]), int(row[2])))
        finally:
            engine.dispose()

    def summary(self) -> str:
        if not self.samples:
            return "no samples"
        active = statistics.mean(s[0] for s in self.samples)
        advisory = statistics.mean(s[1] for s in self.samples)
        locks = statistics.mean(s[2] for s in self.samples)
        return (
            f"{len(self.samples)} samples: {active:.1f} backends busy on average, {advisory:.1f} of them waiting "
            f"for the audit chain's advisory lock, {locks:.1f} for any lock"
        )


# --- report -----------------------------------------------------------------------------------


def percentile(values: list[int], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))
    return ordered[index] / 1e6


def report(title: str, tally: Tally, seconds: float) -> dict[str, dict[str, float]]:
    print(f"  {title}")
    print(f"    {'kind':<10}{'requests':>10}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
    figures: dict[str, dict[str, float]] = {}
    for kind in sorted(set(tally.latencies_ns) | set(tally.errors)):
        values = tally.latencies_ns.get(kind, [])
        row = {
            "requests": len(values),
            "rate": len(values) / seconds,
            "p50": statistics.median(values) / 1e6 if values else float("nan"),
            "p99": percentile(values, 0.99) if values else float("nan"),
            "errors": tally.errors[kind],
        }
        figures[kind] = row
        print(
            f"    {kind:<10}{row['requests']:>10,}{row['rate']:>9,.0f}{row['p50']:>9.1f}{row['p99']:>9.1f}"
            f"{row['errors']:>8}"
        )
    total = sum(len(v) for v in tally.latencies_ns.values())
    print(f"    {'all':<10}{total:>10,}{total / seconds:>9,.0f}{'':>18}{sum(tally.errors.values()):>8}")
    for sample in tally.error_samples:
        print(f"    error: {sample}")
    return figures


def main() -> None:
    admin_url = os.environ.get("SIGNALHUB_BENCH_DATABASE_URL") or os.environ.get("SIGNALHUB_TEST_DATABASE_URL")
    print("load test: production server on PostgreSQL")
    if not admin_url or not admin_url.startswith("postgresql"):
        print("  skipped: set SIGNALHUB_BENCH_DATABASE_URL (or SIGNALHUB_TEST_DATABASE_URL) to a PostgreSQL URL")
        return
    sys.path.insert(0, str(ROOT))
    with tempfile.TemporaryDirectory(prefix="signalhub-load-") as tmp:
        folder = Path(tmp)
        env = prepare(admin_url, folder)
        try:
            run(env)
        finally:
            env.stop_all()
            admin_execute(env.admin_url, f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)', f"DROP ROLE {APP_ROLE}")


def run(env: Environment) -> None:
    owner_url = env.owner_env["SIGNALHUB_DATABASE_URL"]
    usccs, terms, counts = district_sample(owner_url)
    print("  data: " + ", ".join(f"{n:,} {table}" for table, n in counts.items()))
    tokens = [token_for(env.owner_env, f"{code}.supervisor") for code in ("tax", "samr", "fda", "hrss")]
    upload_token = token_for(env.owner_env, "tax.liaison")
    body, content_type = upload_file(UPLOAD_ROWS)

    port = free_port()
    serve = ["serve", "--production", "--workers", str(WORKERS), "--host", "127.0.0.1", "--port", str(port)]
    server, server_log = env.start("server", [str(SIGNALHUB), *serve], env.app_env)
    worker, _ = env.start("worker", [str(SIGNALHUB), "worker"], env.app_env)
    wait_for(f"http://127.0.0.1:{port}/healthz", server, server_log)
    plan = Plan("127.0.0.1", port, tokens, upload_token, usccs, terms)
    # Warm up every worker's pools and caches, outside the counted window and its audit count.
    load(plan, 3, clients=4)
    first_seq = audit_head(owner_url)
    load_before = os.getloadavg()[0]

    sampler = LockSampler(owner_url)
    sampler.start()
    mixed, mixed_seconds = load(replace(plan, upload_body=body, upload_type=content_type), MIXED_SECONDS)
    sampler.stopping.set()
    sampler.join()
    lookups, lookup_seconds = load(replace(plan, mix=(("lookup", 1),)), LOOKUP_SECONDS)
    print(f"  {CLIENTS} clients, gunicorn {WORKERS} workers x {THREADS} threads, load before: {load_before:.2f}")
    mixed_figures = report(f"mixed, {MIXED_SECONDS:.0f} s (lookups, searches, warning queue, one upload)", mixed,
                           mixed_seconds)  # fmt: skip
    print(f"    database during the mixed run: {sampler.summary()}")
    lookup_figures = report(f"entity lookups only, {LOOKUP_SECONDS:.0f} s", lookups, lookup_seconds)
    time.sleep(5)  # the worker validates the upload
    print(f"  uploaded batch: {', '.join(batch_states(owner_url)) or 'none'}")
    env.stop(worker)
    exit_code = env.stop(server)
    print(f"  server stopped on SIGTERM with exit code {exit_code}")

    bare_port = free_port()
    bare_env = {**env.app_env, "SIGNALHUB_BENCH_BARE_DSN": env.app_url.replace("postgresql+psycopg", "postgresql")}
    bare, bare_log = env.start("bare", [str(PYTHON), "-m", "bench.load", "bare", str(bare_port)], bare_env)
    wait_for(f"http://127.0.0.1:{bare_port}/e/{usccs[0]}", bare, bare_log)
    bare_plan = replace(plan, port=bare_port, mix=(("bare", 1),))
    load(bare_plan, 3, clients=4)
    baseline, bare_seconds = load(bare_plan, LOOKUP_SECONDS)
    bare_figures = report(f"bare Flask + psycopg lookup, same gunicorn, {LOOKUP_SECONDS:.0f} s", baseline, bare_seconds)
    env.stop(bare)
    print(f"  load average after: {os.getloadavg()[0]:.2f}")

    verify = subprocess.run(  # noqa: S603 -- our own CLI
        [str(SIGNALHUB), "audit", "verify"], env=env.owner_env, capture_output=True, text=True, check=False
    )
    print(f"  signalhub audit verify: exit {verify.returncode}: {verify.stdout.strip().splitlines()[-1:]}")
    events = audit_counts(owner_url, first_seq)
    answered = Counter({kind: len(v) for kind, v in mixed.latencies_ns.items()})
    answered.update({kind: len(v) for kind, v in lookups.latencies_ns.items()})
    failed = mixed.errors + lookups.errors
    checks = []
    for kind, tags in AUDIT_TAGS.items():
        for tag in tags:
            checks.append((kind, tag, answered[kind], events[tag]))
            print(f"  audit: {kind:<9} {answered[kind]:>7,} answered, {failed[kind]} failed -> {events[tag]:>7,} {tag}")

    lookup_p99 = max(mixed_figures.get("lookup", {}).get("p99", float("inf")),
                     lookup_figures.get("lookup", {}).get("p99", float("inf")))  # fmt: skip
    share = lookup_figures.get("lookup", {}).get("rate", 0) / max(bare_figures.get("bare", {}).get("rate", 0), 1e-9)
    errors = sum(mixed.errors.values()) + sum(lookups.errors.values()) + sum(baseline.errors.values())
    print("  targets:")
    print(f"    0 errors: {errors} -> {'met' if errors == 0 else 'NOT met'}")
    print(f"    lookup p99 <= {TARGET_LOOKUP_P99_MS:.0f} ms: {lookup_p99:.1f} ms -> "
          f"{'met' if lookup_p99 <= TARGET_LOOKUP_P99_MS else 'NOT met'}")  # fmt: skip
    print(f"    audited lookups >= {TARGET_BARE_SHARE:.0%} of bare: {share:.1%} -> "
          f"{'met' if share >= TARGET_BARE_SHARE else 'NOT met'}")  # fmt: skip
    is_exact = all(answered_n == events_n for _, _, answered_n, events_n in checks) and not failed
    print(f"    audit verify passes: {'met' if verify.returncode == 0 else 'NOT met'}; "
          f"one event per answered read and tag: {'met' if is_exact else 'NOT met'}")  # fmt: skip


def _entry() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "bare":
        serve_bare(int(sys.argv[2]))
    else:
        main()


if __name__ == "__main__":
    _entry()

