"""The pure draw: strata, rounds, teams with recusal and caps, and package verification (S5, S14, S15)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from signalhub_platform.drawing import (
    MANIFEST_FORMAT,
    DrawError,
    combine_seed,
    compute_draw,
    document_sha256,
    secret_commitment,
    verify_package,
)
from signalhub_platform.sampling import DuplicateIdError, sample

SEED = "31415926535897932384"


def manifest(population: list[list[str]], **parameters: Any) -> dict[str, Any]:
    params = {
        "strategy": "uniform",
        "targets": 3,
        "ratio": None,
        "strata": None,
        "agencies": ["SAMR", "TAX"],
        "team": {"per_agency": 1},
        "inspector_cap": None,
    }
    params.update(parameters)
    inspectors = [
        {"agency": agency, "certificate_no": f"{agency}-{n}", "active": True, "qualified": True}
        for agency in ("SAMR", "TAX")
        for n in range(1, 4)
    ]
    return {
        "format": MANIFEST_FORMAT,
        "draw_id": 7,
        "parameters": params,
        "population": sorted(population),
        "inspectors": inspectors,
        "recusals": [],
        "last_inspectors": [],
    }


def population(n: int, stratum: str = "none") -> list[list[str]]:
    return [[f"E{i:04d}", stratum] for i in range(n)]


def test_uniform_targets_are_the_samplers_first_picks() -> None:
    m = manifest(population(50), targets=5)
    result = compute_draw(m, SEED, [{}])
    expected = [p.id for p in sample([u for u, _ in m["population"]], SEED, 5)]
    assert [t["uscc"] for t in result["targets"]] == expected
    assert [t["position"] for t in result["targets"]] == [1, 2, 3, 4, 5]


def test_strata_drawn_with_one_seed_merge_in_ticket_order() -> None:
    # S5: each stratum is the sampler on its own ids; the merged list is their union by ticket.
    red = [[f"R{i}", "red"] for i in range(10)]
    none = [[f"N{i}", "none"] for i in range(40)]
    m = manifest(red + none, strategy="stratified", strata={"red": {"count": 3}, "none": {"count": 4}})
    targets = compute_draw(m, SEED, [{}])["targets"]
    red_ids = [p.id for p in sample([u for u, _ in red], SEED, 3)]
    none_ids = [p.id for p in sample([u for u, _ in none], SEED, 4)]
    assert sorted(t["uscc"] for t in targets if t["stratum"] == "red") == sorted(red_ids)
    assert sorted(t["uscc"] for t in targets if t["stratum"] == "none") == sorted(none_ids)
    tickets = [t["ticket"][2:].rstrip("0") for t in targets]
    assert tickets == sorted(tickets)


def test_a_ratio_selects_every_ticket_below_it() -> None:
    m = manifest(population(400), strategy="stratified", strata={"none": {"ratio": "0.1"}})
    targets = compute_draw(m, SEED, [{}])["targets"]
    assert all(t["ticket"] < "0.1" for t in targets)
    everything = sample([u for u, _ in m["population"]], SEED)
    assert len(targets) == sum(1 for p in everything if p.ticket < "0.1")
    assert 15 < len(targets) < 70  # about 10% of 400


def test_a_second_round_continues_the_stream() -> None:
    # S6 at draw level: round 1 takes 4, round 2 takes 3 more = taking 7.
    m = manifest(population(30), targets=4)
    two_rounds = compute_draw(m, SEED, [{}, {"targets": 3}])["targets"]
    at_once = compute_draw(manifest(population(30), targets=7), SEED, [{}])["targets"]
    assert [t["uscc"] for t in two_rounds] == [t["uscc"] for t in at_once]
    assert [t["round"] for t in two_rounds] == [1, 1, 1, 1, 2, 2, 2]


def test_a_ratio_stratum_cannot_be_continued() -> None:
    m = manifest(population(30), strategy="stratified", strata={"none": {"ratio": "0.5"}})
    with pytest.raises(DrawError, match="cannot be continued"):
        compute_draw(m, SEED, [{}, {"strata": {"none": 2}}])


def test_duplicate_uscc_in_the_population_is_rejected() -> None:
    m = manifest([["E1", "none"], ["E1", "red"], ["E2", "none"]])
    with pytest.raises(DuplicateIdError, match="E1"):
        compute_draw(m, SEED, [{}])


def test_every_team_has_one_inspector_per_agency() -> None:
    result = compute_draw(manifest(population(20), targets=6), SEED, [{}])
    for target in result["targets"]:
        assert sorted(m["agency"] for m in target["team"]) == ["SAMR", "TAX"]
        assert target["unfilled"] == []


def test_a_recused_inspector_is_never_drawn_for_that_target_and_the_reason_is_listed() -> None:
    # S14: recuse every SAMR inspector but one for every target; the remaining one is always drawn.
    m = manifest(population(10), targets=10)
    m["recusals"] = sorted([cert, uscc] for uscc, _ in m["population"] for cert in ("SAMR-1", "SAMR-2"))
    for target in compute_draw(m, SEED, [{}])["targets"]:
        samr = [x["inspector"] for x in target["team"] if x["agency"] == "SAMR"]
        assert samr == ["SAMR-3"]
        assert {"agency": "SAMR", "inspector": "SAMR-1", "reason": "recused"} in target["exclusions"]


def test_the_last_inspector_of_an_entity_is_excluded() -> None:
    m = manifest(population(5), targets=5)
    m["last_inspectors"] = [[uscc, "TAX-2"] for uscc, _ in m["population"]]
    for target in compute_draw(m, SEED, [{}])["targets"]:
        assert "TAX-2" not in [x["inspector"] for x in target["team"]]
        assert {"agency": "TAX", "inspector": "TAX-2", "reason": "last_inspector"} in target["exclusions"]


def test_load_is_spread_evenly_and_a_cap_leaves_places_unfilled() -> None:
    result = compute_draw(manifest(population(30), targets=9), SEED, [{}])
    loads: dict[str, int] = {}
    for target in result["targets"]:
        for member in target["team"]:
            loads[member["inspector"]] = loads.get(member["inspector"], 0) + 1
    assert set(loads.values()) == {3}  # 9 targets over 3 inspectors per agency
    capped = compute_draw(manifest(population(30), targets=4, inspector_cap=1), SEED, [{}])["targets"]
    assert capped[3]["unfilled"] == [
        {"agency": "SAMR", "reason": "no_eligible_inspector"},
        {"agency": "TAX", "reason": "no_eligible_inspector"},
    ]


def test_inactive_and_unqualified_inspectors_are_listed_once_and_never_drawn() -> None:
    m = manifest(population(10), targets=10)
    m["inspectors"][0]["active"] = False
    m["inspectors"][1]["qualified"] = False
    result = compute_draw(m, SEED, [{}])
    assert result["pool_exclusions"] == [
        {"agency": "SAMR", "inspector": "SAMR-1", "reason": "inactive"},
        {"agency": "SAMR", "inspector": "SAMR-2", "reason": "not_qualified"},
    ]
    assert {x["inspector"] for t in result["targets"] for x in t["team"] if x["agency"] == "SAMR"} == {"SAMR-3"}


def test_the_inspector_draw_uses_the_derived_seed() -> None:
    m = manifest(population(4), targets=1)
    target = compute_draw(m, SEED, [{}])["targets"][0]
    derived = f"{SEED}|inspectors|7|{target['uscc']}|TAX"
    assert [x["inspector"] for x in target["team"] if x["agency"] == "TAX"] == [
        sample(["TAX-1", "TAX-2", "TAX-3"], derived, 1)[0].id
    ]


def package() -> dict[str, Any]:
    m = manifest(population(25), targets=5)
    reveals = {"TAX": "tAxSecret2026"}
    seed = combine_seed(SEED, reveals)
    result = compute_draw(m, seed, [{}])
    return {
        "manifest": m,
        "population_sha256": document_sha256(m),
        "dice": SEED,
        "commitments": {"TAX": secret_commitment("tAxSecret2026")},
        "reveals": reveals,
        "seed": seed,
        "rounds": [{}],
        "result": result,
        "result_sha256": document_sha256(result),
    }


def test_an_untouched_package_verifies() -> None:
    assert verify_package(package()) == []


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (lambda p: p["manifest"]["population"].pop(), "manifest hash mismatch"),
        (lambda p: p.update(dice=SEED[:-1] + "0"), "seed mismatch"),
        (lambda p: p["reveals"].update(TAX="otherSecret1"), "does not match its commitment"),
        (lambda p: p["result"]["targets"].reverse(), "result mismatch"),
        (lambda p: p["manifest"]["parameters"].update(targets=6), "manifest hash mismatch"),
        (lambda p: p.update(rounds=[{}, {"targets": 1}]), "result mismatch"),
    ],
)
def test_any_edit_to_a_package_is_found(edit: Any, problem: str) -> None:
    # S15: any change to population, seed, parameters or result fails verification.
    edited = copy.deepcopy(package())
    edit(edited)
    assert any(problem in p for p in verify_package(edited))


def test_secrets_must_be_plain_letters_or_digits() -> None:
    with pytest.raises(DrawError):
        combine_seed(SEED, {"TAX": "has|pipe"})
    assert combine_seed(SEED, {}) == SEED
    assert combine_seed(SEED, {"TAX": "abcdefgh", "SAMR": "12345678"}) == f"{SEED}|SAMR=12345678|TAX=abcdefgh"
