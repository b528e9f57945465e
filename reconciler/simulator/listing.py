"""LIST semantics: selectors, pagination, continue tokens and resourceVersion rules.

A client's informer is only as correct as the pages it gets, so these follow the
real server closely (fidelity 04 and 06, README surprises 2 and 6):

- Pages come in storage key order (``name`` within a namespace, ``namespace/name``
  across namespaces), each carrying the snapshot's resourceVersion and an opaque
  continue token: base64 of ``{"v":"meta.k8s.io/v1","rv":N,"start":"<key>\\u0000"}``.
- ``remainingItemCount`` only without selectors; a selector can leave an empty last
  page; ``limit`` is ignored with ``resourceVersion=0``; a negative limit means none.
- ``resourceVersionMatch=Exact`` serves the historical snapshot, or 410 once it is
  compacted; a continue token from before compaction gets 410 with an inconsistent
  token (``"rv":-1``) that finishes the list at the current state; a future
  resourceVersion waits, then answers 504; ``resourceVersion=abc`` is a 500.

Snapshots are lists of references to stored objects, which the store never
mutates in place, so a paginated list is consistent without copying.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import orjson

from reconciler.simulator.errors import ApiError, Cause, bad_request
from reconciler.simulator.resources import (
    CORE_EVENTS,
    EVENTS,
    NAMESPACES,
    NODES,
    PODS,
    ResourceKind,
)
from reconciler.simulator.store import JsonObject, Store

# -- label selectors -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Requirement:
    key: str
    operator: str
    """One of ``=``, ``!=``, ``in``, ``notin``, ``exists``, ``!``, ``gt``, ``lt``."""
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        match self.operator:
            case "=" | "in":
                return present and value in self.values
            case "!=" | "notin":
                return not present or value not in self.values
            case "exists":
                return present
            case "!":
                return not present
            case "gt" | "lt":
                return present and _compare_int(value, self.values[0], self.operator)
        return False


def _compare_int(value: str | None, bound: str, operator: str) -> bool:
    try:
        number = int(value or "")
    except ValueError:
        return False
    return number > int(bound) if operator == "gt" else number < int(bound)


@dataclass(frozen=True, slots=True)
class LabelSelector:
    requirements: tuple[Requirement, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.requirements

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        found = labels or {}
        return all(r.matches(found) for r in self.requirements)


_SET_TERM = re.compile(r"^\s*(\S+?)\s+(in|notin)\s*\((.*)\)\s*$")
_COMPARE_TERM = re.compile(r"^\s*([^\s!=<>]+)\s*(==|=|!=|>|<)\s*(.*?)\s*$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_LABEL_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$"
)


def _split_terms(text: str) -> list[str]:
    """Split on commas that are not inside a parenthesised value set."""
    terms: list[str] = []
    depth = 0
    current = ""
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    terms.append(current)
    return terms


def _invalid_selector(detail: str) -> ApiError:
    return bad_request(f"unable to parse requirement: {detail}")


def _check_label(key: str, values: Iterable[str]) -> None:
    if not _LABEL_KEY.match(key) or len(key.rsplit("/", 1)[-1]) > 63:
        raise _invalid_selector(f'key: Invalid value: "{key}": name part must be valid')
    for value in values:
        if len(value) > 63 or not _LABEL_VALUE.match(value):
            raise _invalid_selector(
                f'values[0][{key}]: Invalid value: "{value}": a valid label must be an empty'
                " string or consist of alphanumeric characters, '-', '_' or '.', and must start"
                " and end with an alphanumeric character"
            )


def _parse_requirement(term: str) -> Requirement:
    stripped = term.strip()
    set_match = _SET_TERM.match(stripped)
    if set_match:
        key, operator, raw_values = set_match.groups()
        values = tuple(v.strip() for v in raw_values.split(","))
        _check_label(key, values)
        return Requirement(key, operator, values)
    if stripped.startswith("!"):
        key = stripped[1:].strip()
        _check_label(key, ())
        return Requirement(key, "!")
    compare = _COMPARE_TERM.match(stripped)
    if compare:
        key, operator, value = compare.groups()
        if operator in (">", "<"):
            if not value.isdigit():
                raise _invalid_selector("for 'Gt', 'Lt' operators, the value must be an integer")
            return Requirement(key, "gt" if operator == ">" else "lt", (value,))
        _check_label(key, (value,))
        return Requirement(key, "!=" if operator == "!=" else "=", (value,))
    _check_label(stripped, ())
    return Requirement(stripped, "exists")


def parse_label_selector(text: str) -> LabelSelector:
    """``a=b,c!=d,e in (f,g),h notin (i),j,!k`` (raises 400 on syntax errors)."""
    if not text.strip():
        return LabelSelector()
    return LabelSelector(tuple(_parse_requirement(term) for term in _split_terms(text)))


# -- field selectors -------------------------------------------------------------------------------

_POD_FIELDS: Final = (
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.nominatedNodeName",
)
_EVENT_FIELDS: Final = (
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
)
_EXTRA_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    PODS.key: _POD_FIELDS,
    CORE_EVENTS.key: _EVENT_FIELDS,
    EVENTS.key: _EVENT_FIELDS,
    NAMESPACES.key: ("status.phase",),
    NODES.key: ("spec.unschedulable",),
}


def _field_value(obj: JsonObject, path: str) -> str:
    if path == "source":
        return str((obj.get("source") or {}).get("component", ""))
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


@dataclass(frozen=True, slots=True)
class FieldSelector:
    terms: tuple[tuple[str, bool, str], ...] = ()
    """(field, equal, value): ``equal`` False for ``!=``."""

    @property
    def empty(self) -> bool:
        return not self.terms

    def matches(self, obj: JsonObject) -> bool:
        return all((_field_value(obj, f) == v) == eq for f, eq, v in self.terms)


def parse_field_selector(text: str, kind: ResourceKind) -> FieldSelector:
    """``f=v,g!=w``; fields a kind does not index are 400 ``field label not supported``."""
    if not text.strip():
        return FieldSelector()
    supported = ("metadata.name", "metadata.namespace", *_EXTRA_FIELDS.get(kind.key, ()))
    terms: list[tuple[str, bool, str]] = []
    for term in _split_unescaped(text):
        match = re.match(r"^\s*([^!=\s]+)\s*(==|=|!=)\s*(.*?)\s*$", term)
        if match is None:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{term}'")
        field, operator, value = match.groups()
        if field not in supported:
            raise bad_request(f"field label not supported: {field}")
        terms.append((field, operator != "!=", value.replace("\\,", ",").replace("\\=", "=")))
    return FieldSelector(tuple(terms))


def _split_unescaped(text: str) -> list[str]:
    return list(re.split(r"(?<!\\),", text))


# -- continue tokens -------------------------------------------------------------------------------


def encode_continue(resource_version: int, start_key: str) -> str:
    raw = orjson.dumps({"v": "meta.k8s.io/v1", "rv": resource_version, "start": start_key + "\0"})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_continue(token: str) -> tuple[int, str]:
    """(resourceVersion, key to start at), or 400 for a token this server did not issue."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError) as error:
        position = _first_bad_base64(token)
        raise bad_request(
            f"invalid continue token: continue key is not valid: illegal base64 data at input"
            f" byte {position}"
        ) from error
    try:
        decoded = orjson.loads(raw)
        rv = int(decoded["rv"])
        start = str(decoded["start"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise bad_request(
            "invalid continue token: continue key is not valid: unexpected end of JSON input"
        ) from error
    if decoded.get("v") != "meta.k8s.io/v1":
        raise bad_request(
            "invalid continue token: continue key is not valid: incorrect encoded"
            " start resourceVersion (version meta.k8s.io/v1)"
        )
    return rv, start


def _first_bad_base64(token: str) -> int:
    """Where Go's raw URL-safe base64 decoder gives up, for its error message."""
    alphabet = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    for index, char in enumerate(token):
        if char not in alphabet:
            return index
    return len(token) - 1


# -- list options ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ListOptions:
    label: LabelSelector
    field: FieldSelector
    limit: int
    """0 for no limit."""
    continue_token: str | None
    resource_version: str
    """As sent: ``""`` (most recent), ``"0"`` (any), or a number."""
    match: str
    """``""``, ``Exact`` or ``NotOlderThan``."""

    @property
    def has_selector(self) -> bool:
        return not (self.label.empty and self.field.empty)

    def admits(self, obj: JsonObject) -> bool:
        metadata = obj.get("metadata") or {}
        return self.label.matches(metadata.get("labels")) and self.field.matches(obj)


def _list_options_invalid(message: str, reason: str) -> ApiError:
    return ApiError(
        422,
        "Invalid",
        f'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: {message}',
        details={"group": "meta.k8s.io", "kind": "ListOptions"},
        causes=[Cause(reason, message, "resourceVersionMatch")],
    )


def parse_resource_version(value: str) -> int:
    """A numeric resourceVersion; anything else is the real server's odd 500."""
    if not value.isdigit():
        raise ApiError(
            500,
            "",
            f'resourceVersion: Invalid value: "{value}": strconv.ParseUint: parsing "{value}":'
            " invalid syntax",
        )
    return int(value)


def parse_list_options(query: Mapping[str, str], kind: ResourceKind) -> ListOptions:
    label = parse_label_selector(query.get("labelSelector", ""))
    field = parse_field_selector(query.get("fieldSelector", ""), kind)
    raw_limit = query.get("limit", "")
    try:
        limit = int(raw_limit) if raw_limit else 0
    except ValueError as error:
        raise bad_request(f'strconv.ParseInt: parsing "{raw_limit}": invalid syntax') from error
    resource_version = query.get("resourceVersion", "")
    match = query.get("resourceVersionMatch", "")
    continue_token = query.get("continue") or None
    if continue_token and resource_version not in ("", "0"):
        raise bad_request("specifying resource version is not allowed when using continue")
    if match:
        if match not in ("Exact", "NotOlderThan"):
            raise _list_options_invalid(
                f'Unsupported value: "{match}": supported values: "Exact", "NotOlderThan"',
                "FieldValueNotSupported",
            )
        if not resource_version:
            raise _list_options_invalid(
                "Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided",
                "FieldValueForbidden",
            )
        if match == "Exact" and resource_version == "0":
            raise _list_options_invalid(
                'Forbidden: resourceVersionMatch "exact" is forbidden for resourceVersion "0"',
                "FieldValueForbidden",
            )
    if resource_version:
        parse_resource_version(resource_version)
    return ListOptions(label, field, max(limit, 0), continue_token, resource_version, match)


# -- pages -----------------------------------------------------------------------------------------

Entry = tuple[str, JsonObject]
"""(storage key within the listed scope, stored object)."""


@dataclass(frozen=True, slots=True)
class Page:
    items: list[JsonObject]
    resource_version: int
    continue_token: str | None
    remaining: int | None


def scope_key(obj: JsonObject, *, across_namespaces: bool) -> str:
    metadata = obj.get("metadata") or {}
    name = str(metadata.get("name", ""))
    namespace = metadata.get("namespace")
    return f"{namespace}/{name}" if across_namespaces and namespace else name


def too_large(requested: int, current: int) -> ApiError:
    return ApiError(
        504,
        "Timeout",
        f"Timeout: Too large resource version: {requested}, current: {current}",
        details={
            "causes": [
                {"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}
            ],
            "retryAfterSeconds": 1,
        },
        headers={"Retry-After": "1"},
    )


def list_too_old() -> ApiError:
    return ApiError(410, "Expired", "The resourceVersion for the provided list is too old.")


def _stale_continue(start: str) -> ApiError:
    return ApiError(
        410,
        "Expired",
        "The provided continue parameter is too old to display a consistent list result. You can"
        " start a new list without the continue parameter, or use the continue token in this"
        " response to retrieve the remainder of the results. Continuing with the provided token"
        " results in an inconsistent list - objects that were created, modified, or deleted"
        " between the time the first chunk was returned and now may show up in the list.",
        continue_token=encode_continue(-1, start.rstrip("\0")),
    )


class Lister:
    """Serves LIST requests from a store, with a small cache of paginated snapshots."""

    def __init__(self, store: Store, *, future_wait: Callable[[], float]) -> None:
        self._store = store
        self._future_wait = future_wait
        self._snapshots: OrderedDict[tuple[str, str | None, int], list[Entry]] = OrderedDict()

    def current(self, kind: ResourceKind, namespace: str | None) -> list[Entry]:
        """Every object in scope now, in storage key order."""
        across = namespace is None and kind.namespaced
        entries = [
            (scope_key(obj, across_namespaces=across), obj)
            for obj in self._store.peek_all(kind)
            if namespace is None or (obj.get("metadata") or {}).get("namespace") == namespace
        ]
        entries.sort(key=lambda entry: entry[0])
        return entries

    def at(self, kind: ResourceKind, namespace: str | None, resource_version: int) -> list[Entry]:
        """The objects in scope as they were at ``resource_version`` (410 once forgotten)."""
        store = self._store
        if resource_version >= store.resource_version:
            return self.current(kind, namespace)
        oldest = store.oldest_resource_version(kind)
        if resource_version < oldest:
            raise list_too_old()
        history = store.history(kind)
        state = dict(self.current(kind, namespace))
        across = namespace is None and kind.namespaced
        changed: dict[str, JsonObject | None] = {}
        unknown: set[str] = set()
        for record in history:
            if namespace is not None and record.namespace != namespace:
                continue
            key = scope_key(record.object, across_namespaces=across)
            if record.resource_version <= resource_version:
                changed[key] = None if record.type == "DELETED" else record.object
            elif key not in changed and key not in unknown:
                if record.type == "ADDED":
                    changed[key] = None
                else:
                    unknown.add(key)
        if unknown:
            raise list_too_old()
        for key, obj in changed.items():
            if obj is None:
                state.pop(key, None)
            else:
                state[key] = obj
        return sorted(state.items(), key=lambda entry: entry[0])

    async def wait_for(self, resource_version: int) -> None:
        """Wait (as the watch cache does) for a future resourceVersion, then 504."""
        store = self._store
        if resource_version <= store.resource_version:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._future_wait()
        subscription = store.subscribe()
        getter = asyncio.ensure_future(subscription.get())
        try:
            while store.resource_version < resource_version:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise too_large(resource_version, store.resource_version)
                await asyncio.wait({getter}, timeout=remaining)
                if getter.done():
                    getter = asyncio.ensure_future(subscription.get())
        finally:
            getter.cancel()
            subscription.close()

    async def page(self, kind: ResourceKind, namespace: str | None, options: ListOptions) -> Page:
        store = self._store
        if options.continue_token:
            return self._continue(kind, namespace, options)
        if options.resource_version == "0":
            entries = self.current(kind, namespace)
            return Page(
                [o for _, o in entries if options.admits(o)], store.resource_version, None, None
            )
        if options.resource_version:
            requested = int(options.resource_version)
            if options.match == "Exact":
                if requested > store.resource_version:
                    raise ApiError(
                        500, "", "etcdserver: mvcc: required revision is a future revision"
                    )
                return self._paginate(
                    self.at(kind, namespace, requested), requested, "", options, kind, namespace
                )
            await self.wait_for(requested)
        snapshot_rv = store.resource_version
        return self._paginate(
            self.current(kind, namespace), snapshot_rv, "", options, kind, namespace
        )

    def _continue(self, kind: ResourceKind, namespace: str | None, options: ListOptions) -> Page:
        token = options.continue_token or ""
        resource_version, start = decode_continue(token)
        if resource_version == -1:
            snapshot_rv = self._store.resource_version
            return self._paginate(
                self.current(kind, namespace), snapshot_rv, start, options, kind, namespace
            )
        if resource_version < self._store.oldest_resource_version(kind):
            raise _stale_continue(start)
        cached = self._snapshots.get((kind.key, namespace, resource_version))
        try:
            entries = cached if cached is not None else self.at(kind, namespace, resource_version)
        except ApiError as error:
            raise _stale_continue(start) from error
        return self._paginate(entries, resource_version, start, options, kind, namespace)

    def _paginate(
        self,
        entries: list[Entry],
        resource_version: int,
        start: str,
        options: ListOptions,
        kind: ResourceKind,
        namespace: str | None,
    ) -> Page:
        position = _bisect(entries, start) if start else 0
        limit = options.limit
        items: list[JsonObject] = []
        last_key = ""
        index = position
        while index < len(entries) and (not limit or len(items) < limit):
            key, obj = entries[index]
            index += 1
            if options.admits(obj):
                items.append(obj)
                last_key = key
        if not limit or index >= len(entries):
            return Page(items, resource_version, None, None)
        self._remember(kind, namespace, resource_version, entries)
        token = encode_continue(resource_version, last_key)
        remaining = None if options.has_selector else len(entries) - index
        return Page(items, resource_version, token, remaining)

    def _remember(
        self, kind: ResourceKind, namespace: str | None, resource_version: int, entries: list[Entry]
    ) -> None:
        key = (kind.key, namespace, resource_version)
        self._snapshots[key] = entries
        self._snapshots.move_to_end(key)
        while len(self._snapshots) > 16:
            self._snapshots.popitem(last=False)


def _bisect(entries: list[Entry], start: str) -> int:
    low, high = 0, len(entries)
    while low < high:
        middle = (low + high) // 2
        if entries[middle][0] < start:
            low = middle + 1
        else:
            high = middle
    return low
