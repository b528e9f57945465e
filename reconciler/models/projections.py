"""Compact, typed projections of the API objects the controller caches.

These are what the watch layer decodes raw JSON into and what the stores hold
(SPEC section 8: caches keep compact projections, not whole objects). Each
struct names only the fields the planner reads, so decoding skips the rest of
the document (msgspec ignores unknown fields without building them), and a
cached object costs a fraction of the client library's generated model.

One exception to "only what the planner reads": the endpoint of a ServiceEntry
(Istio's ``WorkloadEntry`` message) carries every field of Istio's schema. The
controller rewrites ``spec.endpoints`` as a whole list (a JSON merge patch
replaces lists), so anything not modelled here would be dropped from the user's
objects. Istio's CRDs prune unknown fields, so the stored objects can hold no
more than these.

All structs are frozen (safe to share between the store and plans) and use the
API's camelCase names on the wire.
"""

from __future__ import annotations

import msgspec

# -- shared ----------------------------------------------------------------------------------------


class OwnerReference(msgspec.Struct, frozen=True, omit_defaults=True):
    api_version: str = msgspec.field(name="apiVersion", default="")
    kind: str = ""
    name: str = ""
    uid: str = ""
    controller: bool | None = None
    block_owner_deletion: bool | None = msgspec.field(name="blockOwnerDeletion", default=None)


class ObjectMeta(msgspec.Struct, frozen=True, omit_defaults=True):
    name: str = ""
    namespace: str = ""
    uid: str = ""
    resource_version: str = msgspec.field(name="resourceVersion", default="")
    generation: int = 0
    labels: dict[str, str] = msgspec.field(default_factory=dict)
    annotations: dict[str, str] = msgspec.field(default_factory=dict)
    owner_references: tuple[OwnerReference, ...] = msgspec.field(name="ownerReferences", default=())
    deletion_timestamp: str | None = msgspec.field(name="deletionTimestamp", default=None)


class Condition(msgspec.Struct, frozen=True, omit_defaults=True):
    """A status condition, in the shape both Kubernetes and Istio use."""

    type: str = ""
    status: str = ""
    reason: str | None = None
    message: str | None = None
    last_probe_time: str | None = msgspec.field(name="lastProbeTime", default=None)
    last_transition_time: str | None = msgspec.field(name="lastTransitionTime", default=None)
    observed_generation: int | None = msgspec.field(name="observedGeneration", default=None)


# -- Namespace -------------------------------------------------------------------------------------


class NamespaceStatus(msgspec.Struct, frozen=True, omit_defaults=True):
    phase: str = ""


class Namespace(msgspec.Struct, frozen=True, omit_defaults=True):
    metadata: ObjectMeta = ObjectMeta()
    status: NamespaceStatus = NamespaceStatus()


# -- Service ---------------------------------------------------------------------------------------


class ServicePort(msgspec.Struct, frozen=True, omit_defaults=True):
    name: str = ""
    port: int = 0
    target_port: int | str | None = msgspec.field(name="targetPort", default=None)
    protocol: str = "TCP"
    app_protocol: str | None = msgspec.field(name="appProtocol", default=None)


class ServiceSpec(msgspec.Struct, frozen=True, omit_defaults=True):
    type: str = "ClusterIP"
    cluster_ip: str | None = msgspec.field(name="clusterIP", default=None)
    selector: dict[str, str] | None = None
    ports: tuple[ServicePort, ...] = ()
    ip_families: tuple[str, ...] = msgspec.field(name="ipFamilies", default=())
    ip_family_policy: str | None = msgspec.field(name="ipFamilyPolicy", default=None)
    internal_traffic_policy: str | None = msgspec.field(name="internalTrafficPolicy", default=None)
    publish_not_ready_addresses: bool = msgspec.field(
        name="publishNotReadyAddresses", default=False
    )


class Service(msgspec.Struct, frozen=True, omit_defaults=True):
    metadata: ObjectMeta = ObjectMeta()
    spec: ServiceSpec = ServiceSpec()

    @property
    def is_headless(self) -> bool:
        return self.spec.cluster_ip == "None"


# -- EndpointSlice ---------------------------------------------------------------------------------


class EndpointConditions(msgspec.Struct, frozen=True, omit_defaults=True, gc=False):
    ready: bool | None = None
    serving: bool | None = None
    terminating: bool | None = None


class TargetRef(msgspec.Struct, frozen=True, omit_defaults=True, gc=False):
    kind: str = ""
    name: str = ""
    uid: str = ""


class Endpoint(msgspec.Struct, frozen=True, omit_defaults=True, gc=False):
    addresses: tuple[str, ...] = ()
    conditions: EndpointConditions = EndpointConditions()
    hostname: str | None = None
    target_ref: TargetRef | None = msgspec.field(name="targetRef", default=None)


class EndpointPort(msgspec.Struct, frozen=True, omit_defaults=True, gc=False):
    name: str | None = None
    port: int | None = None
    protocol: str | None = None
    app_protocol: str | None = msgspec.field(name="appProtocol", default=None)


class EndpointSlice(msgspec.Struct, frozen=True, omit_defaults=True):
    metadata: ObjectMeta = ObjectMeta()
    address_type: str = msgspec.field(name="addressType", default="")
    # The API sends ``null`` for a slice with no endpoints (the controller's placeholder).
    endpoints: tuple[Endpoint, ...] | None = None
    ports: tuple[EndpointPort, ...] | None = None


POD_KIND = "Pod"
_SHARED_CONDITIONS: dict[EndpointConditions, EndpointConditions] = {}
"""One instance per combination of conditions seen (at most 27)."""


def share_repeated_values(endpoint_slice: EndpointSlice) -> EndpointSlice:
    """Make a freshly decoded slice's endpoints share what they repeat; return the slice.

    Endpoints are most of the cache (SPEC section 8), and most of an endpoint
    repeats: every ``conditions`` is one of a handful of combinations, every
    ``targetRef.kind`` is ``Pod``, and a StatefulSet pod's ``hostname`` is its
    ``targetRef`` name. The decoder builds a new object for each; here equal
    values become one shared object, which is about a third of an endpoint.
    Only objects nobody else holds yet may be given: fields are replaced in
    place (by equal values), which is why this is done right after decoding.
    """
    assign = msgspec.structs.force_setattr
    for endpoint in endpoint_slice.endpoints or ():
        conditions = endpoint.conditions
        shared = _SHARED_CONDITIONS.setdefault(conditions, conditions)
        if shared is not conditions:
            assign(endpoint, "conditions", shared)
        target = endpoint.target_ref
        if target is None:
            continue
        if target.kind == POD_KIND:
            assign(target, "kind", POD_KIND)
        if endpoint.hostname == target.name:
            assign(endpoint, "hostname", target.name)
    return endpoint_slice


# -- Istio -----------------------------------------------------------------------------------------


class WorkloadSpec(msgspec.Struct, frozen=True, omit_defaults=True):
    """Istio's ``WorkloadEntry`` message: a ServiceEntry endpoint or a WorkloadEntry's spec.

    Every field of Istio's schema is here (see the module docstring for why).
    """

    address: str | None = None
    ports: dict[str, int] | None = None
    labels: dict[str, str] | None = None
    network: str | None = None
    locality: str | None = None
    weight: int | None = None
    service_account: str | None = msgspec.field(name="serviceAccount", default=None)


class ServiceEntryPort(msgspec.Struct, frozen=True, omit_defaults=True):
    number: int = 0
    name: str = ""
    protocol: str | None = None
    target_port: int | None = msgspec.field(name="targetPort", default=None)


class WorkloadSelector(msgspec.Struct, frozen=True, omit_defaults=True):
    labels: dict[str, str] | None = None


class ServiceEntrySpec(msgspec.Struct, frozen=True, omit_defaults=True):
    hosts: tuple[str, ...] = ()
    addresses: tuple[str, ...] | None = None
    ports: tuple[ServiceEntryPort, ...] | None = None
    location: str | None = None
    resolution: str | None = None
    endpoints: tuple[WorkloadSpec, ...] | None = None
    workload_selector: WorkloadSelector | None = msgspec.field(
        name="workloadSelector", default=None
    )
    export_to: tuple[str, ...] | None = msgspec.field(name="exportTo", default=None)
    subject_alt_names: tuple[str, ...] | None = msgspec.field(name="subjectAltNames", default=None)


class ServiceEntry(msgspec.Struct, frozen=True, omit_defaults=True):
    metadata: ObjectMeta = ObjectMeta()
    spec: ServiceEntrySpec = ServiceEntrySpec()


class IstioStatus(msgspec.Struct, frozen=True, omit_defaults=True):
    conditions: tuple[Condition, ...] | None = None
    observed_generation: int | str | None = msgspec.field(name="observedGeneration", default=None)


class WorkloadEntry(msgspec.Struct, frozen=True, omit_defaults=True):
    metadata: ObjectMeta = ObjectMeta()
    spec: WorkloadSpec = WorkloadSpec()
    status: IstioStatus | None = None


# -- Event -----------------------------------------------------------------------------------------


class EventRecord(msgspec.Struct, frozen=True, omit_defaults=True):
    """An Event the controller created; only its identity is ever read back."""

    metadata: ObjectMeta = ObjectMeta()
