"""The entity–person graph without a database: links, hop distances, connecting persons, former roles."""

from __future__ import annotations

from signalhub_platform.models import WarningLevel
from signalhub_warnings.graph import Link, RoleEdge, build_graph, find_links, strongest_first

# Entities 1..9, persons 100+. 1 —p100— 2 —p101— 3 —p102— 4 (three hops from 1); 1 —p103— 5 (a former role).
EDGES = [
    RoleEdge(1, 100, True),
    RoleEdge(2, 100, True),
    RoleEdge(2, 101, True),
    RoleEdge(3, 101, True),
    RoleEdge(3, 102, True),
    RoleEdge(4, 102, True),
    RoleEdge(1, 103, False),
    RoleEdge(5, 103, True),
]


def by_entity(links: list[Link]) -> dict[int, Link]:
    return {link.entity_id: link for link in links}


def test_the_graph_is_bipartite_with_one_edge_per_entity_and_person() -> None:
    graph = build_graph([*EDGES, RoleEdge(1, 100, False)])  # a second (former) role of the same person
    assert graph.number_of_nodes() == 9
    assert graph.number_of_edges() == 8
    assert graph[("entity", 1)][("person", 100)]["is_current"] is True  # any current role makes it current
    assert all(kind_a != kind_b for (kind_a, _), (kind_b, _) in graph.edges())


def test_links_within_two_hops_with_their_distance_and_persons() -> None:
    links = by_entity(find_links(build_graph(EDGES), 1, max_hops=2))
    assert set(links) == {2, 3, 5}  # 4 is three hops away
    assert (links[2].hops, links[2].persons, links[2].via) == (1, (100,), ())
    assert (links[3].hops, links[3].persons, links[3].via) == (2, (100, 101), (2,))
    assert links[5].hops == 1 and links[5].persons == (103,)


def test_links_come_nearest_first() -> None:
    assert [link.entity_id for link in find_links(build_graph(EDGES), 1)] == [2, 5, 3]


def test_max_hops_bounds_the_search() -> None:
    assert {link.entity_id for link in find_links(build_graph(EDGES), 1, max_hops=1)} == {2, 5}
    assert {link.entity_id for link in find_links(build_graph(EDGES), 1, max_hops=3)} == {2, 3, 4, 5}
    assert find_links(build_graph(EDGES), 1, max_hops=0) == []


def test_a_link_made_only_of_former_roles_says_so() -> None:
    links = by_entity(find_links(build_graph(EDGES), 1))
    assert links[2].is_current and links[3].is_current
    assert not links[5].is_current


def test_every_person_on_a_shortest_path_is_named() -> None:
    # Two persons both sit at entities 1 and 2; a longer detour through 6 does not count.
    pairs = [(1, 100), (2, 100), (1, 104), (2, 104), (1, 105), (6, 105), (6, 106), (2, 106)]
    edges = [RoleEdge(entity, person, True) for entity, person in pairs]
    links = by_entity(find_links(build_graph(edges), 1))
    assert links[2].hops == 1 and links[2].persons == (100, 104)
    assert links[6].hops == 1 and links[6].persons == (105,)


def test_an_unknown_or_isolated_entity_has_no_links() -> None:
    assert find_links(build_graph(EDGES), 42) == []
    assert find_links(build_graph([RoleEdge(7, 107, True)]), 7) == []


def test_levels_strongest_first_without_repeats() -> None:
    levels = [WarningLevel.YELLOW, WarningLevel.RED, WarningLevel.YELLOW, WarningLevel.ORANGE]
    assert strongest_first(levels) == [WarningLevel.RED, WarningLevel.ORANGE, WarningLevel.YELLOW]
