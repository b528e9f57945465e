"""PATCH: preconditions, patch types, server-side apply, dry runs and the status subresource.

Bodies as recorded in fidelity 07, 12 and 13.
"""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes_asyncio.client import ApiClient, CoreV1Api, CustomObjectsApi
from kubernetes_asyncio.client.rest import ApiException

from reconciler.simulator.resources import SERVICE_ENTRIES
from reconciler.simulator.simulator import Simulator

SE = "/apis/networking.istio.io/v1/namespaces/default/serviceentries"
APPLY = "application/apply-patch+yaml"
MERGE = "application/merge-patch+json"


async def create_entry(http, manifests, name: str = "web-static") -> dict[str, Any]:
    reply = await http.post(SE, manifests.service_entry(name))
    assert reply.status == 201, reply.json()
    body: dict[str, Any] = reply.json()
    return body


def apply_body(name: str, *addresses: str) -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "ServiceEntry",
        "metadata": {"name": name},
        "spec": {
            "hosts": [f"{name}.example.internal"],
            "location": "MESH_INTERNAL",
            "resolution": "STATIC",
            "ports": [{"number": 80, "name": "http", "protocol": "HTTP"}],
            "endpoints": [{"address": address} for address in addresses],
        },
    }


async def test_merge_patch_guarded_by_the_current_resource_version(
    api: ApiClient, http, manifests
) -> None:
    entry = await create_entry(http, manifests)
    patched = await CustomObjectsApi(api).patch_namespaced_custom_object(
        "networking.istio.io",
        "v1",
        "default",
        "serviceentries",
        "web-static",
        {
            "metadata": {"resourceVersion": entry["metadata"]["resourceVersion"]},
            "spec": {"endpoints": [{"address": "192.0.2.12"}]},
        },
        _content_type=MERGE,
    )
    assert patched["spec"]["endpoints"] == [{"address": "192.0.2.12"}]
    assert patched["metadata"]["generation"] == 2


async def test_merge_patch_with_a_stale_resource_version_is_409(http, manifests) -> None:
    entry = await create_entry(http, manifests)
    stale = entry["metadata"]["resourceVersion"]
    await http.patch(f"{SE}/web-static", {"metadata": {"labels": {"a": "b"}}})
    reply = await http.patch(
        f"{SE}/web-static",
        {
            "metadata": {"resourceVersion": stale},
            "spec": {"endpoints": [{"address": "192.0.2.99"}]},
        },
    )
    assert reply.status == 409
    assert reply.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "Operation cannot be fulfilled on serviceentries.networking.istio.io"
        ' "web-static": the object has been modified; please apply your changes to the latest'
        " version and try again",
        "reason": "Conflict",
        "details": {"name": "web-static", "group": "networking.istio.io", "kind": "serviceentries"},
        "code": 409,
    }


async def test_failed_json_patch_test_is_a_generic_422(http, manifests) -> None:
    await create_entry(http, manifests)
    reply = await http.patch(
        f"{SE}/web-static",
        [{"op": "test", "path": "/metadata/resourceVersion", "value": "1"}],
        content_type="application/json-patch+json",
    )
    assert reply.status == 422
    assert reply.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "the server rejected our request due to an error in our request",
        "reason": "Invalid",
        "details": {},
        "code": 422,
    }


@pytest.mark.parametrize("content_type", ["application/strategic-merge-patch+json", "text/plain"])
async def test_unsupported_patch_types_on_custom_resources_are_415(
    http, manifests, content_type: str
) -> None:
    await create_entry(http, manifests)
    reply = await http.patch(f"{SE}/web-static", {"spec": {}}, content_type=content_type)
    assert reply.status == 415
    assert reply.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "the body of the request was in an unknown format - accepted media types"
        " include: application/json-patch+json, application/merge-patch+json,"
        " application/apply-patch+yaml",
        "reason": "UnsupportedMediaType",
        "code": 415,
    }


async def test_patch_of_a_missing_object_is_404(http) -> None:
    reply = await http.patch(f"{SE}/absent", {"spec": {}})
    assert reply.status == 404
    assert reply.json()["message"] == 'serviceentries.networking.istio.io "absent" not found'


async def test_apply_without_field_manager_is_422(http) -> None:
    reply = await http.patch(
        f"{SE}/web-apply", apply_body("web-apply", "192.0.2.10"), content_type=APPLY
    )
    assert reply.status == 422
    assert reply.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is'
        " required for apply patch",
        "reason": "Invalid",
        "details": {
            "group": "meta.k8s.io",
            "kind": "PatchOptions",
            "causes": [
                {
                    "reason": "FieldValueRequired",
                    "message": "Required value: is required for apply patch",
                    "field": "fieldManager",
                }
            ],
        },
        "code": 422,
    }


async def test_force_on_a_non_apply_patch_is_422(http, manifests) -> None:
    await create_entry(http, manifests)
    reply = await http.patch(f"{SE}/web-static", {"spec": {}}, query="force=true")
    assert reply.status == 422
    assert reply.json()["details"]["causes"][0]["field"] == "force"


async def test_apply_to_a_missing_object_creates_it(http) -> None:
    reply = await http.patch(
        f"{SE}/web-apply",
        apply_body("web-apply", "192.0.2.10"),
        content_type=APPLY,
        query="fieldManager=a",
    )
    assert reply.status == 201
    body = reply.json()
    assert body["metadata"]["generation"] == 1
    assert [(e["manager"], e["operation"]) for e in body["metadata"]["managedFields"]] == [
        ("a", "Apply")
    ]


@pytest.mark.parametrize(
    ("force", "status"), [("1", 200), ("yes", 200), ("true", 200), ("0", 409), ("false", 409)]
)
async def test_apply_conflicts_unless_forced(http, force: str, status: int) -> None:
    await http.patch(
        f"{SE}/web-apply",
        apply_body("web-apply", "192.0.2.10"),
        content_type=APPLY,
        query="fieldManager=a",
    )
    reply = await http.patch(
        f"{SE}/web-apply",
        apply_body("web-apply", "192.0.2.21"),
        content_type=APPLY,
        query=f"fieldManager=b&force={force}",
    )
    assert reply.status == status
    if status == 409:
        assert reply.json()["details"]["causes"] == [
            {
                "reason": "FieldManagerConflict",
                "message": 'conflict with "a"',
                "field": ".spec.endpoints",
            }
        ]


async def test_no_op_patch_keeps_the_resource_version_and_emits_nothing(
    http, manifests, sim: Simulator
) -> None:
    entry = await create_entry(http, manifests)
    before = sim.store.resource_version
    reply = await http.patch(
        f"{SE}/web-static", {"spec": {"endpoints": entry["spec"]["endpoints"]}}
    )
    assert reply.status == 200
    assert reply.json()["metadata"]["resourceVersion"] == entry["metadata"]["resourceVersion"]
    assert sim.store.resource_version == before
    assert sim.store.history(SERVICE_ENTRIES)[-1].resource_version == int(
        entry["metadata"]["resourceVersion"]
    )


async def test_dry_run_patch_bumps_generation_but_persists_nothing(
    http, manifests, sim: Simulator
) -> None:
    entry = await create_entry(http, manifests)
    reply = await http.patch(
        f"{SE}/web-static", {"spec": {"endpoints": [{"address": "192.0.2.77"}]}}, query="dryRun=All"
    )
    assert reply.status == 200
    assert reply.json()["metadata"]["generation"] == entry["metadata"]["generation"] + 1
    assert reply.json()["metadata"]["resourceVersion"] == entry["metadata"]["resourceVersion"]
    stored = (await http.get(f"{SE}/web-static")).json()
    assert stored["spec"]["endpoints"] == entry["spec"]["endpoints"]
    assert sim.store.write_log[-1].dry_run
    assert not sim.store.write_log[-1].applied


async def test_status_subresource_writes_only_status(http, manifests) -> None:
    entry = await create_entry(http, manifests)
    status_reply = await http.patch(
        f"{SE}/web-static/status",
        {
            "status": {"conditions": [{"type": "Reconciled", "status": "True"}]},
            "spec": {"hosts": ["ignored.example"]},
        },
    )
    assert status_reply.status == 200
    assert status_reply.json()["spec"]["hosts"] == entry["spec"]["hosts"]
    assert status_reply.json()["status"] == {
        "conditions": [{"status": "True", "type": "Reconciled"}]
    }
    assert status_reply.json()["metadata"]["generation"] == entry["metadata"]["generation"]
    main = await http.patch(
        f"{SE}/web-static", {"status": {"conditions": [{"type": "Other", "status": "True"}]}}
    )
    assert main.json()["status"] == status_reply.json()["status"]
    assert (
        main.json()["metadata"]["resourceVersion"]
        == status_reply.json()["metadata"]["resourceVersion"]
    )
    read = await http.get(f"{SE}/web-static/status")
    assert read.json() == main.json()


async def test_pod_status_through_the_typed_client(api: ApiClient, manifests) -> None:
    core = CoreV1Api(api)
    await core.create_namespaced_pod("default", manifests.pod("web-0"))
    patched = await core.patch_namespaced_pod_status(
        "web-0",
        "default",
        {"status": {"phase": "Running", "podIP": "192.0.2.10", "podIPs": [{"ip": "192.0.2.10"}]}},
    )
    assert patched.status.pod_ip == "192.0.2.10"
    with pytest.raises(ApiException) as missing:
        await core.read_namespaced_pod_status("absent", "default")
    assert missing.value.status == 404


async def test_strategic_merge_patch_on_a_core_kind(api: ApiClient, manifests) -> None:
    core = CoreV1Api(api)
    await core.create_namespaced_service("default", manifests.service("web"))
    patched = await core.patch_namespaced_service(
        "web", "default", {"metadata": {"labels": {"x": "y"}}}
    )
    assert patched.metadata.labels == {"app": "web", "x": "y"}
