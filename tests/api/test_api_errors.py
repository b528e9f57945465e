"""Real API server answers become the project's error classes, with reason and message intact."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.api.errors import (
    AlreadyExistsError,
    ApiError,
    ConflictError,
    ForbiddenError,
    GoneError,
    InvalidError,
    NotFoundError,
    PermanentError,
    StatusCause,
    TransientError,
    UnauthorizedError,
    error_from_response,
    parse_retry_after,
)

ANSWERS = json.loads((Path(__file__).parent / "data" / "error-answers.json").read_text())


def translated(name: str) -> ApiError:
    answer = ANSWERS[name]
    return error_from_response(
        answer["status"], answer["body"].encode(), retry_after=answer["headers"].get("Retry-After")
    )


@pytest.mark.parametrize(
    ("name", "error_class", "reason"),
    [
        ("409_already_exists", AlreadyExistsError, "AlreadyExists"),
        ("409_conflict", ConflictError, "Conflict"),
        ("404_not_found", NotFoundError, "NotFound"),
        ("410_list_expired", GoneError, "Expired"),
        ("422_invalid_serviceentry", InvalidError, "Invalid"),
        ("401_unauthorized", UnauthorizedError, "Unauthorized"),
        ("403_forbidden", ForbiddenError, "Forbidden"),
        ("400_bad_request", PermanentError, "BadRequest"),
        ("405_method_not_allowed", PermanentError, "MethodNotAllowed"),
        ("415_unsupported_media_type", PermanentError, "UnsupportedMediaType"),
        ("500_no_reason", TransientError, ""),
        ("504_timeout_retry_after", TransientError, "Timeout"),
    ],
)
def test_status_answers_map_to_error_classes_keeping_reason_message_and_code(
    name: str, error_class: type[ApiError], reason: str
) -> None:
    error = translated(name)
    status = json.loads(ANSWERS[name]["body"])
    assert type(error) is error_class
    assert error.reason == reason
    assert error.message == status["message"]
    assert error.code == ANSWERS[name]["status"]


def test_conflict_and_already_exists_are_both_conflicts_but_distinguishable() -> None:
    conflict, exists = translated("409_conflict"), translated("409_already_exists")
    assert isinstance(conflict, ConflictError)
    assert isinstance(exists, ConflictError)
    assert not conflict.already_exists
    assert exists.already_exists
    assert not isinstance(conflict, AlreadyExistsError)


def test_invalid_carries_the_status_causes() -> None:
    error = translated("422_invalid_serviceentry")
    assert isinstance(error, InvalidError)
    assert error.causes[0] == StatusCause(
        reason="FieldValueRequired", message="Required value", field="spec.hosts"
    )
    assert [cause.field for cause in error.causes] == ["spec.hosts", "<nil>"]
    assert 'ServiceEntry.networking.istio.io "v-hosts-missing" is invalid' in error.message


def test_plain_text_404_becomes_not_found_with_the_text_as_message() -> None:
    error = translated("404_text_plain")
    assert isinstance(error, NotFoundError)
    assert error.message == "404 page not found"
    assert error.code == 404


def test_retry_after_header_is_carried_by_transient_errors() -> None:
    error = translated("504_timeout_retry_after")
    assert isinstance(error, TransientError)
    assert error.retry_after == 1.0


def test_retry_after_seconds_in_the_status_is_used_without_a_header() -> None:
    body = ANSWERS["504_timeout_retry_after"]["body"].encode()
    error = error_from_response(504, body, retry_after=None)
    assert isinstance(error, TransientError)
    assert error.retry_after == 1.0


def test_429_without_a_body_is_transient_and_keeps_retry_after() -> None:
    error = error_from_response(429, b"", retry_after="7")
    assert isinstance(error, TransientError)
    assert error.retry_after == 7.0
    assert error.code == 429


@pytest.mark.parametrize(
    ("header", "seconds"),
    [(None, None), ("3", 3.0), (" 2 ", 2.0), ("0", 0.0), ("-1", None), ("soon", None)],
)
def test_retry_after_parsing(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header) == seconds
