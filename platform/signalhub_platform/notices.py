"""The wording of the messages the platform itself sends from its periodic jobs.

A message is stored as text, like a letter: it is worded once, when it is sent, in the platform's
default language (``SIGNALHUB_DEFAULT_LOCALE``), from the same catalogue as the UI. The msgids
live here, under ``platform/``, so ``make messages`` extracts them with the rest.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import cache
from pathlib import Path

from babel.support import NullTranslations, Translations

TRANSLATIONS_DIR = Path(__file__).parent / "translations"


def _(message: str) -> str:
    """Marks a msgid for extraction; it is translated when a notice is worded."""
    return message


# A text report (文字报告) past its due date with no file.
REPORT_OVERDUE_TITLE = _("Text report overdue: %(report)s")
REPORT_OVERDUE_BODY = _(
    "The %(report)s was due on %(due_on)s and has not been uploaded. Please upload it under Text reports."
)
ANNUAL_REPORT = _("annual risk assessment report for %(year)s")
SPECIAL_REPORT = _("special assessment report on %(campaign)s")
# A warning nobody acknowledged by its date (the title is the inbox's "overdue:<level>").
ACKNOWLEDGEMENT_OVERDUE_BODY = _("Acknowledgement was due on %(due_on)s.")


@cache
def _translations(locale: str) -> NullTranslations:
    return Translations.load(str(TRANSLATIONS_DIR), [locale], domain="messages")


def translator(locale: str) -> Callable[..., str]:
    """``word(msgid, **params)`` in ``locale``; English (the msgid itself) for an unknown locale."""
    translations = _translations(locale)

    def word(msgid: str, **params: object) -> str:
        return translations.gettext(msgid) % params if params else translations.gettext(msgid)

    return word


def day(value: dt.date) -> str:
    """A date as both languages write it in an administrative text: 2026-01-31."""
    return value.isoformat()
