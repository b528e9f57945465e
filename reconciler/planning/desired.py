"""Desired state: the one ready address of each pod, read from EndpointSlices (SPEC section 3).

A Service's endpoints are spread over several slices, a pod can briefly be
listed twice while it is replaced, and the slices arrive in no particular
order, so the answer is computed as a set and then put in a fixed order: the
same slices, however listed, always give the same addresses.

Identity is the pod name: the ``targetRef`` name (a recreated pod keeps it,
with a new uid and IP), else the ``hostname``. The name is all an Istio
endpoint can carry (the ``statefulset.kubernetes.io/pod-name`` label), so two
incarnations of one pod listed ready at once (a slice lagging behind a
replacement) are one identity, resolved to the lowest address until the
slices agree again. Endpoints with neither a pod ``targetRef`` nor a hostname
cannot be named and are skipped.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Final

from reconciler.models.projections import Endpoint, EndpointSlice, Service
from reconciler.planning.ordering import natural_key

IPV4: Final = "IPv4"
IPV6: Final = "IPv6"
FQDN: Final = "FQDN"
MULTICLUSTER_SERVICE_LABEL: Final = "multicluster.kubernetes.io/service-name"
SERVICE_NAME_LABEL: Final = "kubernetes.io/service-name"


@dataclass(frozen=True, slots=True)
class PodAddress:
    """A wanted pod, the address chosen for it, and the named ports its slices publish."""

    pod: str
    address: str
    ports: Mapping[str, int]


def parse_ip_family(value: str) -> str | None:
    """``IPv4`` or ``IPv6`` in any case; None for anything else."""
    return {"ipv4": IPV4, "ipv6": IPV6}.get(value.strip().lower())


def default_family(services: Iterable[Service]) -> str:
    """IPv4, unless every known Service is single-stack without IPv4 (then its family).

    Read from the Services' ``ipFamilies``, never from which slices happen to
    exist: a dual-stack Service whose IPv4 slice is briefly missing must not
    flip its entries to IPv6.
    """
    families = [service.spec.ip_families for service in services if service.spec.ip_families]
    if families and all(IPV4 not in family for family in families):
        return families[0][0]
    return IPV4


def endpoint_pod(endpoint: Endpoint) -> str | None:
    """The pod an endpoint belongs to: a Pod ``targetRef``'s name, else the hostname."""
    target = endpoint.target_ref
    if target is not None and target.name and target.kind in ("Pod", ""):
        return target.name
    return endpoint.hostname or None


def is_wanted(endpoint: Endpoint) -> bool:
    """Ready (or readiness not reported) and not terminating."""
    conditions = endpoint.conditions
    return conditions.ready is not False and conditions.terminating is not True


def usable_slices(slices: Iterable[EndpointSlice]) -> Iterator[EndpointSlice]:
    """Slices that describe this cluster's pods by IP: no multicluster imports, no FQDN slices."""
    for endpoint_slice in slices:
        if endpoint_slice.address_type == FQDN:
            continue
        if MULTICLUSTER_SERVICE_LABEL in endpoint_slice.metadata.labels:
            continue
        yield endpoint_slice


def ready_addresses(slices: Iterable[EndpointSlice], *, family: str) -> dict[str, PodAddress]:
    """Each wanted pod's address of ``family``, de-duplicated by address, in natural pod order.

    An address claimed by two pods (an IP recycled while a slice lags) goes to
    the first pod in natural order; the other keeps another address if it has one.
    """
    candidates = _candidates(slices, family=family)
    taken: set[str] = set()
    chosen: dict[str, PodAddress] = {}
    for pod in sorted(candidates, key=natural_key):
        for address in sorted(candidates[pod]):
            if address not in taken:
                taken.add(address)
                chosen[pod] = PodAddress(pod=pod, address=address, ports=candidates[pod][address])
                break
    return chosen


def pods_by_address(slices: Iterable[EndpointSlice]) -> dict[str, str]:
    """Every listed address (any readiness, any family) and the pod it belongs to.

    Used to name the pod of an endpoint that is removed, so a report says
    ``web-1 not ready`` rather than just an address.
    """
    owners: dict[str, str] = {}
    for endpoint_slice in usable_slices(slices):
        for endpoint in endpoint_slice.endpoints or ():
            pod = endpoint_pod(endpoint)
            if pod is None:
                continue
            for address in endpoint.addresses:
                known = owners.get(address)
                if known is None or natural_key(pod) < natural_key(known):
                    owners[address] = pod
    return owners


def _candidates(
    slices: Iterable[EndpointSlice], *, family: str
) -> dict[str, dict[str, dict[str, int]]]:
    """pod → address → named ports, over every wanted endpoint of the family."""
    found: dict[str, dict[str, dict[str, int]]] = {}
    for endpoint_slice in usable_slices(slices):
        if endpoint_slice.address_type != family:
            continue
        slice_ports = _named_ports(endpoint_slice)
        for endpoint in endpoint_slice.endpoints or ():
            pod = endpoint_pod(endpoint)
            if pod is None or not is_wanted(endpoint):
                continue
            for address in endpoint.addresses:
                ports = found.setdefault(pod, {}).setdefault(address, {})
                for name, number in slice_ports.items():
                    ports[name] = min(number, ports.get(name, number))
    return found


def _named_ports(endpoint_slice: EndpointSlice) -> dict[str, int]:
    return {port.name: port.port for port in endpoint_slice.ports or () if port.name and port.port}
