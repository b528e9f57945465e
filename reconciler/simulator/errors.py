"""API errors as the real server reports them: a ``Status`` object and an HTTP code.

Every refusal in the simulator is raised as :class:`ApiError` and rendered in one
place, so the body shapes the fidelity transcripts show (reason, details, causes,
message wording) are produced the same way everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from reconciler.simulator.resources import ResourceKind


@dataclass(frozen=True, slots=True)
class Cause:
    """One entry of ``details.causes``."""

    reason: str
    message: str
    field: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"reason": self.reason, "message": self.message}
        if self.field is not None:
            out["field"] = self.field
        return out


@dataclass(slots=True)
class ApiError(Exception):
    """An error the simulated server answers with a ``Status`` body (or plain text)."""

    code: int
    reason: str
    message: str
    details: dict[str, Any] | None = None
    causes: list[Cause] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    plain_text: str | None = None
    """When set, the answer is ``text/plain`` with this body instead of a Status."""
    continue_token: str | None = None
    """Set on a 410 for a stale continue token: the inconsistent token to finish with."""

    def __str__(self) -> str:
        return f"{self.code} {self.reason}: {self.message}"

    def status_body(self) -> dict[str, Any]:
        metadata: dict[str, Any] = {}
        if self.continue_token is not None:
            metadata["continue"] = self.continue_token
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": metadata,
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
        }
        details = dict(self.details) if self.details is not None else None
        if self.causes:
            details = details or {}
            details["causes"] = [cause.to_json() for cause in self.causes]
        if details is not None:
            body["details"] = details
        if not self.reason:
            del body["reason"]
        body["code"] = self.code
        return body


def _details(kind: ResourceKind, name: str) -> dict[str, Any]:
    details: dict[str, Any] = {"name": name}
    if kind.group:
        details["group"] = kind.group
    details["kind"] = kind.plural
    return details


def not_found(kind: ResourceKind, name: str) -> ApiError:
    return ApiError(
        404,
        "NotFound",
        f'{kind.qualified_resource} "{name}" not found',
        details=_details(kind, name),
    )


def already_exists(kind: ResourceKind, name: str) -> ApiError:
    return ApiError(
        409,
        "AlreadyExists",
        f'{kind.qualified_resource} "{name}" already exists',
        details=_details(kind, name),
    )


def conflict(kind: ResourceKind, name: str) -> ApiError:
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {kind.qualified_resource} "{name}": the object has '
        "been modified; please apply your changes to the latest version and try again",
        details=_details(kind, name),
    )


def invalid(
    kind: ResourceKind, name: str, causes: list[Cause], *, message: str | None = None
) -> ApiError:
    """422 Invalid, worded with the Kind (``ServiceEntry.networking.istio.io "x" is invalid``)."""
    qualified_kind = f"{kind.kind}.{kind.group}" if kind.group else kind.kind
    if message is None:
        rendered = [f"{c.field}: {c.message}" if c.field else c.message for c in causes]
        joined = rendered[0] if len(rendered) == 1 else "[" + ", ".join(rendered) + "]"
        message = f'{qualified_kind} "{name}" is invalid: {joined}'
    details: dict[str, Any] = {"name": name}
    if kind.group:
        details["group"] = kind.group
    details["kind"] = kind.kind
    return ApiError(422, "Invalid", message, details=details, causes=list(causes))


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def page_not_found() -> ApiError:
    return ApiError(404, "NotFound", "404 page not found", plain_text="404 page not found\n")


def gone(message: str) -> ApiError:
    return ApiError(410, "Expired", message)
