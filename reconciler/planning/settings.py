"""What the planner needs to know about the deployment, and the one flag syntax it owns.

The planner is pure, so everything that varies by installation reaches it as a
frozen value: the cluster domain (hosts matching), the namespace pairs allowed
to reference each other, the mass-removal grace period, the namespaces in
scope and the name template of paired Services. ``run``, ``diff`` and ``audit``
build one :class:`PlanningSettings` from their validated configuration.

``--allow-cross-namespace`` takes ``FROM=TO`` pairs (repeat the flag, or
separate pairs with commas: ``team-a=shared,team-b=shared``). ``FROM`` is the
namespace of the ServiceEntry or WorkloadEntry, ``TO`` the namespace of the
Service or pod it may follow. A pair allows exactly that direction: no
wildcards, so granting a namespace access stays a deliberate, reviewable line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

DEFAULT_CLUSTER_DOMAIN: Final = "cluster.local"
DEFAULT_REMOVAL_GRACE: Final = 30.0
DEFAULT_PAIRED_NAME_TEMPLATE: Final = "{name}-grpc"
ALLOW_CROSS_NAMESPACE_FLAG: Final = "--allow-cross-namespace"

_NAMESPACE_NAME = re.compile(r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?")


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanningSettings:
    """Installation-wide inputs of the planner."""

    cluster_domain: str = DEFAULT_CLUSTER_DOMAIN
    """Suffix of fully qualified Service hosts (``<svc>.<ns>.svc.<cluster-domain>``)."""
    allow_cross_namespace: frozenset[tuple[str, str]] = frozenset()
    """``(from_namespace, to_namespace)`` pairs in which references are allowed."""
    removal_grace: float = DEFAULT_REMOVAL_GRACE
    """Seconds a mass removal must persist before it is written."""
    namespaces: frozenset[str] = field(default_factory=frozenset)
    """Namespaces in scope; empty means every namespace."""
    paired_name_template: str = DEFAULT_PAIRED_NAME_TEMPLATE
    """Name of a paired Service asked for with ``"true"``; ``{name}`` is the headless Service."""

    def __post_init__(self) -> None:
        if self.removal_grace < 0:
            raise ValueError(f"removal_grace must not be negative, got {self.removal_grace}")
        if not self.cluster_domain.strip("."):
            raise ValueError("cluster_domain must not be empty")
        check_paired_name_template(self.paired_name_template)

    def in_scope(self, namespace: str) -> bool:
        return not self.namespaces or namespace in self.namespaces

    def allows_reference(self, *, from_namespace: str, to_namespace: str) -> bool:
        """May an entry in ``from_namespace`` follow a Service or pod in ``to_namespace``?"""
        return (
            from_namespace == to_namespace
            or (from_namespace, to_namespace) in self.allow_cross_namespace
        )


def check_paired_name_template(template: str) -> None:
    """Raise ValueError unless ``template`` names a Service from ``{name}`` and nothing else."""
    if "{name}" not in template:
        raise ValueError(f"paired name template {template!r} must contain {{name}}")
    try:
        template.format(name="x")
    except (KeyError, IndexError, ValueError) as error:
        raise ValueError(
            f"paired name template {template!r}: only {{name}} may be used ({error})"
        ) from None


def parse_allow_cross_namespace(values: Iterable[str]) -> frozenset[tuple[str, str]]:
    """``FROM=TO`` pairs from flag values, each value holding one or more comma-separated pairs.

    Raises ValueError naming the flag, the bad item and the expected form.
    """
    pairs: set[tuple[str, str]] = set()
    for value in values:
        for item in value.split(","):
            if item.strip():
                pairs.add(_parse_pair(item.strip()))
    return frozenset(pairs)


def _parse_pair(item: str) -> tuple[str, str]:
    parts = [part.strip() for part in item.split("=")]
    if len(parts) != 2 or not all(parts):
        raise ValueError(
            f"{ALLOW_CROSS_NAMESPACE_FLAG}: {item!r} is not FROM=TO (FROM: the namespace of the "
            "ServiceEntry or WorkloadEntry, TO: the namespace of the Service or pod it follows)"
        )
    for name in parts:
        if not _NAMESPACE_NAME.fullmatch(name):
            raise ValueError(
                f"{ALLOW_CROSS_NAMESPACE_FLAG}: {name!r} in {item!r} is not a namespace name "
                "(lowercase letters, digits and '-', at most 63 characters)"
            )
    return parts[0], parts[1]
