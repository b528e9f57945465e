"""The read-only view of the caches that the planner plans from.

The planner never sees a store, a client or a clock: it asks this protocol
for projections. The runtime's stores implement it for the controller; tests
implement it with plain dicts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from reconciler.models.projections import (
    EndpointSlice,
    Namespace,
    Service,
    ServiceEntry,
    WorkloadEntry,
)


class ClusterView(Protocol):
    """Cached, current state of the objects the planner reads."""

    def namespace(self, name: str) -> Namespace | None:
        """The Namespace, or None if absent (or outside the cached scope)."""

    def service(self, namespace: str, name: str) -> Service | None:
        """The Service, or None."""

    def services_in(self, namespace: str) -> Sequence[Service]:
        """Every cached Service of a namespace (for namespace-wide opt-in)."""

    def slices_of(self, namespace: str, service: str) -> Sequence[EndpointSlice]:
        """EndpointSlices labelled ``kubernetes.io/service-name=<service>`` in the namespace."""

    def slices_with_pod(self, namespace: str, pod: str) -> Sequence[EndpointSlice]:
        """EndpointSlices of the namespace with an endpoint whose targetRef names the pod."""

    def slices_with_address(self, address: str) -> Sequence[EndpointSlice]:
        """EndpointSlices of any namespace with an endpoint at ``address`` (a recycled IP shows
        up here under another pod)."""

    def service_entry(self, namespace: str, name: str) -> ServiceEntry | None:
        """The ServiceEntry, or None."""

    def workload_entry(self, namespace: str, name: str) -> WorkloadEntry | None:
        """The WorkloadEntry, or None."""
