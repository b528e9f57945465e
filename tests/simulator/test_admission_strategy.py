"""The registry strategy inside admission: generation, status subresource, Pods, immutables.

Recorded cases come from ``../shared/fidelity/03`` (Pod create and status
writes), ``05b`` (metadata-only patch keeps the generation), ``07`` (dry-run
generation bump) and ``13`` (status subresource semantics of a custom resource).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from reconciler.simulator.admission import IpAllocator, admit
from reconciler.simulator.errors import ApiError
from reconciler.simulator.patching import MERGE_PATCH, apply_patch, track_managed_fields
from reconciler.simulator.resources import (
    ENDPOINT_SLICES,
    NAMESPACES,
    NODES,
    PODS,
    SERVICE_ENTRIES,
    SERVICES,
    ResourceKind,
)

FIDELITY = Path(__file__).resolve().parents[3] / "shared" / "fidelity"
VARYING = ("uid", "creationTimestamp", "resourceVersion", "time")


def exchange(case: str, index: int) -> dict[str, Any]:
    return dict(json.loads((FIDELITY / case).read_text())["exchanges"][index])


def masked(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: "*" if k in VARYING else masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(item) for item in value]
    if isinstance(value, str) and value.startswith("kube-api-access-"):
        return "kube-api-access-*"
    return value


def write(
    kind: ResourceKind,
    new: dict[str, Any],
    old: dict[str, Any] | None = None,
    *,
    subresource: str | None = None,
) -> dict[str, Any]:
    written = copy.deepcopy(new)
    track_managed_fields(
        kind=kind,
        old=old,
        new=written,
        manager="fidelity-recorder",
        operation="Update",
        api_version=kind.api_version(),
        subresource=subresource,
    )
    admit(
        kind=kind,
        new=written,
        old=old,
        operation="CREATE" if old is None else "UPDATE",
        subresource=subresource,
        field_validation="Warn",
        ips=IpAllocator(),
    )
    return written


def merge(kind: ResourceKind, current: dict[str, Any], patch: Any) -> dict[str, Any]:
    return apply_patch(
        kind=kind,
        current=current,
        patch=json.dumps(patch).encode(),
        content_type=MERGE_PATCH,
        field_manager="fidelity-recorder",
        force=False,
    )


SERVICE_ENTRY = exchange("07-serviceentry-patch-apply-dryrun.json", 0)["response"]["body"]


# --- generation ------------------------------------------------------------------------------


def test_a_spec_change_bumps_the_generation() -> None:
    recorded = exchange("07-serviceentry-patch-apply-dryrun.json", 1)

    updated = write(
        SERVICE_ENTRIES,
        merge(SERVICE_ENTRIES, SERVICE_ENTRY, recorded["request"]["body"]),
        SERVICE_ENTRY,
    )

    assert masked(updated) == masked(recorded["response"]["body"])


def test_a_metadata_only_change_keeps_the_generation() -> None:
    stored = exchange("05b-watch-serviceentries.json", 2)["response"]["body"]
    recorded = exchange("05b-watch-serviceentries.json", 3)

    updated = write(
        SERVICE_ENTRIES, merge(SERVICE_ENTRIES, stored, recorded["request"]["body"]), stored
    )

    assert masked(updated) == masked(recorded["response"]["body"])


def test_a_client_cannot_set_the_generation() -> None:
    new = copy.deepcopy(SERVICE_ENTRY)
    new["metadata"]["generation"] = 42

    assert write(SERVICE_ENTRIES, new, SERVICE_ENTRY)["metadata"]["generation"] == 1


def test_endpoint_slices_count_label_changes_as_generation_changes() -> None:
    slice_ = write(
        ENDPOINT_SLICES,
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {"name": "s", "namespace": "ns"},
            "addressType": "IPv4",
        },
    )
    relabelled = copy.deepcopy(slice_)
    relabelled["metadata"]["labels"] = {"a": "b"}
    annotated = copy.deepcopy(slice_)
    annotated["metadata"]["annotations"] = {"a": "b"}

    assert (slice_["endpoints"], slice_["ports"], slice_["metadata"]["generation"]) == (
        None,
        None,
        1,
    )
    assert write(ENDPOINT_SLICES, relabelled, slice_)["metadata"]["generation"] == 2
    assert write(ENDPOINT_SLICES, annotated, slice_)["metadata"]["generation"] == 1


def test_built_in_kinds_without_generation_do_not_count_changes() -> None:
    service = write(
        SERVICES, {"metadata": {"name": "s", "namespace": "ns"}, "spec": {"ports": [{"port": 80}]}}
    )
    changed = copy.deepcopy(service)
    changed["spec"]["selector"] = {"a": "b"}
    changed["metadata"]["generation"] = 5

    assert "generation" not in write(SERVICES, changed, service)["metadata"]


# --- status subresource ----------------------------------------------------------------------


def test_a_status_write_to_a_custom_resource_changes_only_status() -> None:
    stored = exchange("13-misc-errors-and-subresources.json", 10)["response"]["body"]
    recorded = exchange("13-misc-errors-and-subresources.json", 11)
    patched = merge(SERVICE_ENTRIES, stored, recorded["request"]["body"])

    updated = write(SERVICE_ENTRIES, patched, stored, subresource="status")

    assert masked(updated) == masked(recorded["response"]["body"])


def test_status_sent_to_the_main_resource_is_ignored() -> None:
    stored = exchange("13-misc-errors-and-subresources.json", 11)["response"]["body"]
    recorded = exchange("13-misc-errors-and-subresources.json", 12)
    patched = merge(SERVICE_ENTRIES, stored, recorded["request"]["body"])

    updated = write(SERVICE_ENTRIES, patched, stored)

    assert updated == stored, "a no-op: the server will not bump resourceVersion"


def test_a_pod_status_write_keeps_the_spec_and_owner_references() -> None:
    pod = exchange("03-endpointslices-controller.json", 1)["response"]["body"]
    recorded = exchange("03-endpointslices-controller.json", 2)
    patched = merge(PODS, pod, recorded["request"]["body"])
    patched["spec"]["nodeName"] = "elsewhere"
    patched["metadata"]["ownerReferences"] = [
        {"apiVersion": "v1", "kind": "X", "name": "x", "uid": "1"}
    ]

    updated = write(PODS, patched, pod, subresource="status")

    assert masked(updated) == masked(recorded["response"]["body"])


def test_a_spec_write_keeps_a_pods_status() -> None:
    pod = exchange("03-endpointslices-controller.json", 2)["response"]["body"]
    patched = merge(PODS, pod, {"metadata": {"labels": {"x": "y"}}, "status": {"phase": "Failed"}})

    updated = write(PODS, patched, pod)

    assert updated["status"] == pod["status"]
    assert updated["metadata"]["labels"] == {"app": "web", "x": "y"}


def test_a_node_keeps_the_status_it_is_created_with() -> None:
    node = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": "fake-node-1", "labels": {"topology.kubernetes.io/zone": "zone-a"}},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }

    created = write(NODES, node)

    assert created["status"]["conditions"] == [
        {"type": "Ready", "status": "True", "lastHeartbeatTime": None, "lastTransitionTime": None}
    ]


# --- Pods ------------------------------------------------------------------------------------


def test_a_pod_create_gets_the_recorded_admission_and_registry_defaults() -> None:
    recorded = exchange("03-endpointslices-controller.json", 1)

    pod = write(PODS, {**recorded["request"]["body"], "status": {"phase": "Running"}})

    assert masked(pod) == masked({**recorded["response"]["body"], "metadata": pod["metadata"]})
    volume = pod["spec"]["volumes"][0]["name"]
    assert pod["spec"]["containers"][0]["volumeMounts"][0]["name"] == volume


@pytest.mark.parametrize(
    ("resources", "qos"),
    [
        ({}, "BestEffort"),
        ({"limits": {"cpu": "1", "memory": "1Gi"}}, "Guaranteed"),
        ({"requests": {"cpu": "1"}}, "Burstable"),
        ({"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m"}}, "Burstable"),
    ],
    ids=["nothing", "limits-only", "requests-only", "requests-below-limits"],
)
def test_pod_qos_class(resources: dict[str, Any], qos: str) -> None:
    body = {
        "metadata": {"name": "p", "namespace": "ns"},
        "spec": {"containers": [{"name": "c", "image": "i:1", "resources": resources}]},
    }

    assert write(PODS, body)["status"]["qosClass"] == qos


@pytest.mark.parametrize(
    ("image", "policy"),
    [
        ("app", "Always"),
        ("app:latest", "Always"),
        ("registry:5000/app", "Always"),
        ("app:1", "IfNotPresent"),
        ("app@sha256:abc", "IfNotPresent"),
    ],
)
def test_image_pull_policy_default(image: str, policy: str) -> None:
    body = {
        "metadata": {"name": "p", "namespace": "ns"},
        "spec": {"containers": [{"name": "c", "image": image}]},
    }

    assert write(PODS, body)["spec"]["containers"][0]["imagePullPolicy"] == policy


def test_a_pods_spec_is_mostly_immutable() -> None:
    pod = exchange("03-endpointslices-controller.json", 1)["response"]["body"]
    new_image = merge(
        PODS,
        pod,
        {
            "spec": {
                "containers": [
                    {
                        "name": "app",
                        "image": "app:2",
                        "ports": pod["spec"]["containers"][0]["ports"],
                        "resources": {},
                        "volumeMounts": pod["spec"]["containers"][0]["volumeMounts"],
                        "terminationMessagePath": "/dev/termination-log",
                        "terminationMessagePolicy": "File",
                        "imagePullPolicy": "IfNotPresent",
                    }
                ]
            }
        },
    )
    new_node = merge(PODS, pod, {"spec": {"nodeName": "other"}})

    assert write(PODS, new_image, pod)["spec"]["containers"][0]["image"] == "app:2"
    with pytest.raises(ApiError) as caught:
        write(PODS, new_node, pod)
    assert caught.value.causes[0].field == "spec"
    assert caught.value.causes[0].message.startswith("Forbidden: pod updates may not change fields")


def test_a_pod_needs_containers_with_images() -> None:
    with pytest.raises(ApiError) as caught:
        write(
            PODS,
            {"metadata": {"name": "p", "namespace": "ns"}, "spec": {"containers": [{"name": "c"}]}},
        )

    assert caught.value.message == 'Pod "p" is invalid: spec.containers[0].image: Required value'


# --- metadata --------------------------------------------------------------------------------


def test_identity_and_creation_stamps_come_from_storage() -> None:
    new = copy.deepcopy(SERVICE_ENTRY)
    del new["metadata"]["uid"]
    new["metadata"]["creationTimestamp"] = "2000-01-01T00:00:00Z"

    updated = write(SERVICE_ENTRIES, new, SERVICE_ENTRY)

    assert updated["metadata"]["uid"] == SERVICE_ENTRY["metadata"]["uid"]
    assert (
        updated["metadata"]["creationTimestamp"] == SERVICE_ENTRY["metadata"]["creationTimestamp"]
    )


@pytest.mark.parametrize(
    ("field", "value"), [("name", "other"), ("namespace", "other"), ("uid", "x")]
)
def test_identity_cannot_change(field: str, value: str) -> None:
    new = copy.deepcopy(SERVICE_ENTRY)
    new["metadata"][field] = value

    with pytest.raises(ApiError) as caught:
        write(SERVICE_ENTRIES, new, SERVICE_ENTRY)

    assert caught.value.causes[0].to_json() == {
        "reason": "FieldValueInvalid",
        "message": f'Invalid value: "{value}": field is immutable',
        "field": f"metadata.{field}",
    }


def test_no_finalizer_may_be_added_while_deleting() -> None:
    deleting = copy.deepcopy(SERVICE_ENTRY)
    deleting["metadata"]["deletionTimestamp"] = "2026-11-29T06:00:00Z"
    deleting["metadata"]["finalizers"] = ["a.io/one"]
    new = copy.deepcopy(deleting)
    new["metadata"]["finalizers"] = ["a.io/one", "a.io/two"]

    with pytest.raises(ApiError) as caught:
        write(SERVICE_ENTRIES, new, deleting)

    assert caught.value.causes[0].message == (
        "Forbidden: no new finalizers can be added if the object is being deleted, found new "
        'finalizers []string{"a.io/two"}'
    )


def test_namespace_finalizers_change_only_through_finalize() -> None:
    namespace = write(NAMESPACES, {"metadata": {"name": "team"}})
    cleared = copy.deepcopy(namespace)
    cleared["spec"]["finalizers"] = []

    kept = write(NAMESPACES, cleared, namespace)
    finalized = write(NAMESPACES, cleared, namespace, subresource="finalize")

    assert kept["spec"]["finalizers"] == ["kubernetes"]
    assert finalized["spec"]["finalizers"] == []


def test_nulls_sent_to_built_in_kinds_vanish() -> None:
    service = write(
        SERVICES,
        {
            "metadata": {"name": "s", "namespace": "ns", "labels": None},
            "spec": {"ports": [{"port": 80, "name": None}], "selector": None},
        },
    )

    assert "labels" not in service["metadata"]
    assert service["spec"]["ports"][0] == {"port": 80, "protocol": "TCP", "targetPort": 80}
