"""A double-random draw as a pure function of its frozen manifest, its seed and its rounds.

Standard library plus ``sampling`` only, so that this file and ``sampling.py`` can be pasted
together into the standalone verification script handed out with every published draw. Nothing
here reads a database or a clock: the platform computes a draw with ``compute_draw`` and
``verify`` (and anyone else) recomputes it the same way.

The manifest (frozen before the seed exists) holds the parameters, the population as sorted
``[uscc, stratum]`` pairs, every inspector of the participating agencies with their active and
qualified flags, the declared conflicts (recusals) and the inspector who last inspected each
entity. Its SHA-256 over the canonical JSON encoding is the published population hash.

Targets: each stratum (``all`` for a uniform draw) is drawn from one seed without replacement; a
count takes the next picks of the stratum's stream, a ratio takes every ticket below it. Rounds
continue the same streams (round 2 drops what round 1 took). The targets are listed by round, then
by ticket, so strata merge in ticket order.

Teams: for each target in that order and each participating agency (sorted by code), the eligible
inspectors are the agency's active, qualified inspectors minus those recused for the entity, the
one who last inspected it, those already in the team and those at the cap. Among them the least
loaded so far win, and the consistent sampler under the derived seed
``seed|inspectors|<draw id>|<uscc>|<agency>`` orders the rest.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from signalhub_platform.sampling import (
    DuplicateIdError,
    SamplingError,
    duplicates,
    sha256_hex,
    sha256_uniform,
    ticket_key,
)

MANIFEST_FORMAT = "signalhub-draw-manifest/1"
RESULT_FORMAT = "signalhub-draw-result/1"
STRATA = ("red", "orange", "yellow", "none")
UNIFORM_STRATUM = "all"
_RATIO = re.compile(r"^(0\.[0-9]*[1-9][0-9]*|1)$")
_SECRET = re.compile(r"^[0-9A-Za-z]{8,128}$")


class DrawError(SamplingError):
    """The draw's parameters, manifest or seed cannot produce a draw."""


def canonical_json(value: Any) -> str:
    """The one encoding whose SHA-256 is published: sorted keys, no spaces, UTF-8 text kept as is."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def document_sha256(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()


def combine_seed(dice: str, reveals: Mapping[str, str] | None = None) -> str:
    """The seed the sampler uses: the dice digits, then each agency's revealed secret by agency code.

    With no agency secrets it is the dice digits alone, so a draw seeded in the meeting can be
    checked with nothing but ``signalhub sample --seed <digits>``.
    """
    if not reveals:
        return dice
    for code, secret in reveals.items():
        if not _SECRET.match(secret):
            raise DrawError(f"the secret of {code} must be 8-128 letters or digits")
    return dice + "".join(f"|{code}={reveals[code]}" for code in sorted(reveals))


def secret_commitment(secret: str) -> str:
    """What an agency publishes before the reveal: the SHA-256 of its secret."""
    return sha256_hex(secret)


def check_ratio(ratio: str) -> str:
    if not isinstance(ratio, str) or not _RATIO.match(ratio):
        raise DrawError(f"a ratio is a decimal string in (0, 1], e.g. '0.05'; got {ratio!r}")
    return ratio


def _below(ratio: str) -> str | None:
    # Tickets strictly below the ratio are selected; ratio 1 selects everything (None = no bound).
    return None if ratio == "1" else ticket_key(ratio)


def stratum_sizes(parameters: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Round 1's size per stratum: ``{"all": {"count": 10}}`` or ``{"red": {"ratio": "0.5"}, ...}``."""
    if parameters.get("strategy") == "stratified":
        sizes = dict(parameters.get("strata") or {})
        unknown = sorted(set(sizes) - set(STRATA))
        if unknown:
            raise DrawError(f"unknown strata {unknown}; strata are {list(STRATA)}")
        return sizes
    if parameters.get("strategy") != "uniform":
        raise DrawError(f"unknown strategy {parameters.get('strategy')!r}")
    if "ratio" in parameters and parameters["ratio"] is not None:
        return {UNIFORM_STRATUM: {"ratio": parameters["ratio"]}}
    return {UNIFORM_STRATUM: {"count": parameters.get("targets", 0)}}


def _round_sizes(parameters: Mapping[str, Any], round_spec: Mapping[str, Any], index: int) -> dict[str, dict[str, Any]]:
    if index == 0:
        return stratum_sizes(parameters)
    if parameters.get("strategy") == "stratified":
        return {level: {"count": count} for level, count in (round_spec.get("strata") or {}).items()}
    return {UNIFORM_STRATUM: {"count": round_spec.get("targets", 0)}}


def _validate_size(stratum: str, size: Mapping[str, Any]) -> None:
    if "ratio" in size:
        check_ratio(size["ratio"])
    else:
        count = size.get("count")
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise DrawError(f"the count for {stratum} must be a whole number >= 0, got {count!r}")


def _strata_members(population: Sequence[Sequence[str]], stratified: bool) -> dict[str, list[str]]:
    members: dict[str, list[str]] = {}
    for uscc, stratum in population:
        members.setdefault(stratum if stratified else UNIFORM_STRATUM, []).append(uscc)
    return members


def _ordered_tickets(
    ids: Sequence[str], seed_hash: str, limit: int | None, below: str | None
) -> list[tuple[str, str, str]]:
    """(key, id, ticket) in draw order: the first ``limit`` picks, or every ticket below ``below``."""
    keyed = []
    for id_ in ids:
        ticket = sha256_uniform(seed_hash + id_)
        key = ticket[2:].rstrip("0")
        if below is None or key < below:
            keyed.append((key, id_, ticket))
    if limit is not None and limit < len(keyed):
        return heapq.nsmallest(limit, keyed)
    keyed.sort()
    return keyed


def draw_targets(manifest: Mapping[str, Any], seed: str, rounds: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The drawn targets of every round: ``{"round", "uscc", "ticket", "stratum"}`` in draw order."""
    parameters = manifest["parameters"]
    population = manifest["population"]
    dupes = duplicates(uscc for uscc, _ in population)
    if dupes:
        raise DuplicateIdError(dupes)
    stratified = parameters.get("strategy") == "stratified"
    members = _strata_members(population, stratified)
    seed_hash = sha256_hex(seed)
    taken: dict[str, int] = {}
    by_ratio: set[str] = set()
    targets: list[dict[str, Any]] = []
    for index, round_spec in enumerate(rounds or [{}]):
        picks: list[tuple[str, str, str, str]] = []
        for stratum, size in sorted(_round_sizes(parameters, round_spec, index).items()):
            _validate_size(stratum, size)
            if stratum in by_ratio or (stratum in taken and "ratio" in size):
                raise DrawError(f"stratum {stratum} was drawn by ratio and cannot be continued")
            ids = members.get(stratum, [])
            already = taken.get(stratum, 0)
            if "ratio" in size:
                by_ratio.add(stratum)
                chosen = _ordered_tickets(ids, seed_hash, None, _below(size["ratio"]))
            else:
                chosen = _ordered_tickets(ids, seed_hash, already + size["count"], None)[already:]
            taken[stratum] = already + len(chosen)
            picks.extend((key, uscc, ticket, stratum) for key, uscc, ticket in chosen)
        picks.sort()
        targets.extend(
            {"round": index + 1, "uscc": uscc, "ticket": ticket, "stratum": stratum}
            for _, uscc, ticket, stratum in picks
        )
    return targets


def inspector_seed(seed: str, draw_id: int, uscc: str, agency: str) -> str:
    return f"{seed}|inspectors|{draw_id}|{uscc}|{agency}"


def assign_teams(manifest: Mapping[str, Any], seed: str, targets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each target's team, exclusions and unfilled places, in target order (mutates and returns ``targets``)."""
    parameters = manifest["parameters"]
    agencies = sorted(parameters.get("agencies") or [])
    per_agency = int((parameters.get("team") or {}).get("per_agency", 1))
    cap = parameters.get("inspector_cap")
    pools: dict[str, list[str]] = {agency: [] for agency in agencies}
    for inspector in manifest.get("inspectors", []):
        if inspector["active"] and inspector["qualified"] and inspector["agency"] in pools:
            pools[inspector["agency"]].append(inspector["certificate_no"])
    recused: dict[str, set[str]] = {}
    for certificate_no, uscc in manifest.get("recusals", []):
        recused.setdefault(uscc, set()).add(certificate_no)
    last_inspectors: dict[str, set[str]] = {}
    for uscc, certificate_no in manifest.get("last_inspectors", []):
        last_inspectors.setdefault(uscc, set()).add(certificate_no)
    load: dict[str, int] = {}
    for target in targets:
        uscc = target["uscc"]
        team: list[dict[str, str]] = []
        exclusions: list[dict[str, str]] = []
        unfilled: list[dict[str, str]] = []
        for agency in agencies:
            candidates = []
            for certificate_no in pools[agency]:
                if certificate_no in recused.get(uscc, ()):
                    exclusions.append({"agency": agency, "inspector": certificate_no, "reason": "recused"})
                elif certificate_no in last_inspectors.get(uscc, ()):
                    exclusions.append({"agency": agency, "inspector": certificate_no, "reason": "last_inspector"})
                elif cap is not None and load.get(certificate_no, 0) >= cap:
                    exclusions.append({"agency": agency, "inspector": certificate_no, "reason": "cap_reached"})
                else:
                    candidates.append(certificate_no)
            agency_seed_hash = sha256_hex(inspector_seed(seed, manifest["draw_id"], uscc, agency))
            ranked = sorted(
                (load.get(c, 0), sha256_uniform(agency_seed_hash + c)[2:].rstrip("0"), c) for c in candidates
            )
            for _, _, certificate_no in ranked[:per_agency]:
                team.append({"agency": agency, "inspector": certificate_no})
                load[certificate_no] = load.get(certificate_no, 0) + 1
            for _ in range(per_agency - min(per_agency, len(ranked))):
                unfilled.append({"agency": agency, "reason": "no_eligible_inspector"})
        target["team"] = team
        target["exclusions"] = exclusions
        target["unfilled"] = unfilled
    return targets


def pool_exclusions(manifest: Mapping[str, Any]) -> list[dict[str, str]]:
    """Inspectors of the participating agencies left out of every team, with the reason."""
    excluded = []
    for inspector in manifest.get("inspectors", []):
        if not inspector["active"]:
            reason = "inactive"
        elif not inspector["qualified"]:
            reason = "not_qualified"
        else:
            continue
        excluded.append({"agency": inspector["agency"], "inspector": inspector["certificate_no"], "reason": reason})
    return sorted(excluded, key=lambda e: (e["agency"], e["inspector"]))


def compute_draw(manifest: Mapping[str, Any], seed: str, rounds: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The whole result document of a draw: what ``run`` stores and ``verify`` recomputes."""
    if manifest.get("format") != MANIFEST_FORMAT:
        raise DrawError(f"unknown manifest format {manifest.get('format')!r}")
    targets = assign_teams(manifest, seed, draw_targets(manifest, seed, rounds))
    for position, target in enumerate(targets, start=1):
        target["position"] = position
    return {
        "format": RESULT_FORMAT,
        "draw_id": manifest["draw_id"],
        "population_sha256": document_sha256(manifest),
        "seed": seed,
        "rounds": [dict(r) for r in (rounds or [{}])],
        "targets": targets,
        "pool_exclusions": pool_exclusions(manifest),
    }


def verify_package(package: Mapping[str, Any]) -> list[str]:
    """Every problem found re-deriving a published draw package; an empty list means it checks out.

    The package is ``{"manifest", "population_sha256", "dice", "commitments", "reveals", "seed",
    "rounds", "result", "result_sha256"}``.
    """
    problems: list[str] = []
    manifest = package.get("manifest")
    if not isinstance(manifest, dict):
        return ["the package has no manifest"]
    if document_sha256(manifest) != package.get("population_sha256"):
        problems.append("manifest hash mismatch: the population or parameters differ from the published hash")
    commitments = package.get("commitments") or {}
    reveals = package.get("reveals") or {}
    if sorted(commitments) != sorted(reveals):
        problems.append("the agencies that committed secrets and those that revealed them differ")
    for code, secret in reveals.items():
        if commitments.get(code) != secret_commitment(secret):
            problems.append(f"the secret revealed by {code} does not match its commitment")
    try:
        seed = combine_seed(package.get("dice") or "", reveals)
    except DrawError as error:
        return [*problems, str(error)]
    if seed != package.get("seed"):
        problems.append("seed mismatch: the seed is not the dice digits combined with the revealed secrets")
    try:
        expected = compute_draw(manifest, seed, package.get("rounds") or [{}])
    except SamplingError as error:
        return [*problems, f"the draw cannot be recomputed: {error}"]
    result = package.get("result")
    if canonical_json(expected) != canonical_json(result):
        problems.append("result mismatch: recomputing the draw gives different targets or teams")
    if document_sha256(result) != package.get("result_sha256"):
        problems.append("result hash mismatch: the result differs from the published hash")
    return problems
