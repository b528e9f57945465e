"""Logging: JSON lines in a cluster (for log pipelines), readable text on a terminal.

``auto`` picks JSON when running in a pod (``KUBERNETES_SERVICE_HOST`` is set)
and text otherwise. Structured fields passed as ``extra`` (the object ``key``,
the ``outcome``) become JSON fields, and a ``key=value`` suffix in text.

Every line logged while a key is reconciled carries that ``key`` and a
``reconcile_id`` without anyone passing them: the work queue calls
:func:`bind_reconcile` at the start of each run, in the run's own task, and a
filter on the handler copies the bound values onto each record. So the lines
of one reconcile (the plan, the write, its Event, a retry) can be picked out
of a busy log with one ``grep`` or one log query.
"""

from __future__ import annotations

import contextvars
import itertools
import logging
import os
import sys
from datetime import UTC, datetime
from typing import Final, TextIO

import orjson

STRUCTURED_FIELDS: Final = ("key", "outcome", "reconcile_id")

_key: contextvars.ContextVar[str | None] = contextvars.ContextVar("key", default=None)
_reconcile_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "reconcile_id", default=None
)
_reconcile_ids = itertools.count(1)
_PROCESS_TAG: Final = f"{os.getpid() % 0x10000:04x}"


def bind_reconcile(key: str) -> str:
    """Tag every line logged from now on in this task with ``key`` and a new reconcile id.

    Call it at the start of a task that runs one reconcile; the binding ends
    with the task. The id is unique in the process and short enough to read.
    """
    reconcile_id = f"{_PROCESS_TAG}-{next(_reconcile_ids)}"
    _key.set(key)
    _reconcile_id.set(reconcile_id)
    return reconcile_id


class ContextFilter(logging.Filter):
    """Copies the bound ``key`` and ``reconcile_id`` onto records that do not carry their own."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, variable in (("key", _key), ("reconcile_id", _reconcile_id)):
            if getattr(record, name, None) is None:
                value = variable.get()
                if value is not None:
                    setattr(record, name, value)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in STRUCTURED_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class TextFormatter(logging.Formatter):
    """``12:00:01 INFO    message  key=ServiceEntry/shop/web reconcile_id=1a2b-7``.

    The key is left out of the suffix when the message already names it.
    """

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(message)s", datefmt="%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        message = record.getMessage()
        fields = [
            f"{name}={value}"
            for name in ("key", "reconcile_id")
            if (value := getattr(record, name, None)) is not None
            and not (name == "key" and str(value) in message)
        ]
        if not fields:
            return line
        first, newline, rest = line.partition("\n")
        return f"{first}  {' '.join(fields)}{newline}{rest}"


def chosen_format(log_format: str) -> str:
    """``json`` or ``text``: ``auto`` is JSON inside a pod, text elsewhere."""
    if log_format != "auto":
        return log_format
    return "json" if os.environ.get("KUBERNETES_SERVICE_HOST") else "text"


def configure(*, log_format: str, level: str, stream: TextIO | None = None) -> None:
    """Install one handler on the root logger, writing to ``stream`` (default stderr)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(ContextFilter())
    formatter = JsonFormatter() if chosen_format(log_format) == "json" else TextFormatter()
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
