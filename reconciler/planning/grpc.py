"""What makes a Service port gRPC, and whether Istio can tell from its name.

Two questions with different answers. SPEC section 3 defines a *gRPC port*,
which decides the namespace-wide opt-in: a port named ``grpc`` or ``grpc-*``
(``grpc-web`` included), or with appProtocol ``grpc``, ``grpc-web`` or
``kubernetes.io/h2c``. Istio, for its part, takes a port's protocol from its
appProtocol when it has one, else from the name's prefix,
``<protocol>[-<suffix>]``. A gRPC server behind a port whose name Istio cannot
read (``api``, ``web-grpc``) is sniffed or proxied as opaque TCP where Istio
goes by the name, so Envoy never balances its requests, and a headless
Service with such a port is not even recognised as gRPC for pairing. That is
the mistake behind the story this project comes from, so the planner warns
about it.

A port *looks* like gRPC when its appProtocol says so, when its number (or
numeric targetPort) is 50051 (the port of gRPC's own examples and most
services that copied them), or when its name mentions ``grpc`` after another
word (``api-grpc``). It is reported when its name carries no prefix Istio
understands; ports that say ``tcp-...`` or ``http-...`` chose a protocol on
purpose and are left alone. 9090 is not taken as a hint: Prometheus and many
HTTP services use it too.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from reconciler.models.projections import Service, ServicePort

GRPC_APP_PROTOCOLS: Final = frozenset({"grpc", "grpc-web", "kubernetes.io/h2c"})
CONVENTIONAL_GRPC_PORTS: Final = frozenset({50051})
ISTIO_NAME_PROTOCOLS: Final = frozenset(
    {"grpc", "grpc-web", "http", "http2", "https", "tcp", "tls", "mongo", "mysql", "redis", "udp"}
)
"""Protocols Istio reads from a port name's prefix (its explicit protocol selection)."""

_GRPC: Final = "grpc"
_GRPC_WEB: Final = "grpc-web"
_TCP: Final = "TCP"


def is_grpc_port(port: ServicePort) -> bool:
    """SPEC's gRPC port: named ``grpc``/``grpc-*``, or appProtocol grpc, grpc-web, h2c."""
    name = port.name.lower()
    if name == _GRPC or name.startswith(_GRPC + "-"):
        return True
    return (port.app_protocol or "").lower() in GRPC_APP_PROTOCOLS


def has_grpc_port(service: Service) -> bool:
    return any(is_grpc_port(port) for port in service.spec.ports)


def istio_name_protocol(name: str) -> str | None:
    """The protocol Istio reads from a port name (``grpc-web-ui`` → ``grpc-web``), or None."""
    lowered = name.lower()
    if lowered == _GRPC_WEB or lowered.startswith(_GRPC_WEB + "-"):
        return _GRPC_WEB
    prefix = lowered.split("-", 1)[0]
    return prefix if prefix in ISTIO_NAME_PROTOCOLS else None


def grpc_hint(port: ServicePort) -> str | None:
    """Why the port looks like gRPC, or None when nothing suggests it."""
    app_protocol = (port.app_protocol or "").lower()
    if app_protocol in GRPC_APP_PROTOCOLS:
        return f"appProtocol {port.app_protocol}"
    numbers = {port.port, port.target_port}
    conventional = sorted(number for number in CONVENTIONAL_GRPC_PORTS if number in numbers)
    if conventional:
        return f"port {conventional[0]}, gRPC's conventional port"
    if _GRPC in port.name.lower().split("-")[1:]:
        return f"its name mentions {_GRPC} after another word"
    return None


def port_name_problems(ports: Iterable[ServicePort]) -> tuple[str, ...]:
    """One sentence per TCP port that looks like gRPC but whose name Istio cannot read."""
    problems = []
    for port in ports:
        if port.protocol.upper() != _TCP or istio_name_protocol(port.name) is not None:
            continue
        hint = grpc_hint(port)
        if hint is not None:
            label = f"port {port.name}" if port.name else "the unnamed port"
            problems.append(f"{label} ({port.port}) looks like gRPC ({hint})")
    return tuple(problems)
