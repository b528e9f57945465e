"""``MicroTime``: the timestamp type of a Lease's ``acquireTime`` and ``renewTime``.

The API server parses it with Go's layout ``2006-01-02T15:04:05.000000Z07:00``:
exactly six fractional digits, nothing more or less. ``2026-11-29T05:12:00Z``,
``...00.123Z`` and ``...00.123456789Z`` are all 400 errors (fidelity
transcript 10), and Python's ``datetime.isoformat()`` drops the fraction when
the microsecond is zero, so a naive client fails once in a million renewals.
Everything written here is UTC with a ``Z``; an offset read back is accepted
and normalised, as the server does.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

_MICRO_TIME = re.compile(
    r"(?P<seconds>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\.(?P<micros>\d{6})"
    r"(?:Z|(?P<sign>[+-])(?P<hours>\d{2}):(?P<minutes>\d{2}))"
)


def format_micro_time(moment: datetime) -> str:
    """``moment`` in UTC with exactly six fractional digits, e.g. ``2026-11-29T05:12:00.000000Z``.

    A naive datetime is refused: guessing its zone would move the lease in time.
    """
    if moment.tzinfo is None:
        raise ValueError("a MicroTime needs a timezone-aware datetime")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_micro_time(text: str) -> datetime:
    """The UTC moment of a MicroTime; ValueError for anything the API server would refuse."""
    match = _MICRO_TIME.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not a MicroTime (exactly six fractional digits)")
    zone = UTC
    if match["sign"]:
        offset = timedelta(hours=int(match["hours"]), minutes=int(match["minutes"]))
        zone = timezone(-offset if match["sign"] == "-" else offset)
    moment = datetime.strptime(match["seconds"], "%Y-%m-%dT%H:%M:%S").replace(
        microsecond=int(match["micros"]), tzinfo=zone
    )
    return moment.astimezone(UTC)
