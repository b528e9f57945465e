"""Addresses another pod holds: a recycled IP never stays in, or lands in, an entry.

When a pod goes, its IP returns to the pool and may be handed to a pod of
another workload at once. Every entry still listing that IP then sends its
traffic to a stranger, the danger this controller exists to remove (SPEC
section 1). The EndpointSlices show it: some slice lists the address under a
different pod. Two rules follow, both read from the cached slices of every
namespace (indexed by address):

- the mass-removal guard never holds the removal of such an address: it is
  certainly gone, so it does not count in the guard's arithmetic either (if
  what remains is still a mass removal, the recycled addresses go at once and
  the rest stays held; if not, the whole change is written);
- an address two pods claim (a slice lagging behind a deleted pod while its IP
  is reused) is wanted for neither until the slices agree; within one
  Service's slices :func:`~reconciler.planning.desired.ready_addresses`
  already gives it to one pod, so only other slices are asked, which keeps the
  common case to one index lookup per address.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from reconciler.models.projections import EndpointSlice
from reconciler.planning.desired import PodAddress, endpoint_pod
from reconciler.planning.plans import DriftReason, EndpointChange
from reconciler.planning.view import ClusterView


def holders(address: str, *, view: ClusterView) -> set[tuple[str, str | None]]:
    """(namespace, pod) of every endpoint any slice lists at ``address``."""
    return {
        (found.metadata.namespace, endpoint_pod(endpoint))
        for found in view.slices_with_address(address)
        for endpoint in found.endpoints or ()
        if address in endpoint.addresses
    }


def recycled_removals(
    changes: Iterable[EndpointChange], *, view: ClusterView, namespace: str
) -> tuple[EndpointChange, ...]:
    """The removals whose address some EndpointSlice now lists for another pod.

    ``namespace`` is the entry's Service's: the removed endpoint's pod lives there.
    """
    return tuple(
        change
        for change in changes
        if change.reason is DriftReason.EXTRA
        and change.before is not None
        and holders(change.before, view=view) - {(namespace, change.pod)}
    )


def claimed_elsewhere(
    address: str,
    *,
    pod: str,
    namespace: str,
    own: Sequence[EndpointSlice],
    view: ClusterView,
) -> bool:
    """Whether a slice other than ``own`` lists ``address`` for a pod other than ``pod``."""
    others = [s for s in view.slices_with_address(address) if not any(s is o for o in own)]
    return any(
        address in endpoint.addresses
        and (found.metadata.namespace, endpoint_pod(endpoint)) != (namespace, pod)
        for found in others
        for endpoint in found.endpoints or ()
    )


def uncontested(
    wanted: Mapping[str, PodAddress],
    *,
    namespace: str,
    own: Sequence[EndpointSlice],
    view: ClusterView,
) -> dict[str, PodAddress]:
    """``wanted`` without the pods whose address another pod also claims."""
    return {
        pod: want
        for pod, want in wanted.items()
        if not claimed_elsewhere(want.address, pod=pod, namespace=namespace, own=own, view=view)
    }
