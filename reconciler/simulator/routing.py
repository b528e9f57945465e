"""Where a request goes: a resource URL resolved, its RBAC verb, the representation asked for.

The real server answers an unknown path with a text/plain ``404 page not
found`` (not a Status), names each request as RBAC does (``list`` versus
``watch`` depends on a query parameter that is a Kubernetes boolean) and
refuses an ``Accept`` it cannot produce with 406. These decisions come before
authentication and the verbs, and depend on nothing but the request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from reconciler.simulator.errors import ApiError, page_not_found
from reconciler.simulator.resources import ResourceKind, find_kind
from reconciler.simulator.watching import wants_watch

_NAMESPACE_SUBRESOURCES: Final = frozenset({"status", "finalize"})


_NOT_ACCEPTABLE: Final = (
    "406: Not Acceptable\n\nAvailable representations: application/json, application/yaml,"
    " application/vnd.kubernetes.protobuf, application/json;stream=watch,"
    " application/vnd.kubernetes.protobuf;stream=watch"
)


@dataclass(frozen=True, slots=True)
class Route:
    """A resource URL, resolved."""

    kind: ResourceKind
    version: str
    namespace: str | None
    """None for cluster-scoped kinds and for lists across all namespaces."""
    name: str | None
    subresource: str | None
    watch_path: bool
    """A legacy ``/watch/`` URL."""


@dataclass(frozen=True, slots=True)
class Discovery:
    document: str
    """``api``, ``apis``, ``group``, ``resources`` or ``version``."""
    group: str = ""
    version: str = ""


def resolve(path: str) -> Route | Discovery:
    """Map a URL path to what it names, or raise the plain-text 404."""
    parts = [part for part in path.split("/") if part]
    if parts == ["version"]:
        return Discovery("version")
    if not parts or parts[0] not in ("api", "apis"):
        raise page_not_found()
    if len(parts) == 1:
        return Discovery(parts[0])
    if parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) == 2:
        return Discovery("group", group=parts[1])
    else:
        group, version, rest = parts[1], parts[2], parts[3:]
    if not rest:
        return Discovery("resources", group=group, version=version)
    return _resource_route(group, version, rest)


def _resource_route(group: str, version: str, rest: list[str]) -> Route:
    watch_path = rest[0] == "watch"
    if watch_path:
        rest = rest[1:]
    namespace: str | None = None
    if len(rest) > 2 and rest[0] == "namespaces" and rest[2] not in _NAMESPACE_SUBRESOURCES:
        namespace, rest = rest[1], rest[2:]
    if not rest or len(rest) > 3:
        raise page_not_found()
    kind = find_kind(group, version, rest[0])
    if kind is None:
        raise page_not_found()
    name = rest[1] if len(rest) > 1 else None
    subresource = rest[2] if len(rest) > 2 else None
    if (
        (namespace is not None and not kind.namespaced)
        or (namespace is None and kind.namespaced and name is not None)
        or (subresource is not None and (subresource not in kind.subresources or watch_path))
    ):
        raise page_not_found()
    return Route(kind, version, namespace, name, subresource, watch_path)


def rbac_verb(method: str, route: Route, query: Mapping[str, str]) -> str:
    """The verb an RBAC rule must grant for this request."""
    collection = route.name is None
    if method == "GET":
        if route.watch_path or (collection and wants_watch(query)):
            return "watch"
        return "list" if collection else "get"
    if method == "DELETE":
        return "deletecollection" if collection else "delete"
    return {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method, method.lower())


def negotiate(accept: str) -> str:
    """``json``, ``yaml`` or ``table`` for an Accept header, or 406."""
    if not accept.strip():
        return "json"
    for clause in accept.split(","):
        media, *raw_params = (piece.strip() for piece in clause.split(";"))
        params = dict(p.split("=", 1) for p in raw_params if "=" in p)
        params.pop("q", None)
        media = media.lower()
        if params.get("as") == "Table" and media == "application/json":
            return "table"
        if "as" in params:
            continue
        if media in ("application/json", "*/*", "application/*"):
            return "json"
        if media == "application/yaml":
            return "yaml"
    raise ApiError(406, "NotAcceptable", _NOT_ACCEPTABLE, details={})
