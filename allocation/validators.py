"""What every front door refuses the same way, before any service sees it.

Invariants:
- text (free text, slugs, keys, ids) never holds a control character except
  tab, line feed and carriage return, nor a lone surrogate: PostgreSQL
  refuses NUL outright and cannot encode a surrogate, and the others are
  never meant (terminal escapes, bells) and hide in what people read back;
- every moment the platform takes lies in ``[EARLIEST, LATEST)`` (UTC):
  PostgreSQL holds far more, but Python's datetime overflows within hours of
  9999-12-31, and an offset such as ``-18:38`` is beyond what PostgreSQL
  accepts; a moment in range is handed on in UTC, so no offset reaches the
  database.

The API (``allocation.api.parsers``, ``allocation.api.fields``,
``allocation.api.filters``), the pages' forms and the booking services all
use these functions, so the wording and the range are the same everywhere.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
ALLOWED_CONTROLS = frozenset("\t\n\r")


def control_character(value: str) -> str | None:
    """The first character of ``value`` that text may not hold, or None."""
    for char in value:
        if (char < " " or "\x7f" <= char <= "\x9f" or "\ud800" <= char <= "\udfff") and char not in ALLOWED_CONTROLS:
            return char
    return None


def text_error(value: str) -> str | None:
    """Why ``value`` is not acceptable text, or None."""
    char = control_character(value)
    if char is None:
        return None
    return _("Text may not contain control characters (found %(char)s at position %(position)s).") % {
        "char": f"U+{ord(char):04X}",
        "position": value.index(char) + 1,
    }


def validate_text(value: Any) -> None:
    """A Django validator (forms, DRF fields) for :func:`text_error`."""
    if isinstance(value, str) and (message := text_error(value)) is not None:
        raise ValidationError(message, code="control_character")


def range_text() -> str:
    return _("from %(earliest)s up to %(latest)s (UTC)") % {
        "earliest": f"{EARLIEST:%Y-%m-%d}",
        "latest": f"{LATEST:%Y-%m-%d}",
    }


def moment_error(value: datetime) -> str | None:
    """Why ``value`` (aware, or naive meaning UTC) is outside the platform's calendar, or None."""
    try:
        moment = value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)
    except OverflowError:  # an offset that carries it past year 1 or 9999
        moment = None
    if moment is not None and EARLIEST <= moment < LATEST:
        return None
    return range_error()


def range_error() -> str:
    """The refusal of any moment outside the calendar."""
    return _("Give a time %(range)s.") % {"range": range_text()}


def in_utc(value: datetime) -> datetime:
    """A moment in range, in UTC (naive values are taken as UTC); raises ``ValidationError`` otherwise."""
    if (message := moment_error(value)) is not None:
        raise ValidationError(message, code="out_of_range")
    return value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)


def validate_moment(value: Any) -> None:
    """A Django validator (forms) for :func:`moment_error`."""
    if isinstance(value, datetime):
        in_utc(value)
