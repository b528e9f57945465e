"""Names of things: the keys the work queue, the planner and the stores share.

The controller reconciles by key, never by event (STYLE.md, point 4), so a key
carries only what identifies an object: its kind, namespace and name.
"""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple


class Kind(StrEnum):
    """The kinds the controller reads or writes."""

    NAMESPACE = "Namespace"
    SERVICE = "Service"
    ENDPOINT_SLICE = "EndpointSlice"
    SERVICE_ENTRY = "ServiceEntry"
    WORKLOAD_ENTRY = "WorkloadEntry"


class ObjectKey(NamedTuple):
    """``kind/namespace/name``; cluster-scoped objects have namespace ``""``."""

    kind: Kind
    namespace: str
    name: str

    def __str__(self) -> str:
        return (
            f"{self.kind}/{self.namespace}/{self.name}"
            if self.namespace
            else f"{self.kind}/{self.name}"
        )


class NamespacedName(NamedTuple):
    """An object within its kind's store: ``namespace/name``."""

    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name
