"""Paired ClusterIP Services: who gets one, what it holds, what is ours (SPEC sections 2 to 4).

gRPC clients inside the mesh need a ClusterIP Service, whose requests Envoy
balances one by one, while clients outside the mesh keep balancing over the
headless Service's pod addresses. So an opted-in headless Service gets a
twin: same selector and ports, type ClusterIP, owned by it, so Kubernetes
deletes the twin with its source.

Who asks (:func:`pairing_request`): annotation
``headless-reconciler.io/grpc-service`` on a headless Service, ``"true"`` for
the name template (``{name}-grpc`` unless ``--paired-name-template`` says
otherwise), ``"false"`` for no twin, any other value for that name. The twin
lives in its source's namespace (an ownerReference cannot cross namespaces).
In a namespace labelled ``headless-reconciler.io/managed=enabled`` every
headless Service with a gRPC port asks, with the template.
``headless-reconciler.io/ignore`` on the Service or its Namespace opts out.

What it holds (:func:`desired_paired_service`): type ClusterIP; the selector;
every port's name, port, targetPort, protocol and appProtocol; ipFamilies,
ipFamilyPolicy and internalTrafficPolicy; the ``networking.istio.io/exportTo``
annotation (removed when the source drops it). Never ``clusterIP(s)`` (the API
allocates them) or ``publishNotReadyAddresses`` (a ClusterIP Service must not
send traffic to pods that are not ready).

What is ours (:func:`owns`): a Service with all three marks, label
``app.kubernetes.io/managed-by: headless-reconciler``, annotation
``headless-reconciler.io/source: <headless-name>`` and a controller
ownerReference to that headless Service's uid. Nothing else is ever modified
or deleted: a Service of the wanted name without them is a conflict, reported
on the headless Service and left as it is. A twin left behind by an earlier
Service of the same name (another uid) is not ours either; the garbage
collector removes it, and the twin is then created anew. Labels, annotations
and owners that users add to a twin are theirs and kept.

Two headless Services asking for one name both get a conflict and neither
writes, whatever the order they are planned in: no flapping. A request that
cannot be read (a malformed name) is refused and changes nothing, so a typo
never deletes a working twin; a source that no longer asks, opted out, is no
longer headless or lost its selector loses the twins it owns.

The planner finds a source's twins (by source annotation) and the other
Services asking for the same name in ``ClusterView.services_in``: one pass
over the namespace's cached Services per headless Service planned.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

import msgspec

from reconciler.models.projections import ObjectMeta, OwnerReference, Service, ServiceSpec
from reconciler.models.refs import Kind, ObjectKey
from reconciler.planning.grpc import has_grpc_port, port_name_problems
from reconciler.planning.plans import (
    Action,
    CreatePairedService,
    DeletePairedService,
    Note,
    NoWrite,
    UpdatePairedService,
    Verdict,
)
from reconciler.planning.references import (
    GRPC_SERVICE_ANNOTATION,
    IGNORE_ANNOTATION,
    MANAGED_NAMESPACE_LABEL,
    MANAGED_NAMESPACE_VALUE,
    SOURCE_ANNOTATION,
    is_ignored,
    quoted,
)
from reconciler.planning.scope import Refusal
from reconciler.planning.settings import PlanningSettings
from reconciler.planning.view import ClusterView

MANAGED_BY_LABEL: Final = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE: Final = "headless-reconciler"
EXPORT_TO_ANNOTATION: Final = "networking.istio.io/exportTo"
PORT_NAME_REASON: Final = "PortNameWithoutProtocol"
CLUSTER_IP: Final = "ClusterIP"
SERVICE_API_VERSION: Final = "v1"

_SERVICE_NAME = re.compile(r"[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?")
"""A Service name: a DNS-1035 label."""


@dataclass(frozen=True, slots=True)
class PairRequest:
    """The headless Service asks for a paired Service of this name."""

    name: str


@dataclass(frozen=True, slots=True)
class Unpaired:
    """No paired Service: those the Service owns go, for ``reason``; ``refusal`` is reported."""

    reason: str
    refusal: Refusal | None = None


@dataclass(frozen=True, slots=True)
class Pairing:
    """What planning one Service yields: actions on it and its twins, and advice."""

    actions: tuple[Action, ...] = ()
    notes: tuple[Note, ...] = ()


def service_key(service: Service) -> ObjectKey:
    return ObjectKey(Kind.SERVICE, service.metadata.namespace, service.metadata.name)


def plan_pairing(service: Service, *, view: ClusterView, settings: PlanningSettings) -> Pairing:
    """Create, update or delete the paired Services of ``service``, or say why not.

    Nothing is planned for a Service out of scope, being deleted (the
    garbage collector takes its twins) or in a namespace being deleted (the
    namespace controller takes everything, and the API refuses a create
    there with 403). Actions come in a fixed order: a refusal or conflict,
    then the write on the wanted twin, then deletions.
    """
    meta = service.metadata
    if meta.deletion_timestamp or not settings.in_scope(meta.namespace):
        return Pairing()
    if _namespace_deleted(meta.namespace, view=view):
        return Pairing()
    key = service_key(service)
    notes = _port_name_notes(service, view=view)
    request = pairing_request(service, view=view, settings=settings)
    if isinstance(request, Refusal):
        return Pairing((NoWrite(key, request.verdict, request.message),), notes)
    actions: list[Action] = []
    if isinstance(request, Unpaired):
        if request.refusal is not None:
            actions.append(NoWrite(key, request.refusal.verdict, request.refusal.message))
        actions.extend(_deletions(service, view=view, keep=None, reason=request.reason))
        return Pairing(tuple(actions), notes)
    wanted = _wanted_twin(service, request.name, view=view, settings=settings)
    if wanted is not None:
        actions.append(wanted)
    reason = f"{meta.name} asks for {request.name} instead"
    actions.extend(_deletions(service, view=view, keep=request.name, reason=reason))
    return Pairing(tuple(actions), notes)


def pairing_request(
    service: Service, *, view: ClusterView, settings: PlanningSettings
) -> PairRequest | Unpaired | Refusal:
    """Whether ``service`` asks for a paired Service, and which name."""
    meta = service.metadata
    if is_ignored(meta.annotations) or _namespace_ignored(meta.namespace, view=view):
        return Unpaired(f"{meta.name} opted out ({IGNORE_ANNOTATION})")
    value = meta.annotations.get(GRPC_SERVICE_ANNOTATION)
    if value is None:
        if not _namespace_managed(meta.namespace, view=view):
            return Unpaired(f"{meta.name} has no {GRPC_SERVICE_ANNOTATION} annotation")
        if not service.is_headless:
            return Unpaired(f"{meta.name} is not headless")
        if not has_grpc_port(service):
            return Unpaired(f"{meta.name} has no gRPC port")
        value = "true"
    asked = asked_name(value, source=meta.name, template=settings.paired_name_template)
    if asked is None:
        return Unpaired(f"{meta.name} asks for none ({GRPC_SERVICE_ANNOTATION}: {value})")
    if not isinstance(asked, str):
        return asked
    if not service.is_headless:
        message = (
            f"Service {meta.name} is not headless (clusterIP {service.spec.cluster_ip}): "
            "only a headless Service gets a paired ClusterIP Service"
        )
        return Unpaired(f"{meta.name} is not headless", Refusal(Verdict.NOT_RECONCILABLE, message))
    if not service.spec.selector:
        message = (
            f"Service {meta.name} has no selector: a paired Service would select no pods, "
            "so none is made"
        )
        return Unpaired(f"{meta.name} has no selector", Refusal(Verdict.NOT_RECONCILABLE, message))
    return PairRequest(asked)


def asked_name(value: str, *, source: str, template: str) -> str | Refusal | None:
    """The name an annotation value asks for: ``true`` the template, ``false`` none (None)."""
    text = value.strip()
    if text.lower() == "false":
        return None
    if text.lower() == "true":
        name, origin = template.format(name=source), f"the paired name template {template!r}"
    else:
        name, origin = text, f"{GRPC_SERVICE_ANNOTATION}: {quoted(value)}"
    if "/" in name:
        problem = (
            "names another namespace: a paired Service lives beside its headless Service "
            "(an ownerReference cannot cross namespaces)"
        )
    elif not _SERVICE_NAME.fullmatch(name):
        problem = (
            f"gives {quoted(name)}, which is not a Service name (lowercase letters, digits "
            "and '-', starting with a letter, at most 63 characters)"
        )
    elif name == source:
        problem = "names the headless Service itself"
    else:
        return name
    return Refusal(Verdict.REFUSED, f"{origin} {problem}")


def candidate_names(service: Service, *, template: str) -> tuple[str, ...]:
    """Every name the Service may ask for, judged from the Service alone.

    The runtime indexes Services by these names, so a change to any Service
    of such a name re-plans the Services that may want it; the planner
    decides whether they do.
    """
    value = service.metadata.annotations.get(GRPC_SERVICE_ANNOTATION)
    if value is None:
        value = "true" if service.is_headless else "false"
    asked = asked_name(value, source=service.metadata.name, template=template)
    return (asked,) if isinstance(asked, str) else ()


def owns(source: Service, candidate: Service) -> bool:
    """Whether ``candidate`` carries all three marks of ``source``'s paired Service."""
    meta = candidate.metadata
    return (
        meta.labels.get(MANAGED_BY_LABEL) == MANAGED_BY_VALUE
        and meta.annotations.get(SOURCE_ANNOTATION) == source.metadata.name
        and any(_is_owner_reference(ref, source) for ref in meta.owner_references)
    )


def owner_reference(source: Service) -> OwnerReference:
    """The controller reference that makes Kubernetes delete a twin with its source."""
    return OwnerReference(
        api_version=SERVICE_API_VERSION,
        kind=str(Kind.SERVICE),
        name=source.metadata.name,
        uid=source.metadata.uid,
        controller=True,
        block_owner_deletion=True,
    )


def desired_paired_service(source: Service, *, name: str) -> Service:
    """The paired Service as created: copied fields and marks, nothing the API fills in."""
    meta = source.metadata
    annotations = {SOURCE_ANNOTATION: meta.name}
    export_to = meta.annotations.get(EXPORT_TO_ANNOTATION)
    if export_to is not None:
        annotations[EXPORT_TO_ANNOTATION] = export_to
    spec = source.spec
    return Service(
        metadata=ObjectMeta(
            name=name,
            namespace=meta.namespace,
            labels={MANAGED_BY_LABEL: MANAGED_BY_VALUE},
            annotations=annotations,
            owner_references=(owner_reference(source),),
        ),
        spec=ServiceSpec(
            type=CLUSTER_IP,
            selector=dict(spec.selector or {}),
            ports=spec.ports,
            ip_families=spec.ip_families,
            ip_family_policy=spec.ip_family_policy,
            internal_traffic_policy=spec.internal_traffic_policy,
        ),
    )


def changed_fields(before: Service, after: Service) -> tuple[str, ...]:
    """The fields a paired Service's update changes, in a fixed order."""
    pairs = (
        ("metadata.annotations", before.metadata.annotations, after.metadata.annotations),
        (
            "metadata.ownerReferences",
            before.metadata.owner_references,
            after.metadata.owner_references,
        ),
        ("spec.type", before.spec.type, after.spec.type),
        ("spec.selector", before.spec.selector, after.spec.selector),
        ("spec.ports", before.spec.ports, after.spec.ports),
        ("spec.ipFamilies", before.spec.ip_families, after.spec.ip_families),
        ("spec.ipFamilyPolicy", before.spec.ip_family_policy, after.spec.ip_family_policy),
        (
            "spec.internalTrafficPolicy",
            before.spec.internal_traffic_policy,
            after.spec.internal_traffic_policy,
        ),
    )
    return tuple(name for name, old, new in pairs if old != new)


# -- the wanted twin ---------------------------------------------------------------------------


def _wanted_twin(
    source: Service, name: str, *, view: ClusterView, settings: PlanningSettings
) -> Action | None:
    key = service_key(source)
    namespace = source.metadata.namespace
    rivals = _rivals(source, name, view=view, settings=settings)
    if rivals:
        askers = ", ".join(sorted((source.metadata.name, *rivals)))
        return NoWrite(
            key,
            Verdict.CONFLICT,
            f"Service {namespace}/{name} is asked for by {askers}: none of them gets it until "
            f"only one asks for it (give the others {GRPC_SERVICE_ANNOTATION}: <another-name>)",
        )
    twin_key = ObjectKey(Kind.SERVICE, namespace, name)
    desired = desired_paired_service(source, name=name)
    existing = view.service(namespace, name)
    if existing is None:
        return CreatePairedService(key=twin_key, source=key, after=desired)
    if existing.metadata.deletion_timestamp:
        return None
    if not owns(source, existing):
        return NoWrite(key, Verdict.CONFLICT, _foreign_message(source, existing))
    if is_ignored(existing.metadata.annotations):
        return None
    return _update(existing, desired=desired, twin_key=twin_key, source_key=key)


def _rivals(
    source: Service, name: str, *, view: ClusterView, settings: PlanningSettings
) -> list[str]:
    """Other Services of the namespace that ask for ``name`` too."""
    rivals = []
    for other in view.services_in(source.metadata.namespace):
        meta = other.metadata
        if meta.name == source.metadata.name or meta.deletion_timestamp:
            continue
        if name not in candidate_names(other, template=settings.paired_name_template):
            continue
        if pairing_request(other, view=view, settings=settings) == PairRequest(name):
            rivals.append(meta.name)
    return rivals


def _update(
    existing: Service, *, desired: Service, twin_key: ObjectKey, source_key: ObjectKey
) -> UpdatePairedService | None:
    """Our fields as desired, everything else as it is; None when nothing differs."""
    meta = existing.metadata
    annotations = {k: v for k, v in meta.annotations.items() if k != EXPORT_TO_ANNOTATION}
    annotations.update(desired.metadata.annotations)
    (ours,) = desired.metadata.owner_references
    owners = tuple(ours if ref.uid == ours.uid else ref for ref in meta.owner_references)
    wanted = desired.spec
    spec = msgspec.structs.replace(
        existing.spec,
        type=wanted.type,
        selector=wanted.selector,
        ports=wanted.ports,
        ip_families=wanted.ip_families or existing.spec.ip_families,
        ip_family_policy=wanted.ip_family_policy or existing.spec.ip_family_policy,
        internal_traffic_policy=(
            wanted.internal_traffic_policy or existing.spec.internal_traffic_policy
        ),
    )
    after = msgspec.structs.replace(
        existing,
        metadata=msgspec.structs.replace(meta, annotations=annotations, owner_references=owners),
        spec=spec,
    )
    fields = changed_fields(existing, after)
    if not fields:
        return None
    return UpdatePairedService(
        key=twin_key,
        source=source_key,
        resource_version=meta.resource_version,
        before=existing,
        after=after,
        fields=fields,
    )


def _foreign_message(source: Service, existing: Service) -> str:
    meta = existing.metadata
    name = source.metadata.name
    service = f"Service {meta.namespace}/{meta.name}"
    labelled = meta.labels.get(MANAGED_BY_LABEL) == MANAGED_BY_VALUE
    sourced = meta.annotations.get(SOURCE_ANNOTATION) == name
    if (
        labelled
        and sourced
        and any(_is_owner_reference_by_name(r, name) for r in meta.owner_references)
    ):
        return (
            f"{service} was paired with an earlier Service {name} (its owner reference has "
            "another uid): it is left to the garbage collector, and paired anew once it is gone"
        )
    marks = (
        (labelled, f"the label {MANAGED_BY_LABEL}={MANAGED_BY_VALUE}"),
        (sourced, f"the annotation {SOURCE_ANNOTATION}={name}"),
        (
            any(_is_owner_reference(ref, source) for ref in meta.owner_references),
            f"a controller ownerReference to Service {name}",
        ),
    )
    missing = _enumerate([mark for present, mark in marks if not present])
    return (
        f"{service} exists and is not headless-reconciler's (it lacks {missing}): it is "
        f"left as it is; delete or rename it, or ask for another name with "
        f"{GRPC_SERVICE_ANNOTATION}: <name>"
    )


# -- twins no longer wanted --------------------------------------------------------------------


def _deletions(
    source: Service, *, view: ClusterView, keep: str | None, reason: str
) -> Iterator[DeletePairedService]:
    """Delete every twin ``source`` owns but ``keep``, unless it is ignored or already going."""
    key = service_key(source)
    for twin in _owned_twins(source, view=view):
        meta = twin.metadata
        if meta.name == keep or meta.deletion_timestamp or is_ignored(meta.annotations):
            continue
        yield DeletePairedService(
            key=service_key(twin),
            source=key,
            uid=meta.uid,
            resource_version=meta.resource_version,
            before=twin,
            reason=reason,
        )


def _owned_twins(source: Service, *, view: ClusterView) -> list[Service]:
    name = source.metadata.name
    found = [
        other
        for other in view.services_in(source.metadata.namespace)
        if other.metadata.annotations.get(SOURCE_ANNOTATION) == name and owns(source, other)
    ]
    return sorted(found, key=lambda twin: twin.metadata.name)


# -- advice ------------------------------------------------------------------------------------


def _port_name_notes(service: Service, *, view: ClusterView) -> tuple[Note, ...]:
    """A warning for gRPC-looking ports Istio cannot name, on Services that opted in."""
    meta = service.metadata
    if not service.is_headless or is_ignored(meta.annotations):
        return ()
    asked = GRPC_SERVICE_ANNOTATION in meta.annotations
    if not asked and not _namespace_managed(meta.namespace, view=view):
        return ()
    problems = port_name_problems(service.spec.ports)
    if not problems:
        return ()
    names, it = ("its name has", "it") if len(problems) == 1 else ("their names have", "them")
    message = (
        f"{'; '.join(problems)}, but {names} no protocol prefix Istio understands "
        "(<protocol>[-<suffix>]): where Istio goes by the name it proxies plain TCP and "
        f"Envoy does not balance gRPC requests; name {it} grpc or grpc-<suffix>"
    )
    return (Note(service_key(service), PORT_NAME_REASON, message),)


# -- helpers -----------------------------------------------------------------------------------


def _is_owner_reference(ref: OwnerReference, source: Service) -> bool:
    return _is_owner_reference_by_name(ref, source.metadata.name) and (
        ref.uid == source.metadata.uid
    )


def _is_owner_reference_by_name(ref: OwnerReference, name: str) -> bool:
    return ref.kind == str(Kind.SERVICE) and ref.name == name and ref.controller is True


def _namespace_managed(name: str, *, view: ClusterView) -> bool:
    namespace = view.namespace(name)
    labels = namespace.metadata.labels if namespace is not None else {}
    return labels.get(MANAGED_NAMESPACE_LABEL) == MANAGED_NAMESPACE_VALUE


def _namespace_ignored(name: str, *, view: ClusterView) -> bool:
    namespace = view.namespace(name)
    return namespace is not None and is_ignored(namespace.metadata.annotations)


def _namespace_deleted(name: str, *, view: ClusterView) -> bool:
    namespace = view.namespace(name)
    return namespace is not None and namespace.metadata.deletion_timestamp is not None


def _enumerate(items: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return " and ".join(filter(None, (", ".join(items[:-1]), items[-1])))
