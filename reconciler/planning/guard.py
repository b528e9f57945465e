"""The mass-removal guard: a ServiceEntry is never emptied by a blip (SPEC section 4).

A relist, a Service recreated, an EndpointSlice deleted and re-created: for a
moment the caches can show a Service with few or no pods. Writing that would
black-hole the mesh's traffic. So a change that removes more than half of an
entry's endpoints, or all of them, while adding none, is held until the same
condition has lasted ``removal_grace`` seconds; only then is it written.

The planner keeps no state: the caller remembers when each key was first
held (``NoWrite(HELD).since``) and passes it back, and forgets it as soon as
a plan for that key is anything but HELD, so a condition that clears and
comes back waits the full grace again. A held change is held whole: pods whose
address changed meanwhile wait too, which is the price of never writing a
list that may be missing half its pods.

With one exception: an address that another pod now holds (a recycled IP,
listed in some EndpointSlice under a different pod) is never held. Keeping it
would send this Service's traffic to a stranger for the whole grace, which is
the danger the controller exists to prevent. Such an endpoint is certainly
gone, so it does not count in the guard's arithmetic: if what remains is still
a mass removal, the recycled addresses are removed at once and the rest stays
held; if not, the whole change is written.
"""

from __future__ import annotations

from collections.abc import Iterable

from reconciler.planning.desired import endpoint_pod
from reconciler.planning.plans import DriftReason, EndpointChange
from reconciler.planning.view import ClusterView


def is_mass_removal(changes: Iterable[EndpointChange], *, before_count: int) -> bool:
    """Removes more than half of ``before_count`` endpoints, or all, and adds none."""
    reasons = [change.reason for change in changes]
    removed = reasons.count(DriftReason.EXTRA)
    if removed == 0 or DriftReason.MISSING in reasons:
        return False
    return removed == before_count or 2 * removed > before_count


def held_since(*, since: float | None, now: float, grace: float) -> float | None:
    """When the hold started, while it lasts; None once the grace period is over.

    ``since`` is the start remembered by the caller (None: first seen now).
    """
    start = now if since is None else since
    return start if now - start < grace else None


def recycled_removals(
    changes: Iterable[EndpointChange], *, view: ClusterView, namespace: str
) -> tuple[EndpointChange, ...]:
    """The removals whose address some EndpointSlice now lists for another pod.

    ``namespace`` is the entry's Service's: the removed endpoint's pod lives there.
    """
    taken: list[EndpointChange] = []
    for change in changes:
        if change.reason is not DriftReason.EXTRA or change.before is None:
            continue
        holders = {
            (found.metadata.namespace, endpoint_pod(endpoint))
            for found in view.slices_with_address(change.before)
            for endpoint in found.endpoints or ()
            if change.before in endpoint.addresses
        }
        if holders - {(namespace, change.pod)}:
            taken.append(change)
    return tuple(taken)
