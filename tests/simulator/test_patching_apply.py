"""Server-side apply: field ownership, conflicts, force, shared ownership, removal.

The sequence of ``../shared/fidelity/07`` (exchanges 14 to 25) is replayed
through :func:`reconciler.simulator.patching.apply_patch`: manager ``a``
creates a ServiceEntry, ``b`` conflicts then forces, ``c`` shares ownership,
``a`` gives fields up. Each step is compared with the recorded object
(resourceVersion, uid and timestamps masked) or the recorded 409 body.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from reconciler.simulator.errors import ApiError
from reconciler.simulator.patching import APPLY_PATCH, apply_patch
from reconciler.simulator.resources import SERVICE_ENTRIES, SERVICES

FIDELITY = Path(__file__).resolve().parents[3] / "shared" / "fidelity"
EXCHANGES = json.loads((FIDELITY / "07-serviceentry-patch-apply-dryrun.json").read_text())[
    "exchanges"
]
NOW = "2026-11-29T05:10:55Z"
VARYING = ("uid", "creationTimestamp", "resourceVersion", "time")


def masked(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: "*" if k in VARYING else masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(item) for item in value]
    return value


def apply_recorded(index: int, current: dict[str, Any] | None) -> dict[str, Any]:
    request = EXCHANGES[index]["request"]
    query = {k: v[0] for k, v in parse_qs(request["query"]).items()}
    body = request["body"]
    raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    return apply_patch(
        kind=SERVICE_ENTRIES,
        current=current,
        patch=raw,
        content_type=APPLY_PATCH,
        field_manager=query.get("fieldManager", ""),
        force=query.get("force", "false") not in ("0", "false"),
        now=NOW,
    )


def stored(result: dict[str, Any], index: int) -> dict[str, Any]:
    """What the server would store: the recorded identity and generation around our result."""
    recorded_meta = EXCHANGES[index]["response"]["body"]["metadata"]
    result["metadata"].update(
        {k: recorded_meta[k] for k in ("uid", "creationTimestamp", "resourceVersion", "generation")}
    )
    result["metadata"]["namespace"] = "fid-b"
    return result


def recorded_object(index: int) -> Any:
    return masked(EXCHANGES[index]["response"]["body"])


@pytest.fixture
def created() -> dict[str, Any]:
    return stored(apply_recorded(14, None), 14)


def test_apply_to_a_missing_object_builds_it_from_the_configuration() -> None:
    result = stored(apply_recorded(14, None), 14)

    assert masked(result) == recorded_object(14)


def test_changing_a_field_another_manager_owns_is_a_409(created: dict[str, Any]) -> None:
    with pytest.raises(ApiError) as caught:
        apply_recorded(15, created)

    assert caught.value.status_body() == EXCHANGES[15]["response"]["body"]


def test_force_takes_the_conflicting_fields(created: dict[str, Any]) -> None:
    result = stored(apply_recorded(16, created), 16)

    assert masked(result) == recorded_object(16)


@pytest.fixture
def shared() -> dict[str, Any]:
    forced = stored(apply_recorded(16, stored(apply_recorded(14, None), 14)), 16)
    return stored(apply_recorded(19, forced), 19)


def test_the_old_owner_now_conflicts_with_the_new_one(created: dict[str, Any]) -> None:
    forced = stored(apply_recorded(16, created), 16)

    with pytest.raises(ApiError) as caught:
        apply_recorded(18, forced)

    assert caught.value.status_body() == EXCHANGES[18]["response"]["body"]


def test_applying_an_agreeing_value_shares_ownership(shared: dict[str, Any]) -> None:
    assert masked(shared) == recorded_object(19)


def test_conflicts_with_several_managers_are_listed_per_manager(shared: dict[str, Any]) -> None:
    with pytest.raises(ApiError) as caught:
        apply_recorded(20, shared)

    assert caught.value.status_body() == EXCHANGES[20]["response"]["body"]


def test_forced_apply_over_two_managers(shared: dict[str, Any]) -> None:
    result = stored(apply_recorded(21, shared), 21)

    assert masked(result) == recorded_object(21)


def test_fields_a_manager_stops_applying_stay_while_others_own_them(
    shared: dict[str, Any],
) -> None:
    result = stored(apply_recorded(23, shared), 23)

    assert masked(result) == recorded_object(23)


def test_reapplying_the_same_configuration_changes_nothing(shared: dict[str, Any]) -> None:
    once = stored(apply_recorded(23, shared), 23)

    again = apply_recorded(25, once)

    assert again == once


def test_fields_nobody_else_owns_are_removed_when_no_longer_applied(
    created: dict[str, Any],
) -> None:
    config = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "ServiceEntry",
        "metadata": {"name": "web-apply"},
        "spec": {"hosts": ["web-apply.fid-b.svc.cluster.local"], "ports": []},
    }

    result = apply_patch(
        kind=SERVICE_ENTRIES,
        current=created,
        patch=json.dumps(config).encode(),
        content_type=APPLY_PATCH,
        field_manager="a",
        force=False,
        now=NOW,
    )

    assert result["spec"] == {"hosts": ["web-apply.fid-b.svc.cluster.local"], "ports": []}
    assert [m["fieldsV1"] for m in result["metadata"]["managedFields"]] == [
        {"f:spec": {"f:hosts": {}}}
    ], "an empty associative list owns no item"


def test_update_managers_are_named_with_their_api_version() -> None:
    current = EXCHANGES[0]["response"]["body"]
    config = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "ServiceEntry",
        "metadata": {"name": "web-static"},
        "spec": {"hosts": ["other.example"]},
    }

    with pytest.raises(ApiError) as caught:
        apply_patch(
            kind=SERVICE_ENTRIES,
            current=current,
            patch=json.dumps(config).encode(),
            content_type=APPLY_PATCH,
            field_manager="a",
            force=False,
        )

    assert caught.value.message == (
        'Apply failed with 1 conflict: conflict with "fidelity-recorder" using '
        "networking.istio.io/v1: .spec.hosts"
    )


def test_service_ports_are_owned_by_port_and_protocol() -> None:
    config = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": "fid-a", "labels": {"app": "web"}},
        "spec": {"clusterIP": "None", "ports": [{"name": "http", "port": 80}]},
    }

    created = apply_patch(
        kind=SERVICES,
        current=None,
        patch=json.dumps(config).encode(),
        content_type=APPLY_PATCH,
        field_manager="m",
        force=False,
        now=NOW,
    )

    assert created["metadata"]["managedFields"] == [
        {
            "manager": "m",
            "operation": "Apply",
            "apiVersion": "v1",
            "time": NOW,
            "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {
                    "f:clusterIP": {},
                    "f:ports": {
                        'k:{"port":80,"protocol":"TCP"}': {".": {}, "f:name": {}, "f:port": {}}
                    },
                },
            },
        }
    ]
    assert created["status"] == {"loadBalancer": {}}, "built from the zero Service"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"spec: [unclosed", "error decoding YAML: "),
        (b"- a\n- b\n", "error decoding YAML: "),
        (
            b"apiVersion: v2\nkind: Service\nmetadata: {name: x}\n",
            "Incorrect version specified in apply patch. Specified patch version: v2",
        ),
        (b"apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n", "invalid object type: v1, Kind=Pod"),
        (
            b"apiVersion: v1\nkind: Service\nmetadata: {name: x, managedFields: []}\n",
            "metadata.managedFields must be nil",
        ),
    ],
    ids=["bad-yaml", "not-a-map", "wrong-version", "wrong-kind", "managed-fields-sent"],
)
def test_unusable_apply_bodies_are_400(body: bytes, message: str) -> None:
    with pytest.raises(ApiError) as caught:
        apply_patch(
            kind=SERVICES,
            current=None,
            patch=body,
            content_type=APPLY_PATCH,
            field_manager="m",
            force=False,
        )

    assert caught.value.code == 400
    assert caught.value.message.startswith(message)


def test_apply_without_a_field_manager_is_the_recorded_422(created: dict[str, Any]) -> None:
    with pytest.raises(ApiError) as caught:
        apply_recorded(17, created)

    assert caught.value.status_body() == EXCHANGES[17]["response"]["body"]
