"""DELETE: bodies per type, propagation finalizers, preconditions, graceful pods, namespaces.

As recorded in fidelity 03, 05b, 07, 09 and 13.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from kubernetes_asyncio.client import ApiClient, CoreV1Api, V1DeleteOptions, V1Preconditions
from kubernetes_asyncio.client.rest import ApiException

from reconciler.simulator.resources import PODS as POD_KIND
from reconciler.simulator.resources import SERVICES as SERVICE_KIND
from reconciler.simulator.simulator import Simulator

SVC = "/api/v1/namespaces/default/services"
PODS = "/api/v1/namespaces/default/pods"
SE = "/apis/networking.istio.io/v1/namespaces/default/serviceentries"


def seconds_from_now(timestamp: str) -> float:
    moment = datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return (moment - datetime.now(UTC)).total_seconds()


async def test_service_delete_returns_the_object_at_the_delete_revision(
    http, manifests, sim: Simulator
) -> None:
    created = (await http.post(SVC, manifests.service("web"))).json()
    reply = await http.delete(f"{SVC}/web")
    body = reply.json()
    assert reply.status == 200
    assert body["kind"] == "Service"
    assert body["metadata"]["uid"] == created["metadata"]["uid"]
    assert body["metadata"]["resourceVersion"] == str(sim.store.resource_version)
    assert sim.store.history(SERVICE_KIND)[-1].type == "DELETED"
    assert sim.store.get(SERVICE_KIND, "default", "web") is None


async def test_custom_resource_delete_returns_a_success_status(http, manifests) -> None:
    created = (await http.post(SE, manifests.service_entry("se-watch"))).json()
    reply = await http.delete(f"{SE}/se-watch")
    assert reply.status == 200
    assert reply.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": {
            "name": "se-watch",
            "group": "networking.istio.io",
            "kind": "serviceentries",
            "uid": created["metadata"]["uid"],
        },
    }
    assert (await http.get(f"{SE}/se-watch")).status == 404


async def test_dry_run_delete_answers_success_and_keeps_the_object(http, manifests) -> None:
    created = (await http.post(SVC, manifests.service("web"))).json()
    reply = await http.delete(f"{SVC}/web", query="dryRun=All")
    assert reply.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": {"name": "web", "kind": "services", "uid": created["metadata"]["uid"]},
    }
    assert (await http.get(f"{SVC}/web")).status == 200


@pytest.mark.parametrize(
    ("policy", "finalizer"), [("Foreground", "foregroundDeletion"), ("Orphan", "orphan")]
)
async def test_foreground_and_orphan_deletes_leave_the_owner_marked(
    http, manifests, policy: str, finalizer: str
) -> None:
    await http.post(SVC, manifests.service("owner"))
    reply = await http.delete(f"{SVC}/owner", query=f"propagationPolicy={policy}")
    metadata = reply.json()["metadata"]
    assert reply.status == 200
    assert metadata["finalizers"] == [finalizer]
    assert metadata["deletionGracePeriodSeconds"] == 0
    assert abs(seconds_from_now(metadata["deletionTimestamp"])) < 5
    keys = list(metadata)
    assert (
        keys.index("deletionTimestamp")
        < keys.index("deletionGracePeriodSeconds")
        < keys.index("finalizers")
    )
    assert (await http.get(f"{SVC}/owner")).json()["metadata"] == metadata


async def test_propagation_policy_in_the_body_through_the_typed_client(
    api: ApiClient, manifests
) -> None:
    core = CoreV1Api(api)
    await core.create_namespaced_service("default", manifests.service("owner"))
    await core.delete_namespaced_service(
        "owner", "default", body=V1DeleteOptions(propagation_policy="Foreground")
    )
    still = await core.read_namespaced_service("owner", "default")
    assert still.metadata.finalizers == ["foregroundDeletion"]


async def test_invalid_propagation_policy_is_422(http, manifests) -> None:
    await http.post(SVC, manifests.service("web"))
    reply = await http.delete(f"{SVC}/web", query="propagationPolicy=Bogus")
    message = (
        'Unsupported value: "Bogus": supported values: "Foreground", "Background", "Orphan", "nil"'
    )
    assert reply.status == 422
    assert reply.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": f'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: {message}',
        "reason": "Invalid",
        "details": {
            "group": "meta.k8s.io",
            "kind": "DeleteOptions",
            "causes": [
                {
                    "reason": "FieldValueNotSupported",
                    "message": message,
                    "field": "propagationPolicy",
                }
            ],
        },
        "code": 422,
    }


async def test_delete_preconditions_are_409(api: ApiClient, manifests) -> None:
    core = CoreV1Api(api)
    created = await core.create_namespaced_service("default", manifests.service("web"))
    for preconditions in (
        V1Preconditions(uid="not-the-uid"),
        V1Preconditions(resource_version="1"),
    ):
        with pytest.raises(ApiException) as refused:
            await core.delete_namespaced_service(
                "web", "default", body=V1DeleteOptions(preconditions=preconditions)
            )
        assert refused.value.status == 409
        assert "Precondition failed" in refused.value.body
    matching = V1DeleteOptions(
        preconditions=V1Preconditions(
            uid=created.metadata.uid, resource_version=created.metadata.resource_version
        )
    )
    await core.delete_namespaced_service("web", "default", body=matching)


async def test_graceful_delete_of_a_bound_pod_only_marks_it(
    http, manifests, sim: Simulator
) -> None:
    await http.post(PODS, manifests.pod("web-2"))
    reply = await http.delete(f"{PODS}/web-2")
    metadata = reply.json()["metadata"]
    assert reply.status == 200
    assert metadata["deletionGracePeriodSeconds"] == 30
    assert 25 < seconds_from_now(metadata["deletionTimestamp"]) <= 31
    await http.patch(f"{PODS}/web-2/status", {"status": {"phase": "Running"}})
    assert (await http.get(f"{PODS}/web-2")).json()["metadata"]["deletionTimestamp"] == metadata[
        "deletionTimestamp"
    ]
    forced = await http.delete(f"{PODS}/web-2", query="gracePeriodSeconds=0")
    assert forced.json()["metadata"]["deletionGracePeriodSeconds"] == 0
    assert sim.store.get(POD_KIND, "default", "web-2") is None


async def test_unbound_pod_is_deleted_at_once(http, manifests, sim: Simulator) -> None:
    await http.post(PODS, manifests.pod("pending", node=None))
    reply = await http.delete(f"{PODS}/pending")
    assert reply.json()["kind"] == "Pod"
    assert sim.store.get(POD_KIND, "default", "pending") is None


async def test_namespace_delete_marks_it_terminating(http, manifests) -> None:
    await http.post("/api/v1/namespaces", manifests.namespace("fid-gone"))
    reply = await http.delete("/api/v1/namespaces/fid-gone")
    body = reply.json()
    assert reply.status == 200
    assert body["status"]["phase"] == "Terminating"
    assert body["spec"]["finalizers"] == ["kubernetes"]
    assert body["metadata"]["deletionTimestamp"]
    again = await http.delete("/api/v1/namespaces/fid-gone")
    assert again.status == 409
    assert again.json()["message"] == (
        'Operation cannot be fulfilled on namespaces "fid-gone": The system is ensuring all content'
        " is removed from this namespace.  Upon completion, this namespace will automatically be"
        " purged by the system."
    )


async def test_finalize_subresource_lets_a_terminating_namespace_go(http, manifests) -> None:
    await http.post("/api/v1/namespaces", manifests.namespace("fid-gone"))
    marked = (await http.delete("/api/v1/namespaces/fid-gone")).json()
    marked["spec"]["finalizers"] = []
    finalized = await http.put("/api/v1/namespaces/fid-gone/finalize", marked)
    assert finalized.status == 200
    assert (await http.get("/api/v1/namespaces/fid-gone")).status == 404


async def test_empty_deletecollection_returns_an_empty_list(http, sim: Simulator) -> None:
    reply = await http.delete(PODS, query="labelSelector=nothing%3Dmatches")
    assert reply.status == 200
    assert reply.json() == {
        "kind": "PodList",
        "apiVersion": "v1",
        "metadata": {"resourceVersion": str(sim.store.resource_version)},
        "items": [],
    }


async def test_deletecollection_deletes_what_matches(http, manifests, sim: Simulator) -> None:
    for name in ("a", "b", "keep"):
        body = manifests.pod(name, labels={"app": "keep" if name == "keep" else "bulk"})
        await http.post(PODS, body)
    reply = await http.delete(PODS, query="labelSelector=app%3Dbulk&gracePeriodSeconds=0")
    assert [item["metadata"]["name"] for item in reply.json()["items"]] == ["a", "b"]
    assert [o["metadata"]["name"] for o in sim.store.list(POD_KIND, "default")[0]] == ["keep"]


async def test_delete_of_a_missing_object_is_404(http) -> None:
    reply = await http.delete(f"{SVC}/does-not-exist")
    assert reply.status == 404
    assert reply.json()["details"] == {"name": "does-not-exist", "kind": "services"}
