"""Server-side web sessions (placeholder: cookie sessions are not wired yet)."""

from __future__ import annotations


def load_session_actor() -> None:
    return None
