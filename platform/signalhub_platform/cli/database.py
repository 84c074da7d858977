"""``signalhub init``, ``signalhub serve`` (embedded or ``--production``) and ``signalhub database roles``."""

from __future__ import annotations

import re

import click
from sqlalchemy import text
from sqlalchemy.engine import Connection

from signalhub_platform.cli import CliContext, main, pass_context


@main.command()
@pass_context
def init(ctx: CliContext) -> None:
    """Create or migrate the database; generate missing key files in the instance folder."""
    from signalhub_audit.services import record_event
    from signalhub_audit.tags import AuditTag
    from signalhub_platform.db import make_engine, transaction
    from signalhub_platform.keys import generate_missing_keys
    from signalhub_platform.models import Actor
    from signalhub_platform.schema import heads, upgrade_database

    settings = ctx.settings
    settings.instance_dir.mkdir(parents=True, exist_ok=True)
    for path in generate_missing_keys(settings):
        click.echo(f"generated key file {path} (keep it secret, back it up, never commit it)")
    if not settings.database_url:
        click.echo(f"database: SQLite file {settings.instance_dir / 'signalhub.sqlite3'}")
    upgrade_database(make_engine(settings.resolved_database_url))
    with transaction(ctx.session_factory) as session:
        record_event(session, AuditTag.CLI_DATABASE_INIT, actor=Actor.cli(), data={"schema": heads()[0]})
    click.echo("database is at the latest schema")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--production",
    is_flag=True,
    help="Serve with gunicorn worker processes; run 'signalhub scheduler' and 'signalhub worker' beside it.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Worker processes with --production [default: SIGNALHUB_WEB_WORKERS, else 2 per CPU core + 1].",
)
@pass_context
def serve(ctx: CliContext, host: str, port: int, production: bool, workers: int | None) -> None:
    """Serve the web UI and API.

    Embedded mode (the default): one process, with the job worker and the scheduler in threads.
    --production: gunicorn worker processes and nothing else; SIGTERM stops it gracefully.
    """
    if production:
        _serve_production(ctx, host, port, workers)
        return
    if workers is not None:
        raise click.UsageError("--workers needs --production (the embedded mode is one process)")
    _serve_embedded(ctx, host, port)


def _serve_production(ctx: CliContext, host: str, port: int, workers: int | None) -> None:
    from signalhub_config import MissingKeysError
    from signalhub_platform.web.observability import configure_logging
    from signalhub_platform.wsgi import ProductionServer, gunicorn_options

    if ctx.factory is not None:
        raise click.ClickException("--production serves the configured database only")
    settings = ctx.settings
    try:
        settings.load_keys()  # here, once, rather than as every worker failing to boot
        options = gunicorn_options(settings, host=host, port=port, workers=workers)
    except (MissingKeysError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    configure_logging(settings.log_level)
    click.echo(
        f"signalhub (production) on http://{host}:{port}/ with {options['workers']} workers x "
        f"{options['threads']} threads; the scheduler and the job worker are separate processes",
        err=True,
    )
    ProductionServer(settings, options).run()


def _serve_embedded(ctx: CliContext, host: str, port: int) -> None:
    import datetime as dt

    from signalhub_config import MissingKeysError
    from signalhub_ingest.services import recover_stuck_batches
    from signalhub_platform.app import PlatformState, create_app
    from signalhub_platform.db import transaction
    from signalhub_platform.models import Actor
    from signalhub_platform.models.types import utcnow
    from signalhub_platform.scheduler import start_embedded_scheduler
    from signalhub_platform.web.observability import configure_logging
    from signalhub_platform.worker import WorkerThread, queue_handlers

    configure_logging(ctx.settings.log_level)
    try:
        app = create_app(ctx.settings, session_factory=ctx.factory)
    except MissingKeysError as exc:
        raise click.ClickException(str(exc)) from exc
    platform: PlatformState = app.extensions["signalhub"]
    # Nothing else runs in embedded mode, so a batch left "committing" lost its committer: no grace.
    with transaction(platform.session_factory) as session:
        recovered = recover_stuck_batches(
            session, actor=Actor.job("recover_batches"), now=utcnow(), grace=dt.timedelta(0)
        )
    if recovered:
        click.echo(f"recovered interrupted batch commits: {', '.join(map(str, recovered))}")
    worker = WorkerThread(
        platform.session_factory,
        queue_handlers(ctx.settings, platform.cipher),
    )
    worker.start()
    # Under the same lease as `signalhub scheduler`: if one runs elsewhere, this one stands by.
    scheduler = start_embedded_scheduler(platform.session_factory, platform.keys, ctx.settings)
    click.echo(f"signalhub on http://{host}:{port}/")
    try:
        app.run(host=host, port=port, debug=False, use_reloader=False)
    finally:
        worker.stop()
        if scheduler is not None:
            scheduler.shutdown()


# --- database roles (PostgreSQL) --------------------------------------------------------------

# The audit log is append-only: the application may read and add rows, never change or remove them.
APPEND_ONLY_TABLES = ("audit_events", "audit_subjects", "audit_checkpoints")
# A draw's rows are never deleted (its manifest is frozen by a trigger; results are updates).
NO_DELETE_TABLES = ("draw_commitments", "draw_targets", "draw_team_members", "draws")
# The schema version is the migrations' business, run by the owner.
READ_ONLY_TABLES = ("alembic_version",)
# Unquoted PostgreSQL identifiers only: the name goes into GRANT statements.
ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


class RolesError(click.ClickException):
    """The privileges were not changed (the transaction is rolled back)."""


def grant_application_role(connection: Connection, app_role: str) -> dict[str, list[str]]:
    """Give ``app_role`` what the platform needs on every table of the schema, and no more.

    Run as the role that owns the tables (the one that ran ``signalhub init``). Idempotent: all
    table privileges of ``app_role`` are revoked first, then granted per table class, so running
    it again after an upgrade (new tables) gives the same result. Afterwards the outcome is
    checked with ``has_table_privilege``, which also sees privileges through role membership or
    PUBLIC: if the role can still change an audit row, the command fails and nothing is kept.
    """
    if connection.dialect.name != "postgresql":
        raise RolesError(
            "database roles exist on PostgreSQL only; on SQLite the audit tables' triggers keep them append-only"
        )
    if not ROLE_NAME.fullmatch(app_role):
        raise RolesError("the application role is 1-63 lowercase letters, digits or '_', not starting with a digit")
    role = connection.execute(
        text("SELECT rolsuper, rolcreaterole FROM pg_roles WHERE rolname = :role"), {"role": app_role}
    ).first()
    if role is None:
        raise RolesError(f"no role {app_role}: create it first (CREATE ROLE {app_role} LOGIN PASSWORD '...')")
    if role.rolsuper:
        raise RolesError(f"{app_role} is a superuser, which no privilege binds: use an ordinary role")
    if role.rolcreaterole:
        raise RolesError(
            f"{app_role} has CREATEROLE, so it can make itself a member of the tables' owner: "
            f"ALTER ROLE {app_role} NOCREATEROLE, then run this again"
        )
    if connection.execute(text("SELECT current_user")).scalar() == app_role:
        raise RolesError("run this as the role that owns the tables, not as the application role")
    _refuse_schema_and_database_rights(connection, app_role)
    schema = connection.execute(text("SELECT current_schema()")).scalar()
    tables = connection.execute(
        text(
            "SELECT tablename, pg_has_role(:role, tableowner, 'MEMBER') AS is_owner "
            "FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename"
        ),
        {"role": app_role},
    ).all()
    if not tables:
        raise RolesError(f"no tables in schema {schema}: run 'signalhub init' first")
    owned = [row.tablename for row in tables if row.is_owner]
    if owned:
        raise RolesError(
            f"{app_role} owns (or is a member of the owner of) {', '.join(owned[:5])}: an owner can drop the "
            "audit triggers and grant itself anything. Let another role own the tables and run the migrations"
        )

    quote = connection.dialect.identifier_preparer.quote
    grantee, schema_name = quote(app_role), quote(str(schema))
    database = quote(str(connection.execute(text("SELECT current_database()")).scalar()))
    names = [row.tablename for row in tables]
    classes: dict[str, list[str]] = {"read_write": [], "append_only": [], "no_delete": [], "read_only": []}
    for name in names:
        if name in APPEND_ONLY_TABLES:
            classes["append_only"].append(name)
        elif name in NO_DELETE_TABLES:
            classes["no_delete"].append(name)
        elif name in READ_ONLY_TABLES:
            classes["read_only"].append(name)
        else:
            classes["read_write"].append(name)
    privileges = {
        "read_write": "SELECT, INSERT, UPDATE, DELETE",
        "append_only": "SELECT, INSERT",
        "no_delete": "SELECT, INSERT, UPDATE",
        "read_only": "SELECT",
    }
    statements = [
        # Staging and evaluations use temporary tables.
        f"GRANT CONNECT, TEMPORARY ON DATABASE {database} TO {grantee}",
        f"GRANT USAGE ON SCHEMA {schema_name} TO {grantee}",
        f"REVOKE ALL ON ALL TABLES IN SCHEMA {schema_name} FROM {grantee}",
        *[
            f"GRANT {privileges[kind]} ON TABLE {', '.join(f'{schema_name}.{quote(n)}' for n in members)} TO {grantee}"
            for kind, members in classes.items()
            if members
        ],
        # Explicit, though REVOKE ALL above already took them: the statement says what matters.
        *[
            f"REVOKE UPDATE, DELETE, TRUNCATE ON TABLE {schema_name}.{quote(name)} FROM {grantee}"
            for name in classes["append_only"]
        ],
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema_name} TO {grantee}",
    ]
    for statement in statements:
        connection.exec_driver_sql(statement)

    check = text("SELECT has_table_privilege(:role, :table, :privilege)")
    for name in classes["append_only"]:
        table = f"{schema_name}.{quote(name)}"
        for privilege in ("UPDATE", "DELETE", "TRUNCATE"):
            if connection.execute(check, {"role": app_role, "table": table, "privilege": privilege}).scalar():
                raise RolesError(
                    f"{app_role} can still {privilege} {name} (through PUBLIC or another role it belongs to, "
                    "e.g. pg_write_all_data): remove that grant or membership, then run this again"
                )
    return classes


def _refuse_schema_and_database_rights(connection: Connection, app_role: str) -> None:
    """Table grants bind nobody who may drop or replace the tables themselves: the owner of the
    database or of the schema (or a member of either), or a role that may create objects in the
    schema (it can plant functions that the owner's migrations and triggers then run as the owner)."""
    rights = connection.execute(
        text(
            "SELECT current_database() AS database, n.nspname AS schema, "
            "pg_has_role(:role, d.datdba, 'MEMBER') AS owns_database, "
            "pg_has_role(:role, n.nspowner, 'MEMBER') AS owns_schema, "
            "has_schema_privilege(:role, n.oid, 'CREATE') AS may_create "
            "FROM pg_database d, pg_namespace n "
            "WHERE d.datname = current_database() AND n.nspname = current_schema()"
        ),
        {"role": app_role},
    ).first()
    if rights is None:
        return  # no current schema (an empty search_path): "no tables" says so below
    if rights.owns_database:
        raise RolesError(
            f"{app_role} owns (or is a member of the owner of) database {rights.database}: the database's owner can "
            "drop the schema and the audit tables with it. Let the tables' owner own the database"
        )
    if rights.owns_schema:
        raise RolesError(
            f"{app_role} owns (or is a member of the owner of) schema {rights.schema}: a schema's owner can drop or "
            "rename every table in it, the audit tables too. Let the tables' owner own the schema"
        )
    if rights.may_create:
        raise RolesError(
            f"{app_role} may CREATE in schema {rights.schema} (directly, through PUBLIC or another role): it could "
            "plant functions that the owner's migrations and triggers run with the owner's rights. "
            f"REVOKE CREATE ON SCHEMA {rights.schema} FROM PUBLIC, {app_role}, then run this again"
        )


@main.group(name="database")
def database_group() -> None:
    """Database administration beyond migrations (PostgreSQL)."""


@database_group.command(name="roles")
@click.option("--app-role", required=True, help="The existing role the web, worker and scheduler processes log in as.")
@pass_context
def database_roles(ctx: CliContext, app_role: str) -> None:
    """Grant the application role what it needs; it may never UPDATE, DELETE or TRUNCATE the audit log.

    Run as the tables' owner after 'signalhub init' and again after every upgrade (new tables).
    """
    from signalhub_audit.services import record_event
    from signalhub_audit.tags import AuditTag
    from signalhub_platform.db import transaction
    from signalhub_platform.models import Actor

    with transaction(ctx.session_factory) as session:
        classes = grant_application_role(session.connection(), app_role)
        record_event(
            session,
            AuditTag.CLI_DATABASE_ROLES,
            actor=Actor.cli(),
            data={"app_role": app_role, **{kind: len(names) for kind, names in classes.items()}},
        )
    click.echo(f"role {app_role}: read and write on {len(classes['read_write'])} tables")
    click.echo(f"  append-only (SELECT, INSERT; no UPDATE, DELETE, TRUNCATE): {', '.join(classes['append_only'])}")
    click.echo(f"  never deleted (no DELETE, TRUNCATE): {', '.join(classes['no_delete'])}")
    click.echo(f"  read-only: {', '.join(classes['read_only'])}")
    click.echo("run this again after every upgrade: new tables get no privileges until then")
