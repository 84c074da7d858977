"""Rivest's consistent sampler: TESTS.md Sampling S3-S10 and exact ticket order."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from signalhub_platform.sampling import (
    DuplicateIdError,
    Pick,
    SamplingError,
    SeedError,
    first_ticket,
    next_ticket,
    sample,
    sha256_hex,
    sha256_uniform,
    stream,
    ticket_key,
    trim,
    validate_seed,
)

S4_IDS = ["A-1", "A-2", "A-3", "B-1", "B-2", "B-3"]
POPULATION = [f"9135010{n:04d}M{n:05d}" for n in range(60)]
SEED = "01382438112797316654"


def test_s3_sha256_uniform_of_abc_exactly() -> None:
    assert sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert sha256_uniform("abc") == ("0.56998071861792858926477341561059638840106636224182943832566300809078486324348")


def test_sha256_uniform_pads_to_64_digits_before_reversing() -> None:
    # A 256-bit value has up to 78 decimal digits; shorter ones are padded to 64 at least, so the
    # padding zeros land at the end after reversal. Check the rule on every length we can hit.
    for x in ("abc", "", "统一代码", "x:1"):
        value = int(sha256_hex(x), 16)
        assert sha256_uniform(x) == "0." + f"{value:064d}"[::-1]


def test_s4_without_replacement() -> None:
    picks = sample(S4_IDS, "314159", 4)
    assert [pick.id for pick in picks] == ["B-2", "B-3", "A-3", "A-2"]
    assert all(pick.generation == 1 for pick in picks)


def test_s4_with_replacement() -> None:
    picks = sample(["a1", "b2", "c3", "d4", "e5", "f6"], "19283746", 3, with_replacement=True)
    assert [(trim(p.ticket), p.id, p.generation) for p in picks] == [
        ("0.303241347", "e5", 1),
        ("0.432145156", "b2", 1),
        ("0.487135586", "c3", 1),
    ]


def test_reference_examples_of_first_and_next_ticket() -> None:
    # The published examples of Rivest's consistent_sampler, reproduced digit for digit.
    first = first_ticket("01382438112797316654", "AB-130")
    assert first == "0.26299714122838008416507544297546663599715395525154425586041245287750224561854"
    assert next_ticket(first) == "0.8232357229934205790595761924514048157652891124687533667363938813600770093316"
    assert next_ticket("0.25471") == (
        "0.642853261655004694691182528114375607701032283189922170593838029306715548381901"
    )
    picks = sample(["A#2", "B#7", "C#1", "D#4"], "314159", 8, with_replacement=True)
    assert [p.id for p in picks] == ["D#4", "C#1", "C#1", "B#7", "A#2", "C#1", "D#4", "B#7"]
    assert [p.generation for p in picks] == [1, 1, 2, 1, 1, 3, 2, 2]


def test_trim_keeps_leading_nines_and_truncates() -> None:
    assert trim("0.9991234567890", 4) == "0.9991234"
    assert trim("0.123456789987", 9) == "0.123456789"
    assert trim("0.9098039269123") == "0.9098039269"
    assert trim("0.999", 3) == "0.999"
    with pytest.raises(SamplingError):
        trim("0.5", 0)


def test_next_ticket_keeps_the_run_of_nines_and_grows() -> None:
    x = "0.99990"
    y = next_ticket(x)
    assert y.startswith("0.9999")
    assert Decimal(y) > Decimal(x)
    assert Decimal(next_ticket("0.9999")) > Decimal("0.9999")


def test_with_replacement_tickets_strictly_increase_per_id_and_overall() -> None:
    picks = sample(POPULATION[:5], SEED, 40, with_replacement=True)
    assert [Decimal(p.ticket) for p in picks] == sorted(Decimal(p.ticket) for p in picks)
    for id_ in POPULATION[:5]:
        mine = [p for p in picks if p.id == id_]
        assert [p.generation for p in mine] == list(range(1, len(mine) + 1))


def test_s5_strata_drawn_with_one_seed_merge_by_ticket() -> None:
    red, rest = POPULATION[:17], POPULATION[17:]
    merged = sorted(sample(red, SEED) + sample(rest, SEED), key=lambda p: ticket_key(p.ticket))
    assert merged == sample(POPULATION, SEED)
    # and conversely, filtering the whole draw to one stratum is that stratum's own draw
    assert [p for p in sample(POPULATION, SEED) if p.id in set(red)] == sample(red, SEED)


def test_s6_drop_continues_the_same_stream() -> None:
    assert sample(POPULATION, SEED, 10) + sample(POPULATION, SEED, 10, drop=10) == sample(POPULATION, SEED, 20)
    first = sample(POPULATION[:4], SEED, 10, with_replacement=True)
    more = sample(POPULATION[:4], SEED, 10, drop=10, with_replacement=True)
    assert first + more == sample(POPULATION[:4], SEED, 20, with_replacement=True)


def test_s7_input_order_does_not_matter() -> None:
    shuffled = POPULATION[:]
    random.Random(7).shuffle(shuffled)
    assert shuffled != POPULATION
    assert sample(shuffled, SEED, 15) == sample(POPULATION, SEED, 15)


@pytest.mark.parametrize("removed_index", [0, 3, 9, 30])
def test_s8_removing_one_id_keeps_the_rest_of_the_sample(removed_index: int) -> None:
    old = sample(POPULATION, SEED, 10)
    removed = old[removed_index].id if removed_index < len(old) else POPULATION[removed_index]
    new = sample([i for i in POPULATION if i != removed], SEED, 10)
    kept = [p for p in old if p.id != removed]
    assert new[: len(kept)] == kept
    assert len(new) - len(kept) <= 1


def test_s9_duplicate_id_rejected_naming_it() -> None:
    ids = [*POPULATION[:5], POPULATION[2], POPULATION[4], POPULATION[2]]
    with pytest.raises(DuplicateIdError) as caught:
        sample(ids, SEED, 3)
    assert caught.value.duplicates == sorted([POPULATION[2], POPULATION[4]])
    assert POPULATION[2] in str(caught.value)
    assert POPULATION[4] in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_s10_seed_strings_are_hashed_exactly_and_platform_seeds_validated() -> None:
    draws = {seed: [p.id for p in sample(POPULATION, seed, 10)] for seed in ("0", "00", " 0")}
    assert len({tuple(ids) for ids in draws.values()}) == 3
    assert validate_seed("0", 1) == "0"
    assert validate_seed("00", 1) == "00"
    for bad in (" 0", "0 ", "\t12", "12\n"):
        with pytest.raises(SeedError, match="whitespace"):
            validate_seed(bad, 1)


def test_validate_seed_rules() -> None:
    assert validate_seed("12345678901234567890") == "12345678901234567890"
    with pytest.raises(SeedError, match="at least 20"):
        validate_seed("1234567890123456789")
    for bad in ("1234567890123456789a", "１２３４５６７８９０１２３４５６７８９０", "-12345678901234567890", ""):
        with pytest.raises(SeedError):
            validate_seed(bad)


def test_argument_validation() -> None:
    with pytest.raises(SamplingError, match="take"):
        sample(POPULATION, SEED, with_replacement=True)
    with pytest.raises(SamplingError):
        sample(POPULATION, SEED, -1)
    with pytest.raises(SamplingError):
        sample(POPULATION, SEED, 1, drop=-1)
    with pytest.raises(SamplingError, match="strings"):
        sample([1, 2], SEED, 1)  # type: ignore[list-item]
    with pytest.raises(SamplingError, match="not a ticket"):
        next_ticket("0.12e3")
    assert sample([], SEED, 5) == []
    assert sample([], SEED, 5, with_replacement=True) == []
    assert sample(POPULATION[:3], SEED, 0) == []
    assert len(sample(POPULATION, SEED)) == len(POPULATION)


def test_stream_yields_picks() -> None:
    first = next(stream(S4_IDS, "314159"))
    assert isinstance(first, Pick)
    assert first.id == "B-2"


ticket_strings = st.from_regex(r"0\.[0-9]{1,80}", fullmatch=True)


@given(ticket_strings, ticket_strings)
def test_ticket_order_is_exact_decimal_order(a: str, b: str) -> None:
    assert (ticket_key(a) < ticket_key(b)) == (Decimal(a) < Decimal(b))
    assert (ticket_key(a) == ticket_key(b)) == (Decimal(a) == Decimal(b))


@given(ticket_strings)
def test_next_ticket_is_greater_and_keeps_nines(x: str) -> None:
    y = next_ticket(x)
    assert Decimal(y) > Decimal(x)
    nines = len(x[2:]) - len(x[2:].lstrip("9"))
    assert y[2:].startswith("9" * nines)


@given(st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=25, unique=True), st.text(max_size=30))
def test_draw_order_is_ascending_exact_ticket_order(ids: list[str], seed: str) -> None:
    picks = sample(ids, seed)
    assert sorted(p.id for p in picks) == sorted(ids)
    assert [Decimal(p.ticket) for p in picks] == sorted(Decimal(p.ticket) for p in picks)
