"""The ``signalhub`` command: one click group; each area registers its commands from its module."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import click
from sqlalchemy.orm import Session, sessionmaker

from signalhub_config import Settings


@dataclass
class CliContext:
    """Settings and database access for commands; tests pass their own session factory."""

    settings: Settings = field(default_factory=Settings.from_env)
    factory: sessionmaker[Session] | None = None

    @cached_property
    def session_factory(self) -> sessionmaker[Session]:
        if self.factory is not None:
            return self.factory
        from signalhub_platform.db import make_engine, make_session_factory

        return make_session_factory(make_engine(self.settings.resolved_database_url))


pass_context = click.make_pass_decorator(CliContext, ensure=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="signalhub")
def main() -> None:
    """signalhub: enterprise supervision signal sharing and risk warnings."""


def _register() -> None:
    # Each module adds its commands to ``main`` when imported.
    from signalhub_platform.cli import (  # noqa: F401
        audit,
        backup,
        database,
        demo,
        draws,
        ingest,
        inspections,
        keys,
        reads,
        reference,
        reports,
        sample,
        scheduler_cli,
        users,
        validate,
        warnings_cli,
        worker,
    )


_register()
