"""``signalhub users``: the platform office issues accounts and API tokens, and disables them.

Secrets (one-time passwords, tokens) are printed once on stdout and stored only hashed.
"""

from __future__ import annotations

import click

from signalhub_platform import accounts
from signalhub_platform.cli import CliContext, main, pass_context
from signalhub_platform.db import transaction
from signalhub_platform.models import Actor, Role


@main.group()
def users() -> None:
    """Issue, give tokens to and disable user accounts."""


@users.command("add")
@click.argument("username")
@click.option("--agency", "agency_code", required=True, help="Agency code, or 'platform' for the platform office.")
@click.option(
    "--role",
    "roles",
    multiple=True,
    required=True,
    type=click.Choice([role.value for role in Role]),
    help="Repeatable.",
)
@click.option("--display-name", default="", help="Name shown in the UI.")
@pass_context
def add(ctx: CliContext, username: str, agency_code: str, roles: tuple[str, ...], display_name: str) -> None:
    """Create USERNAME and print a one-time password (to be changed at first login)."""
    try:
        with transaction(ctx.session_factory) as session:
            _, one_time_password = accounts.add_user(
                session, username, agency_code, roles, actor=Actor.cli(), display_name=display_name
            )
    except accounts.AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"user {username} created; one-time password (shown once, must be changed at first login):", err=True)
    click.echo(one_time_password)


@users.command("token")
@click.argument("username")
@click.option("--label", default="", help="What the token is for, e.g. the calling system.")
@pass_context
def token(ctx: CliContext, username: str, label: str) -> None:
    """Print a new API bearer token for USERNAME (shown once; only its hash is stored)."""
    try:
        with transaction(ctx.session_factory) as session:
            value = accounts.issue_api_token(session, username, actor=Actor.cli(), label=label)
    except accounts.AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"API token for {username} (shown once):", err=True)
    click.echo(value)


@users.command("disable")
@click.argument("username")
@pass_context
def disable(ctx: CliContext, username: str) -> None:
    """Disable USERNAME at once: ends their web sessions and revokes their API tokens."""
    try:
        with transaction(ctx.session_factory) as session:
            accounts.disable_user(session, accounts.get_user(session, username), actor=Actor.cli())
    except accounts.AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"user {username} disabled")
