"""Short human sentences for plan actions, for Events and logs.

Event messages are read in ``kubectl describe``, one line each, so they name
the pods and addresses that changed and why (or the paired Service and the
fields that changed), and stay short.
"""

from __future__ import annotations

from collections.abc import Iterable

from reconciler.planning.plans import (
    CreatePairedService,
    DeletePairedService,
    DriftReason,
    EndpointChange,
    PairedServiceAction,
    SetWorkloadEntryHealth,
    WriteAction,
)

_LIMIT = 8


def describe_change(change: EndpointChange) -> str:
    pod = change.pod or "unknown pod"
    if change.reason is DriftReason.STALE:
        return f"{pod}: {change.before} -> {change.after}"
    if change.reason is DriftReason.MISSING:
        return f"{pod}: added {change.after}" if change.after else f"{pod}: no ready address"
    return f"{pod}: removed {change.before}"


def describe_changes(changes: Iterable[EndpointChange]) -> str:
    """``web-1: 10.0.0.3 -> 10.0.0.9; web-3: added 10.0.0.7`` (at most 8, then a count)."""
    described = [describe_change(change) for change in changes]
    if len(described) > _LIMIT:
        rest = len(described) - _LIMIT
        described = [*described[:_LIMIT], f"and {rest} more"]
    return "; ".join(described) if described else "no endpoint changes"


def describe_action(action: WriteAction) -> str:
    """The one line a write (or its dry run) is logged and recorded with."""
    if isinstance(action, PairedServiceAction):
        return describe_pairing(action)
    if isinstance(action, SetWorkloadEntryHealth):
        return f"Healthy={action.after.status}: {action.after.message or action.after.reason}"
    return describe_changes(action.changes)


def describe_pairing(action: PairedServiceAction) -> str:
    """``created paired Service web-grpc``, ``... updated: spec.ports``, ``... deleted: why``."""
    name = f"paired Service {action.key.name}"
    if isinstance(action, CreatePairedService):
        return f"created {name} (ClusterIP, same selector and ports)"
    if isinstance(action, DeletePairedService):
        return f"deleted {name}: {action.reason}"
    return f"updated {name}: {', '.join(action.fields)}"
