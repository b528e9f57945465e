"""Istio's limits on what a STATIC endpoint may hold: never write what would be rejected.

The checks restate what the API server (the CRD schema and its CEL rules) and
istiod's webhook reject for the endpoints the controller writes: at most 4096
endpoints per ServiceEntry, an IP address (STATIC resolution has no name
lookup), endpoint port names that are valid port names with numbers in
1-65535, at most 256 labels, and a pod-name label value Kubernetes accepts.
A desired state that breaks one is refused with a message naming the endpoint
and the rule, and nothing is written: a 422 would only be retried in vain.

Not checked: that endpoint port names are declared in ``spec.ports`` (istiod's
webhook). The controller only keeps port keys the user wrote, which the webhook
already accepted, and writes new ones only for declared names.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from typing import Final

from reconciler.models.projections import WorkloadSpec
from reconciler.planning.references import POD_NAME_LABEL

MAX_ENDPOINTS: Final = 4096
MAX_LABELS: Final = 256
MAX_PORT_NAME_LENGTH: Final = 62
MAX_LABEL_VALUE_LENGTH: Final = 63

_PORT_NAME = re.compile(r"[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?")
_LABEL_VALUE = re.compile(r"(?:[A-Za-z0-9](?:[-_.A-Za-z0-9]*[A-Za-z0-9])?)?")


def is_ip_address(address: str | None) -> bool:
    try:
        ipaddress.ip_address(address or "")
    except ValueError:
        return False
    return True


def endpoint_violations(endpoints: Sequence[WorkloadSpec]) -> tuple[str, ...]:
    """Every rule the endpoint list breaks, one sentence each; empty when it may be written."""
    violations: list[str] = []
    if len(endpoints) > MAX_ENDPOINTS:
        violations.append(
            f"{len(endpoints)} endpoints wanted; "
            f"Istio allows at most {MAX_ENDPOINTS} per ServiceEntry"
        )
    for endpoint in endpoints:
        violations.extend(_endpoint_violations(endpoint))
    return tuple(violations)


def address_violation(address: str) -> str | None:
    """Why an address cannot be written as a STATIC address, or None."""
    if is_ip_address(address):
        return None
    return f"address {address!r} is not an IP address, as STATIC resolution requires"


def _endpoint_violations(endpoint: WorkloadSpec) -> list[str]:
    labels = endpoint.labels or {}
    pod = labels.get(POD_NAME_LABEL, "")
    where = f"endpoint of pod {pod}" if pod else f"endpoint {endpoint.address}"
    violations: list[str] = []
    address = address_violation(endpoint.address or "")
    if address is not None:
        violations.append(f"{where}: {address}")
    for name, number in (endpoint.ports or {}).items():
        if len(name) > MAX_PORT_NAME_LENGTH or not _PORT_NAME.fullmatch(name):
            violations.append(f"{where}: port name {name!r} is not a valid port name")
        if not 1 <= number <= 65535:
            violations.append(f"{where}: port {name} number {number} is not in 1-65535")
    if len(labels) > MAX_LABELS:
        violations.append(f"{where}: {len(labels)} labels; Istio allows at most {MAX_LABELS}")
    if len(pod) > MAX_LABEL_VALUE_LENGTH or not _LABEL_VALUE.fullmatch(pod):
        violations.append(f"{where}: pod name {pod!r} is not a valid label value")
    return violations
