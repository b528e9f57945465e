"""The endpoints a ServiceEntry lost when their pods went away, kept on the entry itself.

A pod restart deletes the pod before its successor is ready, so the entry
loses that pod's endpoint for a moment, and with it the fields a user wrote
(weight, locality, ports, labels). When the pod comes back, those fields must
come back too (SPEC section 3). Remembering them in the controller's memory is
not enough: the fault campaign killed the leader between the removal and the
return, and the successor, or the restarted process, brought the pod back
bare.

So the memory lives on the entry, in the annotation
``headless-reconciler.io/departed-endpoints``, written in the very patch that
removes the endpoint and cleared in the patch that restores it: one write,
guarded by the same resourceVersion, so the endpoint list and the memory can
never disagree, and every replica reads it from its cache.

The value is a JSON object, pod name → the endpoint without its address.
A value that does not parse (someone edited it) counts as no memory; it is
replaced the next time the memory changes. At most :data:`MAX_REMEMBERED`
pods are kept (the first in natural order), so a mass departure of a huge
entry cannot push the annotation past the API's size limit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

import msgspec

from reconciler.models.projections import WorkloadSpec
from reconciler.planning.endpoints import labelled_pod
from reconciler.planning.ordering import natural_key
from reconciler.planning.plans import DriftReason, EndpointChange
from reconciler.planning.references import POD_NAME_LABEL, PREFIX

DEPARTED_ANNOTATION: Final = PREFIX + "departed-endpoints"
MAX_REMEMBERED: Final = 200
"""Pods remembered per entry; about 40 KiB of annotation at most."""

_DECODER = msgspec.json.Decoder(dict[str, WorkloadSpec])


def read_departed(annotations: Mapping[str, str]) -> dict[str, WorkloadSpec]:
    """The memory stored on an entry; empty when absent or unreadable."""
    value = annotations.get(DEPARTED_ANNOTATION)
    if not value:
        return {}
    try:
        return _DECODER.decode(value)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return {}


def encode_departed(departed: Mapping[str, WorkloadSpec]) -> str | None:
    """The annotation value for ``departed``; None (remove it) when there is nothing."""
    if not departed:
        return None
    ordered = {pod: departed[pod] for pod in sorted(departed, key=natural_key)}
    return msgspec.json.encode(ordered).decode()


def departed_after(
    departed: Mapping[str, WorkloadSpec],
    *,
    before: Sequence[WorkloadSpec],
    changes: Sequence[EndpointChange],
) -> dict[str, WorkloadSpec]:
    """The memory once a rebuilt endpoint list has been written.

    A pod's endpoint removed as ``extra`` is remembered as it was, without its
    address (which will not come back), unless it held nothing but the address
    and the pod's label (a fresh endpoint is the same); a pod added back is
    forgotten, its fields live in the entry again.
    """
    remembered = dict(departed)
    for change in changes:
        if change.pod is None:
            continue
        if change.reason is DriftReason.MISSING:
            remembered.pop(change.pod, None)
        elif change.reason is DriftReason.EXTRA:
            gone = next(
                (e for e in before if labelled_pod(e) == change.pod or e.address == change.before),
                None,
            )
            if gone is not None and not _bare(gone, pod=change.pod):
                remembered[change.pod] = msgspec.structs.replace(gone, address=None)
    if len(remembered) > MAX_REMEMBERED:
        kept = sorted(remembered, key=natural_key)[:MAX_REMEMBERED]
        remembered = {pod: remembered[pod] for pod in kept}
    return remembered


def _bare(endpoint: WorkloadSpec, *, pod: str) -> bool:
    return msgspec.structs.replace(endpoint, address=None) == WorkloadSpec(
        labels={POD_NAME_LABEL: pod}
    )
