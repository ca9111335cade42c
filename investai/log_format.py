"""Log lines as JSON objects, one per line, for a log collector to index (``LOG_FORMAT=json``).

Each line holds the time (UTC, ISO 8601), level, logger and message, then every field the call
passed in ``extra`` (the ids the message names: ``round_id``, ``tenant_id``, ...), and the
traceback under ``exception`` when there is one. Standard library only: a formatter this small is
not worth a dependency.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

# The attributes every LogRecord has; anything else on a record came from ``extra``.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonLinesFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(
            (key, value)
            for key, value in record.__dict__.items()
            if key not in _STANDARD and key not in line and not key.startswith("_")
        )
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        # json.dumps escapes newlines inside strings, so a traceback stays on its line; default=str
        # writes what JSON has no type for (datetimes, Decimals) instead of losing the line.
        return json.dumps(line, default=str, ensure_ascii=False)
