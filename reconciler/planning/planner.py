"""The planner: cached state in, one frozen action per object out.

Pure by construction (STYLE.md, point 1): no I/O, no logging, no metrics, no
clock. Time comes in as arguments (``now``, monotonic seconds, for the
mass-removal guard; ``now_timestamp``, RFC 3339, for condition times) and the
guard's memory (``holds``) is kept by the caller, so the same inputs
always give the same plan and tests need no clock.

Each entry point answers None when the object is not managed, or is managed
and already right (steady state plans nothing); otherwise one action: a write,
or a :class:`~reconciler.planning.plans.NoWrite` that says why not. A Service
key is planned by :mod:`~reconciler.planning.pairing`: its paired Services,
which can take several actions (create one, delete another), and notes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from reconciler.models.projections import Service, ServiceEntry, WorkloadEntry, WorkloadSpec
from reconciler.models.refs import Kind, ObjectKey
from reconciler.planning import guard
from reconciler.planning.departed import departed_after, read_departed
from reconciler.planning.desired import (
    SERVICE_NAME_LABEL,
    default_family,
    parse_ip_family,
    pods_by_address,
    ready_addresses,
)
from reconciler.planning.endpoints import rebuild_endpoints
from reconciler.planning.health import (
    current_health,
    health_checks_enabled,
    health_flip,
    with_health,
)
from reconciler.planning.limits import address_violation, endpoint_violations
from reconciler.planning.pairing import plan_pairing
from reconciler.planning.plans import (
    Action,
    DriftReason,
    EndpointChange,
    Note,
    NoWrite,
    Plan,
    SetWorkloadEntryHealth,
    UpdateServiceEntryEndpoints,
    UpdateWorkloadEntryAddress,
    Verdict,
)
from reconciler.planning.recycled import claimed_elsewhere, recycled_removals, uncontested
from reconciler.planning.references import IP_FAMILY_ANNOTATION, quoted
from reconciler.planning.scope import (
    PodTarget,
    Refusal,
    service_entry_scope,
    workload_entry_scope,
)
from reconciler.planning.settings import PlanningSettings
from reconciler.planning.view import ClusterView


def plan(
    keys: Iterable[ObjectKey],
    *,
    view: ClusterView,
    settings: PlanningSettings,
    now: float,
    now_timestamp: str,
    holds: Mapping[ObjectKey, guard.Hold],
) -> Plan:
    """Actions for the ServiceEntries, WorkloadEntries and Services named by ``keys``.

    Ordered by the key planned. Keys of other kinds, and of objects absent
    from the view, plan nothing.
    """
    actions: list[Action] = []
    notes: list[Note] = []
    for key in sorted(set(keys)):
        if key.kind is Kind.SERVICE:
            service = view.service(key.namespace, key.name)
            if service is not None:
                pairing = plan_pairing(service, view=view, settings=settings)
                actions.extend(pairing.actions)
                notes.extend(pairing.notes)
            continue
        action = _plan_key(
            key,
            view=view,
            settings=settings,
            now=now,
            now_timestamp=now_timestamp,
            holds=holds,
        )
        if action is not None:
            actions.append(action)
    return Plan(tuple(actions), notes=tuple(notes))


def _plan_key(
    key: ObjectKey,
    *,
    view: ClusterView,
    settings: PlanningSettings,
    now: float,
    now_timestamp: str,
    holds: Mapping[ObjectKey, guard.Hold],
) -> Action | None:
    if key.kind is Kind.SERVICE_ENTRY:
        entry = view.service_entry(key.namespace, key.name)
        if entry is None:
            return None
        return plan_service_entry(
            entry,
            view=view,
            settings=settings,
            now=now,
            holds=holds,
        )
    if key.kind is Kind.WORKLOAD_ENTRY:
        workload = view.workload_entry(key.namespace, key.name)
        if workload is None:
            return None
        return plan_workload_entry(
            workload,
            view=view,
            settings=settings,
            now=now,
            now_timestamp=now_timestamp,
            holds=holds,
        )
    return None


def plan_service_entry(
    entry: ServiceEntry,
    *,
    view: ClusterView,
    settings: PlanningSettings,
    now: float,
    holds: Mapping[ObjectKey, guard.Hold],
) -> Action | None:
    """Keep a managed STATIC ServiceEntry's endpoints equal to its pods' ready addresses.

    The entry's memory of departed endpoints (:mod:`~reconciler.planning.departed`)
    gives a pod that comes back its old endpoint's user fields (weight, ports,
    locality, ...) instead of a fresh endpoint, so a restart never drops what a
    user wrote, whichever replica, or process, sees the pod return.
    """
    key = service_entry_key(entry)
    target = service_entry_scope(entry, view=view, settings=settings)
    if target is None:
        return None
    if isinstance(target, Refusal):
        return NoWrite(key, target.verdict, target.message)
    family = _service_entry_family(entry, target.service)
    if isinstance(family, Refusal):
        return NoWrite(key, family.verdict, family.message)
    service = target.service.metadata
    slices = view.slices_of(service.namespace, service.name)
    wanted = uncontested(
        ready_addresses(slices, family=family), namespace=service.namespace, own=slices, view=view
    )
    if target.pod is not None:
        wanted = {target.pod: wanted[target.pod]} if target.pod in wanted else {}
    before = entry.spec.endpoints or ()
    departed = read_departed(entry.metadata.annotations)
    outcome = rebuild_endpoints(
        before,
        wanted=wanted,
        entry_ports=entry.spec.ports or (),
        known_pods=pods_by_address(slices),
        departed=departed,
    )
    if not outcome.rewritten:
        return None
    violations = endpoint_violations(outcome.after)
    if violations:
        return NoWrite(key, Verdict.REFUSED, "; ".join(violations), changes=outcome.changes)
    if guard.is_mass_removal(outcome.changes, before_count=len(before)):
        since = guard.held_since(
            prior=holds.get(key),
            removes=guard.removing(outcome.changes),
            now=now,
            grace=settings.removal_grace,
        )
        if since is not None:
            taken = recycled_removals(outcome.changes, view=view, namespace=service.namespace)
            rest = [change for change in outcome.changes if change not in taken]
            if not taken or guard.is_mass_removal(rest, before_count=len(before) - len(taken)):
                if taken:
                    return _remove_recycled(entry, key, before, departed, taken)
                message = _held_message(
                    outcome.changes, before_count=len(before), settings=settings
                )
                return NoWrite(key, Verdict.HELD, message, changes=outcome.changes, since=since)
    remembered = departed_after(departed, before=before, changes=outcome.changes)
    return UpdateServiceEntryEndpoints(
        key=key,
        resource_version=entry.metadata.resource_version,
        before=before,
        after=outcome.after,
        changes=outcome.changes,
        departed=remembered if remembered != departed else None,
    )


def plan_workload_entry(
    entry: WorkloadEntry,
    *,
    view: ClusterView,
    settings: PlanningSettings,
    now: float,
    now_timestamp: str,
    holds: Mapping[ObjectKey, guard.Hold],
) -> Action | None:
    """Keep a managed WorkloadEntry's address (and, if asked, its health) on its pod.

    ``now`` and ``holds`` are taken so every entry point is called alike;
    a WorkloadEntry's address is never removed, so the guard has nothing to hold.
    """
    del now, holds
    key = workload_entry_key(entry)
    target = workload_entry_scope(entry, view=view, settings=settings)
    if target is None:
        return None
    if isinstance(target, Refusal):
        return NoWrite(key, target.verdict, target.message)
    address = _pod_address(entry, target, view=view)
    if isinstance(address, Refusal):
        return NoWrite(key, address.verdict, address.message)
    if address is None:
        return _without_address(entry, target, now_timestamp=now_timestamp)
    violation = address_violation(address)
    if violation is not None:
        return NoWrite(key, Verdict.REFUSED, f"pod {target.pod}: {violation}")
    health = _health_write(
        entry,
        healthy=True,
        message=f"pod {target.pod} is ready at {address}",
        now_timestamp=now_timestamp,
    )
    current = entry.spec.address
    if current == address:
        return health
    reason = DriftReason.STALE if current else DriftReason.MISSING
    return UpdateWorkloadEntryAddress(
        key=key,
        resource_version=entry.metadata.resource_version,
        pod=target.pod,
        before=current,
        after=address,
        changes=(EndpointChange(target.pod, reason, before=current, after=address),),
        health=health,
    )


def service_entry_key(entry: ServiceEntry) -> ObjectKey:
    return ObjectKey(Kind.SERVICE_ENTRY, entry.metadata.namespace, entry.metadata.name)


def workload_entry_key(entry: WorkloadEntry) -> ObjectKey:
    return ObjectKey(Kind.WORKLOAD_ENTRY, entry.metadata.namespace, entry.metadata.name)


def _service_entry_family(entry: ServiceEntry, service: Service) -> str | Refusal:
    """The entry's ``ip-family`` annotation, else the Service's, else from its ``ipFamilies``."""
    for source in (entry.metadata.annotations, service.metadata.annotations):
        explicit = _explicit_family(source)
        if explicit is not None:
            return explicit
    return default_family((service,))


def _explicit_family(annotations: Mapping[str, str]) -> str | Refusal | None:
    value = annotations.get(IP_FAMILY_ANNOTATION)
    if value is None:
        return None
    family = parse_ip_family(value)
    if family is None:
        return Refusal(
            Verdict.REFUSED, f"{IP_FAMILY_ANNOTATION}: {quoted(value)} is not IPv4 or IPv6"
        )
    return family


def _pod_address(
    entry: WorkloadEntry, target: PodTarget, *, view: ClusterView
) -> str | Refusal | None:
    """The pod's ready address of the chosen family, or None when it has none."""
    slices = view.slices_with_pod(target.namespace, target.pod)
    family = _explicit_family(entry.metadata.annotations)
    if isinstance(family, Refusal):
        return family
    if family is None:
        names = {s.metadata.labels.get(SERVICE_NAME_LABEL, "") for s in slices} - {""}
        services = (view.service(target.namespace, name) for name in sorted(names))
        family = default_family(service for service in services if service is not None)
    found = ready_addresses(slices, family=family).get(target.pod)
    if found is None or claimed_elsewhere(
        found.address, pod=target.pod, namespace=target.namespace, own=slices, view=view
    ):
        return None
    return found.address


def _without_address(entry: WorkloadEntry, target: PodTarget, *, now_timestamp: str) -> Action:
    """No ready address: keep the address, report it missing, mark the entry unhealthy."""
    current = entry.spec.address
    change = EndpointChange(target.pod, DriftReason.MISSING, before=current, after=None)
    message = (
        f"pod {target.namespace}/{target.pod} has no ready address; "
        f"the entry keeps {current or 'no address'}"
    )
    health = _health_write(
        entry, healthy=False, message=message, now_timestamp=now_timestamp, changes=(change,)
    )
    if health is not None:
        return health
    return NoWrite(workload_entry_key(entry), Verdict.NO_ADDRESS, message, changes=(change,))


def _health_write(
    entry: WorkloadEntry,
    *,
    healthy: bool,
    message: str,
    now_timestamp: str,
    changes: tuple[EndpointChange, ...] = (),
) -> SetWorkloadEntryHealth | None:
    """The status write that flips ``Healthy``, for entries with health checks enabled."""
    if not health_checks_enabled(entry.metadata.annotations):
        return None
    after = health_flip(entry, healthy=healthy, message=message, now_timestamp=now_timestamp)
    if after is None:
        return None
    return SetWorkloadEntryHealth(
        key=workload_entry_key(entry),
        resource_version=entry.metadata.resource_version,
        before=current_health(entry),
        after=after,
        conditions=with_health(entry, after),
        changes=changes,
    )


def _remove_recycled(
    entry: ServiceEntry,
    key: ObjectKey,
    before: tuple[WorkloadSpec, ...],
    departed: Mapping[str, WorkloadSpec],
    taken: tuple[EndpointChange, ...],
) -> UpdateServiceEntryEndpoints:
    """While a mass removal is held, the endpoints whose address another pod now holds go at
    once: holding them would route this Service's traffic to a stranger."""
    addresses = {change.before for change in taken}
    remembered = departed_after(departed, before=before, changes=taken)
    return UpdateServiceEntryEndpoints(
        key=key,
        resource_version=entry.metadata.resource_version,
        before=before,
        after=tuple(e for e in before if e.address not in addresses),
        changes=taken,
        departed=remembered if remembered != departed else None,
    )


def _held_message(
    changes: Iterable[EndpointChange], *, before_count: int, settings: PlanningSettings
) -> str:
    removed = sum(change.reason is DriftReason.EXTRA for change in changes)
    return (
        f"would remove {removed} of {before_count} endpoints and add none: held until this "
        f"has lasted {settings.removal_grace:g}s"
    )
