"""MicroTime as the API server parses it: exactly six fractional digits, UTC on the way out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from reconciler.leadership.microtime import format_micro_time, parse_micro_time


def test_a_whole_second_keeps_its_six_zero_digits() -> None:
    moment = datetime(2026, 11, 29, 5, 12, tzinfo=UTC)

    assert format_micro_time(moment) == "2026-11-29T05:12:00.000000Z"


def test_an_offset_is_written_as_utc() -> None:
    moment = datetime(2026, 11, 29, 7, 12, 0, 123456, tzinfo=timezone(timedelta(hours=2)))

    assert format_micro_time(moment) == "2026-11-29T05:12:00.123456Z"


def test_a_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        format_micro_time(datetime(2026, 11, 29, 5, 12))


def test_parsing_normalises_an_offset_to_utc() -> None:
    assert parse_micro_time("2026-11-29T07:12:00.654321+02:00") == datetime(
        2026, 11, 29, 5, 12, 0, 654321, tzinfo=UTC
    )


@pytest.mark.parametrize(
    "text",
    ["2026-11-29T05:12:00Z", "2026-11-29T05:12:00.123Z", "2026-11-29T05:12:00.123456789Z"],
)
def test_anything_but_six_fractional_digits_is_refused_as_the_api_server_does(text: str) -> None:
    with pytest.raises(ValueError, match="six fractional digits"):
        parse_micro_time(text)


def test_formatting_round_trips() -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)

    assert parse_micro_time(format_micro_time(moment)) == moment
