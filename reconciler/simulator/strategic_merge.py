"""Strategic merge patch for the built-in kinds, with the real patch merge keys.

A strategic merge patch is a merge patch that knows, per list, whether to merge
items by a key (``spec.ports`` by ``port``, ``spec.containers`` by ``name``,
``status.conditions`` by ``type``, ``metadata.ownerReferences`` by ``uid``), to
union primitive values (``metadata.finalizers``) or to replace the list. The
keys below are the ``patchMergeKey`` tags of Kubernetes' Go types for the kinds
the simulator serves; every other list is replaced, as in the real server.
Directives: ``$patch: replace|delete`` in maps and list items, ``$retainKeys``,
``$deleteFromPrimitiveList/<field>`` and ``$setElementOrder/<field>``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Final

from reconciler.simulator.errors import bad_request
from reconciler.simulator.resources import ResourceKind

JsonObject = dict[str, Any]
Path = tuple[str, ...]

ITEM: Final = "[]"
"""Path segment standing for "any item of this list"."""

PRIMITIVE_MERGE: Final = ""
"""Merge "key" of a list of primitive values merged as a set."""

_CONTAINER_LISTS: Mapping[Path, str] = {
    ("ports",): "containerPort",
    ("env",): "name",
    ("volumeMounts",): "mountPath",
    ("volumeDevices",): "devicePath",
}


def _pod_spec_keys(prefix: Path) -> dict[Path, str]:
    keys = {
        (*prefix, "volumes"): "name",
        (*prefix, "imagePullSecrets"): "name",
        (*prefix, "hostAliases"): "ip",
        (*prefix, "topologySpreadConstraints"): "topologyKey",
        (*prefix, "resourceClaims"): "name",
        (*prefix, "schedulingGates"): "name",
    }
    for containers in ("containers", "initContainers", "ephemeralContainers"):
        keys[(*prefix, containers)] = "name"
        for sub, key in _CONTAINER_LISTS.items():
            keys[(*prefix, containers, ITEM, *sub)] = key
    return keys


_METADATA_KEYS: Mapping[Path, str] = {
    ("metadata", "ownerReferences"): "uid",
    ("metadata", "finalizers"): PRIMITIVE_MERGE,
}

MERGE_KEYS: Mapping[str, Mapping[Path, str]] = {
    "services": {("spec", "ports"): "port", ("status", "conditions"): "type"},
    "pods": {
        **_pod_spec_keys(("spec",)),
        ("status", "conditions"): "type",
        ("status", "podIPs"): "ip",
        ("status", "hostIPs"): "ip",
    },
    "nodes": {
        ("spec", "podCIDRs"): PRIMITIVE_MERGE,
        ("status", "addresses"): "type",
        ("status", "conditions"): "type",
    },
    "namespaces": {("status", "conditions"): "type"},
}
"""``patchMergeKey`` per list path, by storage key of the kind (metadata lists apply to all)."""


class _Deleted:
    """Marker: a ``$patch: delete`` map removes itself from its parent."""


_DELETED: Final = _Deleted()


def strategic_merge(kind: ResourceKind, original: JsonObject, patch: JsonObject) -> JsonObject:
    """``original`` with ``patch`` applied (neither is modified)."""
    keys = {**_METADATA_KEYS, **MERGE_KEYS.get(kind.key, {})}
    merged = _merge_map(original, patch, (), keys)
    if isinstance(merged, _Deleted):
        raise bad_request("a patch may not delete the whole object")
    return merged


def _merge_map(
    original: JsonObject, patch: JsonObject, path: Path, keys: Mapping[Path, str]
) -> JsonObject | _Deleted:
    directive = patch.get("$patch")
    if directive == "replace":
        replaced: JsonObject = _without_directives(patch)
        return replaced
    if directive == "delete":
        return _DELETED
    if directive not in (None, "merge"):
        raise bad_request(f"Unknown patch type: {directive} in map: {patch}")
    result = copy.deepcopy(original)
    retained = patch.get("$retainKeys")
    if isinstance(retained, list):
        result = {key: value for key, value in result.items() if key in retained}
    for key, value in patch.items():
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            kept = [item for item in result.get(field) or [] if item not in (value or [])]
            result[field] = kept
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            result.pop(key, None)
            continue
        merged = _merge_value(result.get(key), value, (*path, key), keys)
        if isinstance(merged, _Deleted):
            result.pop(key, None)
        else:
            result[key] = merged
    for key, order in patch.items():
        if key.startswith("$setElementOrder/"):
            field = key.split("/", 1)[1]
            if isinstance(result.get(field), list) and isinstance(order, list):
                result[field] = _ordered(result[field], order, keys.get((*path, field)))
    return result


def _merge_value(original: Any, patch: Any, path: Path, keys: Mapping[Path, str]) -> Any:
    if isinstance(patch, dict):
        return _merge_map(original if isinstance(original, dict) else {}, patch, path, keys)
    if isinstance(patch, list) and path in keys:
        return _merge_list(original if isinstance(original, list) else [], patch, path, keys)
    return _without_directives(patch)


def _merge_list(
    original: list[Any], patch: list[Any], path: Path, keys: Mapping[Path, str]
) -> list[Any]:
    merge_key = keys[path]
    if any(isinstance(item, dict) and item.get("$patch") == "replace" for item in patch):
        return [
            _without_directives(item)
            for item in patch
            if not (isinstance(item, dict) and "$patch" in item)
        ]
    if merge_key == PRIMITIVE_MERGE:
        return list(original) + [item for item in patch if item not in original]
    result = copy.deepcopy(original)
    for item in patch:
        if not isinstance(item, dict):
            raise bad_request(f"merging a list by key {merge_key!r} needs objects, got {item!r}")
        position = _find(result, merge_key, item.get(merge_key))
        if item.get("$patch") == "delete":
            result = [
                kept
                for kept in result
                if not (isinstance(kept, dict) and kept.get(merge_key) == item.get(merge_key))
            ]
        elif position is None:
            result.append(_without_directives(item))
        else:
            merged = _merge_map(result[position], item, (*path, ITEM), keys)
            if not isinstance(merged, _Deleted):
                result[position] = merged
    return result


def _find(items: list[Any], merge_key: str, value: Any) -> int | None:
    for position, item in enumerate(items):
        if isinstance(item, dict) and item.get(merge_key) == value:
            return position
    return None


def _ordered(items: list[Any], order: list[Any], merge_key: str | None) -> list[Any]:
    def identity(item: Any) -> Any:
        if merge_key and isinstance(item, dict):
            return item.get(merge_key)
        return item

    wanted = [identity(entry) for entry in order]
    listed = sorted(
        (item for item in items if identity(item) in wanted),
        key=lambda item: wanted.index(identity(item)),
    )
    return listed + [item for item in items if identity(item) not in wanted]


def _without_directives(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: _without_directives(item) for key, item in value.items() if not key.startswith("$")
        }
    if isinstance(value, list):
        return [_without_directives(item) for item in value]
    return value
