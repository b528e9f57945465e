"""What an entry looks like once its action is carried out, computed without writing.

``diff`` and ``--dry-run`` render an object before and after its action, and
the planner's property tests apply a plan to the observed state and plan
again; both need the same answer, so it lives here. The server assigns the
new ``resourceVersion``, so it is left as it was.
"""

from __future__ import annotations

import msgspec

from reconciler.models.projections import IstioStatus, ServiceEntry, WorkloadEntry
from reconciler.planning.departed import DEPARTED_ANNOTATION, encode_departed
from reconciler.planning.plans import (
    Action,
    SetWorkloadEntryHealth,
    UpdateServiceEntryEndpoints,
    UpdateWorkloadEntryAddress,
)


def applied_to_service_entry(entry: ServiceEntry, action: Action | None) -> ServiceEntry:
    """``entry`` after ``action``; unchanged for anything but an endpoints update."""
    if not isinstance(action, UpdateServiceEntryEndpoints):
        return entry
    spec = msgspec.structs.replace(entry.spec, endpoints=action.after)
    if action.departed is None:
        return msgspec.structs.replace(entry, spec=spec)
    annotations = dict(entry.metadata.annotations)
    annotations.pop(DEPARTED_ANNOTATION, None)
    value = encode_departed(action.departed)
    if value is not None:
        annotations[DEPARTED_ANNOTATION] = value
    metadata = msgspec.structs.replace(entry.metadata, annotations=annotations)
    return msgspec.structs.replace(entry, metadata=metadata, spec=spec)


def applied_to_workload_entry(entry: WorkloadEntry, action: Action | None) -> WorkloadEntry:
    """``entry`` after ``action`` (address, then health); unchanged for a NoWrite."""
    if isinstance(action, UpdateWorkloadEntryAddress):
        spec = msgspec.structs.replace(entry.spec, address=action.after)
        entry = msgspec.structs.replace(entry, spec=spec)
        return applied_to_workload_entry(entry, action.health)
    if isinstance(action, SetWorkloadEntryHealth):
        status = entry.status or IstioStatus()
        status = msgspec.structs.replace(status, conditions=action.conditions)
        return msgspec.structs.replace(entry, status=status)
    return entry
