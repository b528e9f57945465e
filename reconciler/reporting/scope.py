"""What a one-shot command looked at, so its report can say so."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Scope:
    """Namespaces listed (empty: all) and the label selector applied to what is judged."""

    namespaces: tuple[str, ...] = ()
    selector: str | None = None
    """Narrows the ServiceEntries and WorkloadEntries listed, and the Services ``diff``
    plans; Services and EndpointSlices are always listed whole, or the planner would
    see pods missing that are not."""
