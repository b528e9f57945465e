"""From a changed object to the keys of the objects to reconcile: pure functions.

The controller reconciles by key, never by event (STYLE.md, point 4). A change
to a primary object (a ServiceEntry, a WorkloadEntry, a headless Service that
may be paired) asks for that object to be planned again; a change to a
secondary object (an EndpointSlice, a Service, a Namespace) asks for every
primary that reads it. This is controller-runtime's map function: the answer
depends only on the old and new state of the changed object and on the
cache's indexes (:class:`Links`), so it is tested with tables and no cluster.

Both the old and the new state count: a pod that left a slice, a Service a
slice no longer belongs to, a paired Service whose source annotation was
removed, a headless Service that stopped asking for a name another one wants,
all still name someone who must be told. Mapping too widely costs
one reconcile that plans nothing; mapping too narrowly leaves drift until the
next resync.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import compress, count
from operator import attrgetter, ne
from typing import Protocol, TypeVar

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
from reconciler.planning.references import SOURCE_ANNOTATION, parse_name_ref
from reconciler.runtime.stores import PartIndex

SERVICE_NAME_LABEL = "kubernetes.io/service-name"

T = TypeVar("T")


class Links(Protocol):
    """The cache's answers the mapping needs: who refers to what."""

    def service_entries_of_service(
        self, namespace: str, service: str
    ) -> Iterable[NamespacedName]: ...

    def workload_entries_of_pod(self, namespace: str, pod: str) -> Iterable[NamespacedName]: ...

    def service_entries_with_address(self, address: str) -> Iterable[NamespacedName]: ...

    def paired_names_of(self, service: Service) -> Iterable[str]: ...

    def services_asking_for(self, namespace: str, name: str) -> Iterable[NamespacedName]: ...

    def slices_of(self, namespace: str, service: str) -> Sequence[EndpointSlice]: ...

    def service_names_in(self, namespace: str) -> Iterable[str]: ...

    def service_entry_names_in(self, namespace: str) -> Iterable[str]: ...

    def workload_entry_names_in(self, namespace: str) -> Iterable[str]: ...


def endpoint_pod(endpoint: Endpoint) -> str | None:
    """The pod an endpoint stands for: its targetRef name, else its hostname (SPEC 3)."""
    target = endpoint.target_ref.name if endpoint.target_ref is not None else None
    return target or endpoint.hostname or None


def slice_pods(endpoint_slice: EndpointSlice) -> Iterator[str]:
    """The pod of every endpoint of the slice, in order (a pod may appear twice)."""
    for endpoint in endpoint_slice.endpoints or ():
        pod = endpoint_pod(endpoint)
        if pod is not None:
            yield pod


def slice_endpoints(endpoint_slice: EndpointSlice) -> Sequence[Endpoint]:
    return endpoint_slice.endpoints or ()


SLICE_ADDRESSES: PartIndex[EndpointSlice] = PartIndex(
    slice_endpoints, attrgetter("addresses"), cluster_wide=True
)
"""Where a slice's addresses are found: cluster-wide, since an IP is unique in the cluster."""


def slice_service(endpoint_slice: EndpointSlice) -> str | None:
    """The Service the slice belongs to (label ``kubernetes.io/service-name``)."""
    return endpoint_slice.metadata.labels.get(SERVICE_NAME_LABEL) or None


# -- one function per kind ---------------------------------------------------------------------


def keys_for_endpoint_slice(
    old: EndpointSlice | None, new: EndpointSlice | None, *, links: Links
) -> set[ObjectKey]:
    """The ServiceEntries of the slice's Service(s), and the WorkloadEntries of changed pods.

    A WorkloadEntry follows one pod, so only pods whose endpoints differ
    between the two states are mapped, unless the slice as a whole changed
    meaning (its Service, its address type, its labels), which maps them all.
    A changed pod's addresses also map to every ServiceEntry still listing
    them: when another workload's pod takes a recycled IP, the entries that
    list it for a pod now gone must look again at once.
    """
    keys: set[ObjectKey] = set()
    for state in (old, new):
        service = None if state is None else slice_service(state)
        if state is not None and service is not None:
            keys.update(_service_entries_of(state.metadata.namespace, service, links))
    namespace = _metadata(old, new).namespace
    for pod in _changed_pods(old, new):
        keys.update(_workload_entries_of(namespace, pod, links))
    for address in _arrived_addresses(old, new):
        keys.update(_service_entries_listing(address, links))
    return keys


def keys_for_service(old: Service | None, new: Service | None, *, links: Links) -> set[ObjectKey]:
    """The Service, the entries that follow it, and the Services whose pairing it touches.

    Pairing: the Service a paired Service came from (annotation ``.../source``),
    the Services that may ask for a paired Service of this one's name (a
    foreign Service taking or leaving that name), and the other Services that
    may ask for a name this one asks or asked for (a conflict starting or ending).
    """
    metadata = _metadata(old, new)
    namespace, name = metadata.namespace, metadata.name
    keys = {ObjectKey(Kind.SERVICE, namespace, name)}
    keys.update(_service_entries_of(namespace, name, links))
    for endpoint_slice in links.slices_of(namespace, name):
        for pod in slice_pods(endpoint_slice):
            keys.update(_workload_entries_of(namespace, pod, links))
    keys.update(_services_asking_for(namespace, name, links))
    for state in (old, new):
        if state is None:
            continue
        source = _paired_source(state)
        if source is not None:
            keys.add(source)
        for paired in links.paired_names_of(state):
            keys.update(_services_asking_for(namespace, paired, links))
    return keys


def keys_for_service_entry(old: ServiceEntry | None, new: ServiceEntry | None) -> set[ObjectKey]:
    metadata = _metadata(old, new)
    return {ObjectKey(Kind.SERVICE_ENTRY, metadata.namespace, metadata.name)}


def keys_for_workload_entry(old: WorkloadEntry | None, new: WorkloadEntry | None) -> set[ObjectKey]:
    metadata = _metadata(old, new)
    return {ObjectKey(Kind.WORKLOAD_ENTRY, metadata.namespace, metadata.name)}


def keys_for_namespace(
    old: Namespace | None, new: Namespace | None, *, links: Links
) -> set[ObjectKey]:
    """Everything in the namespace when its labels or annotations (its opt-in) change."""
    if _opt_in_state(old) == _opt_in_state(new):
        return set()
    namespace = _metadata(old, new).name
    members = (
        (Kind.SERVICE_ENTRY, links.service_entry_names_in(namespace)),
        (Kind.WORKLOAD_ENTRY, links.workload_entry_names_in(namespace)),
        (Kind.SERVICE, links.service_names_in(namespace)),
    )
    return {ObjectKey(kind, namespace, name) for kind, names in members for name in names}


def keys_for_change(
    kind: Kind, old: object | None, new: object | None, *, links: Links
) -> set[ObjectKey]:
    """Dispatch on the kind of the changed object."""
    match kind:
        case Kind.ENDPOINT_SLICE:
            return keys_for_endpoint_slice(
                _narrow(EndpointSlice, old), _narrow(EndpointSlice, new), links=links
            )
        case Kind.SERVICE:
            return keys_for_service(_narrow(Service, old), _narrow(Service, new), links=links)
        case Kind.SERVICE_ENTRY:
            return keys_for_service_entry(_narrow(ServiceEntry, old), _narrow(ServiceEntry, new))
        case Kind.WORKLOAD_ENTRY:
            return keys_for_workload_entry(_narrow(WorkloadEntry, old), _narrow(WorkloadEntry, new))
        case Kind.NAMESPACE:
            return keys_for_namespace(_narrow(Namespace, old), _narrow(Namespace, new), links=links)


# -- helpers -----------------------------------------------------------------------------------


def _narrow(expected: type[T], obj: object | None) -> T | None:
    if obj is None or isinstance(obj, expected):
        return obj
    raise TypeError(f"expected {expected.__name__}, got {type(obj).__name__}")


def _metadata(old: object | None, new: object | None) -> ObjectMeta:
    state = new if new is not None else old
    metadata = getattr(state, "metadata", None)
    if not isinstance(metadata, ObjectMeta):
        raise ValueError("a change needs an old or a new state")
    return metadata


def _service_entries_of(namespace: str, service: str, links: Links) -> Iterator[ObjectKey]:
    for key in links.service_entries_of_service(namespace, service):
        yield ObjectKey(Kind.SERVICE_ENTRY, key.namespace, key.name)


def _service_entries_listing(address: str, links: Links) -> Iterator[ObjectKey]:
    for key in links.service_entries_with_address(address):
        yield ObjectKey(Kind.SERVICE_ENTRY, key.namespace, key.name)


def _workload_entries_of(namespace: str, pod: str, links: Links) -> Iterator[ObjectKey]:
    for key in links.workload_entries_of_pod(namespace, pod):
        yield ObjectKey(Kind.WORKLOAD_ENTRY, key.namespace, key.name)


def _services_asking_for(namespace: str, name: str, links: Links) -> Iterator[ObjectKey]:
    for key in links.services_asking_for(namespace, name):
        yield ObjectKey(Kind.SERVICE, key.namespace, key.name)


def _endpoints_by_pod(endpoint_slice: EndpointSlice | None) -> dict[str, list[Endpoint]]:
    by_pod: dict[str, list[Endpoint]] = {}
    for endpoint in () if endpoint_slice is None else endpoint_slice.endpoints or ():
        pod = endpoint_pod(endpoint)
        if pod is not None:
            by_pod.setdefault(pod, []).append(endpoint)
    return by_pod


def _arrived_addresses(old: EndpointSlice | None, new: EndpointSlice | None) -> set[str]:
    """Addresses the new state lists that the old one did not (compared in place if it can)."""
    if new is None:
        return set()
    if old is not None:
        changed = SLICE_ADDRESSES.changed_values(old, new)
        if changed is not None:
            return changed[1]
    return set(SLICE_ADDRESSES.values_in(new)) - set(
        () if old is None else SLICE_ADDRESSES.values_in(old)
    )


def _changed_pods(old: EndpointSlice | None, new: EndpointSlice | None) -> set[str]:
    same_meaning = (
        old is not None
        and new is not None
        and old.address_type == new.address_type
        and old.metadata.labels == new.metadata.labels
    )
    if same_meaning and old is not None and new is not None:
        in_place = _changed_pods_in_place(old, new)
        if in_place is not None:
            return in_place
    before, after = _endpoints_by_pod(old), _endpoints_by_pod(new)
    pods = before.keys() | after.keys()
    if not same_meaning:
        return pods
    return {pod for pod in pods if before.get(pod) != after.get(pod)}


def _changed_pods_in_place(old: EndpointSlice, new: EndpointSlice) -> set[str] | None:
    """The pods of the endpoints that differ position by position, when nothing moved.

    The common update (the controller rewrites one endpoint of a hundred in place)
    costs one comparison per endpoint instead of grouping both slices by pod. Any
    pod whose endpoints changed differs at some position, so the answer can only
    name more pods than changed, never fewer. None when the lengths differ.
    """
    before, after = old.endpoints or (), new.endpoints or ()
    if len(before) != len(after):
        return None
    changed: set[str] = set()
    for position in compress(count(), map(ne, before, after)):
        for endpoint in (before[position], after[position]):
            pod = endpoint_pod(endpoint)
            if pod is not None:
                changed.add(pod)
    return changed


def _paired_source(service: Service) -> ObjectKey | None:
    """The headless Service a paired Service was made from (annotation ``.../source``)."""
    value = service.metadata.annotations.get(SOURCE_ANNOTATION)
    ref = None if value is None else parse_name_ref(value, own_namespace=service.metadata.namespace)
    return None if ref is None else ObjectKey(Kind.SERVICE, ref.namespace, ref.name)


def _opt_in_state(namespace: Namespace | None) -> tuple[dict[str, str], dict[str, str]]:
    if namespace is None:
        return {}, {}
    return namespace.metadata.labels, namespace.metadata.annotations
