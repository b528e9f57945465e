"""PUT: optimistic concurrency and the per-type rules of fidelity 07, 09 and 10."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes_asyncio.client import ApiClient, CoordinationV1Api, CoreV1Api
from kubernetes_asyncio.client.rest import ApiException

from reconciler.simulator.simulator import Simulator

SVC = "/api/v1/namespaces/default/services"
LEASES = "/apis/coordination.k8s.io/v1/namespaces/default/leases"
SE = "/apis/networking.istio.io/v1/namespaces/default/serviceentries"


async def created(http, path: str, body: dict[str, Any]) -> dict[str, Any]:
    reply = await http.post(path, body)
    assert reply.status == 201, reply.json()
    result: dict[str, Any] = reply.json()
    return result


async def test_put_with_the_current_resource_version_updates(http, manifests) -> None:
    service = await created(http, SVC, manifests.service("web"))
    service["metadata"]["labels"]["touched"] = "yes"
    reply = await http.put(f"{SVC}/web", service)
    assert reply.status == 200
    assert reply.json()["metadata"]["labels"]["touched"] == "yes"
    assert int(reply.json()["metadata"]["resourceVersion"]) > int(
        service["metadata"]["resourceVersion"]
    )


async def test_put_with_a_stale_resource_version_is_409(http, manifests) -> None:
    service = await created(http, SVC, manifests.service("web"))
    fresh = dict(service, metadata={**service["metadata"], "labels": {"v": "2"}})
    assert (await http.put(f"{SVC}/web", fresh)).status == 200
    stale = dict(service, metadata={**service["metadata"], "labels": {"v": "stale"}})
    reply = await http.put(f"{SVC}/web", stale)
    assert reply.status == 409
    assert reply.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'Operation cannot be fulfilled on services "web": the object has been modified;'
        " please apply your changes to the latest version and try again",
        "reason": "Conflict",
        "details": {"name": "web", "kind": "services"},
        "code": 409,
    }


async def test_service_put_without_resource_version_is_allowed(http, manifests) -> None:
    service = await created(http, SVC, manifests.service("web"))
    del service["metadata"]["resourceVersion"]
    service["metadata"]["labels"]["touched"] = "yes"
    reply = await http.put(f"{SVC}/web", service)
    assert reply.status == 200
    assert reply.json()["metadata"]["labels"]["touched"] == "yes"


@pytest.mark.parametrize(
    ("path", "group", "resource"),
    [
        (LEASES, "coordination.k8s.io", "leases"),
        (SE, "networking.istio.io", "serviceentries"),
    ],
)
async def test_lease_and_custom_resource_put_needs_a_resource_version(
    http, manifests, path: str, group: str, resource: str
) -> None:
    body = manifests.lease("x") if resource == "leases" else manifests.service_entry("x")
    current = await created(http, path, body)
    del current["metadata"]["resourceVersion"]
    reply = await http.put(f"{path}/x", current)
    message = "Invalid value: 0x0: must be specified for an update"
    assert reply.status == 422
    assert reply.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": f'{resource}.{group} "x" is invalid: metadata.resourceVersion: {message}',
        "reason": "Invalid",
        "details": {
            "name": "x",
            "group": group,
            "kind": resource,
            "causes": [
                {
                    "reason": "FieldValueInvalid",
                    "message": message,
                    "field": "metadata.resourceVersion",
                }
            ],
        },
        "code": 422,
    }


async def test_name_mismatch_is_400(http, manifests) -> None:
    service = await created(http, SVC, manifests.service("web"))
    reply = await http.put(f"{SVC}/other", service)
    assert reply.status == 400
    assert reply.json()["message"] == (
        "the name of the object (web) does not match the name on the URL (other)"
    )


async def test_put_of_a_missing_service_is_404(http, manifests) -> None:
    reply = await http.put(f"{SVC}/absent", manifests.service("absent"))
    assert reply.status == 404
    assert reply.json()["message"] == 'services "absent" not found'


async def test_lease_may_be_created_by_put(http, manifests) -> None:
    reply = await http.put(f"{LEASES}/fresh", manifests.lease("fresh"))
    assert reply.status == 201
    assert reply.json()["metadata"]["name"] == "fresh"


async def test_leader_election_renew_and_takeover(api: ApiClient, manifests) -> None:
    leases = CoordinationV1Api(api)
    lease = await leases.create_namespaced_lease("default", manifests.lease("leader"))
    lease.spec.holder_identity = "a"
    lease.spec.lease_transitions = 1
    renewed = await leases.replace_namespaced_lease("leader", "default", lease)
    assert renewed.metadata.resource_version != lease.metadata.resource_version
    lease.spec.holder_identity = "b"
    with pytest.raises(ApiException) as refused:
        await leases.replace_namespaced_lease("leader", "default", lease)
    assert refused.value.status == 409


async def test_uid_mismatch_on_update_is_a_precondition_conflict(http, manifests) -> None:
    service = await created(http, SVC, manifests.service("web"))
    service["metadata"]["uid"] = "00000000-0000-0000-0000-000000000000"
    reply = await http.put(f"{SVC}/web", service)
    assert reply.status == 409
    assert "Precondition failed: UID in precondition" in reply.json()["message"]


async def test_no_op_put_keeps_the_resource_version(
    api: ApiClient, manifests, sim: Simulator
) -> None:
    core = CoreV1Api(api)
    service = await core.create_namespaced_service("default", manifests.service("web"))
    before = sim.store.resource_version
    same = await core.replace_namespaced_service("web", "default", service)
    assert same.metadata.resource_version == service.metadata.resource_version
    assert sim.store.resource_version == before
