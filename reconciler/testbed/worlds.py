"""Named starting worlds, seeded through the API, for the demo and ``simulate --world``.

Seeding goes through the client like any user's kubectl would, so a world looks
the same on the simulator and on a real control plane.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from kubernetes_asyncio.client import ApiClient, CustomObjectsApi

from reconciler.testbed.manifests import POD_NAME_LABEL
from reconciler.testbed.statefulsets import StatefulPodSet, ensure_namespace
from reconciler.testbed.waiting import wait_for_ready_addresses

DEMO_NAMESPACE = "shop"
DEMO_STATEFULSET = "web"
DEMO_SERVICE_ENTRY = "web-static"


def static_service_entry(pods: StatefulPodSet, *, name: str) -> dict[str, Any]:
    """A STATIC ServiceEntry listing the set's current pod IPs, opted in by annotation."""
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "ServiceEntry",
        "metadata": {
            "name": name,
            "namespace": pods.namespace,
            "annotations": {"headless-reconciler.io/service": pods.service_name},
        },
        "spec": {
            "hosts": [f"{pods.service_name}.{pods.namespace}.svc.cluster.local"],
            "location": "MESH_INTERNAL",
            "resolution": "STATIC",
            "ports": [{"number": 8080, "name": "http", "protocol": "HTTP"}],
            "endpoints": [
                {"address": pod.addresses[0], "labels": {POD_NAME_LABEL: pod.name}}
                for pod in pods.pods
            ],
        },
    }


async def seed_demo(api: ApiClient) -> StatefulPodSet:
    """Namespace ``shop``: StatefulSet ``web`` (3 ready pods) and ServiceEntry ``web-static``."""
    await ensure_namespace(api, DEMO_NAMESPACE)
    pods = StatefulPodSet(api, name=DEMO_STATEFULSET, namespace=DEMO_NAMESPACE)
    await pods.create(3)
    await wait_for_ready_addresses(
        api, namespace=DEMO_NAMESPACE, service=DEMO_STATEFULSET, expected=pods.ready_addresses()
    )
    await CustomObjectsApi(api).create_namespaced_custom_object(
        "networking.istio.io",
        "v1",
        DEMO_NAMESPACE,
        "serviceentries",
        static_service_entry(pods, name=DEMO_SERVICE_ENTRY),
    )
    return pods


async def _seed_demo_world(api: ApiClient) -> None:
    await seed_demo(api)


WORLDS: dict[str, Callable[[ApiClient], Awaitable[None]] | None] = {
    "empty": None,
    "demo": _seed_demo_world,
}
