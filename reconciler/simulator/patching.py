"""The four PATCH content types, applied to a stored object as the real server does.

``application/merge-patch+json`` (RFC 7386), ``application/json-patch+json``
(RFC 6902; a failed ``test`` is a generic 422, not a 409),
``application/strategic-merge-patch+json`` (built-in kinds only; 415 for custom
resources) and ``application/apply-patch+yaml`` (server-side apply with field
ownership and conflicts unless forced).

Field ownership of the other writes is recorded by :func:`track_managed_fields`,
which the server calls for every POST, PUT and non-apply PATCH, before or right
after :func:`reconciler.simulator.admission.admit`: either way, as on the real
server, ownership reflects what the writer sent plus scheme defaults, not what
admission and the registry add (allocated cluster IPs, statuses).
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import yaml

from reconciler.simulator import defaulting, managed_fields
from reconciler.simulator.errors import ApiError, Cause, bad_request
from reconciler.simulator.jsonpatch import (
    MAX_OPERATIONS,
    JsonPatchError,
    apply_json_patch,
    merge_patch,
)
from reconciler.simulator.resources import ResourceKind
from reconciler.simulator.strategic_merge import strategic_merge

JsonObject = dict[str, Any]

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"

_BUILTIN_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH, APPLY_PATCH)
_CUSTOM_TYPES = (JSON_PATCH, MERGE_PATCH, APPLY_PATCH)


def apply_patch(
    *,
    kind: ResourceKind,
    current: JsonObject | None,
    patch: bytes,
    content_type: str,
    field_manager: str,
    force: bool,
    subresource: str | None = None,
    now: str | None = None,
) -> JsonObject:
    """The object after the patch (``current`` is untouched).

    ``current`` is None only for server-side apply to an object that does not
    exist yet, which creates it. Raises ``ApiError``: 415 for an unsupported
    content type, 400 for an undecodable body, 422 for a failed JSON-patch test,
    409 for apply conflicts. A ``metadata.resourceVersion`` in the patch is
    left in the result; the caller compares it with the stored one. ``now``
    (RFC 3339, seconds) stamps the applier's managedFields entry.
    """
    media_type = content_type.split(";", 1)[0].strip().lower()
    accepted = _BUILTIN_TYPES if kind.builtin else _CUSTOM_TYPES
    if media_type not in accepted:
        raise ApiError(
            415,
            "UnsupportedMediaType",
            "the body of the request was in an unknown format - accepted media types include: "
            + ", ".join(accepted),
        )
    if media_type == APPLY_PATCH:
        return _server_side_apply(
            kind=kind,
            current=current,
            patch=patch,
            field_manager=field_manager,
            force=force,
            subresource=subresource,
            now=now or _now(),
        )
    if current is None:
        raise ValueError("only server-side apply can patch a missing object")
    if media_type == JSON_PATCH:
        return _json_patch(current, patch)
    body = decode_json(patch)
    if not isinstance(body, dict):
        raise bad_request(
            "error decoding patch: json: cannot unmarshal "
            f"{_go_type(body)} into Go value of type map[string]interface {{}}"
        )
    if media_type == MERGE_PATCH:
        result = merge_patch(current, body)
        if not isinstance(result, dict):
            raise bad_request("Invalid JSON Patch")
        return result
    return strategic_merge(kind, current, body)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _json_patch(current: JsonObject, patch: bytes) -> JsonObject:
    operations = decode_json(patch)
    if not isinstance(operations, list):
        raise bad_request(
            "error decoding patch: json: cannot unmarshal object into Go value of type "
            "[]handlers.jsonPatchOp"
        )
    if len(operations) > MAX_OPERATIONS:
        raise ApiError(
            413,
            "RequestEntityTooLarge",
            f"The allowed maximum operations in a JSON patch is {MAX_OPERATIONS}, "
            f"got {len(operations)}",
        )
    try:
        result = apply_json_patch(current, operations)
    except JsonPatchError:
        raise ApiError(
            422,
            "Invalid",
            "the server rejected our request due to an error in our request",
            details={},
        ) from None
    if not isinstance(result, dict):
        raise bad_request("error decoding patch: the patched document is not an object")
    return result


# --- decoding errors -------------------------------------------------------------------------


def decode_json(body: bytes) -> Any:
    """Parse a JSON patch body; 400 ``error decoding patch: <Go's json error>`` otherwise."""
    text = body.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise bad_request(f"error decoding patch: {go_json_error(text, error)}") from None


def go_json_error(text: str, error: json.JSONDecodeError) -> str:
    """The message Go's ``encoding/json`` gives for the same syntax error."""
    if error.pos >= len(text.rstrip()):
        return "unexpected end of JSON input"
    char = text[error.pos]
    shown = "'\\''" if char == "'" else f"'{char}'" if char.isprintable() else repr(char)
    context = {
        "Expecting value": "looking for beginning of value",
        "Expecting property name enclosed in double quotes": (
            "looking for beginning of object key string"
        ),
        "Expecting ':' delimiter": "after object key",
        "Extra data": "after top-level value",
        "Invalid control character at": "in string literal",
    }.get(error.msg)
    if error.msg == "Expecting ',' delimiter":
        context = (
            "after object key:value pair"
            if _innermost(text, error.pos) == "{"
            else ("after array element")
        )
    return f"invalid character {shown} {context or 'looking for beginning of value'}"


def _innermost(text: str, position: int) -> str:
    stack: list[str] = []
    in_string = escaped = False
    for char in text[:position]:
        if in_string:
            escaped = not escaped and char == "\\"
            in_string = escaped or char != '"'
        elif char == '"':
            in_string = True
        elif char in "{[":
            stack.append(char)
        elif char in "}]" and stack:
            stack.pop()
    return stack[-1] if stack else ""


# --- server-side apply -----------------------------------------------------------------------


def _server_side_apply(
    *,
    kind: ResourceKind,
    current: JsonObject | None,
    patch: bytes,
    field_manager: str,
    force: bool,
    subresource: str | None,
    now: str,
) -> JsonObject:
    if not field_manager:
        raise ApiError(
            422,
            "Invalid",
            'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: '
            "is required for apply patch",
            details={"group": "meta.k8s.io", "kind": "PatchOptions"},
            causes=[
                Cause(
                    "FieldValueRequired",
                    "Required value: is required for apply patch",
                    "fieldManager",
                )
            ],
        )
    config = _decode_yaml(patch)
    _check_configuration(kind, config, current)
    live = copy.deepcopy(current) if current is not None else _empty_object(kind, config)
    try:
        managers = managed_fields.decode_managers(
            (live.get("metadata") or {}).get("managedFields", [])
        )
    except ValueError:
        managers = []
    merged, managers = managed_fields.apply_configuration(
        managers,
        live=live,
        config=config,
        node=managed_fields.schema_for(kind),
        write=managed_fields.Write(field_manager, str(config["apiVersion"]), subresource, now),
        reset=managed_fields.reset_fields(kind, subresource),
        force=force,
    )
    _set_managed_fields(merged, managers)
    return merged


def _decode_yaml(patch: bytes) -> JsonObject:
    try:
        config = yaml.safe_load(patch.decode("utf-8", errors="replace"))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error)
        raise bad_request(
            f"error decoding YAML: error converting YAML to JSON: yaml: {where}{problem}"
        ) from None
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise bad_request(
            "error decoding YAML: error unmarshaling JSON: while decoding JSON: json: cannot "
            f"unmarshal {_go_type(config)} into Go value of type map[string]interface {{}}"
        )
    return config


def _go_type(value: Any) -> str:
    """How Go's JSON decoder names a JSON value's type in its errors."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return "array" if isinstance(value, list) else "string"


def _check_configuration(
    kind: ResourceKind, config: JsonObject, current: JsonObject | None
) -> None:
    api_version = str(config.get("apiVersion") or "")
    group, _, version = api_version.rpartition("/")
    expected = current.get("apiVersion") if current is not None else None
    if group != kind.group or version not in kind.versions:
        raise bad_request(
            "Incorrect version specified in apply patch. Specified patch version: "
            f"{api_version or '/'}, expected: {expected or kind.api_version()}"
        )
    if config.get("kind") != kind.kind:
        raise bad_request(f"invalid object type: {api_version}, Kind={config.get('kind') or ''}")
    if (config.get("metadata") or {}).get("managedFields") is not None:
        raise bad_request("metadata.managedFields must be nil")


def _empty_object(kind: ResourceKind, config: JsonObject) -> JsonObject:
    """The object an apply creates from: the zero object with the configured identity."""
    empty = managed_fields.zero_object(kind)
    metadata = config.get("metadata") or {}
    empty["apiVersion"] = config["apiVersion"]
    empty["kind"] = kind.kind
    empty["metadata"] = {k: metadata[k] for k in ("name", "namespace") if k in metadata}
    return empty


def _set_managed_fields(obj: JsonObject, managers: list[managed_fields.Manager]) -> None:
    metadata = obj.setdefault("metadata", {})
    encoded = managed_fields.encode_managers(managers)
    if encoded:
        metadata["managedFields"] = encoded
    else:
        metadata.pop("managedFields", None)


def track_managed_fields(
    *,
    kind: ResourceKind,
    old: JsonObject | None,
    new: JsonObject,
    manager: str,
    operation: str,
    api_version: str,
    subresource: str | None,
    now: str | None = None,
) -> None:
    """Update ``new.metadata.managedFields`` for a non-apply write (``operation`` Update).

    ``manager`` gets the fields the write added or changed (``old`` is None on
    create) and the other managers lose them and any removed field. Managed
    fields sent in ``new`` replace the stored ones (as on the real server)
    unless empty or written to a subresource.
    """
    if operation != "Update":
        raise ValueError(f"track_managed_fields records Update operations, not {operation}")
    sent = (new.get("metadata") or {}).get("managedFields")
    stored = ((old or {}).get("metadata") or {}).get("managedFields", [])
    entries = sent if sent and subresource is None else stored
    try:
        managers = managed_fields.decode_managers(entries)
    except ValueError:
        managers = managed_fields.decode_managers(stored) if old else []
    before = old if old is not None else managed_fields.zero_object(kind)
    managers = managed_fields.record_update(
        managers,
        old=before,
        new=defaulting.decoded_form(kind, new),
        node=managed_fields.schema_for(kind),
        write=managed_fields.Write(manager, api_version, subresource, now or _now()),
        reset=managed_fields.reset_fields(kind, subresource),
    )
    _set_managed_fields(new, managers)
