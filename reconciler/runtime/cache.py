"""The controller's picture of the cluster: five stores, their indexes, and readiness.

The planner reads it through :class:`~reconciler.planning.view.ClusterView`;
the mapping functions read its indexes to turn a changed object into the keys
to reconcile (:class:`~reconciler.runtime.mapping.Links`). Both views answer
from memory, never from the API.

The indexes follow the references an object makes, as
:mod:`reconciler.planning.references` reads them, so the runtime and the
planner agree on what points where:

- EndpointSlices by Service (label ``kubernetes.io/service-name``), by pod
  (each endpoint's identity: ``targetRef`` name, else ``hostname``) and by
  address, across namespaces;
- ServiceEntries by the Services they name, by annotation or by ``hosts``, and
  by the addresses they list (so a pod taking a recycled IP re-plans the
  entries that still list it);
- WorkloadEntries by the pod they name;
- Services by the paired Service names they may ask for (the annotation
  ``headless-reconciler.io/grpc-service``, or the name template for a headless
  Service, which a namespace-wide opt-in would pair), so a Service appearing
  or leaving under such a name re-plans those that want it.

A reference is indexed whatever its namespace and whether or not the object
is opted in: the index only says who might care about a change, and the
planner decides, so a refused or ignored object is still re-planned (and
reported) when what it names changes.

``synced`` is set once every store has had its first complete list: until
then an absent object may simply not have arrived yet, and planning would
remove endpoints that exist.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from reconciler.models.projections import (
    Endpoint,
    EndpointSlice,
    Namespace,
    ObjectMeta,
    Service,
    ServiceEntry,
    WorkloadEntry,
)
from reconciler.models.refs import Kind, NamespacedName, ObjectKey
from reconciler.planning.pairing import candidate_names
from reconciler.planning.references import (
    MANAGED_NAMESPACE_LABEL,
    MANAGED_NAMESPACE_VALUE,
    POD_ANNOTATION,
    SERVICE_ANNOTATION,
    hosts_service_refs,
    parse_name_ref,
)
from reconciler.planning.settings import DEFAULT_PAIRED_NAME_TEMPLATE
from reconciler.runtime.mapping import SLICE_ADDRESSES, endpoint_pod, slice_endpoints, slice_service
from reconciler.runtime.reflector import Reflector
from reconciler.runtime.stores import Change, PartIndex, Store
from reconciler.watching import WatchEvent

DEFAULT_CLUSTER_DOMAIN = "cluster.local"

BY_SERVICE = "service"
BY_POD = "pod"
BY_PAIRED_NAME = "paired-name"
BY_ADDRESS = "address"


def _slice_service(endpoint_slice: EndpointSlice) -> Iterable[tuple[str, str]]:
    service = slice_service(endpoint_slice)
    return ((endpoint_slice.metadata.namespace, service),) if service else ()


def _endpoint_pods(endpoint: Endpoint) -> Iterable[str]:
    pod = endpoint_pod(endpoint)
    return () if pod is None else (pod,)


_SLICE_PODS: PartIndex[EndpointSlice] = PartIndex(slice_endpoints, _endpoint_pods)


def _entry_addresses(entry: ServiceEntry) -> Iterable[tuple[str, str]]:
    return [("", e.address) for e in entry.spec.endpoints or () if e.address]


def _annotated_ref(metadata: ObjectMeta, annotation: str) -> Iterable[tuple[str, str]]:
    value = metadata.annotations.get(annotation)
    ref = None if value is None else parse_name_ref(value, own_namespace=metadata.namespace)
    return () if ref is None else ((ref.namespace, ref.name),)


def _workload_entry_pod(entry: WorkloadEntry) -> Iterable[tuple[str, str]]:
    return _annotated_ref(entry.metadata, POD_ANNOTATION)


class ClusterCache:
    """The five stores, their indexes and readiness; implements ``ClusterView`` and ``Links``."""

    def __init__(
        self,
        *,
        cluster_domain: str = DEFAULT_CLUSTER_DOMAIN,
        paired_name_template: str = DEFAULT_PAIRED_NAME_TEMPLATE,
    ) -> None:
        self.cluster_domain = cluster_domain
        self.paired_name_template = paired_name_template
        self.namespaces: Store[Namespace] = Store()
        self.services: Store[Service] = Store(indexes={BY_PAIRED_NAME: self._paired_names})
        self.endpoint_slices: Store[EndpointSlice] = Store(
            indexes={BY_SERVICE: _slice_service, BY_POD: _SLICE_PODS, BY_ADDRESS: SLICE_ADDRESSES}
        )
        self.service_entries: Store[ServiceEntry] = Store(
            indexes={BY_SERVICE: self._service_entry_services, BY_ADDRESS: _entry_addresses}
        )
        self.workload_entries: Store[WorkloadEntry] = Store(indexes={BY_POD: _workload_entry_pod})
        self._reflectors: dict[Kind, Reflector[Any]] = {
            Kind.NAMESPACE: Reflector(self.namespaces),
            Kind.SERVICE: Reflector(self.services),
            Kind.ENDPOINT_SLICE: Reflector(self.endpoint_slices),
            Kind.SERVICE_ENTRY: Reflector(self.service_entries),
            Kind.WORKLOAD_ENTRY: Reflector(self.workload_entries),
        }
        self.synced = asyncio.Event()
        """Set once every kind has been listed completely; never cleared."""

    def apply(self, kind: Kind, event: WatchEvent[Any]) -> list[Change[Any]]:
        """Apply one watch event to that kind's store; return what changed.

        Sets ``synced`` when this completes the first list of the last kind.
        """
        reflector = self._reflectors[kind]
        changes = reflector.apply(event)
        if not self.synced.is_set() and all(r.synced for r in self._reflectors.values()):
            self.synced.set()
        return changes

    def primary_keys(self) -> Iterator[ObjectKey]:
        """Every object the controller may write: the queue's resync set."""
        for key in self.service_entries.all_keys():
            yield ObjectKey(Kind.SERVICE_ENTRY, *key)
        for key in self.workload_entries.all_keys():
            yield ObjectKey(Kind.WORKLOAD_ENTRY, *key)
        for key in self.services.all_keys():
            yield ObjectKey(Kind.SERVICE, *key)

    def _paired_names(self, service: Service) -> Iterable[tuple[str, str]]:
        namespace = service.metadata.namespace
        return ((namespace, name) for name in self.paired_names_of(service))

    def _service_entry_services(self, entry: ServiceEntry) -> Iterable[tuple[str, str]]:
        named = dict.fromkeys(_annotated_ref(entry.metadata, SERVICE_ANNOTATION))
        for ref in hosts_service_refs(
            entry.spec.hosts, namespace=entry.metadata.namespace, cluster_domain=self.cluster_domain
        ):
            named[(ref.namespace, ref.service)] = None
        return named

    # -- ClusterView -------------------------------------------------------------------------------

    def namespace(self, name: str) -> Namespace | None:
        return self.namespaces.get("", name)

    def service(self, namespace: str, name: str) -> Service | None:
        return self.services.get(namespace, name)

    def services_in(self, namespace: str) -> Sequence[Service]:
        return self.services.in_namespace(namespace)

    def slices_of(self, namespace: str, service: str) -> Sequence[EndpointSlice]:
        return self.endpoint_slices.indexed(BY_SERVICE, namespace, service)

    def slices_with_pod(self, namespace: str, pod: str) -> Sequence[EndpointSlice]:
        return self.endpoint_slices.indexed(BY_POD, namespace, pod)

    def slices_with_address(self, address: str) -> Sequence[EndpointSlice]:
        return self.endpoint_slices.indexed(BY_ADDRESS, "", address)

    def service_entry(self, namespace: str, name: str) -> ServiceEntry | None:
        return self.service_entries.get(namespace, name)

    def workload_entry(self, namespace: str, name: str) -> WorkloadEntry | None:
        return self.workload_entries.get(namespace, name)

    def uid_of(self, key: ObjectKey) -> str:
        """The cached object's uid (Events need it to show up in ``kubectl describe``)."""
        stores: dict[Kind, Store[Any]] = {
            Kind.SERVICE: self.services,
            Kind.SERVICE_ENTRY: self.service_entries,
            Kind.WORKLOAD_ENTRY: self.workload_entries,
        }
        store = stores.get(key.kind)
        found = store.get(key.namespace, key.name) if store is not None else None
        return found.metadata.uid if found is not None else ""

    # -- Links -------------------------------------------------------------------------------------

    def service_entries_of_service(self, namespace: str, service: str) -> Sequence[NamespacedName]:
        """ServiceEntries (of any namespace) that name the Service by annotation or host."""
        return self.service_entries.indexed_keys(BY_SERVICE, namespace, service)

    def service_entries_with_address(self, address: str) -> Sequence[NamespacedName]:
        return self.service_entries.indexed_keys(BY_ADDRESS, "", address)

    def workload_entries_of_pod(self, namespace: str, pod: str) -> Sequence[NamespacedName]:
        """WorkloadEntries (of any namespace) whose pod annotation names the pod."""
        return self.workload_entries.indexed_keys(BY_POD, namespace, pod)

    def paired_names_of(self, service: Service) -> Sequence[str]:
        """The paired Service names the Service may ask for (see the planner's pairing)."""
        return candidate_names(service, template=self.paired_name_template)

    def services_asking_for(self, namespace: str, name: str) -> Sequence[NamespacedName]:
        """Services of the namespace that may ask for a paired Service of this name."""
        return self.services.indexed_keys(BY_PAIRED_NAME, namespace, name)

    def service_names_in(self, namespace: str) -> Sequence[str]:
        return self.services.names_in(namespace)

    def service_entry_names_in(self, namespace: str) -> Sequence[str]:
        return self.service_entries.names_in(namespace)

    def workload_entry_names_in(self, namespace: str) -> Sequence[str]:
        return self.workload_entries.names_in(namespace)

    # -- namespace state ---------------------------------------------------------------------------

    def namespace_managed(self, name: str) -> bool:
        """Whether the namespace opted in as a whole (label ``headless-reconciler.io/managed``)."""
        namespace = self.namespace(name)
        labels = namespace.metadata.labels if namespace is not None else {}
        return labels.get(MANAGED_NAMESPACE_LABEL) == MANAGED_NAMESPACE_VALUE
