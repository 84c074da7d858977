"""SELECT statements built once per actor and reused, for the reads every API request makes.

Building a statement with its visibility clause, and SQLAlchemy's cache key for it, costs more CPU
than running it against the database (an entity lookup built about ten of them per request). A
statement is immutable once built: what changes from call to call goes in as bind parameters, and
SQLAlchemy memoises the cache key on the statement object, so a statement that depends on nothing
but the actor can be built once per actor and shared by threads.

Only statements are kept here, never rows: nothing read from the database can go stale in it.
The key is the whole ``Actor`` (a frozen dataclass: user, agency, roles, flags, address), so two
calls share a statement only for an equal actor, whatever part of it the visibility rule reads.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

# Enough for every user of a worker's busy hour; past it the least recently used are rebuilt.
MAX_ACTORS = 1024

Builder = TypeVar("Builder", bound=Callable[..., object])


def per_actor(builder: Builder) -> Builder:
    """Cache ``builder(actor, *shape)``: it must return a statement whose values come only from its
    arguments (the actor and hashable shape flags); per-call values are ``bindparam``s."""
    return functools.lru_cache(maxsize=MAX_ACTORS)(builder)  # type: ignore[return-value]
