"""The mass-removal guard: a ServiceEntry is never emptied by a blip (SPEC section 4).

A relist, a Service recreated, an EndpointSlice deleted and re-created: for a
moment the caches can show a Service with few or no pods. Writing that would
black-hole the mesh's traffic. So a change that removes more than half of an
entry's endpoints, or all of them, while adding none, is held until the same
condition has lasted ``removal_grace`` seconds; only then is it written.

The planner keeps no state: the caller remembers each held key's
:class:`Hold` (when it was first held, and which addresses the held change
removes; :func:`hold_of`) and passes it back, and forgets it as soon as a plan
for that key is anything but HELD, so a condition that clears and comes back
waits the full grace again. A hold that gets worse (it would now remove an
address it did not before: a scale-down followed by the last pod's slice
going missing) waits the full grace again too: an entry is only ever emptied
by a condition that has lasted the grace itself, never by one that started
later under an older hold's clock (the fault campaign's seeds 61 and 67).

A held change is held whole: pods whose address changed meanwhile wait too,
which is the price of never writing a list that may be missing half its pods.

With one exception, decided by the planner with
:mod:`~reconciler.planning.recycled`: an address another pod now holds is
never held.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from reconciler.planning.plans import Action, DriftReason, EndpointChange, NoWrite, Verdict


@dataclass(frozen=True, slots=True)
class Hold:
    """A held removal: since when, and which addresses it removes."""

    since: float
    removing: frozenset[str]


def removing(changes: Iterable[EndpointChange]) -> frozenset[str]:
    """The addresses a change removes."""
    return frozenset(
        change.before
        for change in changes
        if change.reason is DriftReason.EXTRA and change.before is not None
    )


def hold_of(action: Action) -> Hold | None:
    """What the caller remembers of a HELD plan; None for any other action."""
    if isinstance(action, NoWrite) and action.verdict is Verdict.HELD and action.since is not None:
        return Hold(action.since, removing(action.changes))
    return None


def is_mass_removal(changes: Iterable[EndpointChange], *, before_count: int) -> bool:
    """Removes more than half of ``before_count`` endpoints, or all, and adds none."""
    reasons = [change.reason for change in changes]
    removed = reasons.count(DriftReason.EXTRA)
    if removed == 0 or DriftReason.MISSING in reasons:
        return False
    return removed == before_count or 2 * removed > before_count


def held_since(
    *, prior: Hold | None, removes: frozenset[str], now: float, grace: float
) -> float | None:
    """When the hold of a change removing ``removes`` started, while it lasts; None once over.

    ``prior`` is the hold the caller remembers: its clock runs on while the
    change removes nothing it did not remove then; otherwise the hold starts now.
    """
    start = prior.since if prior is not None and removes <= prior.removing else now
    return start if now - start < grace else None
