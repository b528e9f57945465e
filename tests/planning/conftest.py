"""A dict-backed :class:`~reconciler.planning.view.ClusterView` for planner tests.

It answers exactly as the runtime cache promises to (slices by the
``kubernetes.io/service-name`` label, slices by each endpoint's pod identity),
so planner tests need no runtime, no client and no event loop.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pytest

from reconciler.models.projections import (
    EndpointSlice,
    Namespace,
    Service,
    ServiceEntry,
    WorkloadEntry,
)
from reconciler.planning.desired import SERVICE_NAME_LABEL, endpoint_pod
from reconciler.planning.settings import PlanningSettings

Cached = Namespace | Service | EndpointSlice | ServiceEntry | WorkloadEntry


class FakeView:
    """Every object by kind and ``(namespace, name)``; add objects, then plan."""

    def __init__(self, objects: Iterable[Cached] = ()) -> None:
        self.namespaces: dict[str, Namespace] = {}
        self.services: dict[tuple[str, str], Service] = {}
        self.slices: dict[tuple[str, str], EndpointSlice] = {}
        self.service_entries: dict[tuple[str, str], ServiceEntry] = {}
        self.workload_entries: dict[tuple[str, str], WorkloadEntry] = {}
        self.add(*objects)

    def add(self, *objects: Cached) -> FakeView:
        for obj in objects:
            key = (obj.metadata.namespace, obj.metadata.name)
            if isinstance(obj, Namespace):
                self.namespaces[obj.metadata.name] = obj
            elif isinstance(obj, Service):
                self.services[key] = obj
            elif isinstance(obj, EndpointSlice):
                self.slices[key] = obj
            elif isinstance(obj, ServiceEntry):
                self.service_entries[key] = obj
            else:
                self.workload_entries[key] = obj
        return self

    def namespace(self, name: str) -> Namespace | None:
        return self.namespaces.get(name)

    def service(self, namespace: str, name: str) -> Service | None:
        return self.services.get((namespace, name))

    def services_in(self, namespace: str) -> Sequence[Service]:
        return [s for (ns, _), s in self.services.items() if ns == namespace]

    def slices_of(self, namespace: str, service: str) -> Sequence[EndpointSlice]:
        return [
            s
            for (ns, _), s in self.slices.items()
            if ns == namespace and s.metadata.labels.get(SERVICE_NAME_LABEL) == service
        ]

    def slices_with_pod(self, namespace: str, pod: str) -> Sequence[EndpointSlice]:
        return [
            s
            for (ns, _), s in self.slices.items()
            if ns == namespace and any(endpoint_pod(e) == pod for e in s.endpoints or ())
        ]

    def slices_with_address(self, address: str) -> Sequence[EndpointSlice]:
        return [
            s
            for s in self.slices.values()
            if any(address in e.addresses for e in s.endpoints or ())
        ]

    def service_entry(self, namespace: str, name: str) -> ServiceEntry | None:
        return self.service_entries.get((namespace, name))

    def workload_entry(self, namespace: str, name: str) -> WorkloadEntry | None:
        return self.workload_entries.get((namespace, name))


@pytest.fixture
def settings() -> PlanningSettings:
    return PlanningSettings()
