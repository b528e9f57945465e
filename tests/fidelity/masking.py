"""Comparing a recorded answer with the simulator's, blind only to what varies between runs.

The fidelity README lists what differs from one run of a real cluster to the
next (uids, timestamps, resourceVersions, generated names, continue tokens,
allocated cluster IPs, controller timing artefacts, ...). Both the recorded and
the simulated body are *normalised*: each varying value is checked for its
shape (a numeric string, a UUID, an RFC 3339 time, a name with the right
prefix) and replaced by a placeholder, and orderings the README calls
unordered are sorted. A value of the wrong shape is left as it is, so it shows
up as a difference. What is left must then be equal, key order included (the
README's surprise 12: Go struct order for built-in types, sorted keys for
custom resources).

Normalising also *captures* the raw varying values by path. Pairing the
recorded and simulated captures at the same path gives the correspondence
(recorded uid -> simulated uid, recorded resourceVersion -> simulated one,
...) that later requests of the same transcript need: they quote values the
server handed out earlier.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

Path = tuple[str | int, ...]

_UUID: Final = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_TIME: Final = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z")
_NUMERIC: Final = re.compile(r"[0-9]+")
_TOKEN_VOLUME: Final = re.compile(r"kube-api-access-[a-z0-9]{5}")
_GENERATED_SUFFIX: Final = re.compile(r"[a-z0-9]{5}")
_AGE: Final = re.compile(r"(\d+[smhdy])+|<unknown>|<invalid>")
_MESSAGE_MASKS: Final = (
    (re.compile(r"too old resource version: \d+ \(\d+\)"), "too old resource version: <rv> (<rv>)"),
    (re.compile(r"current: \d+"), "current: <rv>"),
    (re.compile(r"\(0x[0-9a-f]+\)"), "(<pointer>)"),
    (_UUID, "<uid>"),
)
TRIGGER_TIME: Final = "endpoints.kubernetes.io/last-change-trigger-time"
_VERSION_VARYING: Final = frozenset({"gitCommit", "buildDate", "goVersion"})


@dataclass(slots=True)
class Normalised:
    value: Any
    captures: dict[Path, tuple[str, Any]] = field(default_factory=dict)
    """Raw varying values by path, with their category (``rv``, ``uid``, ``name``, ...)."""


def normalise(value: Any) -> Normalised:
    """A copy of ``value`` with varying values replaced by placeholders, and what they were."""
    result = Normalised(None)
    result.value = _normalise(value, (), result.captures, _Context(None, "rv"))
    return result


@dataclass(frozen=True, slots=True)
class _Context:
    kind: str | None
    """The ``kind`` of the object being walked (list items take their list's item kind)."""
    rv_role: str
    """What a ``resourceVersion`` here is: ``rv`` (an object's revision), ``slice-rv`` (a
    controller-written EndpointSlice's), ``list-rv`` (a list's or bookmark's snapshot)."""


def _normalise(
    value: Any, path: Path, captures: dict[Path, tuple[str, Any]], context: _Context
) -> Any:
    if isinstance(value, list):
        items = _sorted_items(value, path, context.kind)
        kind = context.kind
        if path and path[-1] == "items" and kind is not None and kind.endswith("List"):
            context = _Context(kind.removesuffix("List"), "rv")
        return [_normalise(item, (*path, i), captures, context) for i, item in enumerate(items)]
    if isinstance(value, str):
        return _normalise_string(value, path)
    if not isinstance(value, dict):
        return value
    if isinstance(value.get("kind"), str):
        context = _Context(value["kind"], "rv")
    if context.kind == "EndpointSlice":
        context = _Context(context.kind, "slice-rv")
    out: dict[str, Any] = {}
    for key, item in value.items():
        here = (*path, key)
        inner = _inner_context(key, value, context)
        masked = _mask(key, item, here, value, inner, captures)
        if masked is _DROP:
            continue
        shown = _UUID.sub("<uid>", key) if key.startswith("k:{") else key
        out[shown] = masked if masked is not _KEEP else _normalise(item, here, captures, inner)
    if path and path[-1] == "annotations" and not out:
        return _DROP_EMPTY
    return {k: v for k, v in out.items() if v is not _DROP_EMPTY}


def _inner_context(key: str, parent: dict[str, Any], context: _Context) -> _Context:
    """The context of ``parent[key]``: lists' and bookmarks' revisions are snapshots."""
    if key == "metadata" and ("items" in parent or (context.kind or "").endswith("List")):
        return _Context(context.kind, "list-rv")
    if key == "metadata" and context.kind in ("Table", "Status"):
        return _Context(context.kind, "list-rv")
    if key == "object" and parent.get("type") == "BOOKMARK":
        return _Context(context.kind, "list-rv")
    if key in ("involvedObject", "regarding", "related"):
        return _Context(context.kind, "ref-rv")
    return context


class _Marker:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


_KEEP: Final = _Marker("KEEP")
_DROP: Final = _Marker("DROP")
_DROP_EMPTY: Final = _Marker("DROP_EMPTY")


def _mask(
    key: str,
    item: Any,
    path: Path,
    parent: dict[str, Any],
    context: _Context,
    captures: dict[Path, tuple[str, Any]],
) -> Any:
    """The placeholder for a varying value, ``_DROP`` to leave it out, or ``_KEEP``."""
    container = path[-2] if len(path) > 1 else None
    kind = context.kind
    if key == "resourceVersion" and isinstance(item, str):
        return _capture(captures, path, context.rv_role, item, "<rv>", _NUMERIC.fullmatch(item))
    if key == "uid" and isinstance(item, str):
        return _capture(captures, path, "uid", item, "<uid>", _UUID.fullmatch(item))
    if key in ("creationTimestamp", "deletionTimestamp") and isinstance(item, str):
        return "<time>" if _TIME.fullmatch(item) else item
    if key == "time" and len(path) > 2 and path[-3] == "managedFields":
        return "<time>" if isinstance(item, str) and _TIME.fullmatch(item) else item
    if key == TRIGGER_TIME or key == f"f:{TRIGGER_TIME}":
        return _DROP
    if (
        key == "f:annotations"
        and isinstance(item, dict)
        and set(item) <= {".", f"f:{TRIGGER_TIME}"}
    ):
        return _DROP
    if key == "generation" and kind == "EndpointSlice" and isinstance(item, int):
        return "<generation>"
    if key == "continue" and isinstance(item, str) and item:
        return _capture(captures, path, "continue", item, "<continue>", _token_shape(item))
    if key == "name" and container == "metadata" and isinstance(item, str):
        prefix = parent.get("generateName")
        if isinstance(prefix, str) and item.startswith(prefix):
            shaped = _GENERATED_SUFFIX.fullmatch(item[len(prefix) :])
            return _capture(captures, path, "name", item, f"{prefix}<generated>", shaped)
    if key == "clusterIP" and kind == "Service" and isinstance(item, str):
        return _capture(captures, path, "ip", item, "<cluster-ip>", _is_ip(item))
    if key == "clusterIPs" and kind == "Service" and isinstance(item, list):
        return [
            _capture(captures, (*path, i), "ip", ip, "<cluster-ip>", _is_ip(ip))
            for i, ip in enumerate(item)
        ]
    if key == "serverAddress" or (kind is None and key in _VERSION_VARYING):
        return "<varies>"
    return _KEEP


def _capture(
    captures: dict[Path, tuple[str, Any]],
    path: Path,
    category: str,
    raw: str,
    placeholder: str,
    shaped: object,
) -> str:
    if not shaped:
        return raw
    captures[path] = (category, raw)
    return placeholder


def _is_ip(value: Any) -> bool:
    try:
        ipaddress.ip_address(value)
    except (TypeError, ValueError):
        return False
    return True


def _normalise_string(value: str, path: Path) -> str:
    if _TOKEN_VOLUME.fullmatch(value):
        return "kube-api-access-<generated>"
    if path and path[-1] == "message":
        for pattern, replacement in _MESSAGE_MASKS:
            value = pattern.sub(replacement, value)
    if len(path) >= 2 and path[-2] == "cells" and _AGE.fullmatch(value):
        return "<age>"
    return value


def _sorted_items(items: list[Any], path: Path, kind: str | None) -> list[Any]:
    """Lists the README calls unordered, in a canonical order."""
    key = path[-1] if path else None
    if key == "endpoints" and kind == "EndpointSlice":
        return sorted(items, key=_endpoint_key)
    if key == "items" and kind == "EndpointSliceList":
        return sorted(items, key=_slice_key)
    return items


def _endpoint_key(endpoint: Any) -> tuple[str, str]:
    if not isinstance(endpoint, dict):
        return ("", "")
    target = endpoint.get("targetRef") or {}
    return (str(target.get("name", "")), ",".join(endpoint.get("addresses") or []))


def _slice_key(item: Any) -> tuple[str, int, str]:
    if not isinstance(item, dict):
        return ("", 0, "")
    labels = (item.get("metadata") or {}).get("labels") or {}
    endpoints = item.get("endpoints")
    if not isinstance(endpoints, list):
        return (str(labels.get("kubernetes.io/service-name", "")), 0, "")
    first = _endpoint_key(endpoints[0])[0] if endpoints else ""
    return (str(labels.get("kubernetes.io/service-name", "")), -len(endpoints), first)


def _token_shape(token: str) -> bool:
    return decode_continue(token) is not None


_LAYOUT_VALUE: Final = re.compile(r'": (".*?"|[^,\n{}\[\]]+)')


def layout(text: str) -> str:
    """A JSON text's shape: keys and indentation, with every scalar value blanked out."""
    return _LAYOUT_VALUE.sub('": _', text)


def decode_continue(token: str) -> dict[str, Any] | None:
    """A continue token's content (``{"v", "rv", "start"}``), or None if it is not one."""
    try:
        padded = token + "=" * (-len(token) % 4)
        decoded = orjson.loads(base64.urlsafe_b64decode(padded))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        return None
    if not isinstance(decoded, dict) or set(decoded) != {"v", "rv", "start"}:
        return None
    return decoded


# -- differences --------------------------------------------------------------------------------


def differences(expected: Any, actual: Any, path: str = "$") -> Iterator[str]:
    """Human-readable differences between two normalised values, key order included."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        missing = [k for k in expected if k not in actual]
        extra = [k for k in actual if k not in expected]
        for key in missing:
            yield f"{path}.{key}: missing (expected {_short(expected[key])})"
        for key in extra:
            yield f"{path}.{key}: unexpected {_short(actual[key])}"
        for key in expected:
            if key in actual:
                yield from differences(expected[key], actual[key], f"{path}.{key}")
        shared_expected = [k for k in expected if k in actual]
        shared_actual = [k for k in actual if k in expected]
        if shared_expected != shared_actual:
            yield f"{path}: key order {shared_actual}, expected {shared_expected}"
        return
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            yield f"{path}: {len(actual)} items, expected {len(expected)}"
        for index, (left, right) in enumerate(zip(expected, actual, strict=False)):
            yield from differences(left, right, f"{path}[{index}]")
        return
    if type(expected) is not type(actual) or expected != actual:
        yield f"{path}: {_short(actual)}, expected {_short(expected)}"


def _short(value: Any) -> str:
    text = orjson.dumps(value, default=repr).decode()
    return text if len(text) <= 160 else text[:157] + "..."
