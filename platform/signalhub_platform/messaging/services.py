"""Internal push messages (内部信息推送): send one about an entity, a record or a warning; the sent
box; open one message; the unread count.

A message carries a *link* to what it is about, never its content: the sender must be able to see
the object (else a refusal exactly like a missing one, audited), and a recipient opens the link
through the normal visibility rule, so a message about a private record tells another agency
nothing beyond the sender's own words. Those words may not hold a resident ID number.

A message to an agency is delivered as one row per active user of that agency (not to the sender),
so each reader has their own unread state. Every function takes the session and the acting
``Actor``, flushes and never commits, and audits reads, sends and refusals (the caller commits a
refusal too, so its event survives).

Which warnings an actor may see is decided in ``signalhub_warnings``, a sibling layer this package
may not import; the caller passes that rule in as ``warnings_visible_to`` (the web layer gives
``signalhub_warnings.services.visible_warnings_clause``), so there is still one rule, not a copy.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session, aliased, joinedload

from signalhub_audit.services import record_event
from signalhub_audit.tags import AuditTag
from signalhub_platform.crypto import redact_id_numbers
from signalhub_platform.identifiers.free_text import contains_id_number
from signalhub_platform.identifiers.normalise import normalise
from signalhub_platform.models import Actor, Agency, Entity, Message, Record, RiskWarning, User
from signalhub_platform.models.risk_warnings import addressed_to
from signalhub_platform.models.types import utcnow
from signalhub_platform.models.visibility import entity_visible_to, visible_records

ABOUT_TYPES = ("entity", "record", "warning")
TITLE_MAX_LENGTH = 200  # the column's width
BODY_MAX_LENGTH = 2000
SENT_BOX_ROWS = 2000  # message rows read for the sent box (an agency send is one row per user)
SENT_BOX_GROUPS = 100

WarningsVisibleTo = Callable[[Actor], Any]  # actor -> SQL condition on RiskWarning


class MessagingError(Exception):
    """A refused operation: ``code`` for the UI's translated message, ``str(exc)`` in English for the API."""

    status_code = 400

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class InvalidMessage(MessagingError):
    status_code = 400


class NotPermitted(MessagingError):
    status_code = 403


class NotFound(MessagingError):
    """Missing, or not visible to the actor: the two answer alike."""

    status_code = 404

    def __init__(self, code: str = "not_found", message: str = "Not Found") -> None:
        super().__init__(code, message)


# --- ID numbers in free text ------------------------------------------------------------------------
# ``contains_id_number`` (imported above) is the identifiers' one test, shared with the public search
# and the audit log's masking.


def check_text(title: str, body: str) -> tuple[str, str]:
    """The title (required) and body, stripped; refuses over-long text and ID numbers."""
    title, body = (title or "").strip(), (body or "").strip()
    if not title:
        raise InvalidMessage("title_required", "a title is required")
    if len(title) > TITLE_MAX_LENGTH:
        raise InvalidMessage("title_too_long", f"the title is longer than {TITLE_MAX_LENGTH} characters")
    if len(body) > BODY_MAX_LENGTH:
        raise InvalidMessage("body_too_long", f"the message is longer than {BODY_MAX_LENGTH} characters")
    if contains_id_number(title) or contains_id_number(body):
        raise InvalidMessage("id_number_in_text", "messages may not contain resident ID numbers")
    return title, body


# --- what a message is about ----------------------------------------------------------------------------


@dataclass(frozen=True)
class About:
    """The object a message links to, as the sender sees it; only ``type`` and ``ref`` are stored."""

    type: str  # entity | record | warning
    ref: str  # the entity's USCC, the record version's id, the warning's id
    label: str  # for the sender's compose page only
    level: str = ""  # a warning's level


def _audit_ref(ref: str) -> str:
    # Whatever was typed as a reference may be an ID number; the audit log must never hold one.
    return redact_id_numbers(ref.strip()[:64])


@contextlib.contextmanager
def _refusals(
    session: Session, actor: Actor, tag: AuditTag, *, action: str, data: Mapping[str, object] | None = None
) -> Iterator[None]:
    """A refusal inside the block is audited under the operation's tag before it propagates."""
    try:
        yield
    except MessagingError as exc:
        payload = {"action": action, "refused": exc.code, "status": exc.status_code, **(data or {})}
        record_event(session, tag, actor=actor, data=payload)
        raise


def _require_user(actor: Actor) -> int:
    if actor.is_public or actor.user_id is None:
        raise NotPermitted("not_permitted", "messages are for signed-in users")
    return actor.user_id


def _lookup_about(
    session: Session, actor: Actor, about_type: str, about_ref: str, warnings_visible_to: WarningsVisibleTo
) -> About:
    kind, ref = (about_type or "").strip(), (about_ref or "").strip()
    if kind not in ABOUT_TYPES or not ref:
        raise NotFound()
    if kind == "entity":
        entity = session.scalars(select(Entity).where(Entity.uscc == normalise(ref), entity_visible_to(actor))).first()
        if entity is None:
            raise NotFound()
        return About(kind, entity.uscc, f"{entity.name} ({entity.uscc})")
    if not ref.isascii() or not ref.isdigit() or len(ref) > 18:
        raise NotFound()
    if kind == "record":
        record = session.scalars(
            visible_records(actor, current_only=False).where(Record.id == int(ref)).options(joinedload(Record.agency))
        ).first()
        if record is None:
            raise NotFound()
        return About(kind, str(record.id), f"{record.agency.name} · {record.source_ref} · v{record.version}")
    warning = session.scalars(
        select(RiskWarning)
        .where(RiskWarning.id == int(ref), warnings_visible_to(actor))
        .options(joinedload(RiskWarning.entity), joinedload(RiskWarning.person))
    ).first()
    if warning is None:
        raise NotFound()
    subject = warning.entity.name if warning.entity else warning.person.name if warning.person else ""
    return About(kind, str(warning.id), subject, warning.level.value)


def find_about(
    session: Session, actor: Actor, about_type: str, about_ref: str, *, warnings_visible_to: WarningsVisibleTo,
    tag: AuditTag,
) -> About:  # fmt: skip
    """The object a message would be about, if the actor may see it (for the compose page); audited."""
    with _refusals(session, actor, tag, action="compose",
                   data={"about_type": (about_type or "")[:16], "about_ref": _audit_ref(about_ref or "")}):  # fmt: skip
        _require_user(actor)
        about = _lookup_about(session, actor, about_type, about_ref, warnings_visible_to)
    record_event(session, tag, actor=actor, subjects=[(about.type, about.ref)], data={"action": "compose"})
    return about


# --- recipients ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recipients:
    agency: Agency | None  # set when the message went to an agency
    users: list[User]


def recipient_choices(session: Session) -> tuple[list[Agency], list[User]]:
    """The member agencies and the active users a message may be sent to (for the compose form)."""
    agencies = list(session.scalars(select(Agency).where(Agency.is_active).order_by(Agency.name)))
    users = list(
        session.scalars(
            select(User).where(User.is_active).outerjoin(Agency, Agency.id == User.agency_id)
            .order_by(Agency.name.nulls_first(), User.display_name, User.username)
        )
    )  # fmt: skip
    return agencies, users


def _recipients(session: Session, sender_id: int, agency_code: str, username: str) -> Recipients:
    agency_code, username = (agency_code or "").strip(), (username or "").strip()
    if bool(agency_code) == bool(username):
        raise InvalidMessage("choose_recipient", "send to exactly one agency or one user")
    if agency_code:
        agency = session.scalars(select(Agency).where(Agency.code == agency_code, Agency.is_active)).first()
        if agency is None:
            raise InvalidMessage("unknown_agency", "no active member agency with this code")
        users = list(
            session.scalars(
                select(User).where(User.agency_id == agency.id, User.is_active, User.id != sender_id).order_by(User.id)
            )
        )
        if not users:
            raise InvalidMessage("no_active_users", "the agency has no active user to receive the message")
        return Recipients(agency, users)
    user = session.scalars(select(User).where(User.username == username)).first()
    if user is None:
        raise InvalidMessage("unknown_user", "no user with this user name")
    if not user.is_active:
        raise InvalidMessage("recipient_disabled", "the user's account is disabled")
    if user.id == sender_id:
        raise InvalidMessage("not_to_yourself", "a message to yourself is not sent")
    return Recipients(None, [user])


# --- sending ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    messages: list[Message]
    about: About
    recipients: Recipients


def send_message(
    session: Session, actor: Actor, *, title: str, body: str, about_type: str, about_ref: str,
    recipient_agency: str = "", recipient_user: str = "", warnings_visible_to: WarningsVisibleTo, tag: AuditTag,
    now: dt.datetime | None = None,
) -> Sent:  # fmt: skip
    """Send a message about an object the actor may see, to a member agency (each of its active users
    but the sender) or to one active user. Audited with the recipients, never with the text."""
    now = now or utcnow()
    refusal_data = {"about_type": (about_type or "")[:16], "about_ref": _audit_ref(about_ref or "")}
    with _refusals(session, actor, tag, action="send", data=refusal_data):
        sender_id = _require_user(actor)
        title, body = check_text(title, body)
        about = _lookup_about(session, actor, about_type, about_ref, warnings_visible_to)
        recipients = _recipients(session, sender_id, recipient_agency, recipient_user)
    messages = [
        Message(sender_user_id=sender_id, sender_agency_id=actor.agency_id, recipient_user_id=user.id, title=title,
                body=body, about_type=about.type, about_ref=about.ref, created_at=now)
        for user in recipients.users
    ]  # fmt: skip
    session.add_all(messages)
    session.flush()
    record_event(
        session, tag, actor=actor, at=now,
        subjects=[(about.type, about.ref), *(("message", m.id) for m in messages),
                  *(("user", u.id) for u in recipients.users)],
        data={"action": "send", "recipient_agency": recipients.agency.code if recipients.agency else None,
              "recipients": len(messages), "title_length": len(title), "body_length": len(body)},
    )  # fmt: skip
    return Sent(messages, about, recipients)


# --- reading ---------------------------------------------------------------------------------------------


def unread_count(session: Session, actor: Actor) -> int:
    """How many of the actor's messages are unread, for the navigation. Not audited: it reveals a
    number about the user's own inbox, and auditing every page view would drown the log."""
    if actor.is_public or actor.user_id is None:
        return 0
    return int(session.scalar(select(func.count()).where(addressed_to(actor), Message.read_at.is_(None))) or 0)


@dataclass(frozen=True)
class Addressee:
    name: str  # a user's display name or user name, or an agency's name for a message to a whole agency
    agency: str
    read_at: dt.datetime | None


@dataclass
class SentItem:
    """One send as its sender sees it: the first row, and who got it (an agency send is many rows)."""

    message: Message
    addressees: list[Addressee] = field(default_factory=list)

    @property
    def read(self) -> int:
        return sum(1 for a in self.addressees if a.read_at is not None)

    @property
    def agencies(self) -> list[str]:
        return sorted({a.agency for a in self.addressees if a.agency})


def _sent_rows(session: Session, sender_id: int, extra: Any = None) -> list[tuple[Message, Addressee]]:
    to_user, user_agency, to_agency = aliased(User), aliased(Agency), aliased(Agency)
    query = (
        select(Message, to_user.display_name, to_user.username, user_agency.name, to_agency.name)
        .outerjoin(to_user, to_user.id == Message.recipient_user_id)
        .outerjoin(user_agency, user_agency.id == to_user.agency_id)
        .outerjoin(to_agency, to_agency.id == Message.recipient_agency_id)
        .where(Message.sender_user_id == sender_id)
        .order_by(Message.created_at.desc(), Message.id)
        .limit(SENT_BOX_ROWS)
    )
    if extra is not None:
        query = query.where(extra)
    rows = []
    for message, display, username, user_agency_name, agency_name in session.execute(query).all():
        if message.recipient_user_id is not None:
            addressee = Addressee(display or username or "", user_agency_name or "", message.read_at)
        else:
            addressee = Addressee(agency_name or "", agency_name or "", message.read_at)
        rows.append((message, addressee))
    return rows


def _group_key(message: Message) -> tuple[object, ...]:
    # One send writes its rows with one timestamp, title, body and link.
    return (message.created_at, message.title, message.body, message.about_type, message.about_ref)


def list_sent(session: Session, actor: Actor, *, tag: AuditTag) -> list[SentItem]:
    """The actor's sent messages, newest first, one item per send with its addressees; audited."""
    with _refusals(session, actor, tag, action="sent"):
        sender_id = _require_user(actor)
    groups: dict[tuple[object, ...], SentItem] = {}
    for message, addressee in _sent_rows(session, sender_id):
        key = _group_key(message)
        if key not in groups:
            if len(groups) == SENT_BOX_GROUPS:
                break
            groups[key] = SentItem(message)
        groups[key].addressees.append(addressee)
    items = list(groups.values())
    record_event(session, tag, actor=actor, subjects=[("message", item.message.id) for item in items],
                 data={"action": "sent", "sends": len(items)})  # fmt: skip
    return items


@dataclass(frozen=True)
class OpenedMessage:
    message: Message
    sender: str  # a user's name, or "" for the platform itself
    sender_agency: str
    is_recipient: bool
    sent: SentItem | None  # for the sender: the whole send, with who has read it


def open_message(
    session: Session, actor: Actor, message_id: int, *, tag: AuditTag, now: dt.datetime | None = None
) -> OpenedMessage:
    """One message of the actor's inbox (marked read) or one the actor sent; audited. Anything else
    is refused like a missing message."""
    with _refusals(session, actor, tag, action="open", data={"message": message_id}):
        _require_user(actor)
        sender, sender_agency = aliased(User), aliased(Agency)
        row = session.execute(
            select(Message, sender.display_name, sender.username, sender_agency.name)
            .outerjoin(sender, sender.id == Message.sender_user_id)
            .outerjoin(sender_agency, sender_agency.id == Message.sender_agency_id)
            .where(Message.id == message_id)
        ).first()
        if row is None:
            raise NotFound()
        message, display, username, agency_name = row
        is_recipient = session.scalar(select(Message.id).where(Message.id == message_id, addressed_to(actor)))
        is_sender = message.sender_user_id is not None and message.sender_user_id == actor.user_id
        if is_recipient is None and not is_sender:
            raise NotFound()
    was_unread = is_recipient is not None and message.read_at is None
    if was_unread:
        message.read_at = now or utcnow()
        session.flush()
    sent = None
    if is_sender:
        key = _group_key(message)
        same_send = and_(Message.created_at == message.created_at, Message.title == message.title)
        sent = SentItem(message)
        for other, addressee in _sent_rows(session, actor.user_id or 0, extra=same_send):
            if _group_key(other) == key:
                sent.addressees.append(addressee)
    record_event(session, tag, actor=actor, subjects=[("message", message.id), (message.about_type, message.about_ref)]
                 if message.about_type else [("message", message.id)],
                 data={"action": "open", "marked_read": was_unread})  # fmt: skip
    return OpenedMessage(message, display or username or "", agency_name or "", is_recipient is not None, sent)
