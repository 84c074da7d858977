"""Related risk (关联风险): entities linked through shared responsible persons, with networkx.

The entity–person graph is bipartite: entity nodes, person nodes, and an edge for every role a
person held (or holds) at an entity. Two entities one hop apart share a responsible person;
two hops apart, a person of the first is also at an intermediate entity whose person is at the
second. Former roles link too (the restriction follows the person), but a link made only of
former roles says so (``is_current`` false).

The graph is never the whole registry: ``fetch_neighbourhood`` reads the roles around one entity
from ``entity_person_roles`` (one query, or a hop at a time when the neighbourhood is large), and
only that neighbourhood is built and searched. ``linked_entities`` adds, for each linked entity and
each connecting person, the warning levels the viewer may see, and audits the read. Every entity
page and API lookup runs it, so its reads are plain rows, not ORM objects, and it skips the graph
and the queries a neighbourhood without another entity cannot need.

Pure parts (``build_graph``, ``find_links``) take plain tuples and are unit-tested without a
database.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
from sqlalchemy import ColumnElement, Date, Integer, Select, Table, bindparam, or_, select
from sqlalchemy.orm import Session

from signalhub_audit.services import record_event
from signalhub_audit.tags import AuditTag
from signalhub_platform.models import (
    PLATFORM_SCOPE,
    Actor,
    Agency,
    Entity,
    EntityPersonRole,
    Person,
    RiskWarning,
    WarningLevel,
    WarningStatus,
)
from signalhub_platform.models.statement_cache import per_actor
from signalhub_platform.models.types import beijing_today
from signalhub_platform.models.visibility import entity_visible_to, person_visible_to
from signalhub_warnings.rules import LEVEL_ORDER
from signalhub_warnings.services import visible_warnings_clause

DEFAULT_MAX_HOPS = 2
# A person behind hundreds of companies (a registered agent) would pull in a large part of the
# registry; the walk stops taking rows past this many role edges and says it was cut short.
MAX_EDGES = 5000

EntityNode = tuple[str, int]  # ("entity", id)
PersonNode = tuple[str, int]  # ("person", id)


def entity_node(entity_id: int) -> EntityNode:
    return ("entity", entity_id)


def person_node(person_id: int) -> PersonNode:
    return ("person", person_id)


@dataclass(frozen=True)
class RoleEdge:
    """One role as the graph sees it: who, where, and whether it is held today."""

    entity_id: int
    person_id: int
    is_current: bool


@dataclass(frozen=True)
class Link:
    """An entity reachable from the origin, and how."""

    entity_id: int
    hops: int  # entity-to-entity steps: 1 shares a person with the origin, 2 goes through one more entity
    persons: tuple[int, ...]  # every person on a shortest path, nearest the origin first
    via: tuple[int, ...]  # intermediate entities on those paths (hop 2 and more)
    is_current: bool  # some shortest path uses current roles only


# --- pure: graph and links ---------------------------------------------------------------------------


def build_graph(edges: Iterable[RoleEdge]) -> nx.Graph:
    """The bipartite entity–person graph; an edge is current if any of the person's roles there is."""
    graph = nx.Graph()
    for edge in edges:
        a, b = entity_node(edge.entity_id), person_node(edge.person_id)
        if graph.has_edge(a, b):
            graph[a][b]["is_current"] = graph[a][b]["is_current"] or edge.is_current
        else:
            graph.add_edge(a, b, is_current=edge.is_current)
    return graph


def find_links(graph: nx.Graph, origin_id: int, max_hops: int = DEFAULT_MAX_HOPS) -> list[Link]:
    """Entities within ``max_hops`` of the origin, nearest first, then by id."""
    origin = entity_node(origin_id)
    if origin not in graph or max_hops < 1:
        return []
    cutoff = 2 * max_hops  # entity → person → entity is two edges
    predecessors, distance = nx.predecessor(graph, origin, cutoff=cutoff, return_seen=True)
    current = graph.edge_subgraph([(u, v) for u, v, is_current in graph.edges(data="is_current") if is_current])
    current_distance = (
        nx.single_source_shortest_path_length(current, origin, cutoff=cutoff) if origin in current else {}
    )
    links = []
    for node, steps in distance.items():
        kind, node_id = node
        if kind != "entity" or node == origin:
            continue
        on_paths = _nodes_on_shortest_paths(node, predecessors)
        persons = sorted((n for n in on_paths if n[0] == "person"), key=lambda n: (distance[n], n[1]))
        via = sorted((n for n in on_paths if n[0] == "entity" and n not in (origin, node)),
                     key=lambda n: (distance[n], n[1]))  # fmt: skip
        links.append(
            Link(
                entity_id=node_id,
                hops=steps // 2,
                persons=tuple(n[1] for n in persons),
                via=tuple(n[1] for n in via),
                is_current=current_distance.get(node) == steps,
            )
        )
    links.sort(key=lambda link: (link.hops, link.entity_id))
    return links


def _nodes_on_shortest_paths(target: tuple[str, int], predecessors: Mapping[object, list[object]]) -> set[object]:
    """Every node on some shortest path from the origin to ``target`` (walking predecessors back)."""
    seen: set[object] = set()
    stack: list[object] = [target]
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        stack.extend(predecessors.get(node, ()))
    return seen


def strongest_first(levels: Iterable[WarningLevel]) -> list[WarningLevel]:
    return sorted(set(levels), key=lambda level: -LEVEL_ORDER[level])


# --- the neighbourhood, by SQL -------------------------------------------------------------------------


@dataclass
class Neighbourhood:
    edges: list[RoleEdge] = field(default_factory=list)
    is_truncated: bool = False


def fetch_neighbourhood(
    session: Session, entity_id: int, *, max_hops: int = DEFAULT_MAX_HOPS, today: dt.date, max_edges: int = MAX_EDGES
) -> Neighbourhood:
    """The role edges within ``max_hops`` entity-to-entity steps of the entity.

    Nearly every neighbourhood is small: one query reads it whole. A large one (more than half of
    ``max_edges`` roles) is walked a hop at a time instead, which cuts it short at ``max_edges``."""
    if max_hops >= 1:
        edges = _fetch_small_neighbourhood(session, entity_id, max_hops=max_hops, today=today, limit=max_edges // 2)
        if edges is not None:
            return Neighbourhood(edges=edges)
    return walk_neighbourhood(session, entity_id, max_hops=max_hops, today=today, max_edges=max_edges)


def _is_current(roles: Table, today: dt.date) -> ColumnElement[bool]:
    return or_(roles.c.until.is_(None), roles.c.until > today).label("is_current")


def _fetch_small_neighbourhood(
    session: Session, entity_id: int, *, max_hops: int, today: dt.date, limit: int
) -> list[RoleEdge] | None:
    """The walk's edges in one query, or None when there are more than ``limit`` roles.

    The walk reads the roles of the frontier entities and then every role of their persons, so
    what it gathers in ``max_hops`` hops is exactly every role of the persons held at an entity
    within ``max_hops - 1`` hops: the persons of the origin, then ``max_hops - 1`` times the
    persons of those persons' entities. The walk can only cut short when one of its steps returns
    more than ``max_edges`` minus what it has seen; each step is a part of these roles, so with at
    most ``max_edges // 2`` of them it never does, and the result is the walk's own."""
    query = _small_neighbourhood_query(max_hops)
    rows = session.execute(query, {"entity_id": entity_id, "today": today, "limit": max(limit, 0) + 1}).all()
    if len(rows) > limit:
        return None
    return [RoleEdge(e, p, c) for e, p, c in sorted({(int(e), int(p), bool(c)) for e, p, c in rows})]


@functools.lru_cache(maxsize=8)
def _small_neighbourhood_query(max_hops: int) -> Select[tuple[int, int, bool]]:
    """Built once per depth (every lookup runs it); the origin, the day and the limit are bound."""
    roles = EntityPersonRole.__table__
    persons = select(roles.c.person_id).where(roles.c.entity_id == bindparam("entity_id"))
    for _ in range(max_hops - 1):
        entities = select(roles.c.entity_id).where(roles.c.person_id.in_(persons))
        persons = select(roles.c.person_id).where(roles.c.entity_id.in_(entities))
    is_current = or_(roles.c.until.is_(None), roles.c.until > bindparam("today", type_=Date())).label("is_current")
    return (
        select(roles.c.entity_id, roles.c.person_id, is_current)
        .where(roles.c.person_id.in_(persons))
        .limit(bindparam("limit", type_=Integer()))
    )


def walk_neighbourhood(
    session: Session, entity_id: int, *, max_hops: int = DEFAULT_MAX_HOPS, today: dt.date, max_edges: int = MAX_EDGES
) -> Neighbourhood:
    """The role edges within ``max_hops`` entity-to-entity steps, walked outward in SQL a hop at a
    time (2 queries per hop), stopping at ``max_edges`` role edges."""
    roles = EntityPersonRole.__table__
    is_current = _is_current(roles, today)
    result = Neighbourhood()
    seen_edges: set[tuple[int, int, bool]] = set()
    seen_entities: set[int] = {entity_id}
    seen_persons: set[int] = set()
    frontier_entities: set[int] = {entity_id}
    columns = (roles.c.entity_id, roles.c.person_id, is_current)
    for _ in range(max_hops):
        # The frontier's persons ...
        query = select(*columns).where(roles.c.entity_id.in_(frontier_entities))
        rows = _fetch(session, query, result, max_edges - len(seen_edges))
        new_persons = {p for _, p, _ in rows} - seen_persons
        seen_persons |= new_persons
        seen_edges.update(rows)
        if not new_persons or result.is_truncated:
            break
        # ... and their other entities.
        query = select(*columns).where(roles.c.person_id.in_(new_persons))
        rows = _fetch(session, query, result, max_edges - len(seen_edges))
        seen_edges.update(rows)
        frontier_entities = {e for e, _, _ in rows} - seen_entities
        seen_entities |= frontier_entities
        if not frontier_entities or result.is_truncated:
            break
    result.edges = [RoleEdge(e, p, bool(c)) for e, p, c in sorted(seen_edges)]
    return result


def _fetch(
    session: Session, query: Select[tuple[int, int, bool]], result: Neighbourhood, limit: int
) -> set[tuple[int, int, bool]]:
    limit = max(limit, 0)
    ordered = query.order_by(*query.selected_columns[:2]).limit(limit + 1)
    rows = [(int(e), int(p), bool(c)) for e, p, c in session.execute(ordered)]
    if len(rows) > limit:
        result.is_truncated = True
        rows = rows[:limit]
    return set(rows)


# --- the service ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConnectingPerson:
    id: int
    name: str
    id_masked: str
    warning_levels: tuple[WarningLevel, ...]  # the viewer's view of the person's own warnings


@dataclass(frozen=True)
class EntityRef:
    uscc: str
    name: str


@dataclass(frozen=True)
class LinkedEntity:
    id: int
    uscc: str
    name: str
    hops: int
    persons: tuple[ConnectingPerson, ...]
    via: tuple[EntityRef, ...]  # intermediate entities (hop 2)
    is_current: bool
    warning_levels: tuple[WarningLevel, ...]  # strongest first, only what the viewer may see


@dataclass(frozen=True)
class WarningSummary:
    """One of the entity's own active warnings (the queue pages show the whole explanation)."""

    id: int
    level: WarningLevel
    scope: str  # agency code, or "platform" for red
    scope_name: str
    status: str
    rules: tuple[str, ...]
    records: int
    opened_at: dt.datetime

    @property
    def opened_on(self) -> dt.date:
        """The Beijing calendar day the warning was raised."""
        return beijing_today(self.opened_at)


@dataclass(frozen=True)
class LinkedEntities:
    """Related risk around one entity: its own warnings and the entities linked to it."""

    links: list[LinkedEntity]
    warnings: list[WarningSummary]  # the entity's own, strongest first
    is_truncated: bool  # the neighbourhood was larger than MAX_EDGES role edges


def linked_entities(
    session: Session,
    actor: Actor,
    entity_id: int,
    max_hops: int = DEFAULT_MAX_HOPS,
    *,
    tag: AuditTag,
    today: dt.date | None = None,
    max_edges: int = MAX_EDGES,
) -> LinkedEntities:
    """Entities linked to ``entity_id`` through shared responsible persons (up to ``max_hops``), the
    persons connecting them (name and masked ID only), the warning levels the viewer may see on
    each, and the entity's own visible warnings. One audit event covers the whole read."""
    today = today or beijing_today()
    # The graph is made of persons: nothing of it for the public.
    hood = (
        Neighbourhood()
        if actor.is_public
        else fetch_neighbourhood(session, entity_id, max_hops=max_hops, today=today, max_edges=max_edges)
    )
    # Most entities share no person with any other: then there is no link, and no graph to search.
    is_linked = any(edge.entity_id != entity_id for edge in hood.edges)
    links = find_links(build_graph(hood.edges), entity_id, max_hops) if is_linked else []
    entities = _visible_entities(
        session, actor, {link.entity_id for link in links} | {e for link in links for e in link.via}
    )
    persons = _visible_persons(session, actor, {p for link in links for p in link.persons})
    warnings = _active_warnings(session, actor, entity_id, set(entities), set(persons))
    result = []
    for link in links:
        entity = entities.get(link.entity_id)
        if entity is None:
            continue  # an entity the viewer may not know of is not a link either
        result.append(
            LinkedEntity(
                id=link.entity_id,
                uscc=entity.uscc,
                name=entity.name,
                hops=link.hops,
                persons=tuple(
                    ConnectingPerson(p, *persons[p], tuple(warnings.person_levels.get(p, ())))
                    for p in link.persons
                    if p in persons
                ),
                via=tuple(entities[e] for e in link.via if e in entities),
                is_current=link.is_current,
                warning_levels=tuple(warnings.entity_levels.get(link.entity_id, ())),
            )
        )
    own = warnings.own
    origin = session.get(Entity, entity_id)
    record_event(
        session,
        tag,
        actor=actor,
        subjects=[
            *([("entity", origin.uscc)] if origin else []),
            *(("warning", w.id) for w in own),
            *(("entity", link.uscc) for link in result),
            *(("person", p.id) for link in result for p in link.persons),
        ],
        data={"max_hops": max_hops, "warnings": len(own), "linked": len(result), "truncated": hood.is_truncated,
              "linked_with_warnings": sum(1 for link in result if link.warning_levels)},
    )  # fmt: skip
    return LinkedEntities(result, own, hood.is_truncated)


def _visible_entities(session: Session, actor: Actor, ids: set[int]) -> dict[int, EntityRef]:
    if not ids:
        return {}
    rows = session.execute(_visible_entities_query(actor), {"ids": sorted(ids)})
    return {int(entity_id): EntityRef(uscc, name) for entity_id, uscc, name in rows}


def _visible_persons(session: Session, actor: Actor, ids: set[int]) -> dict[int, tuple[str, str]]:
    """Name and masked ID number of the persons ``actor`` may know of, by id."""
    if not ids:
        return {}
    rows = session.execute(_visible_persons_query(actor), {"ids": sorted(ids)})
    return {int(person_id): (name, masked) for person_id, name, masked in rows}


@per_actor
def _visible_entities_query(actor: Actor) -> Select[tuple[int, str, str]]:
    ids = bindparam("ids", expanding=True)
    return select(Entity.id, Entity.uscc, Entity.name).where(Entity.id.in_(ids), entity_visible_to(actor))


@per_actor
def _visible_persons_query(actor: Actor) -> Select[tuple[int, str, str]]:
    ids = bindparam("ids", expanding=True)
    return select(Person.id, Person.name, Person.id_masked).where(Person.id.in_(ids), person_visible_to(actor))


@dataclass(frozen=True)
class _ActiveWarnings:
    own: list[WarningSummary]  # the origin's, strongest first
    entity_levels: dict[int, list[WarningLevel]]  # linked entities', strongest first
    person_levels: dict[int, list[WarningLevel]]  # connecting persons', strongest first


def _active_warnings(
    session: Session, actor: Actor, entity_id: int, linked_ids: set[int], person_ids: set[int]
) -> _ActiveWarnings:
    """The active warnings ``actor`` may see on the origin, the linked entities and the connecting
    persons, in one query (one visibility clause for all three)."""
    values = {"entity_ids": sorted({entity_id} | linked_ids)}
    if person_ids:
        values["person_ids"] = sorted(person_ids)
    own = []
    entity_levels: dict[int, list[WarningLevel]] = defaultdict(list)
    person_levels: dict[int, list[WarningLevel]] = defaultdict(list)
    for row in session.execute(_active_warnings_query(actor, bool(person_ids)), values):
        level = WarningLevel(row.level)
        if row.entity_id == entity_id:
            own.append(
                WarningSummary(
                    id=row.id,
                    level=level,
                    scope=row.code or PLATFORM_SCOPE,
                    scope_name=row.name or "",
                    status=WarningStatus(row.status).value,
                    rules=tuple(row.rules or ()),
                    records=row.record_count,
                    opened_at=row.opened_at,
                )
            )
        # Not elif: nothing in the schema stops a warning from naming both an entity and a person.
        if row.entity_id in linked_ids:
            entity_levels[int(row.entity_id)].append(level)
        if row.person_id in person_ids:
            person_levels[int(row.person_id)].append(level)
    own.sort(key=lambda s: (-LEVEL_ORDER[s.level], s.opened_at, s.id))
    return _ActiveWarnings(
        own,
        {subject_id: strongest_first(levels) for subject_id, levels in entity_levels.items()},
        {subject_id: strongest_first(levels) for subject_id, levels in person_levels.items()},
    )


@per_actor
def _active_warnings_query(actor: Actor, has_persons: bool) -> Select[Any]:
    subjects = RiskWarning.entity_id.in_(bindparam("entity_ids", expanding=True))
    if has_persons:
        subjects = or_(subjects, RiskWarning.person_id.in_(bindparam("person_ids", expanding=True)))
    return (
        select(
            RiskWarning.id,
            RiskWarning.entity_id,
            RiskWarning.person_id,
            RiskWarning.level,
            RiskWarning.status,
            RiskWarning.rules,
            RiskWarning.record_count,
            RiskWarning.opened_at,
            Agency.code,
            Agency.name,
        )
        .outerjoin(Agency, Agency.id == RiskWarning.scope_agency_id)
        .where(subjects, RiskWarning.is_active, visible_warnings_clause(actor))  # type: ignore[arg-type]
    )
