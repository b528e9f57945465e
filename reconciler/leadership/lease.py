"""The ``coordination.k8s.io/v1`` Lease: its projection and the three calls an elector makes.

An elector needs to read its Lease, create it when missing, and replace it
under optimistic concurrency: every update carries the ``resourceVersion`` it
was read at, so of two candidates racing for the same expired Lease exactly
one succeeds and the other gets 409 (fidelity transcript 10). A Lease
refuses an update without ``resourceVersion`` (422), so there is no
unconditional write to fall back on, by design.

:class:`LeaseApi` is the seam: :class:`KubeLeases` talks to the API server
through the project's one client; unit tests give the elector an in-memory
fake with the same 409 rules.
"""

from __future__ import annotations

from typing import Any, Protocol

import msgspec

from reconciler.api.client import KubeClient
from reconciler.api.errors import NotFoundError
from reconciler.api.resources import Resource
from reconciler.models.projections import ObjectMeta


class LeaseSpec(msgspec.Struct, frozen=True, omit_defaults=True):
    """What client-go's resource lock reads and writes (``LeaderElectionRecord``)."""

    holder_identity: str | None = msgspec.field(name="holderIdentity", default=None)
    lease_duration_seconds: int | None = msgspec.field(name="leaseDurationSeconds", default=None)
    acquire_time: str | None = msgspec.field(name="acquireTime", default=None)
    """MicroTime (see :mod:`reconciler.leadership.microtime`)."""
    renew_time: str | None = msgspec.field(name="renewTime", default=None)
    """MicroTime (see :mod:`reconciler.leadership.microtime`)."""
    lease_transitions: int | None = msgspec.field(name="leaseTransitions", default=None)

    @property
    def holder(self) -> str:
        """The holder's identity; ``""`` when nobody holds the Lease (never held, or released)."""
        return self.holder_identity or ""


class Lease(msgspec.Struct, frozen=True, omit_defaults=True):
    metadata: ObjectMeta = ObjectMeta()
    spec: LeaseSpec = LeaseSpec()


LEASES = Resource(
    group="coordination.k8s.io",
    version="v1",
    plural="leases",
    kind="Lease",
    namespaced=True,
    projection=Lease,
)


def lease_body(namespace: str, name: str, spec: LeaseSpec, *, resource_version: str = "") -> Any:
    """The JSON of a Lease to create (no ``resource_version``) or to replace (with it)."""
    metadata: dict[str, str] = {"name": name, "namespace": namespace}
    if resource_version:
        metadata["resourceVersion"] = resource_version
    return {
        "apiVersion": LEASES.api_version,
        "kind": LEASES.kind,
        "metadata": metadata,
        "spec": msgspec.to_builtins(spec),
    }


class LeaseApi(Protocol):
    """Read, create and conditionally replace one Lease.

    ``create`` raises :class:`~reconciler.api.errors.AlreadyExistsError` when
    someone created it first; ``replace`` raises
    :class:`~reconciler.api.errors.ConflictError` when ``resource_version`` is
    stale. Other failures are the client's :class:`~reconciler.api.errors.ApiError`.
    """

    async def get(self, namespace: str, name: str) -> Lease | None: ...

    async def create(self, namespace: str, name: str, spec: LeaseSpec) -> Lease: ...

    async def replace(
        self, namespace: str, name: str, spec: LeaseSpec, *, resource_version: str
    ) -> Lease: ...


class KubeLeases:
    """:class:`LeaseApi` over the API server."""

    def __init__(self, client: KubeClient) -> None:
        self._client = client

    async def get(self, namespace: str, name: str) -> Lease | None:
        try:
            return await self._client.get(LEASES, namespace, name)
        except NotFoundError:
            return None

    async def create(self, namespace: str, name: str, spec: LeaseSpec) -> Lease:
        return await self._client.create(LEASES, namespace, lease_body(namespace, name, spec))

    async def replace(
        self, namespace: str, name: str, spec: LeaseSpec, *, resource_version: str
    ) -> Lease:
        body = lease_body(namespace, name, spec, resource_version=resource_version)
        return await self._client.replace(LEASES, namespace, name, body)
