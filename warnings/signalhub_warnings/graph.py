"""Related risk (关联风险): entities linked through shared responsible persons, with networkx.

The entity–person graph is bipartite: entity nodes, person nodes, and an edge for every role a
person held (or holds) at an entity. Two entities one hop apart share a responsible person;
two hops apart, a person of the first is also at an intermediate entity whose person is at the
second. Former roles link too (the restriction follows the person), but a link made only of
former roles says so (``is_current`` false).

The graph is never the whole registry: ``fetch_neighbourhood`` walks ``entity_person_roles``
outward from one entity in SQL, a hop at a time (persons of the frontier, then their entities),
and only that neighbourhood is built and searched. ``linked_entities`` adds, for each linked
entity and each connecting person, the warning levels the viewer may see, and audits the read.

Pure parts (``build_graph``, ``find_links``) take plain tuples and are unit-tested without a
database.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import networkx as nx
from sqlalchemy import Select, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

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
)
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
    """The role edges within ``max_hops`` entity-to-entity steps of the entity: 2 queries per hop."""
    roles = EntityPersonRole.__table__
    is_current = or_(roles.c.until.is_(None), roles.c.until > today).label("is_current")
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
    links = find_links(build_graph(hood.edges), entity_id, max_hops)
    entity_ids = {link.entity_id for link in links} | {e for link in links for e in link.via}
    person_ids = {p for link in links for p in link.persons}
    entities = {
        e.id: e for e in session.scalars(select(Entity).where(Entity.id.in_(entity_ids), entity_visible_to(actor)))
    }
    persons = {
        p.id: p for p in session.scalars(select(Person).where(Person.id.in_(person_ids), person_visible_to(actor)))
    }
    entity_levels = _visible_levels(session, actor, RiskWarning.entity_id, set(entities))
    person_levels = _visible_levels(session, actor, RiskWarning.person_id, set(persons))
    result = []
    for link in links:
        entity = entities.get(link.entity_id)
        if entity is None:
            continue  # an entity the viewer may not know of is not a link either
        result.append(
            LinkedEntity(
                id=entity.id,
                uscc=entity.uscc,
                name=entity.name,
                hops=link.hops,
                persons=tuple(
                    ConnectingPerson(p, persons[p].name, persons[p].id_masked, tuple(person_levels.get(p, ())))
                    for p in link.persons
                    if p in persons
                ),
                via=tuple(EntityRef(entities[e].uscc, entities[e].name) for e in link.via if e in entities),
                is_current=link.is_current,
                warning_levels=tuple(entity_levels.get(entity.id, ())),
            )
        )
    own = _own_warnings(session, actor, entity_id)
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


def _visible_levels(
    session: Session, actor: Actor, column: InstrumentedAttribute[int | None], ids: set[int]
) -> dict[int, list[WarningLevel]]:
    if not ids:
        return {}
    found: dict[int, list[WarningLevel]] = defaultdict(list)
    query = select(column, RiskWarning.level).where(
        RiskWarning.is_active,
        column.in_(ids),
        visible_warnings_clause(actor),  # type: ignore[arg-type]
    )
    for subject_id, level in session.execute(query.distinct()):
        found[int(subject_id)].append(WarningLevel(level))  # type: ignore[arg-type]
    return {subject_id: strongest_first(levels) for subject_id, levels in found.items()}


def _own_warnings(session: Session, actor: Actor, entity_id: int) -> list[WarningSummary]:
    rows = session.execute(
        select(RiskWarning, Agency.code, Agency.name)
        .outerjoin(Agency, Agency.id == RiskWarning.scope_agency_id)
        .where(RiskWarning.entity_id == entity_id, RiskWarning.is_active, visible_warnings_clause(actor))  # type: ignore[arg-type]
    ).all()
    summaries = [
        WarningSummary(
            id=warning.id,
            level=warning.level,
            scope=code or PLATFORM_SCOPE,
            scope_name=name or "",
            status=warning.status.value,
            rules=tuple(warning.rules or ()),
            records=warning.record_count,
            opened_at=warning.opened_at,
        )
        for warning, code, name in rows
    ]
    summaries.sort(key=lambda s: (-LEVEL_ORDER[s.level], s.opened_at, s.id))
    return summaries
