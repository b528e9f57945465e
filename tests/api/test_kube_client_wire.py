"""What the client puts on the wire and how it reads the answers, checked at the HTTP level."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any

import orjson
import pytest
from kubernetes_asyncio.client import Configuration

from reconciler import __version__
from reconciler.api.client import KubeClient, PatchType, Preconditions, PropagationPolicy
from reconciler.api.errors import (
    AlreadyExistsError,
    ConflictError,
    GoneError,
    NotFoundError,
    TransientError,
)
from reconciler.api.resources import ENDPOINT_SLICES, NAMESPACES, SERVICE_ENTRIES, SERVICES
from reconciler.api.retrying import RetryPolicy

SERVICE = {
    "kind": "Service",
    "apiVersion": "v1",
    "metadata": {"name": "web", "namespace": "ns", "resourceVersion": "42"},
    "spec": {"clusterIP": "None", "selector": {"app": "web"}},
}


async def collect(watch: AsyncGenerator[bytes, None], into: list[bytes]) -> None:
    async with aclosing(watch):
        async for line in watch:
            into.append(line)


def status(code: int, reason: str, message: str) -> bytes:
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure"}
    return orjson.dumps({**body, "message": message, "reason": reason, "code": code})


async def test_requests_carry_the_token_user_agent_and_json_accept(
    kube: Any, wire_server: Any, answer: Any
) -> None:
    client, _ = kube
    wire_server.answers = [answer(body=orjson.dumps(SERVICE))]
    service = await client.get(SERVICES, "ns", "web")
    assert service.is_headless
    seen = wire_server.seen[0]
    assert (seen.method, seen.path) == ("GET", "/api/v1/namespaces/ns/services/web")
    assert seen.headers["Authorization"] == "Bearer secret-token"
    assert seen.headers["User-Agent"] == f"headless-reconciler/{__version__}"
    assert seen.headers["Accept"] == "application/json"


async def test_list_page_sends_the_list_options_and_returns_the_raw_body(
    kube: Any, wire_server: Any, answer: Any
) -> None:
    client, _ = kube
    body = b'{"kind":"EndpointSliceList","metadata":{"resourceVersion":"7"},"items":[]}'
    wire_server.answers = [answer(body=body)]
    raw = await client.list_page(
        ENDPOINT_SLICES,
        namespace="ns",
        label_selector="kubernetes.io/service-name=web",
        limit=500,
        continue_token="abc",
    )
    assert raw == body
    seen = wire_server.seen[0]
    assert seen.path == "/apis/discovery.k8s.io/v1/namespaces/ns/endpointslices"
    assert seen.query == {
        "labelSelector": "kubernetes.io/service-name=web",
        "limit": "500",
        "continue": "abc",
    }


async def test_cluster_wide_lists_and_cluster_scoped_kinds_have_no_namespace_segment(
    kube: Any, wire_server: Any
) -> None:
    client, _ = kube
    await client.list_page(SERVICE_ENTRIES)
    await client.list_page(NAMESPACES)
    assert [seen.path for seen in wire_server.seen] == [
        "/apis/networking.istio.io/v1/serviceentries",
        "/api/v1/namespaces",
    ]


async def test_a_merge_patch_names_its_content_type_field_manager_and_dry_run(
    kube: Any, wire_server: Any, answer: Any
) -> None:
    client, _ = kube
    wire_server.answers = [answer(body=orjson.dumps(SERVICE))]
    patch = {"metadata": {"resourceVersion": "41"}, "spec": {"endpoints": []}}
    await client.patch(
        SERVICE_ENTRIES, "ns", "se", patch, content_type=PatchType.MERGE, dry_run=True
    )
    seen = wire_server.seen[0]
    assert (seen.method, seen.path) == (
        "PATCH",
        "/apis/networking.istio.io/v1/namespaces/ns/serviceentries/se",
    )
    assert seen.headers["Content-Type"] == "application/merge-patch+json"
    assert seen.query == {"dryRun": "All", "fieldManager": "headless-reconciler"}
    assert orjson.loads(seen.body) == patch


async def test_server_side_apply_can_force_and_name_another_field_manager(
    kube: Any, wire_server: Any, answer: Any
) -> None:
    client, _ = kube
    wire_server.answers = [answer(body=orjson.dumps(SERVICE))]
    await client.patch(
        SERVICES,
        "ns",
        "web-grpc",
        {"apiVersion": "v1", "kind": "Service"},
        content_type=PatchType.APPLY,
        field_manager="someone-else",
        force=True,
    )
    seen = wire_server.seen[0]
    assert seen.headers["Content-Type"] == "application/apply-patch+yaml"
    assert seen.query == {"fieldManager": "someone-else", "force": "true"}


async def test_create_and_replace_send_the_body_and_decode_the_answer(
    kube: Any, wire_server: Any, answer: Any
) -> None:
    client, _ = kube
    wire_server.answers = [
        answer(status=201, body=orjson.dumps(SERVICE)),
        answer(body=orjson.dumps(SERVICE)),
    ]
    created = await client.create(SERVICES, "ns", SERVICE)
    replaced = await client.replace(SERVICES, "ns", "web", SERVICE)
    assert created.metadata.resource_version == replaced.metadata.resource_version == "42"
    assert [(s.method, s.path) for s in wire_server.seen] == [
        ("POST", "/api/v1/namespaces/ns/services"),
        ("PUT", "/api/v1/namespaces/ns/services/web"),
    ]
    assert orjson.loads(wire_server.seen[0].body) == SERVICE


async def test_delete_sends_delete_options_with_preconditions(kube: Any, wire_server: Any) -> None:
    client, _ = kube
    await client.delete(
        SERVICES,
        "ns",
        "web-grpc",
        propagation_policy=PropagationPolicy.FOREGROUND,
        preconditions=Preconditions(uid="u-1", resource_version="9"),
        dry_run=True,
    )
    seen = wire_server.seen[0]
    assert (seen.method, seen.path) == ("DELETE", "/api/v1/namespaces/ns/services/web-grpc")
    assert seen.query == {"dryRun": "All"}
    assert orjson.loads(seen.body) == {
        "apiVersion": "v1",
        "kind": "DeleteOptions",
        "propagationPolicy": "Foreground",
        "preconditions": {"uid": "u-1", "resourceVersion": "9"},
    }


async def test_watch_lines_are_reassembled_across_chunk_boundaries(
    kube: Any, wire_server: Any, answer: Any
) -> None:
    client, _ = kube
    lines = [orjson.dumps({"type": "BOOKMARK", "n": n, "pad": "x" * (n * 50)}) for n in range(6)]
    stream = b"\n".join(lines) + b"\n"
    chunks = [stream[i : i + 37] for i in range(0, len(stream), 37)]
    wire_server.answers = [answer(chunks=chunks)]
    async with aclosing(
        client.stream_watch(ENDPOINT_SLICES, namespace="ns", resource_version="5")
    ) as watch:
        received = [line async for line in watch]
    assert received == lines
    assert wire_server.seen[0].query == {
        "watch": "true",
        "resourceVersion": "5",
        "allowWatchBookmarks": "true",
        "timeoutSeconds": "300",
    }


async def test_a_watch_cut_mid_line_raises_a_transient_error(
    kube: Any, wire_server: Any, answer: Any
) -> None:
    client, _ = kube
    wire_server.answers = [answer(chunks=[b'{"type":"ADDED"}\n{"type":"MOD'], cut=True)]
    received: list[bytes] = []
    with pytest.raises(TransientError):
        await collect(client.stream_watch(ENDPOINT_SLICES), received)
    assert received == [b'{"type":"ADDED"}']


async def test_a_watch_refused_with_410_raises_gone(
    kube: Any, wire_server: Any, answer: Any
) -> None:
    client, requests = kube
    wire_server.answers = [answer(status=410, body=status(410, "Expired", "too old"))]
    with pytest.raises(GoneError):
        await collect(client.stream_watch(ENDPOINT_SLICES), [])
    assert requests == [("watch", "endpointslices", "410")]


async def test_429_is_retried_after_the_retry_after_the_server_asked_for(
    kube: Any, wire_server: Any, answer: Any, sleeps: Any
) -> None:
    client, requests = kube
    wire_server.answers = [
        answer(
            status=429, body=status(429, "TooManyRequests", "slow"), headers={"Retry-After": "3"}
        ),
        answer(body=orjson.dumps(SERVICE)),
    ]
    await client.get(SERVICES, "ns", "web")
    assert sleeps.delays == [3.0]
    assert requests == [("get", "services", "429"), ("get", "services", "200")]


async def test_conflicts_are_not_retried_and_keep_reason_and_message(
    kube: Any, wire_server: Any, answer: Any, sleeps: Any
) -> None:
    client, requests = kube
    wire_server.answers = [answer(status=409, body=status(409, "AlreadyExists", "exists"))]
    with pytest.raises(AlreadyExistsError) as raised:
        await client.create(SERVICES, "ns", SERVICE)
    assert isinstance(raised.value, ConflictError)
    assert (raised.value.reason, raised.value.message) == ("AlreadyExists", "exists")
    assert len(wire_server.seen) == 1
    assert sleeps.delays == []
    assert requests == [("create", "services", "409")]


async def test_plain_text_404_becomes_not_found(kube: Any, wire_server: Any, answer: Any) -> None:
    client, _ = kube
    wire_server.answers = [answer(status=404, body=b"404 page not found\n")]
    with pytest.raises(NotFoundError):
        await client.get(SERVICE_ENTRIES, "ns", "x")


async def test_an_unreachable_server_is_transient_retried_and_counted_without_a_code(
    configuration: Configuration, sleeps: Any
) -> None:
    configuration.host = "http://127.0.0.1:9"
    requests: list[tuple[str, str, str]] = []
    client = KubeClient(
        configuration,
        retry_policy=RetryPolicy(attempts=3, sleep=sleeps, random=lambda: 0.0),
        on_request=lambda *request: requests.append(request),
    )
    async with client:
        with pytest.raises(TransientError) as raised:
            await client.get(SERVICES, "ns", "web")
    assert raised.value.reason == "ConnectionError"
    assert requests == [("get", "services", "<error>")] * 3
    assert sleeps.delays == [0.2, 0.4]
