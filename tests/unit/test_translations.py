"""The Chinese catalogue is complete: every UI string has a checked translation with the same placeholders.

A new ``_()`` / ``_l()`` string without a translation fails here; run ``make messages``, translate the
new entries in the .po, then ``make translations``.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ROOT / "platform"
PO_FILE = SOURCES / "signalhub_platform" / "translations" / "zh" / "LC_MESSAGES" / "messages.po"
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "_l": None}
# %(name)s, %s, %d ... (but not a literal "%%")
PLACEHOLDER = re.compile(r"%(?:\([A-Za-z_][A-Za-z0-9_]*\))?[#0 +-]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa]")


def _catalog() -> Catalog:
    with PO_FILE.open("rb") as handle:
        return read_po(handle, locale="zh")


def _messages() -> list[Message]:
    return [message for message in _catalog() if message.id]


def _texts(value: str | tuple[str, ...] | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _placeholders(text: str) -> Counter[str]:
    return Counter(PLACEHOLDER.findall(text.replace("%%", "")))


def _label(message: Message) -> str:
    return repr(message.id)


def test_the_catalogue_has_messages() -> None:
    assert len(_messages()) > 50


def test_every_message_is_translated() -> None:
    untranslated = [_label(m) for m in _messages() if not all(text.strip() for text in _texts(m.string or ""))]
    assert untranslated == [], "untranslated in messages.po"


def test_no_message_is_fuzzy() -> None:
    assert [_label(m) for m in _messages() if m.fuzzy] == [], "check these entries and remove '#, fuzzy'"


def test_placeholders_match() -> None:
    mismatched = []
    for message in _messages():
        expected = sum((_placeholders(text) for text in _texts(message.id)[:1]), Counter())
        for translation in _texts(message.string or ""):
            if _placeholders(translation) != expected:
                mismatched.append(f"{message.id!r} -> {translation!r}")
    assert mismatched == []


def _extracted_ids() -> dict[str, str]:
    with (ROOT / "babel.cfg").open(encoding="utf-8") as handle:
        method_map, options_map = parse_mapping_cfg(handle, filename=str(ROOT / "babel.cfg"))
    found: dict[str, str] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(SOURCES), method_map, options_map, keywords=KEYWORDS, strip_comment_tags=True
    ):
        msgid = message if isinstance(message, str) else message[0]
        if msgid:
            found.setdefault(msgid, f"{filename}:{lineno}")
    return found


def test_the_sources_are_extracted() -> None:
    extracted = _extracted_ids()
    assert "Sign in" in extracted  # a template string
    assert "Conditionally open" in extracted  # a lazy_gettext string from Python


def test_every_ui_string_in_the_sources_is_in_the_catalogue() -> None:
    known = {m.id if isinstance(m.id, str) else m.id[0] for m in _messages()}
    missing = sorted(f"{where}: {msgid!r}" for msgid, where in _extracted_ids().items() if msgid not in known)
    assert missing == [], "run `make messages`, translate the new entries, then `make translations`"


@pytest.mark.parametrize("text", ["%(count)s", "%s", "%(name)s and %(date)s"])
def test_placeholder_pattern(text: str) -> None:
    assert sum(_placeholders(text).values()) == text.count("%")
