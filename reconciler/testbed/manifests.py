"""The objects the test world is made of, as a client would send them.

Only what a user or a StatefulSet controller and a kubelet would write: the
API server adds its defaults. Kept apart from the helpers that send them so
tests that work below the HTTP layer can build the same objects.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.testbed.addresses import IpFamilyMode

JsonObject = dict[str, Any]

ZONE_LABEL = "topology.kubernetes.io/zone"
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
DEFAULT_IMAGE = "registry.invalid/app:1"


@dataclass(frozen=True, slots=True)
class NamedPort:
    """A named container port, exposed by the Service under the same name and number."""

    name: str
    number: int
    app_protocol: str | None = None


DEFAULT_PORTS = (NamedPort("http", 8080), NamedPort("grpc", 9090, "grpc"))

_SERVICE_FAMILIES: dict[IpFamilyMode, tuple[list[str], str]] = {
    "IPv4": (["IPv4"], "SingleStack"),
    "IPv6": (["IPv6"], "SingleStack"),
    "DualStack": (["IPv4", "IPv6"], "RequireDualStack"),
}


def namespace_manifest(name: str) -> JsonObject:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def node_manifest(name: str, *, zone: str) -> JsonObject:
    """A Node as ``kubectl create`` would make it, with its zone label."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {ZONE_LABEL: zone, "kubernetes.io/hostname": name}},
    }


def headless_service_manifest(
    name: str,
    *,
    namespace: str,
    selector: Mapping[str, str],
    ports: Iterable[NamedPort] = DEFAULT_PORTS,
    labels: Mapping[str, str] | None = None,
    publish_not_ready_addresses: bool = False,
    family: IpFamilyMode = "IPv4",
) -> JsonObject:
    """A headless Service whose ports target the pods' named ports."""
    service_ports = []
    for port in ports:
        entry: JsonObject = {
            "name": port.name,
            "port": port.number,
            "targetPort": port.name,
            "protocol": "TCP",
        }
        if port.app_protocol is not None:
            entry["appProtocol"] = port.app_protocol
        service_ports.append(entry)
    families, policy = _SERVICE_FAMILIES[family]
    spec: JsonObject = {
        "clusterIP": "None",
        "selector": dict(selector),
        "ports": service_ports,
        "ipFamilies": families,
        "ipFamilyPolicy": policy,
    }
    if publish_not_ready_addresses:
        spec["publishNotReadyAddresses"] = True
    metadata: JsonObject = {"name": name, "namespace": namespace}
    if labels:
        metadata["labels"] = dict(labels)
    return {"apiVersion": "v1", "kind": "Service", "metadata": metadata, "spec": spec}


def pod_manifest(
    name: str,
    *,
    namespace: str,
    labels: Mapping[str, str],
    node_name: str,
    subdomain: str,
    ports: Iterable[NamedPort] = DEFAULT_PORTS,
    image: str = DEFAULT_IMAGE,
) -> JsonObject:
    """A StatefulSet-style pod already bound to its node: hostname = name, subdomain = Service."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
        "spec": {
            "hostname": name,
            "subdomain": subdomain,
            "nodeName": node_name,
            "containers": [
                {
                    "name": "app",
                    "image": image,
                    "ports": [
                        {"name": port.name, "containerPort": port.number, "protocol": "TCP"}
                        for port in ports
                    ],
                }
            ],
        },
    }


def running_status(
    addresses: Iterable[str], *, host_ip: str, ready: bool, transition_time: str
) -> JsonObject:
    """The status a kubelet writes for a started pod (a merge patch body for ``pods/status``)."""
    ips = list(addresses)
    flag = "True" if ready else "False"
    conditions = [
        ("Initialized", "True"),
        ("Ready", flag),
        ("ContainersReady", flag),
        ("PodScheduled", "True"),
    ]
    return {
        "status": {
            "phase": "Running",
            "hostIP": host_ip,
            "podIP": ips[0],
            "podIPs": [{"ip": ip} for ip in ips],
            "conditions": [
                {"type": kind, "status": status, "lastTransitionTime": transition_time}
                for kind, status in conditions
            ],
        }
    }
