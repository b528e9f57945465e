"""The API behaviours the controller relies on, checked end to end.

These run against the simulator always and against a real cluster when
``HEADLESS_RECONCILER_E2E_KUBECONFIG`` is set (see tests/conftest.py), so they
are the contract between the simulator and the real thing: optimistic
concurrency on merge patches, Istio's validation, ownerReference garbage
collection, and the EndpointSlices kube-controller-manager derives from pods.
"""

from __future__ import annotations

import functools
from typing import Any

import pytest
from kubernetes_asyncio.client import ApiClient, CoreV1Api, CustomObjectsApi
from kubernetes_asyncio.client.exceptions import ApiException

from reconciler.testbed.statefulsets import StatefulPodSet
from reconciler.testbed.waiting import wait_for_ready_addresses, watch_until

MERGE_PATCH = "application/merge-patch+json"
ISTIO = ("networking.istio.io", "v1")


def _service_entry(name: str, namespace: str, address: str) -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "ServiceEntry",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "hosts": [f"{name}.{namespace}.svc.cluster.local"],
            "location": "MESH_INTERNAL",
            "resolution": "STATIC",
            "ports": [{"number": 80, "name": "http", "protocol": "HTTP"}],
            "endpoints": [{"address": address}],
        },
    }


async def _create_service_entry(api: ApiClient, namespace: str, name: str) -> dict[str, Any]:
    created: dict[str, Any] = await CustomObjectsApi(api).create_namespaced_custom_object(
        *ISTIO, namespace, "serviceentries", _service_entry(name, namespace, "192.0.2.10")
    )
    return created


async def test_merge_patch_with_stale_resource_version_is_refused_with_409(
    api: ApiClient, namespace: str
) -> None:
    created = await _create_service_entry(api, namespace, "web-static")
    stale = created["metadata"]["resourceVersion"]
    custom = CustomObjectsApi(api)
    await custom.patch_namespaced_custom_object(
        *ISTIO,
        namespace,
        "serviceentries",
        "web-static",
        {
            "metadata": {"resourceVersion": stale},
            "spec": {"endpoints": [{"address": "192.0.2.11"}]},
        },
        _content_type=MERGE_PATCH,
    )

    with pytest.raises(ApiException) as refused:
        await custom.patch_namespaced_custom_object(
            *ISTIO,
            namespace,
            "serviceentries",
            "web-static",
            {
                "metadata": {"resourceVersion": stale},
                "spec": {"endpoints": [{"address": "192.0.2.99"}]},
            },
            _content_type=MERGE_PATCH,
        )

    assert refused.value.status == 409
    assert '"reason":"Conflict"' in refused.value.body.replace(" ", "")
    current = await custom.get_namespaced_custom_object(
        *ISTIO, namespace, "serviceentries", "web-static"
    )
    assert current["spec"]["endpoints"] == [{"address": "192.0.2.11"}]


async def test_invalid_service_entry_patch_is_refused_with_istio_message(
    api: ApiClient, namespace: str
) -> None:
    await _create_service_entry(api, namespace, "web-static")
    custom = CustomObjectsApi(api)

    with pytest.raises(ApiException) as refused:
        await custom.patch_namespaced_custom_object(
            *ISTIO,
            namespace,
            "serviceentries",
            "web-static",
            {"spec": {"resolution": "NONE"}},
            _content_type=MERGE_PATCH,
        )

    assert refused.value.status == 422
    assert (
        'ServiceEntry.networking.istio.io \\"web-static\\" is invalid: spec: Invalid value: '
        '\\"object\\": NONE mode cannot set endpoints'
    ) in refused.value.body
    current = await custom.get_namespaced_custom_object(
        *ISTIO, namespace, "serviceentries", "web-static"
    )
    assert current["spec"]["resolution"] == "STATIC"


async def test_deleting_a_service_garbage_collects_the_service_it_controls(
    api: ApiClient, namespace: str
) -> None:
    core = CoreV1Api(api)
    owner = await core.create_namespaced_service(
        namespace,
        {
            "metadata": {"name": "web"},
            "spec": {"clusterIP": "None", "selector": {"app": "web"}, "ports": [{"port": 80}]},
        },
    )
    await core.create_namespaced_service(
        namespace,
        {
            "metadata": {
                "name": "web-grpc",
                "ownerReferences": [
                    {
                        "apiVersion": "v1",
                        "kind": "Service",
                        "name": "web",
                        "uid": owner.metadata.uid,
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]},
        },
    )

    await core.delete_namespaced_service("web", namespace)

    remaining = await watch_until(
        functools.partial(core.list_namespaced_service, namespace),
        lambda services: not services,
        within=10,
        what="owned Service garbage-collected",
        field_selector="metadata.name=web-grpc",
    )
    assert remaining == []


async def test_restarted_pod_reappears_in_its_endpoint_slice_with_a_new_address(
    api: ApiClient, namespace: str
) -> None:
    pods = StatefulPodSet(api, name="web", namespace=namespace)
    await pods.create(3)
    await wait_for_ready_addresses(
        api, namespace=namespace, service="web", expected=pods.ready_addresses()
    )
    before = pods.pod(1)

    after = await pods.restart(1)

    assert after.addresses != before.addresses
    assert after.uid != before.uid
    slices = await wait_for_ready_addresses(
        api, namespace=namespace, service="web", expected=pods.ready_addresses()
    )
    endpoints = {
        endpoint["targetRef"]["name"]: endpoint
        for endpoint_slice in slices
        for endpoint in endpoint_slice.get("endpoints") or []
    }
    assert endpoints["web-1"]["addresses"] == list(after.addresses)
    assert endpoints["web-1"]["targetRef"]["uid"] == after.uid
    assert endpoints["web-1"]["hostname"] == "web-1"
