"""Validation of Kubernetes' own kinds: Leases, both Event APIs, time values, metadata.

Recorded cases come from ``../shared/fidelity/10`` (Lease and MicroTime),
``11`` (Events) and ``08`` (object names); the rest restates Kubernetes'
validation messages for what the project writes.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from reconciler.simulator.admission import IpAllocator, admit
from reconciler.simulator.defaulting import GoTimeError, parse_go_time
from reconciler.simulator.errors import ApiError
from reconciler.simulator.patching import track_managed_fields
from reconciler.simulator.resources import (
    CORE_EVENTS,
    ENDPOINT_SLICES,
    EVENTS,
    LEASES,
    NAMESPACES,
    ResourceKind,
)

FIDELITY = Path(__file__).resolve().parents[3] / "shared" / "fidelity"
VARYING = ("uid", "creationTimestamp", "resourceVersion", "time")


def exchanges(case: str) -> list[dict[str, Any]]:
    return list(json.loads((FIDELITY / case).read_text())["exchanges"])


def masked(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: "*" if k in VARYING else masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(item) for item in value]
    return value


def write(
    kind: ResourceKind, body: dict[str, Any], old: dict[str, Any] | None = None
) -> dict[str, Any]:
    new = copy.deepcopy(body)
    track_managed_fields(
        kind=kind,
        old=old,
        new=new,
        manager="fidelity-recorder",
        operation="Update",
        api_version=kind.api_version(),
        subresource=None,
    )
    admit(
        kind=kind,
        new=new,
        old=old,
        operation="CREATE" if old is None else "UPDATE",
        subresource=None,
        field_validation="Warn",
        ips=IpAllocator(),
    )
    return new


def refusal(
    kind: ResourceKind, body: dict[str, Any], old: dict[str, Any] | None = None
) -> ApiError:
    with pytest.raises(ApiError) as caught:
        write(kind, body, old)
    return caught.value


LEASE = exchanges("10-lease.json")
EVENT = exchanges("11-events.json")


def creates(recorded: list[dict[str, Any]], status: int) -> list[int]:
    return [
        i
        for i, e in enumerate(recorded)
        if e["request"]["method"] == "POST" and e["response"]["status"] == status
    ]


def kind_of(path: str) -> ResourceKind:
    if "/leases" in path:
        return LEASES
    return EVENTS if path.startswith("/apis/events.k8s.io") else CORE_EVENTS


@pytest.mark.parametrize(
    ("recorded", "index"),
    [(LEASE, i) for i in creates(LEASE, 201)] + [(EVENT, i) for i in creates(EVENT, 201)],
    ids=[f"lease-{i}" for i in creates(LEASE, 201)] + [f"event-{i}" for i in creates(EVENT, 201)],
)
def test_accepted_creates_match_the_recorded_object(
    recorded: list[dict[str, Any]], index: int
) -> None:
    exchange = recorded[index]

    obj = write(kind_of(exchange["request"]["path"]), exchange["request"]["body"])

    expected = masked(exchange["response"]["body"])
    assert {k: v for k, v in masked(obj).items() if k != "metadata"} == {
        k: v for k, v in expected.items() if k != "metadata"
    }
    assert masked(obj["metadata"]["managedFields"]) == expected["metadata"]["managedFields"]


@pytest.mark.parametrize(
    ("recorded", "index"),
    [(LEASE, i) for i in creates(LEASE, 400) + creates(LEASE, 422)]
    + [(EVENT, i) for i in creates(EVENT, 400) + creates(EVENT, 422)],
    ids=[f"lease-{i}" for i in creates(LEASE, 400) + creates(LEASE, 422)]
    + [f"event-{i}" for i in creates(EVENT, 400) + creates(EVENT, 422)],
)
def test_refusals_match_the_recorded_body(recorded: list[dict[str, Any]], index: int) -> None:
    exchange = recorded[index]

    error = refusal(kind_of(exchange["request"]["path"]), exchange["request"]["body"])

    assert error.code == exchange["response"]["status"]
    assert error.status_body() == exchange["response"]["body"]


def test_a_lease_renewal_keeps_its_time_format() -> None:
    stored = LEASE[0]["response"]["body"]

    renewed = write(LEASES, LEASE[1]["request"]["body"], old=stored)

    assert renewed["spec"] == LEASE[1]["response"]["body"]["spec"]


def test_event_updates_through_events_k8s_io_cannot_change_the_note() -> None:
    stored = write(EVENTS, EVENT[3]["request"]["body"])
    changed = copy.deepcopy(stored)
    changed["note"] = "something else"

    error = refusal(EVENTS, changed, old=stored)

    assert error.message == (
        'Event "web-static.187c2a9f3b1e4d01" is invalid: message: Invalid value: '
        '"something else": field is immutable'
    )


def test_core_event_updates_are_lax() -> None:
    stored = EVENT[0]["response"]["body"]

    bumped = write(CORE_EVENTS, EVENT[1]["request"]["body"], old=stored)

    assert masked(bumped) == masked(EVENT[1]["response"]["body"])


@pytest.mark.parametrize(
    ("value", "micro", "expected"),
    [
        ("2026-11-29T05:12:00.123456Z", True, "2026-11-29T05:12:00.123456+00:00"),
        ("2026-11-29T07:12:00.123456+02:00", True, "2026-11-29T05:12:00.123456+00:00"),
        ("2026-11-29T05:12:00,000001-01:30", True, "2026-11-29T06:42:00.000001+00:00"),
        ("2026-11-29T05:12:00Z", False, "2026-11-29T05:12:00+00:00"),
        ("2026-11-29T05:12:00.5Z", False, "2026-11-29T05:12:00.500000+00:00"),
        ("2026-11-29T5:12:00Z", False, "2026-11-29T05:12:00+00:00"),
    ],
    ids=[
        "micro",
        "offset",
        "comma-negative-offset",
        "seconds",
        "seconds-with-fraction",
        "one-digit-hour",
    ],
)
def test_go_time_layouts_accept(value: str, micro: bool, expected: str) -> None:
    assert parse_go_time(value, micro=micro).isoformat() == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "2026-13-01T00:00:00.000000Z",
            'parsing time "2026-13-01T00:00:00.000000Z": month out of range',
        ),
        (
            "2026-02-30T00:00:00.000000Z",
            'parsing time "2026-02-30T00:00:00.000000Z": day out of range',
        ),
        (
            "2026-11-29T24:00:00.000000Z",
            'parsing time "2026-11-29T24:00:00.000000Z": hour out of range',
        ),
        (
            "2026/11/29T00:00:00.000000Z",
            'parsing time "2026/11/29T00:00:00.000000Z" as "2006-01-02T15:04:05.000000Z07:00": '
            'cannot parse "/11/29T00:00:00.000000Z" as "-"',
        ),
        (
            "2026-11-29T00:00:00.000000Zjunk",
            'parsing time "2026-11-29T00:00:00.000000Zjunk": extra text: "junk"',
        ),
        (
            "2026-11-29T00:00:00.000000+0200",
            'parsing time "2026-11-29T00:00:00.000000+0200" as "2006-01-02T15:04:05.000000Z07:00": '
            'cannot parse "+0200" as "Z07:00"',
        ),
    ],
    ids=["month", "day", "hour", "separator", "extra-text", "offset-without-colon"],
)
def test_go_time_layouts_refuse_with_gos_message(value: str, message: str) -> None:
    with pytest.raises(GoTimeError) as caught:
        parse_go_time(value, micro=True)

    assert str(caught.value) == message


def test_event_times_are_normalised_to_seconds() -> None:
    body = copy.deepcopy(EVENT[0]["request"]["body"])
    body["lastTimestamp"] = "2026-11-29T07:12:30.75+02:00"

    event = write(CORE_EVENTS, body)

    assert event["lastTimestamp"] == "2026-11-29T05:12:30Z"


@pytest.mark.parametrize(
    ("metadata", "field", "message"),
    [
        ({"name": "a" * 254}, "metadata.name", "must be no more than 253 characters"),
        (
            {"name": "ok", "labels": {"bad key!": "v"}},
            "metadata.labels",
            "name part must consist of alphanumeric characters, '-', '_' or '.', and must "
            "start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  "
            "or '123-abc', regex used for validation is "
            "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
        ),
        (
            {"name": "ok", "labels": {"k": "-bad"}},
            "metadata.labels",
            "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' "
            "or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
            "'my_value',  or '12345', regex used for validation is "
            "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
        ),
        (
            {"name": "ok", "labels": {"Example.COM/x": "v"}},
            "metadata.labels",
            "prefix part a lowercase",
        ),
        (
            {"name": "ok", "annotations": {"big": "x" * (256 * 1024)}},
            "metadata.annotations",
            "Too long: must have at most 262144 bytes",
        ),
        ({"name": "ok", "finalizers": ["a/b/c"]}, "metadata.finalizers", "a qualified name must"),
        (
            {
                "name": "ok",
                "ownerReferences": [{"apiVersion": "v1", "kind": "", "name": "o", "uid": "u"}],
            },
            "metadata.ownerReferences.kind",
            'Invalid value: "": kind must not be empty',
        ),
        (
            {"generateName": "web-"},
            "metadata.name",
            "Required value: name or generateName is required",
        ),
    ],
    ids=[
        "name-length",
        "label-key",
        "label-value",
        "label-prefix",
        "annotation-size",
        "finalizer",
        "owner-kind",
        "generate-name-only",
    ],
)
def test_metadata_rules(metadata: dict[str, Any], field: str, message: str) -> None:
    body = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"namespace": "fid-b", **metadata},
        "spec": {},
    }

    error = refusal(LEASES, body)

    assert [c.field for c in error.causes][:1] == [field]
    assert message in error.causes[0].message


def test_names_follow_the_recorded_subdomain_rule() -> None:
    recorded = exchanges("08-istio-crd-validation.json")[26]["response"]["body"]
    body = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "Bad_Name", "namespace": "fid-b"},
        "spec": {},
    }

    error = refusal(LEASES, body)

    assert error.causes[0].to_json() == recorded["details"]["causes"][0]


def test_namespace_names_are_labels_and_get_their_defaults() -> None:
    namespace = write(
        NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}}
    )
    error = refusal(NAMESPACES, {"metadata": {"name": "a.b"}})

    assert namespace["metadata"]["labels"] == {"kubernetes.io/metadata.name": "team-a"}
    assert (namespace["spec"], namespace["status"]) == (
        {"finalizers": ["kubernetes"]},
        {"phase": "Active"},
    )
    assert namespace["metadata"]["managedFields"][0]["fieldsV1"] == {
        "f:metadata": {"f:labels": {".": {}, "f:kubernetes.io/metadata.name": {}}}
    }
    assert error.causes[0].message.startswith('Invalid value: "a.b": a lowercase RFC 1123 label')


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (
            {"addressType": "IPv5"},
            "addressType",
            'Unsupported value: "IPv5": supported values: "FQDN", "IPv4", "IPv6"',
        ),
        (
            {"endpoints": [{"addresses": []}]},
            "endpoints[0].addresses",
            "Required value: must contain at least 1 address",
        ),
        (
            {"endpoints": [{"addresses": ["fd00::1"]}]},
            "endpoints[0].addresses[0]",
            'Invalid value: "fd00::1": must be a valid IPv4 address',
        ),
        (
            {"endpoints": [{"addresses": ["1.2.3.4"], "hostname": "Web_0"}]},
            "endpoints[0].hostname",
            'Invalid value: "Web_0": a lowercase RFC 1123 label',
        ),
        (
            {"ports": [{"name": "a", "port": 1}, {"name": "a", "port": 2}]},
            "ports[1].name",
            'Duplicate value: "a"',
        ),
    ],
    ids=["address-type", "no-address", "wrong-family", "hostname", "duplicate-port-name"],
)
def test_endpoint_slice_rules(change: dict[str, Any], field: str, message: str) -> None:
    body = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": "s", "namespace": "ns"},
        "addressType": "IPv4",
        **change,
    }

    error = refusal(ENDPOINT_SLICES, body)

    assert error.causes[0].field == field
    assert error.causes[0].message.startswith(message)
