"""The four PATCH content types, applied to a stored object as the real server does.

``application/merge-patch+json`` (RFC 7386), ``application/json-patch+json``
(RFC 6902; a failed ``test`` is a generic 422, not a 409),
``application/strategic-merge-patch+json`` (built-in kinds only; 415 for custom
resources) and ``application/apply-patch+yaml`` (server-side apply with field
ownership and conflicts unless forced).

STUB: signatures are fixed; the implementation is being filled in.
"""

from __future__ import annotations

from typing import Any

from reconciler.simulator.resources import ResourceKind

JsonObject = dict[str, Any]

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"


def apply_patch(
    *,
    kind: ResourceKind,
    current: JsonObject | None,
    patch: bytes,
    content_type: str,
    field_manager: str,
    force: bool,
) -> JsonObject:
    """The object after the patch (``current`` is untouched).

    ``current`` is None only for server-side apply to an object that does not
    exist yet, which creates it. Raises ``ApiError``: 415 for an unsupported
    content type, 400 for an undecodable body, 422 for a failed JSON-patch test,
    409 for apply conflicts. A ``metadata.resourceVersion`` in the patch is
    left in the result; the caller compares it with the stored one.
    """
    import json

    body = json.loads(patch)
    assert current is not None
    return _merge(current, body)


def _merge(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge(result.get(key), value)
    return result


def track_managed_fields(
    *,
    kind: ResourceKind,
    old: JsonObject | None,
    new: JsonObject,
    manager: str,
    operation: str,
    api_version: str,
    subresource: str | None,
) -> None:
    """Update ``new.metadata.managedFields`` for a non-apply write (``operation`` Update)."""
