"""Merge, JSON and strategic merge patches, and the content types the server refuses.

Pure-function tests of :func:`reconciler.simulator.patching.apply_patch`; the
recorded answers come from ``../shared/fidelity/07`` (JSON-patch ``test``
failure, bad index, 415 for a strategic merge patch on a custom resource) and
``11`` (a strategic merge patch bumping an Event's count).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from reconciler.simulator.errors import ApiError
from reconciler.simulator.patching import (
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_MERGE_PATCH,
    apply_patch,
)
from reconciler.simulator.resources import (
    CORE_EVENTS,
    NODES,
    PODS,
    SERVICE_ENTRIES,
    SERVICES,
    ResourceKind,
)

FIDELITY = Path(__file__).resolve().parents[3] / "shared" / "fidelity"


def recorded(case: str, index: int) -> dict[str, Any]:
    exchanges = json.loads((FIDELITY / case).read_text())["exchanges"]
    return dict(exchanges[index])


def patched(kind: ResourceKind, current: dict[str, Any], patch: Any, content_type: str) -> Any:
    return apply_patch(
        kind=kind,
        current=current,
        patch=json.dumps(patch).encode(),
        content_type=content_type,
        field_manager="test",
        force=False,
    )


def refusal(kind: ResourceKind, current: dict[str, Any], patch: bytes, content_type: str) -> Any:
    with pytest.raises(ApiError) as caught:
        apply_patch(
            kind=kind,
            current=current,
            patch=patch,
            content_type=content_type,
            field_manager="test",
            force=False,
        )
    return caught.value


SERVICE_ENTRY = recorded("07-serviceentry-patch-apply-dryrun.json", 4)["response"]["body"]
SERVICE = recorded("02-service-create-conflict-notfound.json", 0)["response"]["body"]


# --- merge patch -----------------------------------------------------------------------------


def test_merge_patch_replaces_lists_and_keeps_the_rest() -> None:
    exchange = recorded("07-serviceentry-patch-apply-dryrun.json", 1)
    before = recorded("07-serviceentry-patch-apply-dryrun.json", 0)["response"]["body"]

    after = patched(SERVICE_ENTRIES, before, exchange["request"]["body"], MERGE_PATCH)

    expected = exchange["response"]["body"]
    assert after["spec"] == expected["spec"]
    assert after["metadata"]["resourceVersion"] == "1550", "the precondition is left for the caller"


@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        ({"spec": {"location": None}}, lambda spec: "location" not in spec),
        ({"spec": {"hosts": ["b"]}}, lambda spec: spec["hosts"] == ["b"]),
        ({"spec": {"new": {"a": 1}}}, lambda spec: spec["new"] == {"a": 1}),
        ({"spec": {"ports": None, "hosts": ["c"]}}, lambda spec: "ports" not in spec),
    ],
    ids=["null-deletes", "list-replaced", "object-added", "delete-and-set"],
)
def test_merge_patch_follows_rfc_7386(patch: Any, expected: Any) -> None:
    assert expected(patched(SERVICE_ENTRIES, SERVICE_ENTRY, patch, MERGE_PATCH)["spec"])


def test_a_patch_never_changes_the_stored_object() -> None:
    stored = copy.deepcopy(SERVICE_ENTRY)

    result = patched(SERVICE_ENTRIES, stored, {"spec": {"hosts": ["x"]}}, MERGE_PATCH)
    result["metadata"]["generation"] = 99

    assert stored == SERVICE_ENTRY


# --- JSON patch ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operations", "check"),
    [
        (
            [{"op": "add", "path": "/spec/hosts/-", "value": "b"}],
            lambda o: o["spec"]["hosts"][-1] == "b",
        ),
        (
            [{"op": "add", "path": "/spec/hosts/0", "value": "a"}],
            lambda o: o["spec"]["hosts"][0] == "a",
        ),
        ([{"op": "remove", "path": "/spec/location"}], lambda o: "location" not in o["spec"]),
        (
            [{"op": "replace", "path": "/spec/endpoints/1/address", "value": "192.0.2.13"}],
            lambda o: o["spec"]["endpoints"][1]["address"] == "192.0.2.13",
        ),
        (
            [{"op": "move", "from": "/spec/location", "path": "/spec/moved"}],
            lambda o: o["spec"]["moved"] == "MESH_INTERNAL" and "location" not in o["spec"],
        ),
        (
            [{"op": "copy", "from": "/spec/hosts", "path": "/spec/copied"}],
            lambda o: o["spec"]["copied"] == o["spec"]["hosts"],
        ),
        (
            [{"op": "add", "path": "/metadata/annotations/a~1b", "value": "x"}],
            lambda o: o["metadata"]["annotations"]["a/b"] == "x",
        ),
        ([{"op": "test", "path": "/spec/ports/0/number", "value": 80.0}], lambda o: True),
    ],
    ids=["append", "insert", "remove", "replace", "move", "copy", "escaped-pointer", "test-number"],
)
def test_json_patch_operations(operations: list[Any], check: Any) -> None:
    assert check(patched(SERVICE_ENTRIES, SERVICE_ENTRY, operations, JSON_PATCH))


@pytest.mark.parametrize(
    "index",
    [3, 5],
    ids=["failed-test-op", "index-out-of-range"],
)
def test_json_patch_failures_are_the_recorded_generic_422(index: int) -> None:
    exchange = recorded("07-serviceentry-patch-apply-dryrun.json", index)
    stored = recorded("07-serviceentry-patch-apply-dryrun.json", 4)["response"]["body"]
    body = json.dumps(exchange["request"]["body"]).encode()

    error = refusal(SERVICE_ENTRIES, stored, body, JSON_PATCH)

    assert error.code == exchange["response"]["status"]
    assert error.status_body() == exchange["response"]["body"]


@pytest.mark.parametrize(
    "operations",
    [
        [{"op": "replace", "path": "/spec/missing", "value": 1}],
        [{"op": "remove", "path": "/spec/hosts/9"}],
        [{"op": "add", "path": "/nowhere/deeper", "value": 1}],
        [{"op": "test", "path": "/spec/hosts", "value": ["other"]}],
        [{"op": "test", "path": "/spec/ports/0/number", "value": True}],
        [{"op": "bogus", "path": "/spec"}],
        [{"op": "add", "path": "spec"}],
        [{"op": "move", "from": "/spec", "path": "/spec/inner"}],
    ],
    ids=[
        "replace-missing",
        "remove-missing",
        "add-no-parent",
        "test-differs",
        "bool-is-not-1",
        "unknown-op",
        "bad-pointer",
        "move-into-child",
    ],
)
def test_json_patch_refusals_apply_nothing(operations: list[Any]) -> None:
    error = refusal(SERVICE_ENTRIES, SERVICE_ENTRY, json.dumps(operations).encode(), JSON_PATCH)

    assert (error.code, error.reason, error.details) == (422, "Invalid", {})


def test_json_patch_must_be_a_list() -> None:
    error = refusal(SERVICE_ENTRIES, SERVICE_ENTRY, b'{"op": "add"}', JSON_PATCH)

    assert error.code == 400
    assert error.message.startswith("error decoding patch: json: cannot unmarshal object")


# --- strategic merge patch -------------------------------------------------------------------


def test_strategic_merge_patch_on_an_event_bumps_the_count() -> None:
    exchange = recorded("11-events.json", 2)
    stored = recorded("11-events.json", 1)["response"]["body"]

    after = patched(CORE_EVENTS, stored, exchange["request"]["body"], STRATEGIC_MERGE_PATCH)

    assert after == {**exchange["response"]["body"], "metadata": stored["metadata"]}


def test_service_ports_merge_by_port() -> None:
    patch = {"spec": {"ports": [{"port": 9090, "name": "grpc2"}, {"port": 7000, "name": "new"}]}}

    ports = patched(SERVICES, SERVICE, patch, STRATEGIC_MERGE_PATCH)["spec"]["ports"]

    assert [(p["port"], p["name"]) for p in ports] == [(80, "http"), (9090, "grpc2"), (7000, "new")]
    assert ports[1]["appProtocol"] == "grpc", "merged items keep the fields the patch leaves out"


def test_delete_directive_removes_one_port() -> None:
    patch = {"spec": {"ports": [{"port": 80, "$patch": "delete"}]}}

    ports = patched(SERVICES, SERVICE, patch, STRATEGIC_MERGE_PATCH)["spec"]["ports"]

    assert [p["port"] for p in ports] == [9090]


def test_replace_directive_replaces_a_list() -> None:
    patch = {"spec": {"ports": [{"$patch": "replace"}, {"port": 1, "name": "only"}]}}

    ports = patched(SERVICES, SERVICE, patch, STRATEGIC_MERGE_PATCH)["spec"]["ports"]

    assert ports == [{"port": 1, "name": "only"}]


def test_replace_directive_replaces_a_map() -> None:
    patch = {"spec": {"selector": {"$patch": "replace", "tier": "db"}}}

    assert patched(SERVICES, SERVICE, patch, STRATEGIC_MERGE_PATCH)["spec"]["selector"] == {
        "tier": "db"
    }


def test_lists_without_a_merge_key_are_replaced() -> None:
    patch = {"spec": {"clusterIPs": ["None"], "ipFamilies": ["IPv6"]}}

    spec = patched(SERVICES, SERVICE, patch, STRATEGIC_MERGE_PATCH)["spec"]

    assert spec["ipFamilies"] == ["IPv6"]


def test_pod_conditions_merge_by_type_and_containers_by_name() -> None:
    pod = recorded("03-endpointslices-controller.json", 2)["response"]["body"]
    patch = {
        "spec": {"containers": [{"name": "app", "image": "registry.invalid/app:2"}]},
        "status": {"conditions": [{"type": "Ready", "status": "False"}]},
    }

    after = patched(PODS, pod, patch, STRATEGIC_MERGE_PATCH)

    container = after["spec"]["containers"][0]
    assert (container["image"], container["ports"]) == (
        "registry.invalid/app:2",
        pod["spec"]["containers"][0]["ports"],
    )
    statuses = {c["type"]: c["status"] for c in after["status"]["conditions"]}
    assert statuses == {
        "Initialized": "True",
        "Ready": "False",
        "ContainersReady": "True",
        "PodScheduled": "True",
    }


def test_finalizers_merge_as_a_set_and_can_be_deleted_by_value() -> None:
    stored = {"metadata": {"name": "n", "finalizers": ["a", "b"]}}

    added = patched(NODES, stored, {"metadata": {"finalizers": ["b", "c"]}}, STRATEGIC_MERGE_PATCH)
    removed = patched(
        NODES,
        stored,
        {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}},
        STRATEGIC_MERGE_PATCH,
    )

    assert added["metadata"]["finalizers"] == ["a", "b", "c"]
    assert removed["metadata"]["finalizers"] == ["b"]


def test_owner_references_merge_by_uid() -> None:
    stored = {
        "metadata": {"ownerReferences": [{"uid": "1", "name": "a"}, {"uid": "2", "name": "b"}]}
    }
    patch = {"metadata": {"ownerReferences": [{"uid": "2", "name": "renamed"}]}}

    after = patched(SERVICES, stored, patch, STRATEGIC_MERGE_PATCH)

    assert after["metadata"]["ownerReferences"] == [
        {"uid": "1", "name": "a"},
        {"uid": "2", "name": "renamed"},
    ]


def test_set_element_order_reorders_merged_items() -> None:
    patch = {"spec": {"$setElementOrder/ports": [{"port": 9090}, {"port": 80}]}}

    ports = patched(SERVICES, SERVICE, patch, STRATEGIC_MERGE_PATCH)["spec"]["ports"]

    assert [p["port"] for p in ports] == [9090, 80]


def test_retain_keys_drops_the_other_keys() -> None:
    stored = {"spec": {"volumes": [{"name": "v", "emptyDir": {}, "other": 1}]}}
    patch = {
        "spec": {
            "volumes": [
                {"name": "v", "$retainKeys": ["name", "hostPath"], "hostPath": {"path": "/x"}}
            ]
        }
    }

    after = patched(PODS, stored, patch, STRATEGIC_MERGE_PATCH)

    assert after["spec"]["volumes"] == [{"name": "v", "hostPath": {"path": "/x"}}]


# --- content types ---------------------------------------------------------------------------


@pytest.mark.parametrize("index", [6, 7], ids=["strategic-merge", "text-plain"])
def test_custom_resources_refuse_strategic_merge_with_the_recorded_415(index: int) -> None:
    exchange = recorded("07-serviceentry-patch-apply-dryrun.json", index)
    body = json.dumps(exchange["request"]["body"]).encode()

    error = refusal(SERVICE_ENTRIES, SERVICE_ENTRY, body, exchange["request"]["content_type"])

    assert error.code == 415
    assert error.status_body() == exchange["response"]["body"]


def test_built_in_kinds_list_strategic_merge_among_the_accepted_types() -> None:
    error = refusal(SERVICES, SERVICE, b"{}", "text/plain")

    assert error.message == (
        "the body of the request was in an unknown format - accepted media types include: "
        "application/json-patch+json, application/merge-patch+json, "
        "application/strategic-merge-patch+json, application/apply-patch+yaml"
    )


def test_content_type_parameters_are_ignored() -> None:
    after = apply_patch(
        kind=SERVICE_ENTRIES,
        current=SERVICE_ENTRY,
        patch=b'{"spec": {"location": "MESH_EXTERNAL"}}',
        content_type="application/merge-patch+json; charset=utf-8",
        field_manager="test",
        force=False,
    )

    assert after["spec"]["location"] == "MESH_EXTERNAL"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"spec": ', "error decoding patch: unexpected end of JSON input"),
        (b"nope", "error decoding patch: invalid character 'n' looking for beginning of value"),
        (b'{"a" 1}', "error decoding patch: invalid character '1' after object key"),
        (
            b'{"a": 1 "b": 2}',
            "error decoding patch: invalid character '\"' after object key:value pair",
        ),
        (b"[1 2]", "error decoding patch: invalid character '2' after array element"),
        (b'{"a": 1}}', "error decoding patch: invalid character '}' after top-level value"),
        (
            b"[1]",
            "error decoding patch: json: cannot unmarshal array into Go value of type "
            "map[string]interface {}",
        ),
    ],
    ids=[
        "truncated",
        "not-json",
        "missing-colon",
        "missing-comma",
        "array-comma",
        "extra",
        "array",
    ],
)
def test_undecodable_merge_patches_are_400_with_go_wording(body: bytes, message: str) -> None:
    error = refusal(SERVICE_ENTRIES, SERVICE_ENTRY, body, MERGE_PATCH)

    assert (error.code, error.reason, error.message) == (400, "BadRequest", message)


def test_only_apply_may_patch_a_missing_object() -> None:
    with pytest.raises(ValueError, match="missing object"):
        apply_patch(
            kind=SERVICES,
            current=None,
            patch=b"{}",
            content_type=MERGE_PATCH,
            field_manager="test",
            force=False,
        )
