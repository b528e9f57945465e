"""The ``Healthy`` condition of WorkloadEntries that opted into Istio's health checks.

With ``proxy.istio.io/health-checks-enabled: "true"`` istiod treats a
WorkloadEntry as unhealthy unless its ``Healthy`` condition is True. No agent
probes a pod-backed entry, so the controller keeps the condition (SPEC
section 3): True while the pod is ready at the entry's address, False
otherwise, so istiod stops sending traffic to an address that may already
belong to another pod.

The condition is rewritten only when its status flips, and only then does
``lastTransitionTime`` move: a steady entry costs no writes, and the time
says when the pod's health last changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from reconciler.models.projections import Condition, WorkloadEntry
from reconciler.planning.references import HEALTH_CHECKS_ANNOTATION

HEALTHY: Final = "Healthy"
READY_REASON: Final = "PodReady"
NOT_READY_REASON: Final = "PodNotReady"


def health_checks_enabled(annotations: Mapping[str, str]) -> bool:
    return annotations.get(HEALTH_CHECKS_ANNOTATION, "").strip().lower() == "true"


def current_health(entry: WorkloadEntry) -> Condition | None:
    conditions = entry.status.conditions if entry.status is not None else None
    return next((c for c in conditions or () if c.type == HEALTHY), None)


def health_flip(
    entry: WorkloadEntry, *, healthy: bool, message: str, now_timestamp: str
) -> Condition | None:
    """The new ``Healthy`` condition when its status must change, else None."""
    status = "True" if healthy else "False"
    current = current_health(entry)
    if current is not None and current.status == status:
        return None
    return Condition(
        type=HEALTHY,
        status=status,
        reason=READY_REASON if healthy else NOT_READY_REASON,
        message=message,
        last_transition_time=now_timestamp,
    )


def with_health(entry: WorkloadEntry, condition: Condition) -> tuple[Condition, ...]:
    """The entry's conditions with ``Healthy`` replaced in place (or appended), others untouched."""
    conditions = (entry.status.conditions if entry.status is not None else None) or ()
    others = [c for c in conditions if c.type != HEALTHY]
    first = next((i for i, c in enumerate(conditions) if c.type == HEALTHY), len(conditions))
    others.insert(first, condition)
    return tuple(others)
