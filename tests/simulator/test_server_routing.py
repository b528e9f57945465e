"""Authentication, routing and content negotiation errors, with the bodies of fidelity 13."""

from __future__ import annotations

import pytest


async def test_no_token_is_forbidden_as_system_anonymous(http) -> None:
    reply = await http.get("/api/v1/namespaces/fid-b/services", token=None)
    assert reply.status == 403
    assert reply.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'services is forbidden: User "system:anonymous" cannot list resource "services"'
        ' in API group "" in the namespace "fid-b"',
        "reason": "Forbidden",
        "details": {"kind": "services"},
        "code": 403,
    }


async def test_no_token_may_still_read_discovery(http) -> None:
    assert (await http.get("/apis", token=None)).status == 200
    assert (await http.get("/version", token=None)).status == 200


async def test_anonymous_named_and_cluster_scoped_requests_say_what_was_denied(http) -> None:
    named = await http.get("/apis/networking.istio.io/v1/namespaces/a/serviceentries/x", token=None)
    cluster = await http.get("/api/v1/namespaces", token=None)
    assert named.json()["message"] == (
        'serviceentries.networking.istio.io "x" is forbidden: User "system:anonymous" cannot get'
        ' resource "serviceentries" in API group "networking.istio.io" in the namespace "a"'
    )
    assert named.json()["details"] == {
        "name": "x",
        "group": "networking.istio.io",
        "kind": "serviceentries",
    }
    assert cluster.json()["message"].endswith('in API group "" at the cluster scope')


async def test_wrong_token_is_unauthorized(http) -> None:
    reply = await http.get("/api/v1/namespaces/fid-b/services", token="not-the-token")
    assert reply.status == 401
    assert reply.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "Unauthorized",
        "reason": "Unauthorized",
        "code": 401,
    }


async def test_post_to_a_named_resource_is_method_not_allowed(http) -> None:
    reply = await http.post(
        "/api/v1/namespaces/default/services/some-name", {"apiVersion": "v1", "kind": "Service"}
    )
    assert reply.status == 405
    assert reply.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "the server does not allow this method on the requested resource",
        "reason": "MethodNotAllowed",
        "details": {},
        "code": 405,
    }


@pytest.mark.parametrize(
    "path",
    [
        "/apis/networking.istio.io/v1/namespaces/default/sidecars",
        "/apis/networking.istio.io/v2/namespaces/default/serviceentries",
        "/api/v1/namespaces/default/nodes",
        "/api/v1/pods/web-0",
        "/api/v1/namespaces/default/pods/web-0/log",
        "/healthz/nothing",
    ],
)
async def test_unknown_resources_and_paths_are_plain_text_404(http, path: str) -> None:
    reply = await http.get(path)
    assert reply.status == 404
    assert reply.content_type == "text/plain; charset=utf-8"
    assert reply.raw == b"404 page not found\n"


async def test_unacceptable_accept_header_is_406(http) -> None:
    reply = await http.get("/api/v1/namespaces/default/services", accept="application/xml")
    assert reply.status == 406
    assert reply.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "406: Not Acceptable\n\nAvailable representations: application/json,"
        " application/yaml, application/vnd.kubernetes.protobuf, application/json;stream=watch,"
        " application/vnd.kubernetes.protobuf;stream=watch",
        "reason": "NotAcceptable",
        "details": {},
        "code": 406,
    }


async def test_aggregated_discovery_accept_falls_back_to_plain_json(http) -> None:
    reply = await http.get(
        "/apis",
        accept="application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,"
        "application/json",
    )
    assert reply.status == 200
    assert reply.json()["kind"] == "APIGroupList"


async def test_collection_urls_reject_update_and_patch(http) -> None:
    assert (await http.put("/api/v1/namespaces/default/services", {})).status == 405
    assert (await http.patch("/api/v1/namespaces/default/services", {})).status == 405
    assert (await http.post("/api/v1/services", {})).status == 405
