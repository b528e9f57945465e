"""One consistent look at the scope: every kind the planner reads, listed once into a cache.

``diff`` and ``audit`` must see exactly what the controller would see, so they
fill the controller's own :class:`~reconciler.runtime.cache.ClusterCache`
through the same paginated :func:`~reconciler.watching.list_all` and the same
``Relisted`` events its watchers produce; only the watching is left out.

Scope: with namespaces given, namespaced kinds are listed per namespace and
each Namespace is read by name (a user allowed into a few namespaces may not
list them all); otherwise everything is listed cluster-wide. The label
selector narrows the ServiceEntries and WorkloadEntries listed. Services and
EndpointSlices are always listed whole, or pods would look missing that are
not; the selector then narrows the Services planned (:func:`planned_keys`),
matched against their labels here.

A failed list becomes :class:`ListFailed`, which names the resource, so the
command can say which request the cluster refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from reconciler.api.client import KubeClient
from reconciler.api.errors import ApiError, NotFoundError
from reconciler.api.resources import BY_KIND, NAMESPACES, Resource
from reconciler.models.refs import Kind, ObjectKey
from reconciler.reporting.progress import Progress
from reconciler.reporting.scope import Scope
from reconciler.reporting.selectors import parse_label_selector
from reconciler.runtime.cache import ClusterCache
from reconciler.watching import Relisted, list_all

SELECTED_KINDS = frozenset({Kind.SERVICE_ENTRY, Kind.WORKLOAD_ENTRY})
"""The kinds ``--selector`` narrows."""


class ListFailed(Exception):
    """Listing one resource failed; ``error`` is what the API (or the network) said."""

    def __init__(self, resource: Resource[Any], error: ApiError) -> None:
        super().__init__(f"listing {qualified_name(resource)} failed: {error}")
        self.resource = resource
        self.error = error


def qualified_name(resource: Resource[Any]) -> str:
    """``serviceentries.networking.istio.io``, as RBAC rules and kubectl name it."""
    return f"{resource.plural}.{resource.group}" if resource.group else resource.plural


async def take_snapshot(
    client: KubeClient,
    *,
    scope: Scope,
    cluster_domain: str,
    paired_name_template: str,
    progress: Progress | None = None,
) -> ClusterCache:
    """A cache holding everything in ``scope``, as of now; ``synced`` is set."""
    cache = ClusterCache(cluster_domain=cluster_domain, paired_name_template=paired_name_template)
    for kind, resource in BY_KIND.items():
        try:
            objects, resource_version = await _list(client, kind, resource, scope=scope)
        except ApiError as error:
            raise ListFailed(resource, error) from error
        cache.apply(kind, Relisted(objects, resource_version))
        if progress is not None:
            progress.listed(resource.plural, len(objects))
    return cache


def planned_keys(cache: ClusterCache, *, selector: str | None) -> Iterator[ObjectKey]:
    """What ``diff`` plans: every entry listed, and the Services the selector matches."""
    matches = parse_label_selector(selector).matches if selector else None
    for key in cache.primary_keys():
        if key.kind is not Kind.SERVICE or matches is None:
            yield key
            continue
        service = cache.service(key.namespace, key.name)
        if service is not None and matches(service.metadata.labels):
            yield key


async def _list(
    client: KubeClient, kind: Kind, resource: Resource[Any], *, scope: Scope
) -> tuple[list[Any], str]:
    if resource is NAMESPACES and scope.namespaces:
        return await _namespaces(client, scope.namespaces), ""
    selector = scope.selector if kind in SELECTED_KINDS else None
    if not scope.namespaces:
        listing = await list_all(client, resource, label_selector=selector)
        return listing.items, listing.resource_version
    objects: list[Any] = []
    resource_version = ""
    for namespace in scope.namespaces:
        listing = await list_all(client, resource, namespace=namespace, label_selector=selector)
        objects.extend(listing.items)
        resource_version = listing.resource_version
    return objects, resource_version


async def _namespaces(client: KubeClient, names: tuple[str, ...]) -> list[Any]:
    found = []
    for name in names:
        try:
            found.append(await client.get(NAMESPACES, None, name))
        except NotFoundError:
            continue
    return found
