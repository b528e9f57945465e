"""A plan is frozen data: what would change, on which object, and why.

The planner returns a :class:`Plan`; the applier carries out its writes; the
``diff`` command, ``--dry-run`` logs, Events and drift metrics all render the
same actions. Each action names its object by key, says why, and carries the
before and after of what it changes, so any rendering needs nothing else.

Besides actions a plan carries notes: advice about an object that needs no
write (a gRPC port Istio will not recognise by its name). A note is not drift
and does not go away when the plan is applied; it is recorded once as a
Warning Event and shown by ``diff``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from reconciler.models.projections import Condition, Service, WorkloadSpec
from reconciler.models.refs import Kind, ObjectKey


class DriftReason(StrEnum):
    """Why one endpoint (or one WorkloadEntry address) differs from the live pods."""

    STALE = "stale"
    """The pod is there, with a different address than the entry holds."""
    MISSING = "missing"
    """A wanted pod is absent from the entry (or, for a WorkloadEntry, has no ready address)."""
    EXTRA = "extra"
    """The entry holds an endpoint no wanted pod accounts for (gone, not ready, terminating)."""


class Verdict(StrEnum):
    """Why an object gets no write even though it is in scope or has drift."""

    REFUSED = "refused"
    """The request is not allowed or the result would be invalid (cross-namespace, too many)."""
    HELD = "held"
    """The mass-removal guard holds a change until it has lasted the grace period."""
    NOT_RECONCILABLE = "not_reconcilable"
    """Opted in, but not the controller's to write (DNS, workloadSelector, auto-registered)."""
    CONFLICT = "conflict"
    """Another owner's object stands where ours should (a foreign Service of the paired name)."""
    NO_ADDRESS = "no_address"
    """A WorkloadEntry's pod has no ready address: nothing valid to write, the drift stays."""


@dataclass(frozen=True, slots=True)
class EndpointChange:
    """One pod's entry, before and after; ``pod`` is the identity (the pod name).

    ``pod`` is None for an endpoint that no pod accounts for at all (no
    ``statefulset.kubernetes.io/pod-name`` label, and an address no
    EndpointSlice lists): it is removed, and ``before`` says which it was.
    """

    pod: str | None
    reason: DriftReason
    before: str | None
    """Address the entry holds now (None when missing)."""
    after: str | None
    """Address it will hold (None when removed, or when nothing valid can be written)."""


@dataclass(frozen=True, slots=True)
class UpdateServiceEntryEndpoints:
    """Replace ``spec.endpoints`` of a managed STATIC ServiceEntry."""

    key: ObjectKey
    resource_version: str
    before: tuple[WorkloadSpec, ...]
    after: tuple[WorkloadSpec, ...]
    changes: tuple[EndpointChange, ...]
    departed: Mapping[str, WorkloadSpec] | None = None
    """The entry's new memory of departed endpoints (``planning.departed``); None: unchanged."""


@dataclass(frozen=True, slots=True)
class SetWorkloadEntryHealth:
    """Keep the ``Healthy`` condition of a WorkloadEntry that opted into Istio health checks.

    Written through the ``status`` subresource. ``conditions`` is the whole
    list to write (a merge patch replaces lists): every other condition as it
    was, ``Healthy`` replaced by ``after``. ``changes`` is the address drift
    that made the pod unhealthy, if any.
    """

    key: ObjectKey
    resource_version: str
    before: Condition | None
    after: Condition
    conditions: tuple[Condition, ...]
    changes: tuple[EndpointChange, ...] = ()


@dataclass(frozen=True, slots=True)
class UpdateWorkloadEntryAddress:
    """Point a managed WorkloadEntry's ``spec.address`` at its pod's current IP.

    ``health``, when set, is a second write that must follow this one: the pod
    is ready at the new address, so a ``Healthy`` condition that is not True
    becomes True. The spec is written first, so istiod never sees the new
    address healthy before it is in place; the status write then needs the
    resourceVersion the spec write returned, not ``health.resource_version``.
    """

    key: ObjectKey
    resource_version: str
    pod: str
    before: str | None
    after: str
    changes: tuple[EndpointChange, ...]
    health: SetWorkloadEntryHealth | None = None


@dataclass(frozen=True, slots=True)
class NoWrite:
    """An object in scope that gets no write, and why: refused, held, not reconcilable.

    ``changes`` is the drift that stays (held changes, or a WorkloadEntry whose
    pod has no ready address), so metrics and ``diff`` still see it.
    """

    key: ObjectKey
    verdict: Verdict
    message: str
    changes: tuple[EndpointChange, ...] = ()
    since: float | None = None
    """For HELD: when the held condition was first seen (monotonic seconds)."""


@dataclass(frozen=True, slots=True)
class CreatePairedService:
    """Create the paired ClusterIP Service of a headless Service (SPEC section 3).

    ``key`` is the Service created, ``source`` the headless Service it pairs
    (Events are recorded there). ``after`` holds exactly what is sent: the
    copied fields and the marks (label, source annotation, ownerReference);
    the API server fills in the rest (cluster IPs, defaults, uid).
    """

    key: ObjectKey
    source: ObjectKey
    after: Service
    changes: tuple[EndpointChange, ...] = ()
    """Always empty: a Service has no endpoint drift. Every action answers ``changes``."""


@dataclass(frozen=True, slots=True)
class UpdatePairedService:
    """Bring a paired Service we own back in line with its headless Service, in one patch.

    ``before`` is the Service as cached, ``after`` the same Service with the
    copied fields and marks as they must be; everything else (other labels,
    annotations and owners, cluster IPs) is as it was. ``fields`` names what
    differs (``spec.ports``, ``metadata.annotations``...), in a fixed order.
    """

    key: ObjectKey
    source: ObjectKey
    resource_version: str
    before: Service
    after: Service
    fields: tuple[str, ...]
    changes: tuple[EndpointChange, ...] = ()
    """Always empty: a Service has no endpoint drift. Every action answers ``changes``."""


@dataclass(frozen=True, slots=True)
class DeletePairedService:
    """Delete a paired Service we own that its headless Service no longer asks for.

    Sent with ``uid`` and ``resourceVersion`` preconditions, so only the very
    object judged ours is deleted. ``reason`` says why it is no longer wanted.
    """

    key: ObjectKey
    source: ObjectKey
    uid: str
    resource_version: str
    before: Service
    reason: str
    changes: tuple[EndpointChange, ...] = ()
    """Always empty: a Service has no endpoint drift. Every action answers ``changes``."""


PairedServiceAction = CreatePairedService | UpdatePairedService | DeletePairedService

Action = (
    UpdateServiceEntryEndpoints
    | UpdateWorkloadEntryAddress
    | SetWorkloadEntryHealth
    | CreatePairedService
    | UpdatePairedService
    | DeletePairedService
    | NoWrite
)
WriteAction = (
    UpdateServiceEntryEndpoints
    | UpdateWorkloadEntryAddress
    | SetWorkloadEntryHealth
    | CreatePairedService
    | UpdatePairedService
    | DeletePairedService
)


@dataclass(frozen=True, slots=True)
class Note:
    """Advice about an object that needs no write; ``reason`` is the Event reason."""

    key: ObjectKey
    reason: str
    message: str


def is_write(action: Action) -> bool:
    return not isinstance(action, NoWrite)


@dataclass(frozen=True, slots=True)
class Plan:
    """Every action for the objects planned, in a stable order (by the key planned).

    Planning a headless Service can yield several actions on other objects
    (create its paired Service, delete one it no longer asks for); they follow
    the key that was planned. A plan with notes only is empty: nothing to do.
    """

    actions: tuple[Action, ...] = field(default=())
    notes: tuple[Note, ...] = field(default=())

    def __iter__(self) -> Iterator[Action]:
        return iter(self.actions)

    def __bool__(self) -> bool:
        return bool(self.actions)

    @property
    def writes(self) -> tuple[WriteAction, ...]:
        return tuple(a for a in self.actions if not isinstance(a, NoWrite))

    @property
    def withheld(self) -> tuple[NoWrite, ...]:
        return tuple(a for a in self.actions if isinstance(a, NoWrite))

    def for_kind(self, kind: Kind) -> tuple[Action, ...]:
        return tuple(a for a in self.actions if a.key.kind is kind)
