"""What the API server does to an object between decoding a request and storing it.

Defaulting (e.g. a Service's clusterIP, ipFamilies, sessionAffinity), the
registry strategy (generation bumps, status subresource semantics), pruning of
unknown fields for custom resources (with one ``Warning`` per field) and
validation (core rules, Istio's CRD schema and CEL rules) all happen here, in
the order the real server applies them.

STUB: signatures are fixed; the implementation is being filled in.
"""

from __future__ import annotations

from typing import Any, Literal

from reconciler.simulator.resources import ResourceKind

JsonObject = dict[str, Any]
Operation = Literal["CREATE", "UPDATE"]


class IpAllocator:
    """Hands out ClusterIPs from the service CIDR (10.96.0.0/16), never twice."""

    def __init__(self, cidr: str = "10.96.0.0/16") -> None:
        self.cidr = cidr
        self._next = 10

    def allocate(self) -> str:
        self._next += 1
        return f"10.96.{self._next // 256}.{self._next % 256}"

    def release(self, address: str) -> None:
        """Return an address to the pool."""


def admit(
    *,
    kind: ResourceKind,
    new: JsonObject,
    old: JsonObject | None,
    operation: Operation,
    subresource: str | None,
    field_validation: str,
    ips: IpAllocator,
) -> list[str]:
    """Default, prepare, prune and validate ``new`` in place.

    Returns the Warning header values to send. Raises ``ApiError`` (400 for
    strict field validation, 422 Invalid with causes) when the object must be
    refused. ``old`` is the stored object on UPDATE.
    """
    return []
