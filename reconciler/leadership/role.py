"""This replica's role: which keys it plans, whether it may write, and when that changes.

The controller asks two questions and hears one thing:

- :meth:`Leadership.owns` (planning): the key is in this replica's shard and
  this replica leads that shard. A standby plans nothing, so it writes
  nothing, records no Event and reports no drift, while its informers keep
  the caches warm and ``/readyz`` says ready: it can take over at once.
- :meth:`Leadership.may_write` (the applier's gate, asked before every
  write): the renew deadline has not passed.
- :meth:`Leadership.subscribe`: leadership gained (the controller re-plans
  every key, since a standby planned none) or lost (the metric drops).

Without leader election every replica owns its shard and may always write:
``--dry-run`` never writes, and one replica per shard needs no Lease.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path

from reconciler.api.client import KubeClient
from reconciler.leadership.elector import ElectionSettings, LeaderElector
from reconciler.leadership.lease import KubeLeases
from reconciler.leadership.sharding import AnchorView, Shard, ShardFilter
from reconciler.models.refs import ObjectKey

logger = logging.getLogger(__name__)

SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
"""Where a pod finds its own namespace: the default namespace of its Lease."""
OUT_OF_CLUSTER_LEASE_NAMESPACE = "default"

LeadershipObserver = Callable[[bool], None]


class Leadership:
    """The shard this replica serves and, with leader election, its elector."""

    def __init__(self, shard: ShardFilter, *, elector: LeaderElector | None = None) -> None:
        self.shard = shard
        self.elector = elector
        self._observers: list[LeadershipObserver] = []

    @property
    def elects(self) -> bool:
        return self.elector is not None

    @property
    def leading(self) -> bool:
        return self.elector is None or self.elector.leading

    def owns(self, key: ObjectKey) -> bool:
        """Whether this replica plans ``key`` now."""
        return self.leading and self.shard(key)

    def may_write(self) -> bool:
        return self.elector is None or self.elector.may_write()

    def subscribe(self, observer: LeadershipObserver) -> None:
        """Call ``observer(leading)`` on every change of leadership."""
        self._observers.append(observer)

    async def campaign(self) -> None:
        """Run the election until cancelled; returns at once without one."""
        if self.elector is not None:
            await self.elector.run()

    async def release(self) -> None:
        """Give the Lease up, after the last write (graceful shutdown only)."""
        if self.elector is not None:
            await self.elector.release()

    def changed(self, leading: bool) -> None:
        for observer in self._observers:
            observer(leading)


def default_identity() -> str:
    """client-go's choice: the pod name (hostname) and a random suffix, unique per process."""
    return f"{socket.gethostname()}_{uuid.uuid4()}"


def in_cluster(*, kubeconfig: Path | None, environ: Mapping[str, str] = os.environ) -> bool:
    """Running in a pod with its service account, as ``load_configuration`` decides it."""
    return (
        kubeconfig is None
        and not environ.get("KUBECONFIG")
        and bool(environ.get("KUBERNETES_SERVICE_HOST"))
    )


def pod_namespace(*, path: Path = SERVICE_ACCOUNT_NAMESPACE) -> str:
    """The pod's own namespace, or ``default`` outside a cluster."""
    with contextlib.suppress(OSError):
        namespace = path.read_text().strip()
        if namespace:
            return namespace
    return OUT_OF_CLUSTER_LEASE_NAMESPACE


def build_leadership(
    client: KubeClient,
    view: AnchorView,
    *,
    shard: Shard,
    cluster_domain: str,
    elect: bool,
    lease_namespace: str,
    lease_name: str,
    election: ElectionSettings,
    identity: str | None = None,
) -> Leadership:
    """This replica's role; with ``elect``, an elector for the shard's Lease."""
    shard_filter = ShardFilter(shard, view, cluster_domain=cluster_domain)
    if not elect:
        return Leadership(shard_filter)
    leadership: Leadership
    elector = LeaderElector(
        KubeLeases(client),
        namespace=lease_namespace,
        name=shard.lease_name(lease_name),
        identity=identity or default_identity(),
        settings=election,
        on_started_leading=lambda: leadership.changed(True),
        on_stopped_leading=lambda: leadership.changed(False),
    )
    leadership = Leadership(shard_filter, elector=elector)
    return leadership
