"""``audit``: stale and recycled pod addresses in every STATIC entry, opted in or not.

The controller only touches what opted in; this looks at everything else too,
read-only. For every STATIC ServiceEntry (without ``workloadSelector``) and
every WorkloadEntry (not auto-registered) in scope it asks, address by
address, whether the address is the live, ready IP of the pod the entry
stands for:

- **stale**: no ready pod of the Service its hosts (or annotation) name holds
  the address: the pod was recreated elsewhere, is not ready, or is gone;
- **recycled**: the address now belongs to a *different* pod (another
  workload, or another pod of the same one where the entry names its pod):
  traffic meant for one workload reaches another.

Each finding names the pod the entry most likely meant (the pod its endpoint
label, pod-level host or annotation names; else the one ready pod of the
Service that the entry does not list, or the candidates when that is not
one) and how to let the controller fix the entry (the annotation, as a
``kubectl annotate`` command). ServiceEntries that could let istiod pick their
pods with ``workloadSelector`` are pointed out as advice, which does not make
the audit fail.

What is judged, and what is not: a ServiceEntry is judged against the
Services its hosts or ``headless-reconciler.io/service`` name; one that
names no Service of the cluster (an external host, a VM) is not judged. A
WorkloadEntry is judged when it names its pod (annotation, or the
``statefulset.kubernetes.io/pod-name`` label) or when a pod holds its address;
otherwise it may well stand for a VM. Pods are known from EndpointSlices, so
a pod that backs no Service, or lives outside the listed namespaces, is not
seen.

Pure: the caller lists; :func:`audit` only reads what it is given.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from reconciler.models.projections import EndpointSlice, ServiceEntry, WorkloadEntry
from reconciler.models.refs import Kind, ObjectKey
from reconciler.planning.desired import (
    IPV4,
    IPV6,
    SERVICE_NAME_LABEL,
    endpoint_pod,
    is_wanted,
    ready_addresses,
    usable_slices,
)
from reconciler.planning.ordering import natural_key
from reconciler.planning.references import (
    AUTO_REGISTRATION_ANNOTATION,
    IGNORE_ANNOTATION,
    POD_ANNOTATION,
    POD_NAME_LABEL,
    SERVICE_ANNOTATION,
    ServiceRef,
    hosts_service_refs,
    is_ignored,
    parse_name_ref,
)
from reconciler.planning.scope import (
    STATIC,
    WORKLOAD_GROUP,
    PodTarget,
    Refusal,
    ServiceTarget,
    service_entry_scope,
    workload_entry_scope,
)
from reconciler.planning.settings import PlanningSettings
from reconciler.planning.view import ClusterView
from reconciler.reporting.scope import Scope

MESH_INTERNAL = "MESH_INTERNAL"
_KUBECTL_RESOURCES = {Kind.SERVICE_ENTRY: "serviceentry", Kind.WORKLOAD_ENTRY: "workloadentry"}


class Problem(StrEnum):
    STALE = "stale"
    """No ready pod of what the entry stands for holds the address."""
    RECYCLED = "recycled"
    """The address now belongs to a different pod than the one the entry stands for."""


class Management(StrEnum):
    MANAGED = "managed"
    """The controller keeps this entry: ``run`` repairs what the audit finds."""
    REFUSED = "refused"
    """Opted in, but the controller refuses it (the note says why)."""
    UNMANAGED = "unmanaged"
    """Not opted in (or opted out): nothing keeps it."""


@dataclass(frozen=True, slots=True)
class PodRef:
    """A pod, and where it is now (None: it has no ready address)."""

    namespace: str
    name: str
    address: str | None = None


@dataclass(frozen=True, slots=True)
class AddressFinding:
    """One address of an entry that is not what it should be."""

    address: str
    problem: Problem
    message: str
    held_by: PodRef | None = None
    """For RECYCLED: the pod that holds the address now."""
    meant: tuple[PodRef, ...] = ()
    """The pod the entry most likely meant (one), or the candidates when it cannot tell."""


@dataclass(frozen=True, slots=True)
class Fix:
    """What lets the controller keep the entry: annotations, and maybe a namespace pair to allow."""

    annotations: tuple[tuple[str, str], ...]
    allow_cross_namespace: str | None = None
    """``FROM=TO`` for ``--allow-cross-namespace``, when the entry follows another namespace."""

    def command(self, key: ObjectKey) -> str:
        """The ``kubectl annotate`` command that opts the entry in."""
        pairs = " ".join(f"{name}={value}" for name, value in self.annotations)
        resource = _KUBECTL_RESOURCES[key.kind]
        return f"kubectl annotate {resource} -n {key.namespace} {key.name} {pairs}"


@dataclass(frozen=True, slots=True)
class EntryAudit:
    """One entry with findings or advice."""

    key: ObjectKey
    management: Management
    note: str
    """Why the controller does or does not keep it (empty for a plain unmanaged entry)."""
    follows: tuple[str, ...]
    """What the addresses were judged against: ``Service shop/web``, ``pod shop/web-1``."""
    findings: tuple[AddressFinding, ...]
    fix: Fix | None
    """For an unmanaged entry with findings: how to let the controller keep it."""
    workload_selector: Mapping[str, str] | None = None
    """Advice: labels a ``workloadSelector`` could select the entry's pods with."""


@dataclass(frozen=True, slots=True)
class AuditReport:
    entries: tuple[EntryAudit, ...]
    checked: Mapping[Kind, int]
    scope: Scope

    @property
    def problems(self) -> bool:
        """Whether any address is stale or recycled (advice alone is not a problem)."""
        return any(entry.findings for entry in self.entries)

    def counts(self) -> Counter[Problem]:
        return Counter(finding.problem for entry in self.entries for finding in entry.findings)


def unmanaged_stale_addresses(report: AuditReport) -> dict[tuple[Kind, str], int]:
    """Stale or recycled addresses nothing will repair, by ``(kind, namespace)``.

    The value of a gauge the controller can export (``run`` keeps these
    caches already): entries that are not managed, or are refused, and hold
    addresses that are wrong.
    """
    counts: Counter[tuple[Kind, str]] = Counter()
    for entry in report.entries:
        if entry.management is not Management.MANAGED:
            counts[(entry.key.kind, entry.key.namespace)] += len(entry.findings)
    return {key: count for key, count in counts.items() if count}


def audit(
    *,
    service_entries: Iterable[ServiceEntry],
    workload_entries: Iterable[WorkloadEntry],
    slices: Iterable[EndpointSlice],
    view: ClusterView,
    settings: PlanningSettings,
    scope: Scope,
) -> AuditReport:
    """Judge every STATIC ServiceEntry and every WorkloadEntry given; entries sorted by key."""
    holders = address_holders(slices)
    judge = _Judge(view=view, holders=holders, settings=settings)
    checked: Counter[Kind] = Counter()
    entries: list[EntryAudit] = []
    for entry in service_entries:
        if not _audited_service_entry(entry):
            continue
        checked[Kind.SERVICE_ENTRY] += 1
        found = judge.service_entry(entry)
        if found is not None:
            entries.append(found)
    for workload in workload_entries:
        if _auto_registered(workload) or not workload.spec.address:
            continue
        checked[Kind.WORKLOAD_ENTRY] += 1
        found = judge.workload_entry(workload)
        if found is not None:
            entries.append(found)
    entries.sort(key=lambda found: found.key)
    return AuditReport(entries=tuple(entries), checked=dict(checked), scope=scope)


# -- who holds which address --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Holder:
    """A pod that holds an address, the Services it was listed under, and whether it is ready."""

    namespace: str
    pod: str
    services: frozenset[str]
    ready: bool

    def of_any(self, services: set[tuple[str, str]]) -> bool:
        return any((self.namespace, service) in services for service in self.services)


def address_holders(slices: Iterable[EndpointSlice]) -> dict[str, tuple[Holder, ...]]:
    """Every address listed in an EndpointSlice, and the pods that hold it (sorted)."""
    seen: dict[str, dict[tuple[str, str], tuple[set[str], bool]]] = {}
    for endpoint_slice in usable_slices(slices):
        namespace = endpoint_slice.metadata.namespace
        service = endpoint_slice.metadata.labels.get(SERVICE_NAME_LABEL, "")
        for endpoint in endpoint_slice.endpoints or ():
            pod = endpoint_pod(endpoint)
            if pod is None:
                continue
            for address in endpoint.addresses:
                pods = seen.setdefault(canonical(address), {})
                services, ready = pods.get((namespace, pod), (set(), False))
                if service:
                    services.add(service)
                pods[(namespace, pod)] = (services, ready or is_wanted(endpoint))
    return {
        address: tuple(
            Holder(namespace, pod, frozenset(services), ready)
            for (namespace, pod), (services, ready) in sorted(
                pods.items(), key=lambda item: (item[0][0], natural_key(item[0][1]))
            )
        )
        for address, pods in seen.items()
    }


def canonical(address: str) -> str:
    """One spelling per address (IPv6 has many); anything else as it is."""
    try:
        return str(ipaddress.ip_address(address.strip()))
    except ValueError:
        return address


def _family(address: str) -> str:
    return IPV6 if ":" in address else IPV4


# -- what is audited ----------------------------------------------------------------------------


def _audited_service_entry(entry: ServiceEntry) -> bool:
    return entry.spec.resolution == STATIC and entry.spec.workload_selector is None


def _auto_registered(entry: WorkloadEntry) -> bool:
    meta = entry.metadata
    return AUTO_REGISTRATION_ANNOTATION in meta.annotations or any(
        owner.kind == WORKLOAD_GROUP for owner in meta.owner_references
    )


@dataclass(frozen=True, slots=True)
class _Meant:
    """The pod an address stands for, when the entry says (namespace, name)."""

    namespace: str
    pod: str


class _Judge:
    def __init__(
        self,
        *,
        view: ClusterView,
        holders: Mapping[str, tuple[Holder, ...]],
        settings: PlanningSettings,
    ) -> None:
        self._view = view
        self._holders = holders
        self._settings = settings

    # -- ServiceEntry ---------------------------------------------------------------------------

    def service_entry(self, entry: ServiceEntry) -> EntryAudit | None:
        refs = self._named_services(entry)
        if not refs:
            return None
        key = ObjectKey(Kind.SERVICE_ENTRY, entry.metadata.namespace, entry.metadata.name)
        management, note = _management(
            service_entry_scope(entry, view=self._view, settings=self._settings),
            entry.metadata.annotations,
        )
        services = {(ref.namespace, ref.service) for ref in refs}
        pod_level = {ref.pod for ref in refs} - {None}
        entry_pod = pod_level.pop() if len(pod_level) == 1 and len(refs) == 1 else None
        listed = {canonical(e.address or "") for e in entry.spec.endpoints or ()}
        findings = []
        for endpoint in entry.spec.endpoints or ():
            if not endpoint.address:
                continue
            pod = (endpoint.labels or {}).get(POD_NAME_LABEL) or entry_pod
            meant = _Meant(refs[0].namespace, pod) if pod else None
            finding = self._judge(
                canonical(endpoint.address), meant=meant, services=services, listed=listed
            )
            if finding is not None:
                findings.append(finding)
        advice = (
            _workload_selector(entry, refs, view=self._view)
            if management is Management.UNMANAGED
            else None
        )
        if not findings and advice is None:
            return None
        fix = (
            _service_entry_fix(entry, refs[0])
            if findings and management is Management.UNMANAGED and not note
            else None
        )
        return EntryAudit(
            key=key,
            management=management,
            note=note,
            follows=tuple(_describe_ref(ref) for ref in refs),
            findings=tuple(findings),
            fix=fix,
            workload_selector=advice,
        )

    def _named_services(self, entry: ServiceEntry) -> tuple[ServiceRef, ...]:
        """The Services (of this cluster) the entry's annotations, else its hosts, name."""
        meta = entry.metadata
        annotated = meta.annotations.get(SERVICE_ANNOTATION)
        pod_value = meta.annotations.get(POD_ANNOTATION)
        pod_ref = None if pod_value is None else parse_name_ref(pod_value, own_namespace="")
        refs: tuple[ServiceRef, ...]
        if annotated is not None:
            ref = parse_name_ref(annotated, own_namespace=meta.namespace)
            refs = (
                ()
                if ref is None
                else (ServiceRef(ref.namespace, ref.name, pod_ref.name if pod_ref else None),)
            )
        else:
            refs = hosts_service_refs(
                entry.spec.hosts,
                namespace=meta.namespace,
                cluster_domain=self._settings.cluster_domain,
            )
            if pod_ref is not None:
                refs = tuple(ServiceRef(r.namespace, r.service, pod_ref.name) for r in refs)
        known = [ref for ref in refs if self._view.service(ref.namespace, ref.service)]
        return tuple(sorted(set(known)))

    # -- WorkloadEntry --------------------------------------------------------------------------

    def workload_entry(self, entry: WorkloadEntry) -> EntryAudit | None:
        meta = entry.metadata
        address = canonical(entry.spec.address or "")
        meant = _workload_pod(entry)
        holders = self._holders.get(address, ())
        if meant is None and not holders:
            return None
        services = set() if meant is not None else _selecting_services(entry, holders, self._view)
        finding = self._judge(address, meant=meant, services=services, listed={address})
        if finding is None:
            return None
        key = ObjectKey(Kind.WORKLOAD_ENTRY, meta.namespace, meta.name)
        management, note = _management(
            workload_entry_scope(entry, view=self._view, settings=self._settings),
            meta.annotations,
        )
        fix = (
            _workload_entry_fix(entry, meant)
            if management is Management.UNMANAGED and not note
            else None
        )
        follows = (f"pod {meant.namespace}/{meant.pod}",) if meant is not None else ()
        return EntryAudit(
            key=key,
            management=management,
            note=note,
            follows=follows,
            findings=(finding,),
            fix=fix,
        )

    # -- one address ----------------------------------------------------------------------------

    def _judge(
        self,
        address: str,
        *,
        meant: _Meant | None,
        services: set[tuple[str, str]],
        listed: set[str],
    ) -> AddressFinding | None:
        """Is ``address`` the ready address of the pod meant (or of a pod of ``services``)?"""
        holders = self._holders.get(address, ())

        def is_ours(holder: Holder) -> bool:
            if meant is not None:
                return (holder.namespace, holder.pod) == (meant.namespace, meant.pod)
            return holder.of_any(services)

        ours = [holder for holder in holders if is_ours(holder)]
        if any(holder.ready for holder in ours):
            return None
        strangers = [holder for holder in holders if not is_ours(holder)]
        candidates = self._meant_pods(address, meant=meant, services=services, listed=listed)
        stands_for = _stands_for(meant, services)
        if strangers:
            held = strangers[0]
            return AddressFinding(
                address=address,
                problem=Problem.RECYCLED,
                message=(
                    f"{address} now belongs to pod {held.namespace}/{held.pod}"
                    f"{_under(held)}: traffic meant for {stands_for} reaches another pod"
                ),
                held_by=PodRef(held.namespace, held.pod, address),
                meant=candidates,
            )
        if ours:
            pod = ours[0]
            return AddressFinding(
                address=address,
                problem=Problem.STALE,
                message=f"{address} is pod {pod.namespace}/{pod.pod}'s, which is not ready",
                meant=candidates or (PodRef(pod.namespace, pod.pod),),
            )
        any_ready = "" if meant is not None else "any ready pod of "
        return AddressFinding(
            address=address,
            problem=Problem.STALE,
            message=f"{address} is not the address of {any_ready}{stands_for}",
            meant=candidates,
        )

    def _meant_pods(
        self,
        address: str,
        *,
        meant: _Meant | None,
        services: set[tuple[str, str]],
        listed: set[str],
    ) -> tuple[PodRef, ...]:
        """The pod meant, where it is now; else the ready pods of ``services`` the entry lacks."""
        family = _family(address)
        if meant is not None:
            slices = self._view.slices_with_pod(meant.namespace, meant.pod)
            now = ready_addresses(slices, family=family).get(meant.pod)
            return (PodRef(meant.namespace, meant.pod, now.address if now else None),)
        candidates = []
        for namespace, service in sorted(services):
            slices = self._view.slices_of(namespace, service)
            for pod, found in ready_addresses(slices, family=family).items():
                if canonical(found.address) not in listed:
                    candidates.append(PodRef(namespace, pod, found.address))
        return tuple(candidates)


# -- pieces -------------------------------------------------------------------------------------


def _management(
    decided: ServiceTarget | PodTarget | Refusal | None, annotations: Mapping[str, str]
) -> tuple[Management, str]:
    if isinstance(decided, Refusal):
        return Management.REFUSED, f"opted in, but refused: {decided.message}"
    if decided is not None:
        return Management.MANAGED, "managed: headless-reconciler run repairs it (see diff)"
    if is_ignored(annotations):
        return Management.UNMANAGED, f"opted out with {IGNORE_ANNOTATION}"
    return Management.UNMANAGED, ""


def _workload_pod(entry: WorkloadEntry) -> _Meant | None:
    """The pod a WorkloadEntry names: its pod annotation, else its pod-name label."""
    meta = entry.metadata
    value = meta.annotations.get(POD_ANNOTATION)
    if value is not None:
        ref = parse_name_ref(value, own_namespace=meta.namespace)
        return None if ref is None else _Meant(ref.namespace, ref.name)
    labelled = (entry.spec.labels or {}).get(POD_NAME_LABEL)
    return _Meant(meta.namespace, labelled) if labelled else None


def _selecting_services(
    entry: WorkloadEntry, holders: Sequence[Holder], view: ClusterView
) -> set[tuple[str, str]]:
    """Services of the address's holders whose selector the entry's labels match."""
    labels = entry.spec.labels or {}
    matching = set()
    for holder in holders:
        for name in holder.services:
            service = view.service(holder.namespace, name)
            selector = service.spec.selector if service is not None else None
            if selector and all(labels.get(k) == v for k, v in selector.items()):
                matching.add((holder.namespace, name))
    return matching


def _stands_for(meant: _Meant | None, services: set[tuple[str, str]]) -> str:
    if meant is not None:
        return f"pod {meant.namespace}/{meant.pod}"
    if not services:
        return "the workload this entry stands for"
    return " or ".join(f"Service {namespace}/{name}" for namespace, name in sorted(services))


def _under(holder: Holder) -> str:
    if not holder.services:
        return ""
    named = ", ".join(f"{holder.namespace}/{name}" for name in sorted(holder.services))
    return f" (Service {named})"


def _describe_ref(ref: ServiceRef) -> str:
    if ref.pod is None:
        return f"Service {ref.namespace}/{ref.service}"
    return f"pod {ref.namespace}/{ref.pod} of Service {ref.namespace}/{ref.service}"


def _service_entry_fix(entry: ServiceEntry, ref: ServiceRef) -> Fix:
    namespace = entry.metadata.namespace
    crossing = ref.namespace != namespace
    service = f"{ref.namespace}/{ref.service}" if crossing else ref.service
    annotations = [(SERVICE_ANNOTATION, service)]
    if ref.pod is not None:
        annotations.append((POD_ANNOTATION, ref.pod))
    return Fix(
        annotations=tuple(annotations),
        allow_cross_namespace=f"{namespace}={ref.namespace}" if crossing else None,
    )


def _workload_entry_fix(entry: WorkloadEntry, meant: _Meant | None) -> Fix:
    namespace = entry.metadata.namespace
    if meant is None:
        return Fix(annotations=((POD_ANNOTATION, "<pod>"),))
    crossing = meant.namespace != namespace
    pod = f"{meant.namespace}/{meant.pod}" if crossing else meant.pod
    return Fix(
        annotations=((POD_ANNOTATION, pod),),
        allow_cross_namespace=f"{namespace}={meant.namespace}" if crossing else None,
    )


def _workload_selector(
    entry: ServiceEntry, refs: Sequence[ServiceRef], *, view: ClusterView
) -> dict[str, str] | None:
    """Labels that select the entry's pods, when a workloadSelector could replace its list.

    Istio applies a ServiceEntry's workloadSelector to pods of the entry's own
    namespace, and only for MESH_INTERNAL entries.
    """
    if len(refs) != 1 or entry.spec.location != MESH_INTERNAL:
        return None
    ref = refs[0]
    service = view.service(ref.namespace, ref.service)
    if ref.namespace != entry.metadata.namespace or service is None or not service.spec.selector:
        return None
    labels = dict(service.spec.selector)
    if ref.pod is not None:
        labels[POD_NAME_LABEL] = ref.pod
    return labels
