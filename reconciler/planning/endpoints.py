"""A ServiceEntry's endpoint list, rebuilt from its pods while keeping what users wrote.

The controller owns each endpoint's ``address`` and its
``statefulset.kubernetes.io/pod-name`` label; everything else (other labels,
``ports``, ``weight``, ``locality``, ``network``, ``serviceAccount``) belongs
to whoever wrote it and is carried over from the existing endpoint of the same
pod (SPEC section 3). Existing endpoints are matched to pods by that label
first (it survives an IP change), then by address (an endpoint written by hand
before the controller took over).

The list is exactly the wanted pods, in natural pod order: an existing
endpoint that matches no wanted pod (a pod gone, not ready or terminating, an
address written by hand, a second endpoint for one pod, or, in a pod-level
entry, any other endpoint) is removed and reported as ``extra``. A pure
reordering of what is there is not a change: it is never written on its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import msgspec

from reconciler.models.projections import ServiceEntryPort, WorkloadSpec
from reconciler.planning.desired import PodAddress
from reconciler.planning.ordering import NaturalKey, natural_key
from reconciler.planning.plans import DriftReason, EndpointChange
from reconciler.planning.references import POD_NAME_LABEL


@dataclass(frozen=True, slots=True)
class EndpointsOutcome:
    """The endpoint list to hold, the per-pod drift, and whether anything but order differs."""

    after: tuple[WorkloadSpec, ...]
    changes: tuple[EndpointChange, ...]
    rewritten: bool


_NONE_DEPARTED: Mapping[str, WorkloadSpec] = MappingProxyType({})


def rebuild_endpoints(
    existing: Sequence[WorkloadSpec],
    *,
    wanted: Mapping[str, PodAddress],
    entry_ports: Sequence[ServiceEntryPort],
    known_pods: Mapping[str, str],
    departed: Mapping[str, WorkloadSpec] = {},
) -> EndpointsOutcome:
    """``existing`` brought in line with ``wanted`` (pod → address).

    ``known_pods`` (address → pod, over every listed endpoint) only names the
    pod of a removed endpoint in the report. ``departed`` (pod → the endpoint
    it had before it went away) restores a returning pod's user fields.
    """
    matched = _match(existing, wanted=wanted)
    after: list[WorkloadSpec] = []
    changes: list[EndpointChange] = []
    rewritten = False
    for pod in sorted(wanted, key=natural_key):
        address = wanted[pod].address
        index = matched.get(pod)
        if index is None:
            previous = departed.get(pod)
            after.append(
                _kept_endpoint(previous, pod=pod, address=address)
                if previous is not None
                else _new_endpoint(wanted[pod], entry_ports=entry_ports)
            )
            changes.append(EndpointChange(pod, DriftReason.MISSING, before=None, after=address))
            continue
        old = existing[index]
        new = _kept_endpoint(old, pod=pod, address=address)
        after.append(new)
        rewritten = rewritten or new != old
        if old.address != address:
            changes.append(
                EndpointChange(pod, DriftReason.STALE, before=old.address, after=address)
            )
    kept = set(matched.values())
    for index, old in enumerate(existing):
        if index not in kept:
            owner = labelled_pod(old) or known_pods.get(old.address or "")
            changes.append(EndpointChange(owner, DriftReason.EXTRA, before=old.address, after=None))
    changes.sort(key=change_order)
    return EndpointsOutcome(
        after=tuple(after), changes=tuple(changes), rewritten=rewritten or bool(changes)
    )


def change_order(change: EndpointChange) -> tuple[bool, NaturalKey, str, str]:
    """Natural pod order; changes naming no pod last, by address."""
    pod = natural_key(change.pod or "")
    return change.pod is None, pod, change.before or "", change.after or ""


def _match(existing: Sequence[WorkloadSpec], *, wanted: Mapping[str, PodAddress]) -> dict[str, int]:
    """pod → index of the existing endpoint that stands for it.

    By label first; among several endpoints labelled for one pod, the one
    already at the wanted address, else the first. Then unlabelled endpoints
    by address, for pods still unmatched.
    """
    matched: dict[str, int] = {}
    for index, endpoint in enumerate(existing):
        pod = labelled_pod(endpoint)
        if pod is None or pod not in wanted:
            continue
        current = matched.get(pod)
        at_wanted = endpoint.address == wanted[pod].address
        if current is None or (at_wanted and existing[current].address != endpoint.address):
            matched[pod] = index
    by_address = {want.address: pod for pod, want in wanted.items() if pod not in matched}
    for index, endpoint in enumerate(existing):
        if labelled_pod(endpoint) is not None:
            continue
        pod = by_address.pop(endpoint.address or "", None)
        if pod is not None:
            matched[pod] = index
    return matched


def labelled_pod(endpoint: WorkloadSpec) -> str | None:
    """The pod an endpoint names by its ``statefulset.kubernetes.io/pod-name`` label."""
    return (endpoint.labels or {}).get(POD_NAME_LABEL)


def _kept_endpoint(old: WorkloadSpec, *, pod: str, address: str) -> WorkloadSpec:
    labels = {**(old.labels or {}), POD_NAME_LABEL: pod}
    return msgspec.structs.replace(old, address=address, labels=labels)


def _new_endpoint(want: PodAddress, *, entry_ports: Sequence[ServiceEntryPort]) -> WorkloadSpec:
    """A fresh endpoint; its ports map the entry's port names to the slice's numbers."""
    ports = {port.name: want.ports[port.name] for port in entry_ports if port.name in want.ports}
    return WorkloadSpec(
        address=want.address,
        labels={POD_NAME_LABEL: want.pod},
        ports=ports or None,
    )
