"""What an object asks the controller to track: the Service or pod it names.

A ServiceEntry names a headless Service (and maybe one pod) by annotation, or,
in a namespace that opted in as a whole, by its ``hosts``. A WorkloadEntry
names a pod. Both the planner (to compute desired state) and the runtime
indexes (to map an EndpointSlice change back to the entries that depend on it)
need the same answer, so it is computed here, once, from the object alone.

References that cross namespaces are parsed, never trusted: whether one is
allowed is the planner's decision (SPEC section 2, "Cross-namespace").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

PREFIX: Final = "headless-reconciler.io/"
SERVICE_ANNOTATION: Final = PREFIX + "service"
POD_ANNOTATION: Final = PREFIX + "pod"
IGNORE_ANNOTATION: Final = PREFIX + "ignore"
IP_FAMILY_ANNOTATION: Final = PREFIX + "ip-family"
GRPC_SERVICE_ANNOTATION: Final = PREFIX + "grpc-service"
SOURCE_ANNOTATION: Final = PREFIX + "source"
MANAGED_NAMESPACE_LABEL: Final = PREFIX + "managed"
MANAGED_NAMESPACE_VALUE: Final = "enabled"
POD_NAME_LABEL: Final = "statefulset.kubernetes.io/pod-name"
AUTO_REGISTRATION_ANNOTATION: Final = "istio.io/autoRegistrationGroup"
HEALTH_CHECKS_ANNOTATION: Final = "proxy.istio.io/health-checks-enabled"

QUOTED_LENGTH: Final = 64
"""Characters of a value a message repeats before cutting it short."""

_NAME = re.compile(r"[a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?")


@dataclass(frozen=True, slots=True, order=True)
class ServiceRef:
    """A Service (and optionally one of its pods) that an entry asks to follow."""

    namespace: str
    service: str
    pod: str | None = None


@dataclass(frozen=True, slots=True)
class NameRef:
    """An annotation value: ``name`` or ``namespace/name``."""

    namespace: str
    name: str
    explicit_namespace: bool


def is_ignored(annotations: Mapping[str, str]) -> bool:
    """``headless-reconciler.io/ignore: "true"`` wins over everything."""
    return annotations.get(IGNORE_ANNOTATION, "").strip().lower() == "true"


def quoted(value: str) -> str:
    """A value as a message repeats it: quoted, cut short with its length when long.

    Annotation values are user input of up to 256 KiB. A message that repeated
    one whole would be cut off (an Event keeps 1 KiB) before it says what is
    wrong, and would fill a log line.
    """
    if len(value) <= QUOTED_LENGTH:
        return repr(value)
    return f"{value[:QUOTED_LENGTH] + '…'!r} ({len(value)} characters)"


def parse_name_ref(value: str, *, own_namespace: str) -> NameRef | None:
    """``web`` or ``other-ns/web``; None for anything else (empty, more slashes, spaces).

    Both parts must look like Kubernetes names (lowercase letters, digits, ``-``
    and ``.``), so a typo is reported as malformed rather than looked up.
    """
    text = value.strip()
    parts = text.split("/")
    if len(parts) > 2 or not all(_NAME.fullmatch(part) for part in parts):
        return None
    if len(parts) == 2:
        return NameRef(namespace=parts[0], name=parts[1], explicit_namespace=True)
    return NameRef(namespace=own_namespace, name=parts[0], explicit_namespace=False)


def host_service_ref(host: str, *, namespace: str, cluster_domain: str) -> ServiceRef | None:
    """The Service (and pod) a ServiceEntry host names, if it names one at all.

    Accepted forms, relative to the entry's own namespace ``ns``: ``svc``,
    ``svc.ns``, ``svc.ns.svc``, ``svc.ns.svc.<cluster-domain>``, and for one
    pod ``pod.svc.ns.svc.<cluster-domain>``. A fully qualified host of another
    namespace yields a reference into that namespace, which the planner refuses
    unless allowed.
    """
    labels = host.strip().rstrip(".").lower().split(".")
    if not labels or any(not label for label in labels):
        return None
    domain = cluster_domain.strip(".").lower().split(".")
    if len(labels) == 1:
        return ServiceRef(namespace, labels[0])
    if len(labels) == 2:
        return ServiceRef(labels[1], labels[0])
    if labels[2] == "svc" and (len(labels) == 3 or labels[3:] == domain):
        return ServiceRef(labels[1], labels[0])
    if len(labels) > 4 and labels[3] == "svc" and labels[4:] == domain:
        return ServiceRef(labels[2], labels[1], pod=labels[0])
    return None


def hosts_service_refs(
    hosts: Iterable[str], *, namespace: str, cluster_domain: str
) -> tuple[ServiceRef, ...]:
    """Distinct Service references named by a ServiceEntry's hosts, in a stable order."""
    found: dict[ServiceRef, None] = {}
    for host in hosts:
        ref = host_service_ref(host, namespace=namespace, cluster_domain=cluster_domain)
        if ref is not None:
            found[ref] = None
    return tuple(found)
