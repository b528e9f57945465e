"""Discovery documents, shaped like fidelity 01, so clients resolve resources as on a cluster.

kubectl and dynamic clients read ``/api``, ``/apis`` and the group-version
resource lists to map ``svc`` or ``serviceentries`` to URLs; they care about the
names, kinds, verbs, short names, namespaced flags and preferred versions, and
tests compare key order. Only what the simulator serves is listed, so clients
never chase a group that would 404. ``/api/v1`` famously has no ``apiVersion``.
"""

from __future__ import annotations

from typing import Any, Final

from reconciler.simulator.resources import ALL_KINDS, ResourceKind
from reconciler.simulator.serialization import storage_version_hash

JsonObject = dict[str, Any]

_GROUP_ORDER: Final = ("events.k8s.io", "coordination.k8s.io", "discovery.k8s.io")
"""The real server's order of the built-in groups served here; CRD groups come last."""

_SUBRESOURCE_VERBS: Final[dict[str, list[str]]] = {
    "status": ["get", "patch", "update"],
    "finalize": ["update"],
}

VERSION_INFO: Final[JsonObject] = {
    "major": "1",
    "minor": "28",
    "gitVersion": "v1.28.0",
    "gitCommit": "855e7c48de7388eb330da0f8d9d2394ee818fb8d",
    "gitTreeState": "clean",
    "buildDate": "2023-08-15T10:20:15Z",
    "goVersion": "go1.20.7",
    "compiler": "gc",
    "platform": "linux/amd64",
}


def _groups() -> list[str]:
    served = {kind.group for kind in ALL_KINDS if kind.group}
    custom = sorted(served.difference(_GROUP_ORDER))
    return [group for group in _GROUP_ORDER if group in served] + custom


def _versions(group: str) -> list[str]:
    versions: list[str] = []
    for kind in ALL_KINDS:
        if kind.group == group:
            versions.extend(v for v in kind.versions if v not in versions)
    return versions


def _group_version(group: str, version: str) -> JsonObject:
    return {"groupVersion": f"{group}/{version}", "version": version}


def api_versions(server_address: str) -> JsonObject:
    """``GET /api``."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def api_group(group: str) -> JsonObject | None:
    """``GET /apis/<group>``, or None for a group not served."""
    versions = _versions(group)
    if not versions:
        return None
    return {
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": group,
        "versions": [_group_version(group, v) for v in versions],
        "preferredVersion": _group_version(group, versions[0]),
    }


def api_group_list() -> JsonObject:
    """``GET /apis``."""
    groups = []
    for group in _groups():
        body = api_group(group)
        assert body is not None
        groups.append({k: body[k] for k in ("name", "versions", "preferredVersion")})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def _resource_entry(kind: ResourceKind) -> JsonObject:
    entry: JsonObject = {
        "name": kind.plural,
        "singularName": kind.singular,
        "namespaced": kind.namespaced,
        "kind": kind.kind,
        "verbs": list(kind.verbs),
    }
    if kind.short_names:
        entry["shortNames"] = list(kind.short_names)
    if kind.categories:
        entry["categories"] = list(kind.categories)
    entry["storageVersionHash"] = storage_version_hash(kind)
    return entry


def _subresource_entry(kind: ResourceKind, subresource: str) -> JsonObject:
    return {
        "name": f"{kind.plural}/{subresource}",
        "singularName": "",
        "namespaced": kind.namespaced,
        "kind": kind.kind,
        "verbs": list(_SUBRESOURCE_VERBS.get(subresource, ["get"])),
    }


def api_resource_list(group: str, version: str) -> JsonObject | None:
    """``GET /api/v1`` or ``GET /apis/<group>/<version>``, or None if not served."""
    kinds = [k for k in ALL_KINDS if k.group == group and version in k.versions]
    if not kinds:
        return None
    resources: list[JsonObject] = []
    for kind in sorted(kinds, key=lambda k: k.plural):
        resources.append(_resource_entry(kind))
        resources.extend(_subresource_entry(kind, sub) for sub in sorted(kind.subresources))
    body: JsonObject = {"kind": "APIResourceList"}
    if group:
        body["apiVersion"] = "v1"
    body["groupVersion"] = f"{group}/{version}" if group else version
    body["resources"] = resources
    return body
