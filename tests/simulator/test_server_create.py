"""POST: 201, names, namespaces, bodies and options, with the bodies of fidelity 02, 12 and 13."""

from __future__ import annotations

import pytest
from kubernetes_asyncio.client import ApiClient, CoreV1Api, CustomObjectsApi

from reconciler.simulator.resources import SERVICES
from reconciler.simulator.simulator import Simulator

SERVICES_PATH = "/api/v1/namespaces/default/services"
OBJECT_META_ORDER = [
    "name",
    "generateName",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
]


async def test_create_answers_201_with_the_object_in_go_field_order(http, manifests) -> None:
    reply = await http.post(SERVICES_PATH, manifests.service("web"))
    body = reply.json()
    assert reply.status == 201
    assert list(body)[:3] == ["kind", "apiVersion", "metadata"]
    assert list(body)[3:] == ["spec", "status"]
    metadata_keys = list(body["metadata"])
    assert metadata_keys == [key for key in OBJECT_META_ORDER if key in metadata_keys]
    assert {"uid", "resourceVersion", "creationTimestamp"} <= set(metadata_keys)
    assert body["metadata"]["namespace"] == "default"
    assert reply.raw.endswith(b"}\n")
    assert b": " not in reply.raw


async def test_create_through_kubernetes_asyncio(api: ApiClient, manifests) -> None:
    core = CoreV1Api(api)
    created = await core.create_namespaced_service("default", manifests.service("web"))
    read = await core.read_namespaced_service("web", "default")
    assert created.metadata.uid == read.metadata.uid
    assert read.spec.selector == {"app": "web"}


async def test_duplicate_create_is_409_already_exists(http, manifests) -> None:
    await http.post(SERVICES_PATH, manifests.service("web"))
    reply = await http.post(SERVICES_PATH, manifests.service("web"))
    assert reply.status == 409
    assert reply.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'services "web" already exists',
        "reason": "AlreadyExists",
        "details": {"name": "web", "kind": "services"},
        "code": 409,
    }


async def test_generate_name_appends_five_random_characters(api: ApiClient, manifests) -> None:
    body = manifests.service("ignored")
    del body["metadata"]["name"]
    body["metadata"]["generateName"] = "web-"
    created = await CoreV1Api(api).create_namespaced_service("default", body)
    suffix = created.metadata.name.removeprefix("web-")
    assert len(suffix) == 5
    assert suffix.isalnum()
    assert suffix.islower()
    assert created.metadata.generate_name == "web-"


async def test_missing_name_and_generate_name_is_422(http, manifests) -> None:
    body = manifests.service("x")
    del body["metadata"]["name"]
    reply = await http.post(SERVICES_PATH, body)
    assert reply.status == 422
    assert reply.json()["details"]["causes"] == [
        {
            "reason": "FieldValueRequired",
            "message": "Required value: name or generateName is required",
            "field": "metadata.name",
        }
    ]


async def test_namespace_mismatch_is_400(http, manifests) -> None:
    body = manifests.service("web")
    body["metadata"]["namespace"] = "other-ns"
    reply = await http.post(SERVICES_PATH, body)
    assert reply.status == 400
    assert reply.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "the namespace of the provided object does not match the namespace sent on the"
        " request",
        "reason": "BadRequest",
        "code": 400,
    }


async def test_create_in_a_missing_namespace_is_404_for_the_namespace(http, manifests) -> None:
    reply = await http.post(
        "/api/v1/namespaces/fid-nonexistent-ns/services", manifests.service("x")
    )
    assert reply.status == 404
    assert reply.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'namespaces "fid-nonexistent-ns" not found',
        "reason": "NotFound",
        "details": {"name": "fid-nonexistent-ns", "kind": "namespaces"},
        "code": 404,
    }


async def test_get_in_a_missing_namespace_is_404_for_the_object(http) -> None:
    reply = await http.get("/api/v1/namespaces/fid-nonexistent-ns/services/web")
    assert reply.json()["message"] == 'services "web" not found'
    assert reply.json()["details"] == {"name": "web", "kind": "services"}


async def test_create_in_a_terminating_namespace_is_403(http, manifests) -> None:
    await http.post("/api/v1/namespaces", manifests.namespace("fid-gone"))
    await http.delete("/api/v1/namespaces/fid-gone")
    reply = await http.post("/api/v1/namespaces/fid-gone/services", manifests.service("late"))
    assert reply.status == 403
    assert reply.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'services "late" is forbidden: unable to create new content in namespace'
        " fid-gone because it is being terminated",
        "reason": "Forbidden",
        "details": {
            "name": "late",
            "kind": "services",
            "causes": [
                {
                    "reason": "NamespaceTerminating",
                    "message": "namespace fid-gone is being terminated",
                    "field": "metadata.namespace",
                }
            ],
        },
        "code": 403,
    }


async def test_yaml_bodies_are_accepted(http) -> None:
    reply = await http.post(
        SERVICES_PATH,
        data="apiVersion: v1\nkind: Service\nmetadata:\n  name: yaml-body\nspec:\n  ports:\n"
        "  - port: 80\n",
        content_type="application/yaml",
    )
    assert reply.status == 201
    assert reply.json()["metadata"]["name"] == "yaml-body"


async def test_malformed_json_is_400_with_the_start_of_the_body(http) -> None:
    reply = await http.post(
        SERVICES_PATH, data='{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"'
    )
    assert reply.status == 400
    assert reply.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "the object provided is unrecognized (must be of type Service): couldn't get"
        ' version/kind; json parse error: unexpected end of JSON input ({"apiVersion": "v1",'
        ' "kind": " ...)',
        "reason": "BadRequest",
        "code": 400,
    }


async def test_unsupported_body_type_is_415(http) -> None:
    reply = await http.post(
        SERVICES_PATH,
        data='{"apiVersion":"v1","kind":"Service","metadata":{"name":"x"}}',
        content_type="text/plain",
    )
    assert reply.status == 415
    assert reply.json()["reason"] == "UnsupportedMediaType"
    assert reply.json()["message"] == (
        "the body of the request was in an unknown format - accepted media types include:"
        " application/json, application/yaml, application/vnd.kubernetes.protobuf"
    )


async def test_dry_run_create_returns_the_object_without_persisting_it(
    http, manifests, sim: Simulator
) -> None:
    before = sim.store.resource_version
    reply = await http.post(SERVICES_PATH, manifests.service("dry"), query=[("dryRun", "All")])
    assert reply.status == 201
    assert "resourceVersion" not in reply.json()["metadata"]
    assert reply.json()["metadata"]["uid"]
    assert sim.store.get(SERVICES, "default", "dry") is None
    assert sim.store.resource_version == before


@pytest.mark.parametrize("value", ["all", "true", "True", "1", "", "Bogus"])
async def test_dry_run_accepts_only_all(http, manifests, value: str) -> None:
    reply = await http.post(SERVICES_PATH, manifests.service("dry"), query=[("dryRun", value)])
    assert reply.status == 422
    assert reply.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'CreateOptions.meta.k8s.io "" is invalid: dryRun: Unsupported value:'
        f' []string{{"{value}"}}: supported values: "All"',
        "reason": "Invalid",
        "details": {
            "group": "meta.k8s.io",
            "kind": "CreateOptions",
            "causes": [
                {
                    "reason": "FieldValueNotSupported",
                    "message": f'Unsupported value: []string{{"{value}"}}: supported values: "All"',
                    "field": "dryRun",
                }
            ],
        },
        "code": 422,
    }


async def test_field_manager_defaults_to_the_user_agent_prefix(
    http, manifests, sim: Simulator
) -> None:
    await http.post(
        SERVICES_PATH, manifests.service("a"), headers={"User-Agent": "kubectl/v1.28.0"}
    )
    await http.post(SERVICES_PATH, manifests.service("b"), query=[("fieldManager", "mine")])
    managers = [record.field_manager for record in sim.store.write_log[-2:]]
    assert managers == ["kubectl", "mine"]


async def test_custom_resource_create_comes_back_sorted(api: ApiClient, http, manifests) -> None:
    created = await CustomObjectsApi(api).create_namespaced_custom_object(
        "networking.istio.io", "v1", "default", "serviceentries", manifests.service_entry("se")
    )
    assert created["metadata"]["name"] == "se"
    raw = (
        await http.get("/apis/networking.istio.io/v1/namespaces/default/serviceentries/se")
    ).json()
    assert list(raw) == sorted(raw)
    assert list(raw["metadata"]) == sorted(raw["metadata"])
    assert list(raw["spec"]["ports"][0]) == sorted(raw["spec"]["ports"][0])


async def test_kind_mismatch_is_400(http, manifests) -> None:
    body = manifests.service("web")
    body["kind"] = "Pod"
    reply = await http.post(SERVICES_PATH, body)
    assert reply.status == 400
    assert reply.json()["message"] == (
        "the kind in the data (Pod) does not match the expected kind (Service)"
    )
