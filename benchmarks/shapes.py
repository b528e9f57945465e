"""The objects benchmarks are made of, shaped as a v1.28 API server and its controllers write them.

Every benchmark feeds the code real-looking bytes: an EndpointSlice carries
what kube-controller-manager writes (``managedFields``, ``nodeName``, ``zone``,
the pod ``targetRef`` with namespace and uid, the trigger-time annotation), so
a decoder that skips fields pays for skipping them and one that builds them
pays for building them. Fields are in Go struct order, as on the wire
(fidelity transcripts 03, 03b and 05a).

Identities are deterministic (uids come from a seeded generator) so two runs
see the same bytes.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

JsonObject = dict[str, Any]

SERVICE_NAME_LABEL: Final = "kubernetes.io/service-name"
MANAGED_BY_LABEL: Final = "endpointslice.kubernetes.io/managed-by"
SLICE_CONTROLLER: Final = "endpointslice-controller.k8s.io"
HEADLESS_LABEL: Final = "service.kubernetes.io/headless"
TRIGGER_TIME: Final = "endpoints.kubernetes.io/last-change-trigger-time"
POD_NAME_LABEL: Final = "statefulset.kubernetes.io/pod-name"
TIMESTAMP: Final = "2026-11-29T05:07:42Z"
HTTP_PORT: Final = 8080
GRPC_PORT: Final = 9090


class Identities:
    """Deterministic uids and unique pod IPs (10.0.0.0/8, never reused)."""

    def __init__(self, seed: int = 8) -> None:
        self._random = random.Random(seed)
        self._next_address = 1

    def uid(self) -> str:
        return str(uuid.UUID(int=self._random.getrandbits(128), version=4))

    def address(self) -> str:
        n = self._next_address
        self._next_address += 1
        return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


@dataclass(slots=True)
class Pod:
    """One pod as its endpoint shows it."""

    name: str
    address: str
    uid: str
    ready: bool = True


def endpoint(pod: Pod, *, namespace: str, node: str = "node-1") -> JsonObject:
    return {
        "addresses": [pod.address],
        "conditions": {"ready": pod.ready, "serving": pod.ready, "terminating": False},
        "hostname": pod.name,
        "targetRef": {"kind": "Pod", "namespace": namespace, "name": pod.name, "uid": pod.uid},
        "nodeName": node,
        "zone": "zone-a",
    }


def endpoint_slice(
    *,
    name: str,
    namespace: str,
    service: str,
    service_uid: str,
    uid: str,
    pods: Sequence[Pod],
    resource_version: str | None = None,
    generation: int = 1,
) -> JsonObject:
    """A slice as the EndpointSlice controller writes it for a headless Service."""
    metadata: JsonObject = {
        "name": name,
        "generateName": f"{service}-",
        "namespace": namespace,
        "uid": uid,
    }
    if resource_version is not None:
        metadata["resourceVersion"] = resource_version
    metadata.update(
        {
            "generation": generation,
            "creationTimestamp": TIMESTAMP,
            "labels": {
                MANAGED_BY_LABEL: SLICE_CONTROLLER,
                SERVICE_NAME_LABEL: service,
                HEADLESS_LABEL: "",
            },
            "annotations": {TRIGGER_TIME: TIMESTAMP},
            "ownerReferences": [
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "name": service,
                    "uid": service_uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
            "managedFields": [_slice_managed_fields(service_uid)],
        }
    )
    return {
        "kind": "EndpointSlice",
        "apiVersion": "discovery.k8s.io/v1",
        "metadata": metadata,
        "addressType": "IPv4",
        "endpoints": [endpoint(pod, namespace=namespace) for pod in pods] or None,
        "ports": [
            {"name": "http", "protocol": "TCP", "port": HTTP_PORT},
            {"name": "grpc", "protocol": "TCP", "appProtocol": "grpc", "port": GRPC_PORT},
        ],
    }


def _slice_managed_fields(service_uid: str) -> JsonObject:
    return {
        "manager": "kube-controller-manager",
        "operation": "Update",
        "apiVersion": "discovery.k8s.io/v1",
        "time": TIMESTAMP,
        "fieldsType": "FieldsV1",
        "fieldsV1": {
            "f:addressType": {},
            "f:endpoints": {},
            "f:metadata": {
                "f:annotations": {".": {}, f"f:{TRIGGER_TIME}": {}},
                "f:generateName": {},
                "f:labels": {
                    ".": {},
                    f"f:{MANAGED_BY_LABEL}": {},
                    f"f:{SERVICE_NAME_LABEL}": {},
                    f"f:{HEADLESS_LABEL}": {},
                },
                "f:ownerReferences": {".": {}, f'k:{{"uid":"{service_uid}"}}': {}},
            },
            "f:ports": {},
        },
    }


def headless_service(
    name: str, *, namespace: str, uid: str, annotations: dict[str, str] | None = None
) -> JsonObject:
    """A headless Service with an http and a grpc port, as stored after defaulting."""
    return {
        "kind": "Service",
        "apiVersion": "v1",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": uid,
            "creationTimestamp": TIMESTAMP,
            "labels": {"app": name},
            "annotations": dict(annotations or {}),
        },
        "spec": {
            "ports": [
                {"name": "http", "protocol": "TCP", "port": HTTP_PORT, "targetPort": "http"},
                {
                    "name": "grpc",
                    "protocol": "TCP",
                    "appProtocol": "grpc",
                    "port": GRPC_PORT,
                    "targetPort": "grpc",
                },
            ],
            "selector": {"app": name},
            "clusterIP": "None",
            "clusterIPs": ["None"],
            "type": "ClusterIP",
            "sessionAffinity": "None",
            "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack",
            "internalTrafficPolicy": "Cluster",
        },
        "status": {"loadBalancer": {}},
    }


def service_entry(
    name: str, *, namespace: str, service: str, pods: Sequence[Pod], annotation: str
) -> JsonObject:
    """A STATIC ServiceEntry opted in to follow ``service``, holding ``pods`` as written."""
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "ServiceEntry",
        "metadata": {"name": name, "namespace": namespace, "annotations": {annotation: service}},
        "spec": {
            "hosts": [f"{service}.{namespace}.svc.cluster.local"],
            "location": "MESH_INTERNAL",
            "resolution": "STATIC",
            "ports": [{"number": HTTP_PORT, "name": "http", "protocol": "HTTP"}],
            "endpoints": [
                {
                    "address": pod.address,
                    "labels": {POD_NAME_LABEL: pod.name},
                    "ports": {"http": HTTP_PORT},
                }
                for pod in pods
                if pod.ready
            ],
        },
    }


def workload_entry(name: str, *, namespace: str, pod: Pod, annotation: str) -> JsonObject:
    """A WorkloadEntry opted in to follow one pod."""
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "WorkloadEntry",
        "metadata": {"name": name, "namespace": namespace, "annotations": {annotation: pod.name}},
        "spec": {"address": pod.address, "labels": {"app": name}},
    }
