"""The supervisors' warning queue: list, read and work warnings; snoozes, marks by hand, watches, inbox.

Every function takes the session and the acting ``Actor``, flushes and never commits, and writes
an audit event for every read, every change and every refusal (the caller commits refusals too,
so their events survive). Which warnings an actor sees is ``visible_warnings_clause`` (red: every
member agency and the platform office; yellow/orange: their own agency; the platform office gets
yellow/orange as counts only); a warning the actor may not see is refused exactly like a missing
one. A warning's records are read through ``visible_records(actor)``, the one rule for records:
what the viewer may not see is summarised as agency, count and level, never shown; another agency's
private records are no part of a red warning at all. Entities and persons are looked up through
``entity_visible_to``/``person_visible_to``: one the actor may not know of is a missing one.
Changes lock the warning row and refuse one that is no longer active (``_workable``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import ColumnElement, Select, and_, case, func, or_, select, update
from sqlalchemy.orm import Session, joinedload

from signalhub_audit.services import record_event
from signalhub_audit.tags import AuditTag
from signalhub_platform.models import (
    PLATFORM_SCOPE,
    Actor,
    Agency,
    Department,
    Entity,
    ManualFlag,
    Measure,
    Message,
    Person,
    Record,
    RiskWarning,
    Role,
    SubjectType,
    User,
    UserRole,
    WarningEvent,
    WarningEventKind,
    WarningLevel,
    WarningReceipt,
    WarningSnooze,
    WarningStatus,
    Watch,
)
from signalhub_platform.models.risk_warnings import addressed_to
from signalhub_platform.models.types import BEIJING, beijing_today, utcnow
from signalhub_platform.models.visibility import (
    OPEN_TO_MEMBERS,
    entity_visible_to,
    person_visible_to,
    visible_records,
)
from signalhub_warnings import lifecycle
from signalhub_warnings.aggregation import entity_hits, person_hits, window
from signalhub_warnings.lifecycle import (
    Action,
    InvalidInput,
    LifecycleError,
    NotAllowedNow,
    NotFound,
    NotPermitted,
    WarningState,
)
from signalhub_warnings.rules import Thresholds, build_rules
from signalhub_warnings.services import visible_warnings_clause

PAGE_SIZE = 50
MAX_RECORDS_SHOWN = 500  # a warning page lists at most this many records (the counts stay exact)
LEVEL_RANK = case(
    (RiskWarning.level == WarningLevel.RED, 0),
    (RiskWarning.level == WarningLevel.ORANGE, 1),
    else_=2,
)
LEVELS_BY_SEVERITY = (WarningLevel.RED, WarningLevel.ORANGE, WarningLevel.YELLOW)


# --- subjects ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Subject:
    """An entity or a person as the queue shows it: never a person's ID number, only its mask."""

    type: SubjectType
    id: int
    name: str
    code: str  # the USCC, or the masked ID number
    region: str = ""
    industry: str = ""

    @property
    def key(self) -> str:
        return f"{self.type.value}:{self.id}"


def _entity_subject(entity: Entity) -> Subject:
    return Subject(SubjectType.ENTITY, entity.id, entity.name, entity.uscc, entity.region, entity.industry)


def _person_subject(person: Person) -> Subject:
    return Subject(SubjectType.PERSON, person.id, person.name, person.id_masked)


def parse_subject_key(key: str) -> tuple[SubjectType, int]:
    kind, _, number = (key or "").partition(":")
    try:
        return SubjectType(kind), int(number)
    except ValueError:
        raise InvalidInput("bad_subject", "a subject is entity:<id> or person:<id>") from None


def find_subject(
    session: Session,
    actor: Actor,
    *,
    subject_type: str | None = None,
    subject_id: int | None = None,
    uscc: str | None = None,
    tag: AuditTag,
    action: str = "",
    is_watched_enough: bool = False,
) -> Subject:
    """An entity (by id or USCC) or a person (by id) that ``actor`` may know of (``entity_visible_to``,
    ``person_visible_to``); ``NotFound`` when there is none or the actor may not know of it, the two
    alike. A refused lookup is audited under the operation's ``tag``.

    ``is_watched_enough`` (for unwatching): a subject the actor watches is found even when it is no
    longer visible, so that a watch can always be removed; it tells the watcher nothing new."""
    code = (uscc or "").strip().upper()
    asked: dict[str, object] = {"uscc": code[:18]} if code else {"subject": f"{subject_type}:{subject_id}"}
    with _refusals(session, actor, tag, action=action, data=asked):
        if actor.is_public:
            raise NotFound()
        if code:
            kind, query = SubjectType.ENTITY, select(Entity).where(Entity.uscc == code)
        else:
            try:
                kind = SubjectType(subject_type or "")
            except ValueError:
                raise InvalidInput("bad_subject", "subject_type is entity or person") from None
            if subject_id is None:
                raise InvalidInput("bad_subject", "subject_id (or, for an entity, uscc) is required")
            model: type[Entity] | type[Person] = Entity if kind == SubjectType.ENTITY else Person
            query = select(model).where(model.id == subject_id)
        visible = entity_visible_to(actor) if kind == SubjectType.ENTITY else person_visible_to(actor)
        found = session.scalars(query.where(visible)).first()
        if found is None and is_watched_enough and actor.user_id is not None:
            hidden = session.scalars(query).first()
            if hidden is not None and _is_watching(session, actor, f"{kind.value}:{hidden.id}"):
                found = hidden
        if found is None:
            raise NotFound()
    return _entity_subject(found) if isinstance(found, Entity) else _person_subject(found)


def _subjects(session: Session, actor: Actor, keys: Sequence[str]) -> dict[str, Subject]:
    """The subjects behind ``keys`` that ``actor`` may know of (the others are simply absent)."""
    entity_ids, person_ids = set(), set()
    for key in keys:
        kind, number = parse_subject_key(key)
        (entity_ids if kind == SubjectType.ENTITY else person_ids).add(number)
    found: dict[str, Subject] = {}
    if entity_ids:
        query = select(Entity).where(Entity.id.in_(entity_ids), entity_visible_to(actor))
        for entity in session.scalars(query):
            found[f"entity:{entity.id}"] = _entity_subject(entity)
    if person_ids:
        for person in session.scalars(select(Person).where(Person.id.in_(person_ids), person_visible_to(actor))):
            found[f"person:{person.id}"] = _person_subject(person)
    return found


def subject_of(warning: RiskWarning) -> Subject:
    if warning.entity is not None:
        return _entity_subject(warning.entity)
    assert warning.person is not None
    return _person_subject(warning.person)


# --- the queue ---------------------------------------------------------------------------------------


class Sort(enum.StrEnum):
    LEVEL = "level"  # red, orange, yellow; within a level the oldest first
    AGE = "age"  # the oldest first
    DUE = "due"  # the earliest acknowledgement date first


class ScopeFilter(enum.StrEnum):
    AGENCY = "agency"
    PLATFORM = "platform"


@dataclass(frozen=True)
class QueueFilters:
    level: WarningLevel | None = None
    scope: ScopeFilter | None = None
    region: str = ""  # the entity's street (person warnings have none)
    industry: str = ""  # a GB/T 4754 code or its prefix ("52" takes in "5231")
    status: WarningStatus | None = None  # None: the active ones (open, acknowledged, in disposal)
    min_age_days: int | None = None  # open for at least this many days
    max_age_days: int | None = None  # open for at most this many days
    assignee: str = ""  # "me", "none" or a user id
    is_overdue: bool = False

    def as_dict(self) -> dict[str, object]:
        return {key: value for key, value in self.__dict__.items() if value not in (None, "", False)}


@dataclass(frozen=True)
class QueueItem:
    warning: RiskWarning
    subject: Subject
    age_days: int
    is_overdue: bool


@dataclass(frozen=True)
class QueuePage:
    items: list[QueueItem]
    total: int
    page: int
    page_size: int
    counts: dict[str, int]  # active warnings per level (the platform office: every agency's, as figures)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


def _start_of(day: dt.date) -> dt.datetime:
    """The first instant of a Beijing calendar day."""
    return dt.datetime.combine(day, dt.time(), BEIJING)


def _opened_on(warning: RiskWarning) -> dt.date:
    return warning.opened_at.astimezone(BEIJING).date()


def _visible(actor: Actor) -> ColumnElement[bool]:
    return cast(ColumnElement[bool], visible_warnings_clause(actor))


def _require_signed_in(actor: Actor) -> None:
    if actor.is_public:
        raise NotPermitted("not_permitted", "sign in first")


def _queue_query(actor: Actor, filters: QueueFilters, today: dt.date) -> Select[Any]:
    query = (
        select(RiskWarning)
        .outerjoin(Entity, Entity.id == RiskWarning.entity_id)
        .where(_visible(actor))
        .options(
            joinedload(RiskWarning.entity),
            joinedload(RiskWarning.person),
            joinedload(RiskWarning.scope_agency),
            joinedload(RiskWarning.assignee),
        )
    )
    if filters.status is None:
        query = query.where(RiskWarning.is_active)
    else:
        query = query.where(RiskWarning.status == filters.status)
    if filters.level is not None:
        query = query.where(RiskWarning.level == filters.level)
    if filters.scope == ScopeFilter.PLATFORM:
        query = query.where(RiskWarning.scope_key == PLATFORM_SCOPE)
    elif filters.scope == ScopeFilter.AGENCY:
        query = query.where(RiskWarning.scope_key != PLATFORM_SCOPE)
    if filters.region:
        query = query.where(Entity.region == filters.region)
    if filters.industry:
        query = query.where(Entity.industry.startswith(filters.industry, autoescape=True))
    if filters.min_age_days is not None:
        query = query.where(RiskWarning.opened_at < _start_of(today - dt.timedelta(days=filters.min_age_days - 1)))
    if filters.max_age_days is not None:
        query = query.where(RiskWarning.opened_at >= _start_of(today - dt.timedelta(days=filters.max_age_days)))
    if filters.assignee == "me":
        query = query.where(RiskWarning.assignee_id == actor.user_id)
    elif filters.assignee == "none":
        query = query.where(RiskWarning.assignee_id.is_(None))
    elif filters.assignee:
        try:
            query = query.where(RiskWarning.assignee_id == int(filters.assignee))
        except ValueError:
            raise InvalidInput("bad_assignee", "assignee is me, none or a user id") from None
    if filters.is_overdue:
        query = query.where(
            RiskWarning.is_active, RiskWarning.acknowledged_at.is_(None), RiskWarning.acknowledge_due_on < today
        )
    return query


def list_queue(
    session: Session,
    actor: Actor,
    filters: QueueFilters | None = None,
    sort: Sort = Sort.LEVEL,
    *,
    tag: AuditTag,
    page: int = 1,
    page_size: int = PAGE_SIZE,
    now: dt.datetime | None = None,
) -> QueuePage:
    """The warnings ``actor`` may see, filtered, sorted by level then age (or as asked), one page."""
    filters = filters or QueueFilters()
    with _refusals(session, actor, tag, data={"filters": filters.as_dict()}):
        _require_signed_in(actor)
        today = beijing_today(now)
        query = _queue_query(actor, filters, today)
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    order = {
        Sort.LEVEL: (LEVEL_RANK, RiskWarning.opened_at, RiskWarning.id),
        Sort.AGE: (RiskWarning.opened_at, LEVEL_RANK, RiskWarning.id),
        Sort.DUE: (RiskWarning.acknowledge_due_on.is_(None), RiskWarning.acknowledge_due_on, LEVEL_RANK,
                   RiskWarning.opened_at, RiskWarning.id),
    }[sort]  # fmt: skip
    page = max(1, page)
    rows = session.scalars(query.order_by(*order).offset((page - 1) * page_size).limit(page_size)).unique().all()
    items = [item_of(w, now) for w in rows]
    counts = _counts(session, actor)
    record_event(
        session,
        tag,
        actor=actor,
        subjects=[("warning", item.warning.id) for item in items],
        data={"filters": filters.as_dict(), "sort": sort.value, "page": page, "total": total, "counts": counts},
    )
    return QueuePage(items, total, page, page_size, counts)


def item_of(warning: RiskWarning, now: dt.datetime | None = None) -> QueueItem:
    """One warning as the queue shows it (e.g. after an action)."""
    today = beijing_today(now)
    return QueueItem(
        warning=warning,
        subject=subject_of(warning),
        age_days=lifecycle.age_days(_opened_on(warning), today),
        is_overdue=lifecycle.is_overdue(warning.status, warning.acknowledged_at, warning.acknowledge_due_on, today),
    )


def _counts(session: Session, actor: Actor) -> dict[str, int]:
    query = select(RiskWarning.level, func.count()).where(RiskWarning.is_active).group_by(RiskWarning.level)
    if actor.agency_id is not None:
        query = query.where(_visible(actor))
    # The platform office (and the CLI) count every agency's yellow and orange: figures, never rows.
    counts = {level.value: 0 for level in LEVELS_BY_SEVERITY}
    for level, count in session.execute(query):
        counts[WarningLevel(level).value] = int(count)
    return counts


def counts_by_level(session: Session, actor: Actor, *, tag: AuditTag) -> dict[str, int]:
    """Active warnings per level: a member agency's visible ones; for the platform office, all of them."""
    with _refusals(session, actor, tag):
        _require_signed_in(actor)
    counts = _counts(session, actor)
    record_event(session, tag, actor=actor, data={"counts": counts})
    return counts


def list_subject_warnings(
    session: Session, actor: Actor, subject_key: str, *, tag: AuditTag | None = None
) -> list[RiskWarning]:
    """A subject's active warnings that ``actor`` may see, most severe first (for an entity or person page).

    Pages that already audit their own read pass no tag."""
    if actor.is_public:
        return []
    warnings = list(
        session.scalars(
            select(RiskWarning)
            .where(RiskWarning.subject_key == subject_key, RiskWarning.is_active, _visible(actor))
            .options(joinedload(RiskWarning.scope_agency), joinedload(RiskWarning.assignee))
            .order_by(LEVEL_RANK, RiskWarning.opened_at)
        )
    )
    if tag is not None:
        record_event(session, tag, actor=actor, subjects=[("warning", w.id) for w in warnings],
                     data={"subject": subject_key})  # fmt: skip
    return warnings


# --- one warning, explained ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleExplanation:
    code: str
    level: WarningLevel
    text_zh: str
    text_en: str


@dataclass(frozen=True)
class AgencyShare:
    """An agency holding counted hits on the subject: how many, from which departments."""

    agency_id: int
    code: str
    name: str
    records: int
    departments: tuple[str, ...]


@dataclass(frozen=True)
class HiddenRecords:
    """Records the viewer may not see: only their agency, how many, and the level of the warning they
    count toward; never their kind, risk level, department or anything else of theirs."""

    agency_code: str
    agency_name: str
    count: int
    level: WarningLevel


@dataclass(frozen=True)
class ReceiptLine:
    agency: Agency
    receipt: WarningReceipt | None
    is_concerned: bool  # holds shared or public hits on the subject


@dataclass
class WarningDetail:
    warning: RiskWarning
    subject: Subject
    rules: list[RuleExplanation]
    window: tuple[dt.date, dt.date]
    agencies: list[AgencyShare]
    records: list[Record]  # the hits the viewer may see, newest first
    counted_ids: frozenset[int]  # among them, those the warning's rules count
    hidden: list[HiddenRecords]
    events: list[WarningEvent]
    receipts: list[ReceiptLine]
    snoozes: list[WarningSnooze]
    manual_flags: list[ManualFlag]
    actions: tuple[Action, ...]
    colleagues: list[User]  # who the viewer may assign it to
    is_watching: bool
    is_overdue: bool
    age_days: int
    departments: list[str] = field(default_factory=list)

    @property
    def pending_receipts(self) -> list[Agency]:
        return [line.agency for line in self.receipts if line.is_concerned and line.receipt is None]

    @property
    def hidden_count(self) -> int:
        return sum(h.count for h in self.hidden)


def _state(warning: RiskWarning) -> WarningState:
    return WarningState(
        level=warning.level, status=warning.status, scope_agency_id=warning.scope_agency_id,
        is_active=warning.is_active, assignee_id=warning.assignee_id,
    )  # fmt: skip


def _load_visible(session: Session, actor: Actor, warning_id: int) -> RiskWarning | None:
    if actor.is_public:
        return None
    return session.scalars(
        select(RiskWarning)
        .where(RiskWarning.id == warning_id, _visible(actor))
        .options(joinedload(RiskWarning.entity), joinedload(RiskWarning.person), joinedload(RiskWarning.scope_agency))
    ).first()


def _hits(
    warning: RiskWarning, as_of: dt.date, window_days: int, viewer: Actor | None = None
) -> tuple[Select[Any], Select[Any]]:
    """(the warning's hits as ``viewer`` may know of them, those its rules count) as selects of record
    ids, today, in the window.

    The hits are the aggregation's own (``entity_hits``/``person_hits``), narrowed to the subject: an
    agency's warning takes that agency's hits; red counts the shared and public ones, and shows no
    private record but the viewer's own (another agency's private records never show in a red
    warning, not even as a count: they are no part of it)."""
    if warning.subject_type == SubjectType.ENTITY:
        subject_id = warning.entity_id
        hits = entity_hits(as_of, window_days, [subject_id]).subquery()
    else:
        subject_id = warning.person_id
        hits = person_hits(as_of, window_days, [subject_id]).subquery()
    relevant = select(hits.c.id).where(hits.c.subject_id == subject_id)
    if warning.scope_agency_id is not None:
        relevant = relevant.where(hits.c.agency_id == warning.scope_agency_id)
        return relevant, relevant
    is_open = hits.c.openness.in_([o.value for o in OPEN_TO_MEMBERS])
    counted = relevant.where(is_open)
    if viewer is not None and viewer.agency_id is not None:
        return relevant.where(or_(is_open, hits.c.agency_id == viewer.agency_id)), counted
    return counted, counted


def _agency_shares(session: Session, counted: Select[Any]) -> list[AgencyShare]:
    rows = session.execute(
        select(Agency.id, Agency.code, Agency.name, Department.name, func.count(Record.id))
        .join(Agency, Agency.id == Record.agency_id)
        .join(Department, Department.id == Record.department_id)
        .where(Record.id.in_(counted))
        .group_by(Agency.id, Agency.code, Agency.name, Department.id, Department.name)
        .order_by(Agency.code, Department.name)
    ).all()
    shares: list[AgencyShare] = []
    for agency_id in dict.fromkeys(row[0] for row in rows):
        mine = [row for row in rows if row[0] == agency_id]
        shares.append(
            AgencyShare(
                agency_id, mine[0][1], mine[0][2], sum(int(row[4]) for row in mine), tuple(row[3] for row in mine)
            )
        )
    return shares


def get_warning(
    session: Session,
    actor: Actor,
    warning_id: int,
    *,
    thresholds: Thresholds,
    tag: AuditTag,
    now: dt.datetime | None = None,
) -> WarningDetail | None:
    """A warning explained for ``actor``, or None when missing or not visible (audited either way)."""
    now = now or utcnow()
    today = beijing_today(now)
    warning = _load_visible(session, actor, warning_id)
    if warning is None:
        record_event(session, tag, actor=actor, subjects=[("warning", warning_id)], data={"found": False})
        return None
    relevant, counted = _hits(warning, today, thresholds.window_days, actor)
    records = list(
        session.scalars(
            visible_records(actor)
            .where(Record.id.in_(relevant))
            .options(
                joinedload(Record.agency), joinedload(Record.department), joinedload(Record.entity),
                joinedload(Record.person),
            )
            .order_by(Record.occurred_on.desc(), Record.id.desc())
            .limit(MAX_RECORDS_SHOWN)
        )
    )  # fmt: skip
    seen = visible_records(actor).with_only_columns(Record.id).where(Record.id.in_(relevant)).correlate(None)
    hidden = [
        HiddenRecords(code, name, int(count), warning.level)
        for code, name, count in session.execute(
            select(Agency.code, Agency.name, func.count())
            .select_from(Record)
            .join(Agency, Agency.id == Record.agency_id)
            .where(Record.id.in_(relevant), Record.id.not_in(seen))
            .group_by(Agency.code, Agency.name)
            .order_by(Agency.code)
        )
    ]
    counted_ids = frozenset(session.scalars(counted))
    agencies = _agency_shares(session, counted)
    rules_by_code = {rule.code: rule for rule in build_rules(thresholds)}
    metrics = cast(Mapping[Any, int], (warning.evidence or {}).get("metrics", {}))
    explanations = []
    for code in warning.rules or []:
        rule = rules_by_code.get(code)
        if rule is not None:
            zh, en = rule.explain(metrics)
            explanations.append(RuleExplanation(code, rule.level, zh, en))
    subject = subject_of(warning)
    events = session.scalars(
        select(WarningEvent).where(WarningEvent.warning_id == warning.id).order_by(WarningEvent.at, WarningEvent.id)
    )
    snoozes = session.scalars(
        select(WarningSnooze)
        .where(
            WarningSnooze.subject_key == warning.subject_key,
            WarningSnooze.scope_key == warning.scope_key,
            WarningSnooze.until > now,
        )
        .order_by(WarningSnooze.until)
    )
    is_red = warning.scope_agency_id is None
    actions = lifecycle.allowed_actions(actor, _state(warning))
    detail = WarningDetail(
        warning=warning,
        subject=subject,
        rules=explanations,
        window=window(today, thresholds.window_days),
        agencies=agencies,
        records=records,
        counted_ids=counted_ids,
        hidden=hidden,
        events=list(events),
        receipts=_receipt_lines(session, warning, {a.agency_id for a in agencies}) if is_red else [],
        snoozes=list(snoozes),
        manual_flags=_active_flags(session, warning),
        actions=actions,
        colleagues=_assignable(session, actor, warning) if Action.ASSIGN in actions else [],
        is_watching=_is_watching(session, actor, warning.subject_key),
        is_overdue=lifecycle.is_overdue(warning.status, warning.acknowledged_at, warning.acknowledge_due_on, today),
        age_days=lifecycle.age_days(_opened_on(warning), today),
        departments=[f"{a.name} · {d}" for a in agencies for d in a.departments],
    )
    record_event(
        session,
        tag,
        actor=actor,
        subjects=[("warning", warning.id), (subject.type.value, subject.id), *(("record", r.id) for r in records)],
        data={"found": True, "level": warning.level.value, "records_shown": len(records),
              "records_hidden": detail.hidden_count},
    )  # fmt: skip
    return detail


def _receipt_lines(session: Session, warning: RiskWarning, concerned: set[int]) -> list[ReceiptLine]:
    receipts = {
        r.agency_id: r for r in session.scalars(select(WarningReceipt).where(WarningReceipt.warning_id == warning.id))
    }
    ids = concerned | set(receipts)
    if not ids:
        return []
    agencies = session.scalars(select(Agency).where(Agency.id.in_(ids)).order_by(Agency.code))
    return [ReceiptLine(a, receipts.get(a.id), a.id in concerned) for a in agencies]


def _active_flags(session: Session, warning: RiskWarning) -> list[ManualFlag]:
    if warning.scope_agency_id is None:
        return []
    return list(
        session.scalars(
            select(ManualFlag).where(
                ManualFlag.subject_key == warning.subject_key,
                ManualFlag.agency_id == warning.scope_agency_id,
                ManualFlag.lifted_at.is_(None),
            )
        )
    )


def _supervisors(session: Session, agency_id: int | None) -> list[User]:
    """The active supervisors of an agency; with None, those of every member agency."""
    agency = User.agency_id.is_not(None) if agency_id is None else User.agency_id == agency_id
    return list(
        session.scalars(
            select(User)
            .join(UserRole, UserRole.user_id == User.id)
            .where(agency, User.is_active, UserRole.role == Role.SUPERVISOR)
            .order_by(User.agency_id, User.username)
        ).unique()
    )


def _assignable(session: Session, actor: Actor, warning: RiskWarning) -> list[User]:
    """Whom ``actor`` may assign the warning to (besides themselves): a yellow or orange warning, a
    supervisor of its agency; a red one (the platform office assigns it), a supervisor of any member
    agency."""
    if warning.scope_agency_id is None:
        return _supervisors(session, None)
    return _supervisors(session, actor.agency_id) if actor.agency_id is not None else []


def _is_watching(session: Session, actor: Actor, subject_key: str) -> bool:
    if actor.user_id is None:
        return False
    query = select(Watch.id).where(Watch.user_id == actor.user_id, Watch.subject_key == subject_key)
    return session.scalar(query) is not None


def concerned_agencies(session: Session, warning: RiskWarning, *, window_days: int, today: dt.date) -> list[Agency]:
    """The agencies holding the warning's counted hits: red, every agency with shared or public hits."""
    _, counted = _hits(warning, today, window_days)
    return list(
        session.scalars(
            select(Agency)
            .where(Agency.id.in_(select(Record.agency_id).where(Record.id.in_(counted))))
            .order_by(Agency.code)
        )
    )


# --- working a warning ---------------------------------------------------------------------------------


@contextlib.contextmanager
def _refusals(
    session: Session, actor: Actor, tag: AuditTag, *, warning_id: int | None = None, action: str = "",
    data: Mapping[str, object] | None = None,
) -> Iterator[None]:  # fmt: skip
    """A refusal inside the block is audited (under the operation's tag) before it propagates."""
    try:
        yield
    except LifecycleError as exc:
        _audit_refusal(session, actor, tag, exc, warning_id=warning_id, action=action, data=data)
        raise


def _audit_refusal(
    session: Session, actor: Actor, tag: AuditTag, exc: LifecycleError, *, warning_id: int | None, action: str,
    data: Mapping[str, object] | None = None,
) -> None:  # fmt: skip
    subjects = [("warning", warning_id)] if warning_id is not None else []
    payload = {"refused": exc.code, "status": exc.status_code, **({"action": action} if action else {}), **(data or {})}
    record_event(session, tag, actor=actor, subjects=subjects, data=payload)


def _workable(
    session: Session, actor: Actor, warning_id: int, action: Action
) -> tuple[RiskWarning, WarningStatus | None]:
    """The warning, locked for the change and read afresh, and the status ``action`` leads it to.

    ``FOR UPDATE`` (PostgreSQL; SQLite writes one at a time anyway) holds an evaluation that would
    change the warning until this change commits, or makes this one wait for the evaluation and
    then see what it did: a warning it has meanwhile cleared (or a colleague closed) is refused
    (409), never worked on stale data. ``populate_existing``: a copy already in the session is
    overwritten with the row as locked."""
    if actor.is_public:
        raise NotFound()
    warning = session.scalars(
        select(RiskWarning)
        .where(RiskWarning.id == warning_id, _visible(actor))
        .with_for_update(of=RiskWarning)
        .execution_options(populate_existing=True)
    ).first()
    if warning is None:
        raise NotFound()
    return warning, lifecycle.check(actor, action, _state(warning))


def _record_step(
    session: Session,
    warning: RiskWarning,
    kind: WarningEventKind,
    actor: Actor,
    *,
    tag: AuditTag,
    now: dt.datetime,
    target: WarningStatus | None = None,
    note: str = "",
    details: Mapping[str, object] | None = None,
    audit_data: Mapping[str, object] | None = None,
) -> WarningEvent:
    """The status change (if any), its WarningEvent (who, when, why), the audit event and the watchers' messages."""
    before = warning.status
    if target is not None:
        warning.status = target
    event = WarningEvent(
        warning_id=warning.id,
        kind=kind,
        at=now,
        actor=actor.name,
        user_id=actor.user_id,
        from_level=warning.level.value,
        to_level=warning.level.value,
        from_status=before.value,
        to_status=warning.status.value,
        note=note,
        evidence=dict(details or {}),
    )
    session.add(event)
    session.flush()
    # Free text (notes, reasons) stays in the warning's history; the audit log keeps the facts.
    record_event(
        session,
        tag,
        actor=actor,
        subjects=[("warning", warning.id)],
        data={"action": kind.value, "from_status": before.value, "to_status": warning.status.value,
              "has_note": bool(note), **(audit_data if audit_data is not None else details or {})},
    )  # fmt: skip
    _notify_watchers(session, warning, kind, actor, now)
    return event


def _notify_watchers(
    session: Session, warning: RiskWarning, kind: WarningEventKind, actor: Actor, now: dt.datetime
) -> None:
    """A message to each watcher of the subject who may see the warning (not to the one who acted)."""
    watchers = session.execute(
        select(User.id, User.agency_id)
        .join(Watch, Watch.user_id == User.id)
        .where(Watch.subject_key == warning.subject_key, User.is_active)
    ).all()
    for user_id, agency_id in watchers:
        if user_id == actor.user_id:
            continue
        if warning.scope_agency_id is not None and agency_id != warning.scope_agency_id:
            continue
        session.add(Message(recipient_user_id=user_id, title=f"{kind.value}:{warning.level.value}",
                            about_type="warning", about_ref=str(warning.id), created_at=now))  # fmt: skip
    session.flush()


def assign(
    session: Session, actor: Actor, warning_id: int, *, to: str | int, note: str = "", tag: AuditTag,
    now: dt.datetime | None = None,
) -> RiskWarning:  # fmt: skip
    """Assign to ``"me"``, to a colleague (a user id: a supervisor of the actor's agency), or ``"auto"``:
    the supervisor of the actor's agency with the fewest active warnings (ties: the lowest id).

    A red warning is assigned by the platform office only (``lifecycle.RED_OFFICE_ACTIONS``), to itself
    or to a named supervisor of any member agency: one agency never takes it over for the others."""
    now = now or utcnow()
    with _refusals(session, actor, tag, warning_id=warning_id, action=Action.ASSIGN):
        warning, _ = _workable(session, actor, warning_id, Action.ASSIGN)
        note = lifecycle.clean_text(note, field="note", required=False)
        how, assignee = _assignee(session, actor, to, warning)
    previous = warning.assignee_id
    warning.assignee_id = assignee.id
    _record_step(
        session, warning, WarningEventKind.ASSIGNED, actor, tag=tag, now=now, note=note,
        details={"assignee": assignee.username, "how": how, "previous_assignee_id": previous},
    )  # fmt: skip
    return warning


def _assignee(session: Session, actor: Actor, to: str | int, warning: RiskWarning) -> tuple[str, User]:
    if to == "me":
        user = session.get(User, actor.user_id) if actor.user_id is not None else None
        if user is None:
            raise NotPermitted("not_permitted", "only a signed-in user takes a warning")
        return "me", user
    if to == "auto":
        if warning.scope_agency_id is None:
            raise InvalidInput("red_needs_assignee", "a red warning is assigned to a named supervisor")
        user = least_loaded_supervisor(session, actor.agency_id)
        if user is None:
            raise NotAllowedNow("no_supervisor", "the agency has no active supervisor")
        return "auto", user
    try:
        user_id = int(to)
    except (TypeError, ValueError):
        raise InvalidInput("bad_assignee", "assign to me, auto or a colleague's user id") from None
    colleague = next((u for u in _assignable(session, actor, warning) if u.id == user_id), None)
    if colleague is None:
        if warning.scope_agency_id is None:
            raise InvalidInput("not_a_supervisor", "the assignee must be an active supervisor of a member agency")
        raise InvalidInput("not_a_colleague", "the assignee must be an active supervisor of your agency")
    return "colleague", colleague


def least_loaded_supervisor(session: Session, agency_id: int | None) -> User | None:
    """The agency's active supervisor holding the fewest active warnings (ties: the lowest user id)."""
    if agency_id is None:
        return None
    load = (
        select(RiskWarning.assignee_id.label("user_id"), func.count().label("n"))
        .where(RiskWarning.is_active, RiskWarning.assignee_id.is_not(None))
        .group_by(RiskWarning.assignee_id)
        .subquery()
    )
    return session.scalars(
        select(User)
        .join(UserRole, and_(UserRole.user_id == User.id, UserRole.role == Role.SUPERVISOR))
        .outerjoin(load, load.c.user_id == User.id)
        .where(User.agency_id == agency_id, User.is_active)
        .order_by(func.coalesce(load.c.n, 0), User.id)
        .limit(1)
    ).first()


def acknowledge(
    session: Session, actor: Actor, warning_id: int, *, note: str = "", tag: AuditTag, now: dt.datetime | None = None
) -> RiskWarning:
    now = now or utcnow()
    with _refusals(session, actor, tag, warning_id=warning_id, action=Action.ACKNOWLEDGE):
        warning, target = _workable(session, actor, warning_id, Action.ACKNOWLEDGE)
        note = lifecycle.clean_text(note, field="note", required=False)
    warning.acknowledged_at = now
    due = warning.acknowledge_due_on
    _record_step(session, warning, WarningEventKind.ACKNOWLEDGED, actor, tag=tag, now=now, target=target, note=note,
                 details={"was_overdue": bool(due and beijing_today(now) > due)})  # fmt: skip
    return warning


def dispose(
    session: Session, actor: Actor, warning_id: int, *, measure: str | Measure, note: str = "", tag: AuditTag,
    now: dt.datetime | None = None,
) -> RiskWarning:  # fmt: skip
    """Record a measure (inspection, caution, penalty, interview, other); another one may follow."""
    now = now or utcnow()
    with _refusals(session, actor, tag, warning_id=warning_id, action=Action.DISPOSE):
        warning, target = _workable(session, actor, warning_id, Action.DISPOSE)
        chosen = lifecycle.parse_measure(str(measure))
        note = lifecycle.clean_text(note, field="note", required=False)
    warning.measure = chosen
    _record_step(session, warning, WarningEventKind.DISPOSAL, actor, tag=tag, now=now, target=target, note=note,
                 details={"measure": chosen.value})  # fmt: skip
    return warning


def close(
    session: Session, actor: Actor, warning_id: int, *, note: str, tag: AuditTag, now: dt.datetime | None = None
) -> RiskWarning:
    """Close with a note. The evaluation opens a new warning only on a new condition (engine.plan)."""
    now = now or utcnow()
    with _refusals(session, actor, tag, warning_id=warning_id, action=Action.CLOSE):
        warning, target = _workable(session, actor, warning_id, Action.CLOSE)
        note = lifecycle.clean_text(note, field="note", required=True)
    warning.note, warning.closed_at, warning.is_active = note, now, False
    _record_step(session, warning, WarningEventKind.CLOSED, actor, tag=tag, now=now, target=target, note=note,
                 details={"measure": warning.measure.value if warning.measure else None})  # fmt: skip
    return warning


def snooze(
    session: Session, actor: Actor, warning_id: int, *, rule: str, until: dt.date, reason: str, tag: AuditTag,
    now: dt.datetime | None = None,
) -> WarningSnooze:  # fmt: skip
    """Silence ``rule`` for the subject in the warning's scope through ``until`` (a Beijing day).

    The next evaluation no longer counts the rule: the warning drops to the rules left, or clears;
    after the expiry the rule counts again and, if it still holds, the warning comes back."""
    now = now or utcnow()
    with _refusals(session, actor, tag, warning_id=warning_id, action=Action.SNOOZE):
        warning, _ = _workable(session, actor, warning_id, Action.SNOOZE)
        lifecycle.check_snooze(rule, list(warning.rules or []), until, beijing_today(now))
        reason = lifecycle.clean_text(reason, field="reason", required=True, limit=lifecycle.REASON_MAX_LENGTH)
    row = WarningSnooze(
        subject_key=warning.subject_key,
        scope_key=warning.scope_key,
        rule=rule,
        until=_start_of(until + dt.timedelta(days=1)),
        reason=reason,
        created_by_id=actor.user_id,
        created_at=now,
    )
    session.add(row)
    session.flush()
    _record_step(session, warning, WarningEventKind.SNOOZED, actor, tag=tag, now=now, note=reason,
                 details={"rule": rule, "until": until.isoformat(), "snooze_id": row.id})  # fmt: skip
    return row


def send_feedback(
    session: Session, actor: Actor, warning_id: int, *, message: str, agencies: Sequence[str] = (),
    thresholds: Thresholds, tag: AuditTag, now: dt.datetime | None = None,
) -> list[Message]:  # fmt: skip
    """A message to the source agencies (those holding the counted hits), or to the ones named among them."""
    now = now or utcnow()
    with _refusals(session, actor, tag, warning_id=warning_id, action=Action.FEEDBACK):
        warning, _ = _workable(session, actor, warning_id, Action.FEEDBACK)
        text = lifecycle.clean_text(message, field="message", required=True)
        sources = concerned_agencies(session, warning, window_days=thresholds.window_days, today=beijing_today(now))
        if warning.scope_agency_id is not None and not sources and warning.scope_agency is not None:
            sources = [warning.scope_agency]  # a mark by hand without records: the agency itself
        chosen = [a for a in sources if not agencies or a.code in agencies]
        unknown = set(agencies) - {a.code for a in sources}
        if unknown or not chosen:
            raise InvalidInput("not_a_source", "feedback goes to agencies holding the warning's records")
    messages = [
        Message(sender_user_id=actor.user_id, sender_agency_id=actor.agency_id, recipient_agency_id=agency.id,
                title=f"feedback:{warning.level.value}", body=text, about_type="warning", about_ref=str(warning.id),
                created_at=now)
        for agency in chosen
    ]  # fmt: skip
    session.add_all(messages)
    session.flush()
    codes = [a.code for a in chosen]
    _record_step(session, warning, WarningEventKind.FEEDBACK, actor, tag=tag, now=now, note=text,
                 details={"agencies": codes})  # fmt: skip
    return messages


@dataclass(frozen=True)
class ReceiptListing:
    receipts: list[ReceiptLine]

    @property
    def pending(self) -> list[Agency]:
        return [line.agency for line in self.receipts if line.is_concerned and line.receipt is None]


def receipts_of(
    session: Session, warning: RiskWarning, *, window_days: int, now: dt.datetime | None = None
) -> ReceiptListing:
    """Which concerned agencies have acknowledged a red warning, and which have not yet."""
    concerned = concerned_agencies(session, warning, window_days=window_days, today=beijing_today(now))
    return ReceiptListing(_receipt_lines(session, warning, {a.id for a in concerned}))


def record_receipt(
    session: Session, actor: Actor, warning_id: int, *, note: str = "", thresholds: Thresholds, tag: AuditTag,
    now: dt.datetime | None = None,
) -> ReceiptListing:  # fmt: skip
    """The actor's agency acknowledges a red warning (once); the answer lists who has not yet."""
    now = now or utcnow()
    with _refusals(session, actor, tag, warning_id=warning_id, action=Action.RECEIPT):
        warning, _ = _workable(session, actor, warning_id, Action.RECEIPT)
        note = lifecycle.clean_text(note, field="note", required=False)
        concerned = concerned_agencies(session, warning, window_days=thresholds.window_days, today=beijing_today(now))
        if actor.agency_id not in {a.id for a in concerned}:
            raise NotAllowedNow("not_concerned", "your agency holds no shared or public records on this subject")
        already = session.scalar(
            select(WarningReceipt.id).where(
                WarningReceipt.warning_id == warning.id, WarningReceipt.agency_id == actor.agency_id
            )
        )
        if already is not None:
            raise NotAllowedNow("already_acknowledged", "your agency has acknowledged this warning already")
    session.add(WarningReceipt(warning_id=warning.id, agency_id=actor.agency_id, user_id=actor.user_id, at=now))
    session.flush()
    _record_step(session, warning, WarningEventKind.RECEIPT, actor, tag=tag, now=now, note=note,
                 details={"agency": actor.agency_code})  # fmt: skip
    return ReceiptListing(_receipt_lines(session, warning, {a.id for a in concerned}))


# --- marks by hand (agency admins) ------------------------------------------------------------------------


@dataclass(frozen=True)
class MarkView:
    flag: ManualFlag
    subject: Subject | None


def mark_by_hand(
    session: Session, actor: Actor, subject: Subject, *, reason: str, tag: AuditTag, now: dt.datetime | None = None
) -> ManualFlag:
    """An agency admin marks a subject yellow for the agency, with a reason; the next evaluation raises it."""
    now = now or utcnow()
    with _refusals(session, actor, tag, action="mark", data={"subject": subject.key}):
        if not lifecycle.can_mark(actor):
            raise NotPermitted("not_permitted", "only an agency admin marks a subject by hand")
        reason = lifecycle.clean_text(reason, field="reason", required=True, limit=lifecycle.REASON_MAX_LENGTH)
        existing = session.scalar(
            select(ManualFlag.id).where(
                ManualFlag.agency_id == actor.agency_id,
                ManualFlag.subject_key == subject.key,
                ManualFlag.lifted_at.is_(None),
            )
        )
        if existing is not None:
            raise NotAllowedNow("already_marked", "your agency has marked this subject already")
    assert actor.agency_id is not None
    flag = ManualFlag(
        agency_id=actor.agency_id,
        subject_type=subject.type,
        subject_key=subject.key,
        entity_id=subject.id if subject.type == SubjectType.ENTITY else None,
        person_id=subject.id if subject.type == SubjectType.PERSON else None,
        reason=reason,
        created_by_id=actor.user_id,
        created_at=now,
    )
    session.add(flag)
    session.flush()
    _manual_event(session, flag, actor, now, lifted=False)
    record_event(session, tag, actor=actor, subjects=[(subject.type.value, subject.id), ("manual_flag", flag.id)],
                 data={"action": "mark"})  # fmt: skip
    return flag


def lift_mark(
    session: Session, actor: Actor, flag_id: int, *, tag: AuditTag, now: dt.datetime | None = None
) -> ManualFlag:
    """An admin of the marking agency lifts the mark; the next evaluation clears what it alone held up."""
    now = now or utcnow()
    with _refusals(session, actor, tag, action="lift", data={"manual_flag": flag_id}):
        if not lifecycle.can_mark(actor):
            raise NotPermitted("not_permitted", "only an agency admin lifts a mark")
        flag = session.get(ManualFlag, flag_id)
        if flag is None or flag.agency_id != actor.agency_id:
            raise NotFound()
        if flag.lifted_at is not None:
            raise NotAllowedNow("already_lifted", "the mark was lifted already")
    flag.lifted_at, flag.lifted_by_id = now, actor.user_id
    session.flush()
    _manual_event(session, flag, actor, now, lifted=True)
    record_event(session, tag, actor=actor, subjects=[(flag.subject_type.value, flag.entity_id or flag.person_id or 0),
                 ("manual_flag", flag.id)], data={"action": "lift"})  # fmt: skip
    return flag


def _manual_event(session: Session, flag: ManualFlag, actor: Actor, now: dt.datetime, *, lifted: bool) -> None:
    """The agency's active warning on the subject, if any, keeps the mark (or its lifting) in its history."""
    warning = session.scalars(
        select(RiskWarning).where(
            RiskWarning.subject_key == flag.subject_key,
            RiskWarning.scope_key == str(flag.agency_id),
            RiskWarning.is_active,
        )
    ).first()
    if warning is None:
        return
    session.add(
        WarningEvent(warning_id=warning.id, kind=WarningEventKind.MANUAL, at=now, actor=actor.name,
                     user_id=actor.user_id, from_level=warning.level.value, to_level=warning.level.value,
                     from_status=warning.status.value, to_status=warning.status.value, note=flag.reason,
                     evidence={"manual_flag": flag.id, "lifted": lifted})
    )  # fmt: skip
    session.flush()


def list_marks(session: Session, actor: Actor, *, tag: AuditTag) -> list[MarkView]:
    """The agency's marks in force (agency users; the platform office has none)."""
    with _refusals(session, actor, tag, action="list_marks"):
        if not actor.is_member_agency_user:
            raise NotPermitted("not_permitted", "marks belong to a member agency")
    flags = list(
        session.scalars(
            select(ManualFlag)
            .where(ManualFlag.agency_id == actor.agency_id, ManualFlag.lifted_at.is_(None))
            .order_by(ManualFlag.created_at.desc(), ManualFlag.id.desc())
        )
    )
    subjects = _subjects(session, actor, [f.subject_key for f in flags])
    record_event(session, tag, actor=actor, subjects=[("manual_flag", f.id) for f in flags], data={"action": "list"})
    return [MarkView(f, subjects.get(f.subject_key)) for f in flags]


# --- watch lists ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WatchedSubject:
    watch: Watch
    subject: Subject | None
    warnings: list[RiskWarning]  # the active ones the watcher may see


def _require_user(actor: Actor) -> int:
    if actor.user_id is None or actor.is_public:
        raise NotPermitted("not_permitted", "watch lists belong to signed-in users")
    return actor.user_id


def watch(session: Session, actor: Actor, subject: Subject, *, tag: AuditTag, now: dt.datetime | None = None) -> Watch:
    """Watch an entity or a person: warning changes on it reach the user's inbox (idempotent)."""
    with _refusals(session, actor, tag, action="watch", data={"subject": subject.key}):
        user_id = _require_user(actor)
    row = session.scalars(select(Watch).where(Watch.user_id == user_id, Watch.subject_key == subject.key)).first()
    if row is None:
        row = Watch(user_id=user_id, subject_key=subject.key, created_at=now or utcnow())
        session.add(row)
        session.flush()
    record_event(session, tag, actor=actor, subjects=[(subject.type.value, subject.id)], data={"action": "watch"})
    return row


def unwatch(session: Session, actor: Actor, subject: Subject, *, tag: AuditTag) -> bool:
    """Stop watching; False when the user was not watching it."""
    with _refusals(session, actor, tag, action="unwatch", data={"subject": subject.key}):
        user_id = _require_user(actor)
    row = session.scalars(select(Watch).where(Watch.user_id == user_id, Watch.subject_key == subject.key)).first()
    if row is not None:
        session.delete(row)
        session.flush()
    record_event(session, tag, actor=actor, subjects=[(subject.type.value, subject.id)],
                 data={"action": "unwatch", "was_watching": row is not None})  # fmt: skip
    return row is not None


def list_watches(session: Session, actor: Actor, *, tag: AuditTag) -> list[WatchedSubject]:
    with _refusals(session, actor, tag, action="list_watches"):
        user_id = _require_user(actor)
    rows = list(
        session.scalars(
            select(Watch).where(Watch.user_id == user_id).order_by(Watch.created_at.desc(), Watch.id.desc())
        )
    )
    subjects = _subjects(session, actor, [w.subject_key for w in rows])
    warnings: dict[str, list[RiskWarning]] = {}
    if rows:
        for warning in session.scalars(
            select(RiskWarning)
            .where(RiskWarning.subject_key.in_([w.subject_key for w in rows]), RiskWarning.is_active, _visible(actor))
            .options(joinedload(RiskWarning.scope_agency))
            .order_by(LEVEL_RANK, RiskWarning.opened_at)
        ):
            warnings.setdefault(warning.subject_key, []).append(warning)
    record_event(session, tag, actor=actor, subjects=[("watch", w.id) for w in rows], data={"action": "list"})
    return [WatchedSubject(w, subjects.get(w.subject_key), warnings.get(w.subject_key, [])) for w in rows]


# --- inbox ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InboxMessage:
    message: Message
    sender: str  # a user's name, or "" for the platform itself
    sender_agency: str


@dataclass(frozen=True)
class Inbox:
    messages: list[InboxMessage]
    unread: int


def inbox(session: Session, actor: Actor, *, tag: AuditTag, is_unread_only: bool = False, limit: int = 100) -> Inbox:
    """The messages for the user or the user's agency, newest first, and how many are unread."""
    with _refusals(session, actor, tag, action="inbox"):
        _require_user(actor)
    query = select(Message).where(addressed_to(actor))
    if is_unread_only:
        query = query.where(Message.read_at.is_(None))
    sender = User.__table__.alias("sender")
    rows = session.execute(
        query.add_columns(sender.c.display_name, sender.c.username, Agency.name)
        .outerjoin(sender, sender.c.id == Message.sender_user_id)
        .outerjoin(Agency, Agency.id == Message.sender_agency_id)
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(limit)
    ).all()
    unread = session.scalar(select(func.count()).where(addressed_to(actor), Message.read_at.is_(None))) or 0
    messages = [InboxMessage(m, display or username or "", agency or "") for m, display, username, agency in rows]
    record_event(session, tag, actor=actor, subjects=[("message", m.message.id) for m in messages],
                 data={"action": "inbox", "unread": unread})  # fmt: skip
    return Inbox(messages, int(unread))


def mark_read(
    session: Session, actor: Actor, message_id: int | None = None, *, tag: AuditTag, now: dt.datetime | None = None
) -> int:
    """Mark one message (or, with None, every message) of the user's inbox read; returns how many changed."""
    with _refusals(session, actor, tag, action="mark_read", data={"message": message_id}):
        _require_user(actor)
        query = update(Message).where(addressed_to(actor), Message.read_at.is_(None))
        if message_id is not None:
            if session.scalar(select(Message.id).where(Message.id == message_id, addressed_to(actor))) is None:
                raise NotFound()
            query = query.where(Message.id == message_id)
    changed = session.execute(query.values(read_at=now or utcnow()).execution_options(synchronize_session=False))
    count = int(getattr(changed, "rowcount", 0) or 0)
    record_event(session, tag, actor=actor, subjects=[("message", message_id)] if message_id else [],
                 data={"action": "mark_read", "changed": count})  # fmt: skip
    return count
