"""The flags of leader election and sharding, validated with the rest of ``run``'s settings.

``RunSettings`` inherits them (see :mod:`reconciler.config`), so they come
from flags or ``HEADLESS_RECONCILER_*`` variables and a bad value is one
sentence naming the flag before anything is sent.

``--leader-elect`` defaults to on in a cluster (a pod with a service
account) and off elsewhere; ``--dry-run`` never writes, so it elects
nothing and needs no Lease permissions (the observe-only install grants no
write verb at all). The Lease lives in the pod's own namespace unless
``--lease-namespace`` says otherwise (``default`` out of cluster).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from reconciler.api.client import KubeClient
from reconciler.leadership.elector import ElectionSettings
from reconciler.leadership.role import Leadership, build_leadership, in_cluster, pod_namespace
from reconciler.leadership.sharding import AnchorView, Shard

logger = logging.getLogger(__name__)

ENV_PREFIX = "HEADLESS_RECONCILER_"
DEFAULT_LEASE_NAME = "headless-reconciler"

_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")
_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


class LeadershipSettings(BaseSettings):
    """``--leader-elect`` and the Lease, ``--shard-index``/``--shard-count``."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    leader_elect: bool | None = None
    """None: on in a cluster, off elsewhere and always off with ``--dry-run``."""
    leader_identity: str | None = None
    """Who holds the Lease; default ``<hostname>_<uuid>`` (set it only in tests)."""
    lease_name: str = DEFAULT_LEASE_NAME
    lease_namespace: str | None = None
    lease_duration: Annotated[int, Field(ge=1)] = 15
    renew_deadline: Annotated[float, Field(gt=0)] = 10.0
    retry_period: Annotated[float, Field(gt=0)] = 2.0
    shard_index: Annotated[int, Field(ge=0)] = 0
    shard_count: Annotated[int, Field(ge=1)] = 1

    @field_validator("lease_name")
    @classmethod
    def _lease_name(cls, value: str) -> str:
        if not _SUBDOMAIN.fullmatch(value):
            raise ValueError("must be a lowercase DNS name such as headless-reconciler")
        return value

    @field_validator("lease_namespace")
    @classmethod
    def _lease_namespace(cls, value: str | None) -> str | None:
        if value is not None and not _LABEL.fullmatch(value):
            raise ValueError("must be a namespace name")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> LeadershipSettings:
        if not self.lease_duration > self.renew_deadline > self.retry_period:
            raise ValueError(
                f"--lease-duration ({self.lease_duration}s) must exceed --renew-deadline "
                f"({self.renew_deadline:g}s), which must exceed --retry-period "
                f"({self.retry_period:g}s)"
            )
        if self.shard_index >= self.shard_count:
            raise ValueError(
                f"--shard-index {self.shard_index} must be below --shard-count {self.shard_count}"
            )
        # ``dry_run`` belongs to ``RunSettings``, which this mixin is part of.
        if self.leader_elect and getattr(self, "dry_run", False):
            raise ValueError("--dry-run never writes, so it takes no part in leader election")
        return self

    def election(self) -> ElectionSettings:
        return ElectionSettings(
            lease_duration=self.lease_duration,
            renew_deadline=self.renew_deadline,
            retry_period=self.retry_period,
        )

    def shard(self) -> Shard:
        return Shard(self.shard_index, self.shard_count)

    def elects(
        self, *, kubeconfig: Path | None, dry_run: bool, environ: Mapping[str, str] = os.environ
    ) -> bool:
        """Whether this process takes part in leader election."""
        if dry_run:
            return False
        if self.leader_elect is not None:
            return self.leader_elect
        return in_cluster(kubeconfig=kubeconfig, environ=environ)

    def resolved_lease_namespace(self) -> str:
        return self.lease_namespace or pod_namespace()


def leadership_for(
    settings: LeadershipSettings,
    client: KubeClient,
    view: AnchorView,
    *,
    kubeconfig: Path | None,
    dry_run: bool,
    cluster_domain: str,
) -> Leadership:
    """This process's role from its settings: its shard and, when it elects, its elector."""
    elect = settings.elects(kubeconfig=kubeconfig, dry_run=dry_run)
    leadership = build_leadership(
        client,
        view,
        shard=settings.shard(),
        cluster_domain=cluster_domain,
        elect=elect,
        lease_namespace=settings.resolved_lease_namespace() if elect else "",
        lease_name=settings.lease_name,
        election=settings.election(),
        identity=settings.leader_identity,
    )
    if leadership.elector is not None:
        elector = leadership.elector
        logger.info(
            "leader election on Lease %s/%s as %s (shard %d of %d)",
            elector.namespace,
            elector.name,
            elector.identity,
            settings.shard_index,
            settings.shard_count,
        )
    return leadership
