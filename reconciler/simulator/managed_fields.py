"""Field ownership (``metadata.managedFields``) and server-side apply, as the real server does them.

Ownership is a set of paths per manager, written as ``fieldsV1``: ``f:<name>``
for a field, ``k:{...}`` for an item of an associative list (by its list map
keys: Service ports by ``port`` + ``protocol``, ServiceEntry ports by
``name``), ``v:<value>`` for an item of a set list. Which lists are
associative, which are sets and which maps/lists are atomic comes from the
Kubernetes types (``+listType``, ``+listMapKey``, ``+structType=atomic``) and
from Istio's CRD schema; anything not described is deduced the way the real
server deduces it for schemaless data: maps are granular, lists atomic.

An *update* (POST, PUT, non-apply PATCH) gives the writer every field it added
or changed and takes those fields, and every removed field, away from the other
managers. An *apply* gives the applier exactly the fields of its configuration,
merges the configuration into the live object, removes fields the applier
stopped applying that nobody else owns, and refuses (409) to change a value
another manager owns unless forced.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final

from reconciler.simulator.errors import ApiError, Cause
from reconciler.simulator.jsonpatch import json_equal
from reconciler.simulator.resources import ResourceKind

JsonObject = dict[str, Any]
Path = tuple[str, ...]
"""A field path as its ``fieldsV1`` elements, e.g. ``("f:spec", 'k:{"name":"http"}')``."""


@dataclass(frozen=True, slots=True)
class Atomic:
    """Replaced and owned as a whole (scalars, atomic lists, atomic maps and structs)."""


@dataclass(frozen=True, slots=True)
class Fields:
    """A struct or a granular map: each key is owned on its own."""

    children: Mapping[str, Node] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Keyed:
    """An associative list (``+listType=map``): items are identified by their key fields."""

    keys: tuple[str, ...]
    item: Node = field(default_factory=Fields)
    key_defaults: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SetOf:
    """A list of scalars owned value by value (``+listType=set``)."""


Node = Atomic | Fields | Keyed | SetOf
ATOMIC: Final = Atomic()
_MISSING: Final = object()

_METADATA = Fields(
    {
        "labels": Fields(),
        "annotations": Fields(),
        "ownerReferences": Keyed(("uid",), ATOMIC),
        "finalizers": SetOf(),
        "managedFields": ATOMIC,
    }
)
_CONTAINER = Fields(
    {
        "ports": Keyed(("containerPort", "protocol"), key_defaults={"protocol": "TCP"}),
        "env": Keyed(("name",)),
        "volumeMounts": Keyed(("mountPath",)),
        "volumeDevices": Keyed(("devicePath",)),
    }
)
_CONDITIONS = Keyed(("type",))


def _kind(**top: Node) -> Fields:
    return Fields({"metadata": _METADATA, **top})


SCHEMAS: Mapping[str, Fields] = {
    "services": _kind(
        spec=Fields(
            {
                "ports": Keyed(("port", "protocol"), key_defaults={"protocol": "TCP"}),
                "selector": ATOMIC,
            }
        ),
        status=Fields({"conditions": _CONDITIONS}),
    ),
    "pods": _kind(
        spec=Fields(
            {
                "containers": Keyed(("name",), _CONTAINER),
                "initContainers": Keyed(("name",), _CONTAINER),
                "ephemeralContainers": Keyed(("name",), _CONTAINER),
                "volumes": Keyed(("name",)),
                "hostAliases": Keyed(("ip",)),
            }
        ),
        status=Fields(
            {"conditions": _CONDITIONS, "podIPs": Keyed(("ip",)), "hostIPs": Keyed(("ip",))}
        ),
    ),
    "nodes": _kind(
        spec=Fields({"podCIDRs": SetOf()}),
        status=Fields({"addresses": Keyed(("type",)), "conditions": _CONDITIONS}),
    ),
    "namespaces": _kind(status=Fields({"conditions": _CONDITIONS})),
    "events": _kind(involvedObject=ATOMIC, related=ATOMIC),
    "events.k8s.io/events": _kind(regarding=ATOMIC, related=ATOMIC),
    "networking.istio.io/serviceentries": _kind(
        spec=Fields({"ports": Keyed(("name",))}),
    ),
}
"""How ownership sees each kind; kinds and fields not listed are deduced."""

ZERO_OBJECTS: Mapping[str, JsonObject] = {
    "services": {"spec": {}, "status": {"loadBalancer": {}}},
    "pods": {"spec": {"containers": None}, "status": {}},
    "nodes": {"spec": {}, "status": {"daemonEndpoints": {"kubeletEndpoint": {"Port": 0}}}},
    "namespaces": {"spec": {}, "status": {}},
    "events": {
        "involvedObject": {},
        "source": {},
        "firstTimestamp": None,
        "lastTimestamp": None,
        "eventTime": None,
        "reportingComponent": "",
        "reportingInstance": "",
    },
    "events.k8s.io/events": {
        "eventTime": None,
        "regarding": {},
        "deprecatedSource": {},
        "deprecatedFirstTimestamp": None,
        "deprecatedLastTimestamp": None,
    },
    "discovery.k8s.io/endpointslices": {"addressType": "", "endpoints": None, "ports": None},
    "coordination.k8s.io/leases": {"spec": {}},
}
"""What a built-in object looks like before anything is set (Go zero values that always
serialise). A create is an update from this object, so these fields are never "added"."""

_STRIPPED: Final[frozenset[Path]] = frozenset(
    [("f:apiVersion",), ("f:kind",), ("f:metadata",)]
    + [
        ("f:metadata", f"f:{name}")
        for name in (
            "name",
            "namespace",
            "creationTimestamp",
            "selfLink",
            "uid",
            "clusterName",
            "generation",
            "managedFields",
            "resourceVersion",
        )
    ]
)


def schema_for(kind: ResourceKind) -> Fields:
    return SCHEMAS.get(kind.key, _kind())


def zero_object(kind: ResourceKind) -> JsonObject:
    return copy.deepcopy(ZERO_OBJECTS.get(kind.key, {}))


def reset_fields(kind: ResourceKind, subresource: str | None) -> tuple[Path, ...]:
    """What a write cannot set (the strategy's reset fields), so nobody owns it through it.

    Status on the main resource of a kind with a status subresource; spec on
    ``/status`` (for Pods also their owner references and deletion stamp).
    """
    if subresource == "status":
        if kind.kind == "Pod":
            return (
                ("f:spec",),
                ("f:metadata", "f:deletionTimestamp"),
                ("f:metadata", "f:ownerReferences"),
            )
        return (("f:spec",),)
    if "status" in kind.subresources:
        return (("f:status",),)
    return ()


# --- paths -----------------------------------------------------------------------------------


def _go_json(value: Any) -> str:
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, escaped)
    return text


def _child_node(node: Node, key: str, value: Any) -> Node:
    if isinstance(node, Fields) and key in node.children:
        return node.children[key]
    if isinstance(value, dict):
        return Fields()
    return ATOMIC


def _item_key(node: Keyed, item: Any) -> str | None:
    if not isinstance(item, dict):
        return None
    fields = {}
    for name in node.keys:
        if name in item:
            fields[name] = item[name]
        elif name in node.key_defaults:
            fields[name] = node.key_defaults[name]
    return f"k:{_go_json(fields)}" if fields else None


def _keyed_items(node: Keyed, items: list[Any]) -> dict[str, Any] | None:
    """Items by their ``k:`` element, or None when the list cannot be keyed (then it is atomic)."""
    keyed: dict[str, Any] = {}
    for item in items:
        key = _item_key(node, item)
        if key is None or key in keyed:
            return None
        keyed[key] = item
    return keyed


def _children(node: Node, value: Any) -> Iterator[tuple[str, Node, Any]] | None:
    """The granular children of a value, or None when it is owned as a whole."""
    if isinstance(node, Fields) and isinstance(value, dict):
        return ((f"f:{key}", _child_node(node, key, item), item) for key, item in value.items())
    if isinstance(node, Keyed) and isinstance(value, list):
        keyed = _keyed_items(node, value)
        if keyed is not None:
            return ((key, node.item, item) for key, item in keyed.items())
    if isinstance(node, SetOf) and isinstance(value, list):
        return ((f"v:{_go_json(item)}", ATOMIC, item) for item in value)
    return None


def applied_fields(value: Any, node: Node, prefix: Path = ()) -> set[Path]:
    """The fields an apply configuration sets: leaves and list items, not the maps holding them."""
    children = _children(node, value)
    if children is None:
        return {prefix} if prefix else set()
    found: set[Path] = set()
    for element, child_node, child in children:
        path = (*prefix, element)
        if isinstance(node, Keyed | SetOf):
            found.add(path)
        found |= applied_fields(child, child_node, path)
    return found


def _all_paths(value: Any, node: Node, prefix: Path) -> set[Path]:
    found = {prefix}
    for element, child_node, child in _children(node, value) or ():
        found |= _all_paths(child, child_node, (*prefix, element))
    return found


@dataclass(slots=True)
class Comparison:
    added: set[Path] = field(default_factory=set)
    modified: set[Path] = field(default_factory=set)
    removed: set[Path] = field(default_factory=set)

    def changed(self) -> set[Path]:
        return self.added | self.modified


def compare(old: Any, new: Any, node: Node, prefix: Path = ()) -> Comparison:
    """Which fields ``new`` added, modified (leaves and atomics) and removed relative to ``old``."""
    result = Comparison()
    _compare_into(result, old, new, node, prefix)
    return result


def _compare_into(result: Comparison, old: Any, new: Any, node: Node, prefix: Path) -> None:
    if old is _MISSING:
        result.added |= _all_paths(new, node, prefix)
        return
    if new is _MISSING:
        result.removed |= _all_paths(old, node, prefix)
        return
    old_children = _children(node, old)
    new_children = _children(node, new)
    if old is None and new_children is not None:
        old_children = iter(())
    if new is None and old_children is not None:
        new_children = iter(())
    if old_children is None or new_children is None:
        if not json_equal(old, new):
            result.modified.add(prefix)
        return
    before = {element: (child_node, child) for element, child_node, child in old_children}
    after = {element: (child_node, child) for element, child_node, child in new_children}
    for element in before.keys() | after.keys():
        child_node = (after.get(element) or before[element])[0]
        _compare_into(
            result,
            before.get(element, (None, _MISSING))[1],
            after.get(element, (None, _MISSING))[1],
            child_node,
            (*prefix, element),
        )


# --- encoding --------------------------------------------------------------------------------


def _scalar_order(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, 0)
    if isinstance(value, bool):
        return (1, value)
    if isinstance(value, int | float):
        return (2, value)
    if isinstance(value, str):
        return (3, value)
    return (4, _go_json(value))


def _element_order(element: str) -> tuple[int, Any]:
    kind, text = element[0], element[2:]
    if kind == "f":
        return (0, text)
    if kind == "k":
        parsed = json.loads(text)
        return (1, tuple((name, _scalar_order(parsed[name])) for name in sorted(parsed)))
    if kind == "v":
        return (2, _scalar_order(json.loads(text)))
    return (3, int(text))


def encode_fields(paths: Iterable[Path]) -> JsonObject:
    """The ``fieldsV1`` JSON of a set of paths, keys in the real server's order."""
    tree: dict[str, Any] = {}
    members: set[Path] = set()
    for path in paths:
        members.add(path)
        node = tree
        for element in path:
            node = node.setdefault(element, {})
    return _encode_node(tree, (), members)


def _encode_node(tree: dict[str, Any], prefix: Path, members: set[Path]) -> JsonObject:
    encoded: JsonObject = {}
    if prefix in members and tree:
        encoded["."] = {}
    for element in sorted(tree, key=_element_order):
        encoded[element] = _encode_node(tree[element], (*prefix, element), members)
    return encoded


def decode_fields(encoded: Mapping[str, Any], prefix: Path = ()) -> set[Path]:
    paths: set[Path] = set()
    if not encoded and prefix:
        return {prefix}
    for element, child in encoded.items():
        if element == ".":
            paths.add(prefix)
        elif isinstance(child, Mapping):
            paths |= decode_fields(child, (*prefix, element))
    return paths


def path_string(path: Path) -> str:
    """A path as conflict messages print it: ``.spec.ports[name="http"]``."""
    parts = []
    for element in path:
        kind, text = element[0], element[2:]
        if kind == "f":
            parts.append(f".{text}")
        elif kind == "k":
            parsed = json.loads(text)
            keys = ",".join(f"{name}={_go_string(parsed[name])}" for name in sorted(parsed))
            parts.append(f"[{keys}]")
        elif kind == "v":
            parts.append(f"[={_go_string(json.loads(text))}]")
        else:
            parts.append(f"[{text}]")
    return "".join(parts)


def _go_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return _go_json(value)


# --- managers --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Manager:
    """One ``managedFields`` entry."""

    manager: str
    operation: str
    api_version: str
    fields: frozenset[Path]
    time: str | None = None
    subresource: str | None = None

    @property
    def identity(self) -> tuple[str, str, str, str]:
        """Entries are distinct per manager, operation, subresource and (for updates) version."""
        version = self.api_version if self.operation == "Update" else ""
        return (self.manager, self.operation, version, self.subresource or "")

    def described(self) -> str:
        text = json.dumps(self.manager, ensure_ascii=False)
        if self.subresource:
            text += f" with subresource {json.dumps(self.subresource)}"
        if self.operation == "Update":
            text += f" using {self.api_version}"
        return text

    def to_json(self) -> JsonObject:
        entry: JsonObject = {
            "manager": self.manager,
            "operation": self.operation,
            "apiVersion": self.api_version,
        }
        if self.time is not None:
            entry["time"] = self.time
        entry["fieldsType"] = "FieldsV1"
        entry["fieldsV1"] = encode_fields(self.fields)
        if self.subresource:
            entry["subresource"] = self.subresource
        return entry


def decode_managers(entries: Any) -> list[Manager]:
    """The entries of ``metadata.managedFields``; ValueError if they are malformed."""
    if not isinstance(entries, list):
        raise ValueError("managedFields must be a list")
    managers = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("fieldsV1", {}), dict):
            raise ValueError("malformed managedFields entry")
        managers.append(
            Manager(
                manager=str(entry.get("manager", "")),
                operation=str(entry.get("operation", "")),
                api_version=str(entry.get("apiVersion", "")),
                fields=frozenset(decode_fields(entry.get("fieldsV1", {}))),
                time=entry.get("time"),
                subresource=entry.get("subresource") or None,
            )
        )
    return managers


def encode_managers(managers: Iterable[Manager]) -> list[JsonObject]:
    ordered = sorted(
        managers,
        key=lambda m: (m.operation, m.time or "", m.manager, m.api_version, m.subresource or ""),
    )
    return [manager.to_json() for manager in ordered if manager.fields]


def owned_paths(paths: Iterable[Path], *, reset: tuple[Path, ...]) -> set[Path]:
    """Drop what nobody can own: object identity fields and the write's reset fields."""
    return {
        path
        for path in paths
        if path
        and path not in _STRIPPED
        and not any(path[: len(prefix)] == prefix for prefix in reset)
    }


@dataclass(frozen=True, slots=True)
class Write:
    """Who writes and how: the request's field manager, version and subresource."""

    manager: str
    api_version: str
    subresource: str | None
    now: str


def record_update(
    managers: list[Manager],
    *,
    old: JsonObject,
    new: JsonObject,
    node: Node,
    write: Write,
    reset: tuple[Path, ...],
) -> list[Manager]:
    """Managers after a non-apply write from ``old`` to ``new``."""
    comparison = compare(old, new, node)
    changed = owned_paths(comparison.changed(), reset=reset)
    removed = owned_paths(comparison.removed, reset=reset)
    mine = Manager(write.manager, "Update", write.api_version, frozenset(), None, write.subresource)
    result: list[Manager] = []
    previous: frozenset[Path] = frozenset()
    for manager in managers:
        kept = manager.fields - changed - removed
        if manager.identity == mine.identity:
            previous, mine = kept, replace(mine, time=manager.time)
        else:
            result.append(replace(manager, fields=kept))
    if changed:
        mine = replace(mine, fields=previous | changed, time=write.now)
    else:
        mine = replace(mine, fields=previous)
    return [*result, mine]


def apply_configuration(
    managers: list[Manager],
    *,
    live: JsonObject,
    config: JsonObject,
    node: Node,
    write: Write,
    reset: tuple[Path, ...],
    force: bool,
) -> tuple[JsonObject, list[Manager]]:
    """The object after merging ``config`` into ``live`` for ``write.manager``, and the managers.

    Raises 409 when the merge changes a field another manager owns, unless ``force``.
    """
    applier = Manager(
        write.manager, "Apply", write.api_version, frozenset(), None, write.subresource
    )
    others = [m for m in managers if m.identity != applier.identity]
    previous = next((m for m in managers if m.identity == applier.identity), None)
    applied = frozenset(owned_paths(applied_fields(config, node), reset=reset))
    merged = merge(live, config, node)
    if previous is not None:
        owned = set(applied).union(*(m.fields for m in others))
        merged = _prune(merged, node, (), set(previous.fields) - owned, _prefixes(owned))
    comparison = compare(live, merged, node)
    changed = owned_paths(comparison.changed(), reset=reset)
    removed = owned_paths(comparison.removed, reset=reset)
    conflicts = [(m, path) for m in others for path in sorted(m.fields & changed)]
    if conflicts and not force:
        raise _conflict_error(conflicts)
    unchanged = json_equal(_without_managed_fields(live), _without_managed_fields(merged))
    time = previous.time if previous is not None and unchanged else write.now
    result = [replace(m, fields=m.fields - changed - removed) for m in others]
    return merged, [*result, replace(applier, fields=applied, time=time)]


def _without_managed_fields(obj: JsonObject) -> JsonObject:
    stripped = dict(obj)
    metadata = dict(stripped.get("metadata") or {})
    metadata.pop("managedFields", None)
    stripped["metadata"] = metadata
    return stripped


def _prefixes(paths: Iterable[Path]) -> set[Path]:
    return {path[:end] for path in paths for end in range(1, len(path) + 1)}


def _conflict_error(conflicts: list[tuple[Manager, Path]]) -> ApiError:
    conflicts.sort(key=lambda pair: (pair[0].identity, _path_order(pair[1])))
    causes = [
        Cause("FieldManagerConflict", f"conflict with {m.described()}", path_string(path))
        for m, path in conflicts
    ]
    if len(conflicts) == 1:
        manager, path = conflicts[0]
        message = (
            f"Apply failed with 1 conflict: conflict with {manager.described()}: "
            f"{path_string(path)}"
        )
    else:
        lines: list[str] = []
        seen: list[Manager] = []
        for manager, _ in conflicts:
            if manager not in seen:
                seen.append(manager)
                lines.append(f"conflicts with {manager.described()}:")
                lines += [f"- {path_string(p)}" for m, p in conflicts if m == manager]
        message = f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)
    return ApiError(409, "Conflict", message, details={}, causes=causes)


def _path_order(path: Path) -> tuple[tuple[int, Any], ...]:
    return tuple(_element_order(element) for element in path)


# --- merging ---------------------------------------------------------------------------------


def merge(live: Any, config: Any, node: Node) -> Any:
    """``config`` merged into ``live``: granular maps and keyed lists merge, the rest replaces."""
    if isinstance(node, Fields) and isinstance(live, dict) and isinstance(config, dict):
        result = copy.deepcopy(live)
        for key, value in config.items():
            child = _child_node(node, key, value)
            result[key] = merge(live.get(key, _MISSING), value, child)
        return result
    if isinstance(node, Keyed) and isinstance(live, list) and isinstance(config, list):
        live_items = _keyed_items(node, live)
        config_items = _keyed_items(node, config)
        if live_items is not None and config_items is not None:
            return _merge_keyed(live_items, config_items, node)
    if isinstance(node, SetOf) and isinstance(live, list) and isinstance(config, list):
        return copy.deepcopy(live) + [
            item for item in config if not any(json_equal(item, x) for x in live)
        ]
    return copy.deepcopy(config)


def _merge_keyed(live: dict[str, Any], config: dict[str, Any], node: Keyed) -> list[Any]:
    """Live items keep their place; configured items come in configuration order."""
    config_keys = list(config)
    merged: list[Any] = []
    emitted = 0
    for key, item in live.items():
        if key not in config:
            merged.append(copy.deepcopy(item))
            continue
        position = config_keys.index(key)
        while emitted <= position:
            pending = config_keys[emitted]
            merged.append(merge(live.get(pending, _MISSING), config[pending], node.item))
            emitted += 1
    for pending in config_keys[emitted:]:
        merged.append(merge(live.get(pending, _MISSING), config[pending], node.item))
    return merged


def _prune(value: Any, node: Node, prefix: Path, doomed: set[Path], kept: set[Path]) -> Any:
    """``value`` without the fields in ``doomed`` that hold nothing in ``kept``."""
    if isinstance(node, Fields) and isinstance(value, dict):
        result = {}
        for key, child in value.items():
            path = (*prefix, f"f:{key}")
            if path in doomed and path not in kept:
                continue
            result[key] = _prune(child, _child_node(node, key, child), path, doomed, kept)
        return result
    children = _children(node, value)
    if children is None:
        return value
    items = []
    for element, child_node, child in children:
        path = (*prefix, element)
        if path in doomed and path not in kept:
            continue
        items.append(_prune(child, child_node, path, doomed, kept))
    return items
