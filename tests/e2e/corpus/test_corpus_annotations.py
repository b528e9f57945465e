"""Corpus, annotations that name the wrong thing or hold odd bytes: refused clearly (issue 9).

An annotation is user input the controller acts on: a name that leads
nowhere, to a Service whose pods must not be followed, into another
namespace, or a value no Kubernetes name can be (bytes that are not UTF-8, a
value of 200 KiB). Each is refused with a Warning Event whose message names
the annotation and says why, in a sentence that fits ``kubectl describe``;
nothing is written. Same method as the other corpus files: the real
controller, input through the API, wait until it has looked, then assert the
report and the absence of any write.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson
import pytest
from corpus_world import endpoint_addresses, labelled_endpoint, static_spec

from reconciler.applying.applier import Outcome
from reconciler.models.refs import Kind, ObjectKey
from reconciler.planning.references import (
    GRPC_SERVICE_ANNOTATION,
    IP_FAMILY_ANNOTATION,
    POD_ANNOTATION,
    SERVICE_ANNOTATION,
)
from reconciler.testbed.statefulsets import StatefulPodSet

if TYPE_CHECKING:
    from corpus_world import JsonObject, RawWorld
    from kubernetes_asyncio.client import ApiClient

    from tests.e2e.conftest import (
        ControllerStarter,
        ControllerWrites,
        Istio,
        RunningController,
        StatefulSetStarter,
    )

pytestmark = pytest.mark.e2e

STALE = "10.244.250.250"
"""An address no pod of these tests ever gets."""
EVENT_MESSAGE_LIMIT = 1024
"""What the controller's Event recorder keeps of a message."""
ANNOTATION_TOTAL_LIMIT = 256 * 1024
"""Bytes all annotations of an object may hold together (Kubernetes' TotalAnnotationSizeLimitB)."""
WAIT = 10.0
NOT_A_NAME = SERVICE_ANNOTATION + ": {value} is not <service> or <namespace>/<service>"


async def refused_once(istio: Istio, running: RunningController, name: str) -> str:
    """The refusal's message, once the controller reported it and its Event says the same."""
    applied = await running.reconciles.wait_for(istio.service_entry_key(name))
    assert applied.outcome is Outcome.REFUSED, applied
    event = await istio.wait_for_event(about=name, reason="Refused")
    assert (event["type"], event["message"]) == ("Warning", applied.message)
    return applied.message


async def assert_unchanged(istio: Istio, written_by: ControllerWrites, created: JsonObject) -> None:
    name = created["metadata"]["name"]
    now = await istio.get_service_entry(name)
    assert now["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    assert written_by(resource="serviceentries", name=name) == []


async def test_annotation_naming_a_missing_service_is_refused_until_the_service_appears(
    namespace: str,
    statefulset: StatefulSetStarter,
    istio: Istio,
    raw: RawWorld,
    written_by: ControllerWrites,
    controller: RunningController,
) -> None:
    spec = static_spec([istio.host("db")], endpoints=[labelled_endpoint(STALE, "db-0")])
    created = await raw.create_service_entry(
        "db-all", spec=spec, annotations={SERVICE_ANNOTATION: "db"}
    )

    message = await refused_once(istio, controller, "db-all")

    assert message == f"Service {namespace}/db not found"
    await assert_unchanged(istio, written_by, created)
    pods = await statefulset(2, name="db")
    await istio.wait_for_endpoints("db-all", [pod.addresses[0] for pod in pods.pods])


async def test_annotation_naming_a_non_headless_service_is_refused_and_never_written(
    namespace: str,
    statefulset: StatefulSetStarter,
    istio: Istio,
    raw: RawWorld,
    written_by: ControllerWrites,
    controller: RunningController,
) -> None:
    await statefulset(2)
    vip = await raw.create_service("web-vip", headless=False, selector={"app": "web"})
    spec = static_spec([istio.host("web-vip")], endpoints=[labelled_endpoint(STALE, "web-0")])

    created = await raw.create_service_entry(
        "web-vip", spec=spec, annotations={SERVICE_ANNOTATION: "web-vip"}
    )

    message = await refused_once(istio, controller, "web-vip")
    cluster_ip = vip["spec"]["clusterIP"]
    assert message == (
        f"Service {namespace}/web-vip is not headless (clusterIP {cluster_ip}): "
        "only a headless Service's pods are followed"
    )
    await assert_unchanged(istio, written_by, created)


async def test_annotation_naming_a_service_in_another_namespace_is_refused_and_its_pods_unread(
    api: ApiClient,
    namespace: str,
    other_namespace: str,
    istio: Istio,
    raw: RawWorld,
    written_by: ControllerWrites,
    start_controller: ControllerStarter,
) -> None:
    theirs = StatefulPodSet(api, name="web", namespace=other_namespace, wait_within=WAIT)
    await theirs.create(2)
    running = await start_controller(namespaces=(namespace, other_namespace))
    spec = static_spec([istio.host("web")], endpoints=[labelled_endpoint(STALE, "web-0")])

    created = await raw.create_service_entry(
        "borrowed", spec=spec, annotations={SERVICE_ANNOTATION: f"{other_namespace}/web"}
    )

    message = await refused_once(istio, running, "borrowed")
    assert message == (
        f"Service {other_namespace}/web is in another namespace: references from namespace "
        f"{namespace} into namespace {other_namespace} are not allowed "
        f"(allow them with --allow-cross-namespace {namespace}={other_namespace})"
    )
    await assert_unchanged(istio, written_by, created)


async def test_annotation_naming_a_pod_that_does_not_exist_empties_the_entry_after_the_grace(
    statefulset: StatefulSetStarter,
    istio: Istio,
    raw: RawWorld,
    written_by: ControllerWrites,
    controller: RunningController,
) -> None:
    pods = await statefulset(3)
    spec = static_spec(
        [istio.host("web", pod="web-7")], endpoints=[labelled_endpoint(STALE, "web-7")]
    )
    key = istio.service_entry_key("web-7")

    await raw.create_service_entry(
        "web-7", spec=spec, annotations={SERVICE_ANNOTATION: "web", POD_ANNOTATION: "web-7"}
    )

    held = await controller.reconciles.wait_for(key, Outcome.HELD)
    assert (
        held.message
        == "would remove 1 of 1 endpoints and add none: held until this has lasted 0.5s"
    )
    updated = await controller.reconciles.wait_for(key, Outcome.UPDATED)
    assert updated.message == f"web-7: removed {STALE}"
    assert endpoint_addresses(await istio.get_service_entry("web-7")) == []
    await istio.wait_for_event(about="web-7", reason="RemovalHeld")
    others = {pod.addresses[0] for pod in pods.pods}
    for write in written_by(resource="serviceentries", name="web-7"):
        written = {endpoint["address"] for endpoint in write.body["spec"]["endpoints"]}
        assert not written & others, "another pod's address never stands in for a missing one"


async def test_workload_entry_naming_a_pod_that_does_not_exist_keeps_its_address_and_says_so(
    namespace: str,
    statefulset: StatefulSetStarter,
    istio: Istio,
    written_by: ControllerWrites,
    controller: RunningController,
) -> None:
    await statefulset(3)

    created = await istio.create_workload_entry(
        "web-7", address=STALE, annotations={POD_ANNOTATION: "web-7"}
    )

    applied = await controller.reconciles.wait_for(istio.workload_entry_key("web-7"))
    event = await istio.wait_for_event(about="web-7", reason="PodNotReady")
    message = f"pod {namespace}/web-7 has no ready address; the entry keeps {STALE}"
    assert (applied.outcome, applied.message) == (Outcome.NOOP, message)
    assert (event["type"], event["message"]) == ("Warning", message)
    now = await istio.get_workload_entry("web-7")
    assert now["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    assert written_by(resource="workloadentries") == []


async def test_non_utf8_bytes_in_a_request_are_stored_as_replacement_characters(
    istio: Istio,
    raw: RawWorld,
    controller: RunningController,
) -> None:
    spec = static_spec([istio.host("web")], endpoints=[labelled_endpoint(STALE, "web-0")])
    body = orjson.dumps(
        raw.service_entry_body("web-bytes", spec=spec, annotations={SERVICE_ANNOTATION: "@@@"})
    ).replace(b'"@@@"', b'"web\xff\xfe"')

    status, created = await raw.post_raw("serviceentries", body)

    assert status == 201, created
    assert created["metadata"]["annotations"][SERVICE_ANNOTATION] == "web\ufffd\ufffd"
    message = await refused_once(istio, controller, "web-bytes")
    assert message == NOT_A_NAME.format(value="'web\ufffd\ufffd'")


async def test_non_utf8_annotation_value_as_the_api_stores_it_is_refused_as_malformed(
    istio: Istio,
    raw: RawWorld,
    written_by: ControllerWrites,
    controller: RunningController,
) -> None:
    spec = static_spec([istio.host("web")], endpoints=[labelled_endpoint(STALE, "web-0")])

    created = await raw.create_service_entry(
        "web-bytes", spec=spec, annotations={SERVICE_ANNOTATION: "web\ufffd\ufffd"}
    )

    message = await refused_once(istio, controller, "web-bytes")
    assert message == NOT_A_NAME.format(value="'web\ufffd\ufffd'")
    await assert_unchanged(istio, written_by, created)


async def test_oversized_annotation_value_is_refused_with_a_message_that_fits_an_event(
    istio: Istio,
    raw: RawWorld,
    written_by: ControllerWrites,
    controller: RunningController,
) -> None:
    value = "web-" + "x" * (200 * 1024)
    spec = static_spec([istio.host("web")], endpoints=[labelled_endpoint(STALE, "web-0")])

    created = await raw.create_service_entry(
        "web-huge", spec=spec, annotations={SERVICE_ANNOTATION: value}
    )

    message = await refused_once(istio, controller, "web-huge")
    assert len(message) < EVENT_MESSAGE_LIMIT, "the whole sentence reaches kubectl describe"
    assert message.startswith(f"{SERVICE_ANNOTATION}: 'web-xxx")
    assert message.endswith(f"({len(value)} characters) is not <service> or <namespace>/<service>")
    await assert_unchanged(istio, written_by, created)


async def test_oversized_ip_family_value_is_refused_with_a_message_that_fits_an_event(
    statefulset: StatefulSetStarter,
    istio: Istio,
    raw: RawWorld,
    written_by: ControllerWrites,
    controller: RunningController,
) -> None:
    await statefulset(1)
    value = "IPv" + "6" * (200 * 1024)
    spec = static_spec([istio.host("web")], endpoints=[labelled_endpoint(STALE, "web-0")])

    created = await raw.create_service_entry(
        "web-family",
        spec=spec,
        annotations={SERVICE_ANNOTATION: "web", IP_FAMILY_ANNOTATION: value},
    )

    message = await refused_once(istio, controller, "web-family")
    assert len(message) < EVENT_MESSAGE_LIMIT, "the whole sentence reaches kubectl describe"
    assert message.endswith("is not IPv4 or IPv6")
    await assert_unchanged(istio, written_by, created)


async def test_oversized_paired_name_is_refused_with_a_message_that_fits_an_event(
    namespace: str,
    istio: Istio,
    raw: RawWorld,
    written_by: ControllerWrites,
    controller: RunningController,
) -> None:
    value = "Web_" + "x" * (200 * 1024)

    await raw.create_service(
        "web", selector={"app": "web"}, annotations={GRPC_SERVICE_ANNOTATION: value}
    )

    applied = await controller.reconciles.wait_for(ObjectKey(Kind.SERVICE, namespace, "web"))
    event = await istio.wait_for_event(about="web", reason="Refused")
    assert applied.outcome is Outcome.REFUSED, applied
    assert event["message"] == applied.message
    assert len(applied.message) < EVENT_MESSAGE_LIMIT, "the whole sentence reaches kubectl describe"
    assert f"({len(value)} characters)" in applied.message
    assert applied.message.endswith("at most 63 characters)")
    assert written_by(resource="services") == []


async def test_annotations_over_the_total_size_limit_are_rejected_by_the_api_before_any_reconcile(
    istio: Istio,
    raw: RawWorld,
    controller: RunningController,
) -> None:
    spec = static_spec([istio.host("web")], endpoints=[labelled_endpoint(STALE, "web-0")])
    value = "x" * ANNOTATION_TOTAL_LIMIT
    body = orjson.dumps(
        raw.service_entry_body("web-over", spec=spec, annotations={SERVICE_ANNOTATION: value})
    )

    status, answer = await raw.post_raw("serviceentries", body)

    assert (status, answer["reason"]) == (422, "Invalid")
    assert f"must have at most {ANNOTATION_TOTAL_LIMIT} bytes" in answer["message"]
    sentinel = await raw.create_service_entry(
        "web-after", spec=spec, annotations={SERVICE_ANNOTATION: "web"}
    )
    await controller.reconciles.wait_for(istio.service_entry_key("web-after"))
    assert sentinel["metadata"]["name"] == "web-after"
    assert controller.reconciles.outcomes(istio.service_entry_key("web-over")) == []
