"""Field ownership of POST, PUT and non-apply PATCH writes (``operation: Update``).

Each recorded create or update is replayed through
:func:`reconciler.simulator.patching.track_managed_fields` (called, like the
real field manager, before admission) and the resulting ``fieldsV1`` is
compared with the one the real server returned.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from reconciler.simulator.managed_fields import decode_fields, encode_fields
from reconciler.simulator.patching import MERGE_PATCH, apply_patch, track_managed_fields
from reconciler.simulator.resources import (
    CORE_EVENTS,
    EVENTS,
    LEASES,
    PODS,
    SERVICE_ENTRIES,
    SERVICES,
    WORKLOAD_ENTRIES,
    ResourceKind,
)

FIDELITY = Path(__file__).resolve().parents[3] / "shared" / "fidelity"
NOW = "2026-11-29T06:00:00Z"


def exchange(case: str, index: int) -> dict[str, Any]:
    return dict(json.loads((FIDELITY / case).read_text())["exchanges"][index])


def tracked(
    kind: ResourceKind,
    old: dict[str, Any] | None,
    new: dict[str, Any],
    *,
    manager: str = "fidelity-recorder",
    version: str | None = None,
    subresource: str | None = None,
) -> list[dict[str, Any]]:
    written = copy.deepcopy(new)
    track_managed_fields(
        kind=kind,
        old=old,
        new=written,
        manager=manager,
        operation="Update",
        api_version=kind.api_version(version),
        subresource=subresource,
        now=NOW,
    )
    return list(written["metadata"].get("managedFields", []))


CREATES = [
    ("02-service-create-conflict-notfound.json", 0, SERVICES),
    ("03-endpointslices-controller.json", 0, SERVICES),
    ("03-endpointslices-controller.json", 1, PODS),
    ("07-serviceentry-patch-apply-dryrun.json", 0, SERVICE_ENTRIES),
    ("08-istio-crd-validation.json", 23, SERVICE_ENTRIES),
    ("08-istio-crd-validation.json", 32, WORKLOAD_ENTRIES),
    ("08-istio-crd-validation.json", 33, WORKLOAD_ENTRIES),
    ("09-service-ownership-gc-validation.json", 0, SERVICES),
    ("09-service-ownership-gc-validation.json", 3, SERVICES),
    ("10-lease.json", 0, LEASES),
    ("10-lease.json", 7, LEASES),
    ("10-lease.json", 9, LEASES),
    ("11-events.json", 0, CORE_EVENTS),
    ("11-events.json", 3, EVENTS),
    ("11-events.json", 16, CORE_EVENTS),
]


@pytest.mark.parametrize(
    ("case", "index", "kind"), CREATES, ids=[f"{c[:2]}-{i}" for c, i, _ in CREATES]
)
def test_a_create_owns_what_the_writer_sent_and_scheme_defaults(
    case: str, index: int, kind: ResourceKind
) -> None:
    recorded = exchange(case, index)
    body = recorded["request"]["body"]

    entries = tracked(kind, None, body)

    expected = recorded["response"]["body"]["metadata"]["managedFields"]
    assert [e["fieldsV1"] for e in entries] == [e["fieldsV1"] for e in expected]
    assert {k: v for k, v in entries[0].items() if k not in ("fieldsV1", "time")} == {
        k: v for k, v in expected[0].items() if k not in ("fieldsV1", "time")
    }


def test_a_pod_status_write_gets_its_own_entry() -> None:
    pod = exchange("03-endpointslices-controller.json", 1)["response"]["body"]
    recorded = exchange("03-endpointslices-controller.json", 2)
    patched = apply_patch(
        kind=PODS,
        current=pod,
        patch=json.dumps(recorded["request"]["body"]).encode(),
        content_type=MERGE_PATCH,
        field_manager="fidelity-recorder",
        force=False,
    )

    entries = tracked(PODS, pod, patched, subresource="status")

    expected = recorded["response"]["body"]["metadata"]["managedFields"]
    assert [(e.get("subresource"), e["fieldsV1"]) for e in entries] == [
        (e.get("subresource"), e["fieldsV1"]) for e in expected
    ]


def test_a_custom_resource_status_write_owns_only_status() -> None:
    stored = exchange("13-misc-errors-and-subresources.json", 10)["response"]["body"]
    recorded = exchange("13-misc-errors-and-subresources.json", 11)
    patched = apply_patch(
        kind=SERVICE_ENTRIES,
        current=stored,
        patch=json.dumps(recorded["request"]["body"]).encode(),
        content_type=MERGE_PATCH,
        field_manager="fidelity-recorder",
        force=False,
    )

    entries = tracked(SERVICE_ENTRIES, stored, patched, subresource="status")

    assert entries[-1]["fieldsV1"] == {"f:status": {".": {}, "f:conditions": {}}}
    assert entries[-1]["subresource"] == "status"
    assert entries[0] == stored["metadata"]["managedFields"][0], "the spec owner is untouched"


def test_adding_a_label_extends_the_writers_fields_and_stamps_the_time() -> None:
    old = exchange("09-service-ownership-gc-validation.json", 0)["response"]["body"]
    recorded = exchange("09-service-ownership-gc-validation.json", 16)

    entries = tracked(SERVICES, old, recorded["request"]["body"])

    expected = recorded["response"]["body"]["metadata"]["managedFields"]
    assert [e["fieldsV1"] for e in entries] == [e["fieldsV1"] for e in expected]
    assert entries[0]["time"] == NOW


def test_a_write_that_changes_nothing_keeps_the_time() -> None:
    stored = exchange("07-serviceentry-patch-apply-dryrun.json", 0)["response"]["body"]

    entries = tracked(SERVICE_ENTRIES, stored, stored)

    assert entries == stored["metadata"]["managedFields"]


def test_another_manager_takes_changed_fields_and_removed_fields_leave_everyone() -> None:
    stored = exchange("07-serviceentry-patch-apply-dryrun.json", 0)["response"]["body"]
    new = copy.deepcopy(stored)
    new["spec"]["location"] = "MESH_EXTERNAL"
    del new["metadata"]["annotations"]

    entries = tracked(SERVICE_ENTRIES, stored, new, manager="other")

    by_manager = {e["manager"]: decode_fields(e["fieldsV1"]) for e in entries}
    assert by_manager["other"] == {("f:spec", "f:location")}
    assert ("f:spec", "f:location") not in by_manager["fidelity-recorder"]
    assert not any(path[:1] == ("f:metadata",) for path in by_manager["fidelity-recorder"])


def test_the_same_manager_through_another_version_is_another_entry() -> None:
    stored = exchange("07-serviceentry-patch-apply-dryrun.json", 0)["response"]["body"]
    new = copy.deepcopy(stored)
    new["spec"]["location"] = "MESH_EXTERNAL"

    entries = tracked(SERVICE_ENTRIES, stored, new, version="v1beta1")

    assert [(e["manager"], e["apiVersion"]) for e in entries] == [
        ("fidelity-recorder", "networking.istio.io/v1"),
        ("fidelity-recorder", "networking.istio.io/v1beta1"),
    ]


def test_managed_fields_sent_in_the_body_replace_the_stored_ones() -> None:
    stored = exchange("07-serviceentry-patch-apply-dryrun.json", 0)["response"]["body"]
    new = copy.deepcopy(stored)
    new["metadata"]["managedFields"] = [
        {
            "manager": "someone",
            "operation": "Update",
            "apiVersion": "networking.istio.io/v1",
            "time": "2026-01-01T00:00:00Z",
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:spec": {"f:hosts": {}}},
        }
    ]

    entries = tracked(SERVICE_ENTRIES, stored, new)

    assert entries == new["metadata"]["managedFields"]


def test_status_sent_to_the_main_resource_is_owned_by_nobody() -> None:
    stored = exchange("07-serviceentry-patch-apply-dryrun.json", 0)["response"]["body"]
    new = {**copy.deepcopy(stored), "status": {"conditions": [{"type": "X"}]}}

    entries = tracked(SERVICE_ENTRIES, stored, new)

    assert entries == stored["metadata"]["managedFields"]


@pytest.mark.parametrize(
    "fields",
    [
        {"f:spec": {".": {}, "f:a": {}, 'k:{"port":80,"protocol":"TCP"}': {}}},
        {"f:metadata": {"f:finalizers": {".": {}, 'v:"kubernetes"': {}}}},
        {"f:spec": {"f:list": {"i:0": {}, "i:10": {}, "i:2": {}}}},
    ],
    ids=["keys", "set-values", "indexes"],
)
def test_fields_v1_round_trips(fields: dict[str, Any]) -> None:
    assert encode_fields(decode_fields(fields)) == fields


def test_keys_sort_as_the_real_server_sorts_them() -> None:
    paths = {
        ("f:spec", "f:ports", 'k:{"port":9090,"protocol":"TCP"}'),
        ("f:spec", "f:ports", 'k:{"port":80,"protocol":"TCP"}'),
        ("f:spec", "f:ports", 'k:{"port":80,"protocol":"SCTP"}'),
    }

    assert list(encode_fields(paths)["f:spec"]["f:ports"]) == [
        'k:{"port":80,"protocol":"SCTP"}',
        'k:{"port":80,"protocol":"TCP"}',
        'k:{"port":9090,"protocol":"TCP"}',
    ]
