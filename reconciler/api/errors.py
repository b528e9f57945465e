"""The project's own API errors, one class per thing a caller does next.

Nothing outside ``reconciler.api`` sees kubernetes-asyncio's ``ApiException``
or aiohttp's exceptions: the client turns every failed request into one of these
(see ``client.py``), so callers decide by type, never by HTTP code:

- :class:`TransientError` (429, 5xx, connection loss, timeouts): try again
  later. The client has already retried it a bounded number of times.
- :class:`ConflictError` (409): the world changed under us; re-plan from fresh
  state. :class:`AlreadyExistsError` is the create-time flavour of it.
- :class:`NotFoundError` (404), :class:`GoneError` (410: relist),
  :class:`InvalidError` (422: the desired object is wrong, never retry),
  :class:`ForbiddenError` / :class:`UnauthorizedError` (403/401: RBAC or
  credentials), and :class:`PermanentError` for every other refusal.

Each carries the ``reason``, ``message`` and ``code`` of the server's
``Status``, so logs and Events can quote the API server word for word, with
one exception: whatever the answer repeats of the credentials the request
carried (``secrets``) is replaced by ``[redacted]``. kube-apiserver never
quotes them, but an authenticating proxy or a webhook in front of it may, and
an error's text ends up in logs, metrics-adjacent reports and Events.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

NO_RESPONSE = 0
"""The ``code`` of an error for which no HTTP answer arrived (connection loss, timeout)."""
REDACTED = "[redacted]"
"""What a credential quoted in an answer is replaced with."""


class StatusCause(msgspec.Struct, frozen=True):
    """One entry of ``details.causes``: which field was refused and why."""

    reason: str = ""
    message: str = ""
    field: str = ""


class StatusDetails(msgspec.Struct, frozen=True):
    causes: tuple[StatusCause, ...] = ()
    retry_after_seconds: int | None = msgspec.field(name="retryAfterSeconds", default=None)


class Status(msgspec.Struct, frozen=True):
    """The fields of a ``meta/v1 Status`` that the error classes carry."""

    code: int = 0
    reason: str = ""
    message: str = ""
    details: StatusDetails | None = None


_status_decoder = msgspec.json.Decoder(Status)


class ApiError(Exception):
    """A request the API server refused, or that never got an answer."""

    def __init__(self, *, code: int, reason: str, message: str) -> None:
        super().__init__(f"{code} {reason}: {message}" if reason else f"{code}: {message}")
        self.code = code
        self.reason = reason
        self.message = message


class WriteFencedError(ApiError):
    """A write not sent: the client's write gate closed (this replica stopped leading).

    Raised before the request leaves, so nothing reached the server.
    """

    def __init__(self) -> None:
        super().__init__(code=0, reason="NotLeading", message="this replica is not the leader")


class TransientError(ApiError):
    """Worth retrying: overload (429), a server error (5xx) or a lost connection."""

    def __init__(
        self, *, code: int, reason: str, message: str, retry_after: float | None = None
    ) -> None:
        super().__init__(code=code, reason=reason, message=message)
        self.retry_after = retry_after
        """Seconds the server asked us to wait (``Retry-After``), if it said."""


class ConflictError(ApiError):
    """409: a stale resourceVersion or a concurrent change. Re-plan; never retry blindly."""

    @property
    def already_exists(self) -> bool:
        return self.reason == "AlreadyExists"


class AlreadyExistsError(ConflictError):
    """409 AlreadyExists: a create found an object of that name."""


class NotFoundError(ApiError):
    """404: no such object (or no such resource on this server)."""


class GoneError(ApiError):
    """410: the requested resourceVersion or continue token is too old; list again."""


class InvalidError(ApiError):
    """422: the object (or request option) fails validation."""

    def __init__(
        self, *, code: int, reason: str, message: str, causes: tuple[StatusCause, ...] = ()
    ) -> None:
        super().__init__(code=code, reason=reason, message=message)
        self.causes = causes


class UnauthorizedError(ApiError):
    """401: the credentials were not accepted."""


class ForbiddenError(ApiError):
    """403: authenticated, but RBAC (or a terminating namespace) refuses the request."""


class PermanentError(ApiError):
    """Any other refusal (400, 405, 406, 415, ...): retrying the same request cannot help."""


_BY_CODE: dict[int, type[ApiError]] = {
    401: UnauthorizedError,
    403: ForbiddenError,
    404: NotFoundError,
    410: GoneError,
}


def error_from_status(status: Status, *, retry_after: float | None = None) -> ApiError:
    """The error class for a ``Status``; ``retry_after`` defaults to its ``retryAfterSeconds``."""
    code, reason, message = status.code, status.reason, status.message
    details = status.details
    if code == 429 or code >= 500:
        if retry_after is None and details is not None and details.retry_after_seconds:
            retry_after = float(details.retry_after_seconds)
        return TransientError(code=code, reason=reason, message=message, retry_after=retry_after)
    if code == 409:
        conflict = AlreadyExistsError if reason == "AlreadyExists" else ConflictError
        return conflict(code=code, reason=reason, message=message)
    if code == 422:
        causes = details.causes if details is not None else ()
        return InvalidError(code=code, reason=reason, message=message, causes=causes)
    return _BY_CODE.get(code, PermanentError)(code=code, reason=reason, message=message)


def error_from_response(
    code: int, body: bytes, *, retry_after: str | None = None, secrets: Sequence[str] = ()
) -> ApiError:
    """The error for a non-2xx answer: its body is a ``Status``, or plain text for some 404s.

    Every one of ``secrets`` that the answer quotes is redacted from the error.
    """
    try:
        status = _status_decoder.decode(body)
    except msgspec.DecodeError:
        status = Status(message=body.decode("utf-8", "replace").strip())
    if status.code != code:
        status = msgspec.structs.replace(status, code=code)
    if secrets:
        status = _redacted_status(status, secrets)
    return error_from_status(status, retry_after=parse_retry_after(retry_after))


def redact(text: str, secrets: Sequence[str]) -> str:
    """``text`` with each of ``secrets`` (longest first, so none is left half-hidden) replaced."""
    for secret in sorted(filter(None, secrets), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def _redacted_status(status: Status, secrets: Sequence[str]) -> Status:
    details = status.details
    if details is not None and details.causes:
        causes = tuple(
            StatusCause(
                reason=redact(cause.reason, secrets),
                message=redact(cause.message, secrets),
                field=redact(cause.field, secrets),
            )
            for cause in details.causes
        )
        details = msgspec.structs.replace(details, causes=causes)
    return msgspec.structs.replace(
        status,
        reason=redact(status.reason, secrets),
        message=redact(status.message, secrets),
        details=details,
    )


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header; the API server always sends whole seconds."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None
