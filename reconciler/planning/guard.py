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
"""

from __future__ import annotations

from collections.abc import Iterable

from reconciler.planning.plans import DriftReason, EndpointChange


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
