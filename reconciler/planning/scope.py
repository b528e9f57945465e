"""Is this entry ours, and what does it follow? (SPEC section 2: opt-in, never by surprise.)

The answer for a ServiceEntry or WorkloadEntry is one of three:

- ``None``: not managed. Nothing is planned and nothing is reported: the
  object did not ask (no annotation, not a STATIC entry naming a headless
  Service of a namespace that opted in), opted out with
  ``headless-reconciler.io/ignore`` (on itself or on its Namespace), is being
  deleted, or lies outside the namespaces in scope.
- a :class:`Refusal`: the object asked, but gets no write. ``NOT_RECONCILABLE``
  for shapes that are not the controller's to write (workloadSelector, a
  resolution other than STATIC, auto-registered WorkloadEntries);
  ``REFUSED`` for references that are not allowed or do not resolve
  (cross-namespace, a missing or non-headless Service, a malformed value).
- a target: the headless Service (and maybe one pod) or the pod it follows.

How an entry opts in, and what it then follows:

- annotations ``headless-reconciler.io/service`` and/or ``.../pod`` (explicit).
  A host ``<pod>.<svc>.<ns>.svc.<cluster-domain>`` completes them: with
  ``.../pod`` alone it names the Service; with ``.../service`` alone, hosts
  naming exactly one pod of that Service make the entry pod-level (several
  pods are refused as ambiguous; the ``.../pod`` annotation settles it);
- otherwise, in a namespace labelled ``headless-reconciler.io/managed=enabled``,
  a STATIC entry without workloadSelector whose hosts name exactly one headless
  Service (or one pod of one) *of that namespace*. Hosts naming other
  namespaces, missing or non-headless Services are not a request and are
  passed over; hosts naming several candidates are refused as ambiguous.
"""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.models.projections import ObjectMeta, Service, ServiceEntry, WorkloadEntry
from reconciler.planning.plans import Verdict
from reconciler.planning.references import (
    AUTO_REGISTRATION_ANNOTATION,
    MANAGED_NAMESPACE_LABEL,
    MANAGED_NAMESPACE_VALUE,
    POD_ANNOTATION,
    SERVICE_ANNOTATION,
    NameRef,
    ServiceRef,
    hosts_service_refs,
    is_ignored,
    parse_name_ref,
    quoted,
)
from reconciler.planning.settings import ALLOW_CROSS_NAMESPACE_FLAG, PlanningSettings
from reconciler.planning.view import ClusterView

STATIC = "STATIC"
WORKLOAD_GROUP = "WorkloadGroup"


@dataclass(frozen=True, slots=True)
class Refusal:
    """An entry that asked to be managed but gets no write, and the sentence that says why."""

    verdict: Verdict
    message: str


@dataclass(frozen=True, slots=True)
class ServiceTarget:
    """What a managed ServiceEntry follows: a headless Service, and one pod of it or all."""

    service: Service
    pod: str | None


@dataclass(frozen=True, slots=True)
class PodTarget:
    """The pod a managed WorkloadEntry follows."""

    namespace: str
    pod: str


def service_entry_scope(
    entry: ServiceEntry, *, view: ClusterView, settings: PlanningSettings
) -> ServiceTarget | Refusal | None:
    """Whether the controller manages this ServiceEntry, and what it follows."""
    meta = entry.metadata
    if _left_alone(meta, view=view, settings=settings):
        return None
    if SERVICE_ANNOTATION in meta.annotations or POD_ANNOTATION in meta.annotations:
        unreconcilable = _unreconcilable_shape(entry)
        if unreconcilable is not None:
            return Refusal(Verdict.NOT_RECONCILABLE, unreconcilable)
        found: ServiceRef | Refusal | None = _annotated_ref(entry, settings=settings)
    elif _namespace_managed(meta.namespace, view=view) and _unreconcilable_shape(entry) is None:
        found = _hosts_ref(entry, view=view, settings=settings)
    else:
        return None
    if found is None or isinstance(found, Refusal):
        return found
    refused = _reference_refusal(meta, target=found, settings=settings)
    if refused is not None:
        return refused
    service = view.service(found.namespace, found.service)
    if service is None:
        return Refusal(Verdict.REFUSED, f"Service {found.namespace}/{found.service} not found")
    if not service.is_headless:
        return Refusal(
            Verdict.REFUSED,
            f"Service {found.namespace}/{found.service} is not headless "
            f"(clusterIP {service.spec.cluster_ip}): only a headless Service's pods are followed",
        )
    return ServiceTarget(service=service, pod=found.pod)


def workload_entry_scope(
    entry: WorkloadEntry, *, view: ClusterView, settings: PlanningSettings
) -> PodTarget | Refusal | None:
    """Whether the controller manages this WorkloadEntry, and which pod it follows."""
    meta = entry.metadata
    value = meta.annotations.get(POD_ANNOTATION)
    if value is None or _left_alone(meta, view=view, settings=settings):
        return None
    registered = _auto_registration(meta)
    if registered is not None:
        return Refusal(Verdict.NOT_RECONCILABLE, registered)
    ref = parse_name_ref(value, own_namespace=meta.namespace)
    if ref is None:
        return _malformed(POD_ANNOTATION, value, "<pod>")
    target = PodTarget(namespace=ref.namespace, pod=ref.name)
    refused = _reference_refusal(meta, target=target, settings=settings)
    if refused is not None:
        return refused
    return target


def _left_alone(meta: ObjectMeta, *, view: ClusterView, settings: PlanningSettings) -> bool:
    if meta.deletion_timestamp or not settings.in_scope(meta.namespace):
        return True
    if is_ignored(meta.annotations):
        return True
    namespace = view.namespace(meta.namespace)
    return namespace is not None and is_ignored(namespace.metadata.annotations)


def _namespace_managed(name: str, *, view: ClusterView) -> bool:
    namespace = view.namespace(name)
    if namespace is None:
        return False
    return namespace.metadata.labels.get(MANAGED_NAMESPACE_LABEL) == MANAGED_NAMESPACE_VALUE


def _unreconcilable_shape(entry: ServiceEntry) -> str | None:
    if entry.spec.workload_selector is not None:
        return "it has a workloadSelector: istiod picks its endpoints, there is no list to keep"
    resolution = entry.spec.resolution or "NONE"
    if resolution != STATIC:
        return f"its resolution is {resolution}: only STATIC ServiceEntries list pod addresses"
    return None


def _auto_registration(meta: ObjectMeta) -> str | None:
    group = meta.annotations.get(AUTO_REGISTRATION_ANNOTATION)
    if group is not None:
        return f"it is auto-registered ({AUTO_REGISTRATION_ANNOTATION}: {group}): istiod owns it"
    for owner in meta.owner_references:
        if owner.kind == WORKLOAD_GROUP:
            return f"it is owned by WorkloadGroup {owner.name}: istiod owns it"
    return None


def _annotated_ref(entry: ServiceEntry, *, settings: PlanningSettings) -> ServiceRef | Refusal:
    meta = entry.metadata
    pod_value = meta.annotations.get(POD_ANNOTATION)
    pod_ref = None if pod_value is None else parse_name_ref(pod_value, own_namespace=meta.namespace)
    if pod_value is not None and pod_ref is None:
        return _malformed(POD_ANNOTATION, pod_value, "<pod>")
    service_value = meta.annotations.get(SERVICE_ANNOTATION)
    if service_value is None:
        assert pod_ref is not None
        return _pod_host_ref(entry, pod_ref=pod_ref, settings=settings)
    service_ref = parse_name_ref(service_value, own_namespace=meta.namespace)
    if service_ref is None:
        return _malformed(SERVICE_ANNOTATION, service_value, "<service>")
    if pod_ref is None:
        return _service_host_pod(entry, service_ref=service_ref, settings=settings)
    if pod_ref.explicit_namespace and pod_ref.namespace != service_ref.namespace:
        return Refusal(
            Verdict.REFUSED,
            f"{POD_ANNOTATION} names a pod of namespace {pod_ref.namespace} but "
            f"{SERVICE_ANNOTATION} a Service of namespace {service_ref.namespace}",
        )
    return ServiceRef(service_ref.namespace, service_ref.name, pod_ref.name)


def _service_host_pod(
    entry: ServiceEntry, *, service_ref: NameRef, settings: PlanningSettings
) -> ServiceRef | Refusal:
    """The annotated Service, narrowed to one pod if the hosts name exactly one of its pods."""
    refs = {
        ref
        for ref in _host_refs(entry, settings=settings)
        if ref.pod is not None
        and (ref.namespace, ref.service) == (service_ref.namespace, service_ref.name)
    }
    if len(refs) > 1:
        return _ambiguous(refs)
    pod = refs.pop().pod if refs else None
    return ServiceRef(service_ref.namespace, service_ref.name, pod)


def _pod_host_ref(
    entry: ServiceEntry, *, pod_ref: NameRef, settings: PlanningSettings
) -> ServiceRef | Refusal:
    """The Service of a pod annotation, from a host ``<pod>.<svc>.<ns>.svc.<domain>``."""
    refs = {
        ref
        for ref in _host_refs(entry, settings=settings)
        if ref.pod == pod_ref.name
        and (not pod_ref.explicit_namespace or ref.namespace == pod_ref.namespace)
    }
    if len(refs) == 1:
        return refs.pop()
    if not refs:
        return Refusal(
            Verdict.REFUSED,
            f"{POD_ANNOTATION}: {pod_ref.name} names no Service: add {SERVICE_ANNOTATION}, or a "
            f"host {pod_ref.name}.<service>.<namespace>.svc.{settings.cluster_domain}",
        )
    return _ambiguous(refs)


def _hosts_ref(
    entry: ServiceEntry, *, view: ClusterView, settings: PlanningSettings
) -> ServiceRef | Refusal | None:
    """The one headless Service (or pod of one) of the entry's namespace its hosts name."""
    namespace = entry.metadata.namespace
    refs = set()
    for ref in _host_refs(entry, settings=settings):
        service = view.service(ref.namespace, ref.service) if ref.namespace == namespace else None
        if service is not None and service.is_headless:
            refs.add(ref)
    if len(refs) > 1:
        return _ambiguous(refs)
    return refs.pop() if refs else None


def _host_refs(entry: ServiceEntry, *, settings: PlanningSettings) -> tuple[ServiceRef, ...]:
    return hosts_service_refs(
        entry.spec.hosts,
        namespace=entry.metadata.namespace,
        cluster_domain=settings.cluster_domain,
    )


def _reference_refusal(
    meta: ObjectMeta, *, target: ServiceRef | PodTarget, settings: PlanningSettings
) -> Refusal | None:
    """Cross-namespace references are refused unless the pair is allowed and in scope."""
    from_namespace, to_namespace = meta.namespace, target.namespace
    if not settings.allows_reference(from_namespace=from_namespace, to_namespace=to_namespace):
        return Refusal(
            Verdict.REFUSED,
            f"{_describe(target)} is in another namespace: references from namespace "
            f"{from_namespace} into namespace {to_namespace} are not allowed "
            f"(allow them with {ALLOW_CROSS_NAMESPACE_FLAG} {from_namespace}={to_namespace})",
        )
    if not settings.in_scope(to_namespace):
        return Refusal(
            Verdict.REFUSED,
            f"{_describe(target)} is in namespace {to_namespace}, outside the controller's scope",
        )
    return None


def _malformed(annotation: str, value: str, expected: str) -> Refusal:
    return Refusal(
        Verdict.REFUSED,
        f"{annotation}: {quoted(value)} is not {expected} or <namespace>/{expected}",
    )


def _ambiguous(refs: set[ServiceRef]) -> Refusal:
    ordered = sorted(refs, key=lambda ref: (ref.namespace, ref.service, ref.pod or ""))
    named = ", ".join(_describe(ref) for ref in ordered)
    return Refusal(
        Verdict.REFUSED,
        f"hosts name more than one Service or pod ({named}): "
        f"choose one with {SERVICE_ANNOTATION} (and {POD_ANNOTATION})",
    )


def _describe(target: ServiceRef | PodTarget) -> str:
    if isinstance(target, PodTarget):
        return f"pod {target.namespace}/{target.pod}"
    service = f"Service {target.namespace}/{target.service}"
    return service if target.pod is None else f"pod {target.pod} of {service}"
