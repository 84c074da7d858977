"""Rivest's consistent sampler: the public, verifiable random draw behind double-random inspections.

Pure standard library and no imports from our packages, so that this file can be copied as-is
into a standalone verification script. The algorithm (documented in ``docs/sampling.md``) is the
one of Ronald L. Rivest's ``consistent_sampler`` used in election risk-limiting audits:

* ``sha256_hex(x)``: SHA-256 of the UTF-8 bytes of ``x``, lowercase hex.
* ``sha256_uniform(x)``: ``"0."`` + the decimal digits of ``int(sha256_hex(x), 16)``, zero-padded
  to at least 64 digits, reversed (the low-order digits are the unbiased ones).
* the first ticket of an id is ``sha256_uniform(sha256_hex(seed) + id)`` (generation 1);
* ids are drawn in ascending ticket order; with replacement, a drawn id gets its next ticket
  ``"0."`` + the leading run of 9s of ``x`` + ``sha256_uniform(x + ":" + str(i))[2:]`` for the
  first ``i = 1, 2, ...`` that makes it greater than ``x``.

Tickets are decimal strings and are compared exactly, never as floats.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Iterable, Iterator
from typing import NamedTuple

__all__ = [
    "DuplicateIdError",
    "Pick",
    "SamplingError",
    "SeedError",
    "duplicates",
    "first_ticket",
    "next_ticket",
    "sample",
    "sha256_hex",
    "sha256_uniform",
    "stream",
    "ticket_key",
    "trim",
    "validate_seed",
]


class SamplingError(ValueError):
    """The sampler's inputs are unusable."""


class DuplicateIdError(SamplingError):
    """The population lists an id more than once; ``duplicates`` holds each such id once, sorted."""

    def __init__(self, duplicates: list[str]) -> None:
        self.duplicates = duplicates
        shown = ", ".join(duplicates[:10]) + (f" (and {len(duplicates) - 10} more)" if len(duplicates) > 10 else "")
        super().__init__(f"duplicate id in the population: {shown}")


class SeedError(SamplingError):
    """A platform draw's seed does not meet the rules (see ``validate_seed``)."""


class Pick(NamedTuple):
    """One drawn ticket: its full decimal ticket number, the id, and the id's draw count so far (1, 2, ...)."""

    ticket: str
    id: str
    generation: int


def sha256_hex(x: str) -> str:
    """SHA-256 of the UTF-8 encoding of ``x``, as 64 lowercase hex characters."""
    return hashlib.sha256(x.encode("utf-8")).hexdigest()


def sha256_uniform(x: str) -> str:
    """``sha256_hex(x)`` as a decimal fraction ``"0.ddd..."`` in (0, 1): digits zero-padded to 64, reversed."""
    digits = f"{int(sha256_hex(x), 16):064d}"
    return "0." + digits[::-1]


def _check_ticket(ticket: str) -> str:
    digits = ticket[2:]
    if not (ticket.startswith("0.") and digits and digits.isascii() and digits.isdigit()):
        raise SamplingError(f"not a ticket (expected '0.' followed by decimal digits): {ticket!r}")
    return digits


def ticket_key(ticket: str) -> str:
    """A key whose string order is the exact numeric order of tickets (``"0.5"`` and ``"0.50"`` tie)."""
    return _check_ticket(ticket).rstrip("0")


def _leading_nines(digits: str) -> int:
    return len(digits) - len(digits.lstrip("9"))


def first_ticket(seed: str, item_id: str, *, seed_hash: str | None = None) -> str:
    """The generation-1 ticket of ``item_id`` under ``seed`` (pass ``seed_hash`` to skip rehashing the seed)."""
    return sha256_uniform((sha256_hex(seed) if seed_hash is None else seed_hash) + item_id)


def next_ticket(ticket: str) -> str:
    """The next, strictly greater ticket after ``ticket`` for the same id (sampling with replacement)."""
    digits = _check_ticket(ticket)
    prefix = "0." + "9" * _leading_nines(digits)
    current = digits.rstrip("0")
    i = 0
    while True:
        i += 1
        candidate = prefix + sha256_uniform(f"{ticket}:{i}")[2:]
        if candidate[2:].rstrip("0") > current:
            return candidate


def trim(ticket: str, digits: int = 9) -> str:
    """Truncate (not round) to the leading run of 9s plus ``digits`` more digits, for display."""
    if digits < 1:
        raise SamplingError("digits must be at least 1")
    mantissa = _check_ticket(ticket)
    return "0." + mantissa[: _leading_nines(mantissa) + digits]


def duplicates(ids: Iterable[str]) -> list[str]:
    """Each id that occurs more than once, sorted."""
    seen: set[str] = set()
    dupes: set[str] = set()
    for id_ in ids:
        if id_ in seen:
            dupes.add(id_)
        seen.add(id_)
    return sorted(dupes)


def stream(ids: Iterable[str], seed: str, *, with_replacement: bool = False) -> Iterator[Pick]:
    """All picks in draw order: finite without replacement, endless with replacement (unless empty).

    Ids must be distinct strings; the order in which they are given does not matter. Ties between
    equal tickets (never seen in practice) fall back to the id, so the order is still total.
    """
    population = list(ids)
    for id_ in population:
        if not isinstance(id_, str):
            raise SamplingError(f"ids must be strings, got {type(id_).__name__}: {id_!r}")
    dupes = duplicates(population)
    if dupes:
        raise DuplicateIdError(dupes)
    if not isinstance(seed, str):
        raise SamplingError(f"the seed must be a string, got {type(seed).__name__}")
    seed_hash = sha256_hex(seed)
    heap: list[tuple[str, str, int, str]] = []
    for id_ in population:
        ticket = first_ticket(seed, id_, seed_hash=seed_hash)
        heap.append((ticket[2:].rstrip("0"), id_, 1, ticket))
    heapq.heapify(heap)
    while heap:
        _, id_, generation, ticket = heapq.heappop(heap)
        if with_replacement:
            following = next_ticket(ticket)
            heapq.heappush(heap, (following[2:].rstrip("0"), id_, generation + 1, following))
        yield Pick(ticket, id_, generation)


def sample(
    ids: Iterable[str],
    seed: str,
    take: int | None = None,
    drop: int = 0,
    with_replacement: bool = False,
) -> list[Pick]:
    """Picks ``drop + 1`` to ``drop + take`` of the draw order (all remaining when ``take`` is None).

    ``sample(ids, seed, 10) + sample(ids, seed, 10, drop=10) == sample(ids, seed, 20)``, which is how
    a draw continues its stream when more targets are needed.
    """
    if drop < 0:
        raise SamplingError("drop must not be negative")
    if take is None:
        if with_replacement:
            raise SamplingError("sampling with replacement needs a take (the stream never ends)")
    elif take < 0:
        raise SamplingError("take must not be negative")
    picks: list[Pick] = []
    for count, pick in enumerate(stream(ids, seed, with_replacement=with_replacement), start=1):
        if take is not None and count > drop + take:
            break
        if count > drop:
            picks.append(pick)
    return picks


def validate_seed(seed: str, min_digits: int = 20) -> str:
    """Check a platform draw's seed: only ASCII decimal digits, at least ``min_digits`` of them.

    The seed is hashed exactly as given, so whitespace is refused rather than stripped (``" 0"``
    and ``"0"`` would give different draws). The public ``signalhub sample`` tool accepts any string.
    """
    if not isinstance(seed, str):
        raise SeedError(f"the seed must be a string, got {type(seed).__name__}")
    if seed != seed.strip():
        raise SeedError("the seed has leading or trailing whitespace")
    if not (seed.isascii() and seed.isdigit()):
        raise SeedError("the seed must consist of decimal digits 0-9 only")
    if len(seed) < min_digits:
        raise SeedError(f"the seed has {len(seed)} digits; at least {min_digits} are required")
    return seed
