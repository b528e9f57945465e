"""The resource kinds the simulated API server serves, described once.

Everything else in the simulator (routing, discovery, storage keys, validation,
serialisation order) looks a kind up here, so adding a kind is one entry.
Built-in kinds and custom resources differ in ways clients can see (list
``continue`` handling, key order of serialised objects, bookmark shape, which
patch types are accepted), so each kind says which it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ResourceKind:
    """One served resource: where it lives in the URL space and how it behaves."""

    group: str
    """API group, ``""`` for the core group."""
    versions: tuple[str, ...]
    """Served versions, the storage version first."""
    plural: str
    singular: str
    kind: str
    namespaced: bool
    builtin: bool
    """True for Kubernetes' own types, False for custom resources (Istio CRDs)."""
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    """Subresources such as ``status``; each is served at ``.../<name>/<sub>``."""
    verbs: tuple[str, ...] = field(
        default=("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
    )

    @property
    def key(self) -> str:
        """Storage key: one store per resource, whatever version a client uses."""
        return f"{self.group}/{self.plural}" if self.group else self.plural

    @property
    def storage_version(self) -> str:
        return self.versions[0]

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def qualified_resource(self) -> str:
        """``serviceentries.networking.istio.io``, the name used in Conflict/NotFound messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def api_version(self, version: str | None = None) -> str:
        """``v1`` for core, ``group/version`` otherwise."""
        chosen = version or self.storage_version
        return f"{self.group}/{chosen}" if self.group else chosen


_BUILTIN_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
# Real CRD discovery lists verbs in this order (fidelity README, surprise 12).
_CRD_VERBS = ("delete", "deletecollection", "get", "list", "patch", "create", "update", "watch")

NAMESPACES = ResourceKind(
    group="",
    versions=("v1",),
    plural="namespaces",
    singular="namespace",
    kind="Namespace",
    namespaced=False,
    builtin=True,
    short_names=("ns",),
    subresources=("status", "finalize"),
    verbs=("create", "delete", "get", "list", "patch", "update", "watch"),
)
NODES = ResourceKind(
    group="",
    versions=("v1",),
    plural="nodes",
    singular="node",
    kind="Node",
    namespaced=False,
    builtin=True,
    short_names=("no",),
    subresources=("status",),
    verbs=_BUILTIN_VERBS,
)
PODS = ResourceKind(
    group="",
    versions=("v1",),
    plural="pods",
    singular="pod",
    kind="Pod",
    namespaced=True,
    builtin=True,
    short_names=("po",),
    categories=("all",),
    subresources=("status",),
    verbs=_BUILTIN_VERBS,
)
SERVICES = ResourceKind(
    group="",
    versions=("v1",),
    plural="services",
    singular="service",
    kind="Service",
    namespaced=True,
    builtin=True,
    short_names=("svc",),
    categories=("all",),
    subresources=("status",),
    verbs=("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"),
)
CONFIG_MAPS = ResourceKind(
    group="",
    versions=("v1",),
    plural="configmaps",
    singular="configmap",
    kind="ConfigMap",
    namespaced=True,
    builtin=True,
    short_names=("cm",),
    verbs=_BUILTIN_VERBS,
)
"""Served because the recorded 410/compaction behaviour (fidelity 06) was shown on them."""
CORE_EVENTS = ResourceKind(
    group="",
    versions=("v1",),
    plural="events",
    singular="event",
    kind="Event",
    namespaced=True,
    builtin=True,
    short_names=("ev",),
    verbs=_BUILTIN_VERBS,
)
EVENTS = ResourceKind(
    group="events.k8s.io",
    versions=("v1",),
    plural="events",
    singular="event",
    kind="Event",
    namespaced=True,
    builtin=True,
    short_names=("ev",),
    verbs=_BUILTIN_VERBS,
)
ENDPOINT_SLICES = ResourceKind(
    group="discovery.k8s.io",
    versions=("v1",),
    plural="endpointslices",
    singular="endpointslice",
    kind="EndpointSlice",
    namespaced=True,
    builtin=True,
    verbs=_BUILTIN_VERBS,
)
LEASES = ResourceKind(
    group="coordination.k8s.io",
    versions=("v1",),
    plural="leases",
    singular="lease",
    kind="Lease",
    namespaced=True,
    builtin=True,
    verbs=_BUILTIN_VERBS,
)
SERVICE_ENTRIES = ResourceKind(
    group="networking.istio.io",
    versions=("v1", "v1beta1", "v1alpha3"),
    plural="serviceentries",
    singular="serviceentry",
    kind="ServiceEntry",
    namespaced=True,
    builtin=False,
    short_names=("se",),
    categories=("istio-io", "networking-istio-io"),
    subresources=("status",),
    verbs=_CRD_VERBS,
)
WORKLOAD_ENTRIES = ResourceKind(
    group="networking.istio.io",
    versions=("v1", "v1beta1", "v1alpha3"),
    plural="workloadentries",
    singular="workloadentry",
    kind="WorkloadEntry",
    namespaced=True,
    builtin=False,
    short_names=("we",),
    categories=("istio-io", "networking-istio-io"),
    subresources=("status",),
    verbs=_CRD_VERBS,
)

ALL_KINDS: tuple[ResourceKind, ...] = (
    NAMESPACES,
    NODES,
    PODS,
    SERVICES,
    CONFIG_MAPS,
    CORE_EVENTS,
    EVENTS,
    ENDPOINT_SLICES,
    LEASES,
    SERVICE_ENTRIES,
    WORKLOAD_ENTRIES,
)


def find_kind(group: str, version: str, plural: str) -> ResourceKind | None:
    """The kind served at ``/<group>/<version>/<plural>``, or None (a plain-text 404)."""
    for candidate in ALL_KINDS:
        if (
            candidate.group == group
            and candidate.plural == plural
            and version in candidate.versions
        ):
            return candidate
    return None


def storage_key_for_kind(kind: str, group: str) -> ResourceKind | None:
    """Look a kind up by ``kind`` and group, as ownerReferences and involvedObjects name it."""
    for candidate in ALL_KINDS:
        if candidate.kind == kind and candidate.group == group:
            return candidate
    return None
