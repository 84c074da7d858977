"""``signalhub keys add``, ``keys rotate`` and ``keys status``: the data key ring for ID numbers.

Rotation is two steps because keys are read once per process: ``keys add`` puts a new primary
key at the top of ``instance/keys/data_keys`` (older keys stay, so every row still decrypts);
after every process has been restarted on the new ring, ``keys rotate`` re-encrypts the rows
still under an older key, at once, or with ``--request`` by the scheduler in slices. Only when
``keys status`` shows an old key unused may it be removed from the file.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import click

from signalhub_platform.cli import CliContext, main, pass_context

# Key ids are stored in persons.id_key_id (32 characters) and separated from the key by ':'.
KEY_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,32}")


@main.group(name="keys")
def keys_group() -> None:
    """The AES-GCM data key ring that encrypts ID numbers at rest."""


@keys_group.command(name="add")
@click.option("--key-id", default=None, help="Id of the new key (default: the next kN).")
@pass_context
def add_key(ctx: CliContext, key_id: str | None) -> None:
    """Generate a new data key and make it the primary (encrypting) key; older keys keep decrypting."""
    from signalhub_config import MissingKeysError
    from signalhub_config.settings import DATA_KEYS_FILE
    from signalhub_platform.keys import new_data_key_line

    settings = ctx.settings
    if settings.data_keys:
        raise click.ClickException(
            "the data keys come from SIGNALHUB_DATA_KEYS, which overrides the key file: add the new key there"
        )
    path = settings.key_dir / DATA_KEYS_FILE
    if not path.is_file():
        raise click.ClickException(f"no data key file at {path}: run 'signalhub init' first")
    text = path.read_text(encoding="ascii")
    existing = _key_ids(text)
    key_id = key_id or _next_key_id(existing)
    if not KEY_ID_PATTERN.fullmatch(key_id):
        raise click.ClickException("a key id is 1-32 letters, digits, '_' or '-'")
    if key_id in existing:
        raise click.ClickException(f"key id {key_id!r} is already in the ring")
    _replace_file(path, new_data_key_line(key_id) + "\n" + text)
    try:
        ring = [ring_id for ring_id, _ in settings.load_keys().data_keys]
    except MissingKeysError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"data key {key_id} is now primary; key ring: {', '.join(ring)}")
    click.echo(
        "restart every signalhub process (web workers, scheduler) on the new ring, "
        "then run 'signalhub keys rotate' to re-encrypt existing ID numbers"
    )


@keys_group.command(name="rotate")
@click.option("--batch-size", default=1000, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--request",
    "is_request",
    is_flag=True,
    help="Do not re-encrypt here: ask the scheduler to do it in slices (large registers, no long transaction).",
)
@pass_context
def rotate_keys(ctx: CliContext, batch_size: int, is_request: bool) -> None:
    """Re-encrypt every ID number not yet under the primary key (one audit event per batch).

    Without --request: all of them now, in one transaction. With --request: the scheduler's
    rotate_keys job re-encrypts SIGNALHUB_KEY_ROTATION_ROWS_PER_RUN every five minutes until none
    is left; 'signalhub keys status' shows the progress.
    """
    from signalhub_audit.tags import AuditTag
    from signalhub_config import MissingKeysError
    from signalhub_ingest.jobs import request_key_rotation
    from signalhub_ingest.personal_data import (
        PersonalDataIntegrityError,
        StagedIdNumberIntegrityError,
        key_usage,
        rotate_personal_data,
        rotate_staged_id_numbers,
    )
    from signalhub_platform.crypto import PersonalDataCipher
    from signalhub_platform.db import transaction
    from signalhub_platform.models import Actor
    from signalhub_platform.models.types import utcnow

    try:
        cipher = PersonalDataCipher(ctx.settings.load_keys())
    except MissingKeysError as exc:
        raise click.ClickException(str(exc)) from exc
    if is_request:
        with transaction(ctx.session_factory) as session:
            job = request_key_rotation(session, cipher, actor=Actor.cli(), now=utcnow())
            pending = key_usage(session).pending(cipher.primary_key_id)
        click.echo(
            f"rotation to key {cipher.primary_key_id} requested (request {job.id}): {pending} ID numbers to "
            f"re-encrypt, up to {ctx.settings.key_rotation_rows_per_run} every five minutes by 'signalhub scheduler'"
        )
        click.echo("the scheduler must run on this key ring (restart it after 'keys add'); see 'signalhub keys status'")
        return
    try:
        with transaction(ctx.session_factory) as session:
            count = rotate_personal_data(
                session, cipher, actor=Actor.cli(), batch_size=batch_size, tag=AuditTag.CLI_KEYS_ROTATE
            )
            staged = rotate_staged_id_numbers(
                session, cipher, actor=Actor.cli(), batch_size=batch_size, tag=AuditTag.CLI_KEYS_ROTATE
            )
    except (PersonalDataIntegrityError, StagedIdNumberIntegrityError) as exc:
        raise click.ClickException(f"{exc}; nothing was re-encrypted") from exc
    click.echo(f"re-encrypted {count} ID numbers under key {cipher.primary_key_id}")
    if staged:
        click.echo(f"re-encrypted {staged} ID numbers of batches awaiting their commit")


@keys_group.command(name="status")
@pass_context
def key_status(ctx: CliContext) -> None:
    """Which data keys encrypt how many ID numbers, open rotation requests, and which keys may be retired."""
    from sqlalchemy import select

    from signalhub_audit.services import record_event
    from signalhub_audit.tags import AuditTag
    from signalhub_config import MissingKeysError
    from signalhub_ingest.jobs import ROTATE_KEYS
    from signalhub_ingest.personal_data import check_key_samples, key_usage
    from signalhub_platform.crypto import PersonalDataCipher
    from signalhub_platform.db import transaction
    from signalhub_platform.models import Actor, Job, JobState

    try:
        keys = ctx.settings.load_keys()
    except MissingKeysError as exc:
        raise click.ClickException(str(exc)) from exc
    ring = [key_id for key_id, _ in keys.data_keys]
    primary = ring[0]
    with transaction(ctx.session_factory) as session:
        usage = key_usage(session)
        # One person per key: proves the key material (not only its id) fits the database. The
        # plaintext is dropped at once and never printed.
        fits = check_key_samples(session, PersonalDataCipher(keys), usage.persons)
        requests = session.scalars(
            select(Job).where(Job.kind == ROTATE_KEYS, Job.state == JobState.QUEUED).order_by(Job.id)
        ).all()
        record_event(
            session,
            AuditTag.CLI_KEYS_ROTATE,
            actor=Actor.cli(),
            data={
                "action": "status",
                "persons": usage.persons,
                "staged": usage.staged,
                "open_requests": len(requests),
                "sample_decrypts": fits,
            },
        )
    click.echo(f"key ring: {', '.join(ring)} (primary {primary})")
    for key_id in sorted(set(ring) | set(usage.key_ids())):
        persons, staged = usage.persons.get(key_id, 0), usage.staged.get(key_id, 0)
        if key_id not in ring:
            note = "NOT IN THE RING: these ID numbers cannot be decrypted; put the key back"
        elif fits.get(key_id) is False:
            note = "WRONG KEY MATERIAL: a sample ID number under this id does not decrypt"
        elif key_id == primary:
            note = "primary"
        elif persons or staged:
            note = "still in use: rotate before retiring it"
        else:
            note = "unused: may be retired (keep a copy as long as backups made before the rotation are kept)"
        click.echo(f"  {key_id}: {persons} persons, {staged} staged batch rows - {note}")
    for job in requests:
        click.echo(
            f"open rotation request {job.id} to key {job.payload.get('to_key_id')}: "
            f"{job.payload.get('rotated', 0)} re-encrypted so far, {usage.pending(primary)} to go"
        )


def _key_ids(text: str) -> list[str]:
    ids = []
    for line in text.replace(",", "\n").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            ids.append(line.partition(":")[0].strip())
    return ids


def _next_key_id(existing: list[str]) -> str:
    numbers = [int(key_id[1:]) for key_id in existing if re.fullmatch(r"k\d+", key_id)]
    return f"k{max(numbers, default=0) + 1}"


def _replace_file(path: Path, content: str) -> None:
    """Write atomically with mode 0600: a crash leaves the old ring or the new one, never half of it."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".data_keys.")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
