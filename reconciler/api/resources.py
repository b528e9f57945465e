"""The resources the controller talks to, described once from the client's side.

A :class:`Resource` says where a kind lives in the API's URL space (group,
version, plural, whether it is namespaced) and which compact projection its
JSON decodes into. The client builds every path from it and decodes every
answer through it, so no other module spells a URL or parses a response.

Istio's kinds are addressed as ``networking.istio.io/v1``, served since Istio
1.22 alongside the older ``v1beta1``/``v1alpha3`` (same storage, same objects).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import msgspec

from reconciler.models import projections
from reconciler.models.refs import Kind


class Projection(Protocol):
    """What every projection has: the object's metadata."""

    @property
    def metadata(self) -> projections.ObjectMeta: ...


P = TypeVar("P", bound=Projection)

_object_decoders: dict[type[Any], msgspec.json.Decoder[Any]] = {}


def _object_decoder(projection: type[P]) -> msgspec.json.Decoder[P]:
    decoder = _object_decoders.get(projection)
    if decoder is None:
        decoder = _object_decoders[projection] = msgspec.json.Decoder(projection)
    return decoder


@dataclass(frozen=True, slots=True)
class Resource(Generic[P]):
    """One API resource, and the projection its objects decode into."""

    group: str
    """API group, ``""`` for the core group."""
    version: str
    plural: str
    kind: str
    namespaced: bool
    projection: type[P]

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def label(self) -> str:
        """The name metrics and logs use for this resource."""
        return self.plural

    def path(
        self, *, namespace: str | None = None, name: str | None = None, subresource: str = ""
    ) -> str:
        """The URL path of the collection, or of one object (and its subresource).

        ``namespace=None`` on a namespaced resource means all namespaces, which
        only a collection can be asked for.
        """
        root = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            root = f"{root}/namespaces/{namespace}"
        elif self.namespaced and name is not None:
            raise ValueError(f"{self.plural} {name!r}: a namespaced object needs a namespace")
        collection = f"{root}/{self.plural}"
        if name is None:
            return collection
        return f"{collection}/{name}/{subresource}" if subresource else f"{collection}/{name}"

    def decode(self, payload: bytes) -> P:
        """One object (a GET or write answer) as this resource's projection."""
        return _object_decoder(self.projection).decode(payload)


NAMESPACES = Resource(
    group="",
    version="v1",
    plural="namespaces",
    kind="Namespace",
    namespaced=False,
    projection=projections.Namespace,
)
SERVICES = Resource(
    group="",
    version="v1",
    plural="services",
    kind="Service",
    namespaced=True,
    projection=projections.Service,
)
ENDPOINT_SLICES = Resource(
    group="discovery.k8s.io",
    version="v1",
    plural="endpointslices",
    kind="EndpointSlice",
    namespaced=True,
    projection=projections.EndpointSlice,
)
SERVICE_ENTRIES = Resource(
    group="networking.istio.io",
    version="v1",
    plural="serviceentries",
    kind="ServiceEntry",
    namespaced=True,
    projection=projections.ServiceEntry,
)
WORKLOAD_ENTRIES = Resource(
    group="networking.istio.io",
    version="v1",
    plural="workloadentries",
    kind="WorkloadEntry",
    namespaced=True,
    projection=projections.WorkloadEntry,
)

EVENTS = Resource(
    group="",
    version="v1",
    plural="events",
    kind="Event",
    namespaced=True,
    projection=projections.EventRecord,
)
"""core/v1 Events: what ``kubectl describe`` shows under the object."""

BY_KIND: dict[Kind, Resource[Any]] = {
    Kind.NAMESPACE: NAMESPACES,
    Kind.SERVICE: SERVICES,
    Kind.ENDPOINT_SLICE: ENDPOINT_SLICES,
    Kind.SERVICE_ENTRY: SERVICE_ENTRIES,
    Kind.WORKLOAD_ENTRY: WORKLOAD_ENTRIES,
}
"""The resource that holds each kind the controller reads or writes."""
