"""Logging: JSON lines in a cluster (for log pipelines), readable text on a terminal.

``auto`` picks JSON when running in a pod (``KUBERNETES_SERVICE_HOST`` is set)
and text otherwise. Structured fields passed as ``extra`` (the object ``key``,
the ``outcome``) become JSON fields, and a suffix in text.
"""

from __future__ import annotations

import logging
import os
import sys
from datetime import UTC, datetime
from typing import Final

import orjson

STRUCTURED_FIELDS: Final = ("key", "outcome", "reconcile_id")


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


def configure(*, log_format: str, level: str) -> None:
    """Install one stderr handler on the root logger."""
    chosen = log_format
    if chosen == "auto":
        chosen = "json" if os.environ.get("KUBERNETES_SERVICE_HOST") else "text"
    handler = logging.StreamHandler(sys.stderr)
    if chosen == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)-7s %(message)s", datefmt="%H:%M:%S")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
