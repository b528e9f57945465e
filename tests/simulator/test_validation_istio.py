"""Istio's ServiceEntry/WorkloadEntry validation: CRD schema, CEL rules, pruning, webhook.

Every create of ``../shared/fidelity/08`` goes through the admission pipeline
(ownership, then :func:`reconciler.simulator.admission.admit`) and must give
the recorded status, body and Warning headers. The webhook rules, which did
not run in the recording, are tested on their own behind ``istio_webhook``.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from reconciler.simulator.admission import IpAllocator, admit
from reconciler.simulator.errors import ApiError
from reconciler.simulator.patching import track_managed_fields
from reconciler.simulator.resources import SERVICE_ENTRIES, WORKLOAD_ENTRIES, ResourceKind

FIDELITY = Path(__file__).resolve().parents[3] / "shared" / "fidelity"
EXCHANGES = json.loads((FIDELITY / "08-istio-crd-validation.json").read_text())["exchanges"]
VARYING = ("uid", "creationTimestamp", "resourceVersion", "time")
TRUNCATED_BY_RECORDER = {30: 4097, 36: 4096}
"""Exchanges whose endpoints list the recorder shortened, and its real length."""


def masked(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: "*" if k in VARYING else masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(item) for item in value]
    return value


def kind_of(path: str) -> ResourceKind:
    return WORKLOAD_ENTRIES if path.endswith("/workloadentries") else SERVICE_ENTRIES


def created(
    kind: ResourceKind,
    body: dict[str, Any],
    *,
    field_validation: str = "Warn",
    istio_webhook: bool = False,
) -> tuple[dict[str, Any], list[str]]:
    new = copy.deepcopy(body)
    track_managed_fields(
        kind=kind,
        old=None,
        new=new,
        manager="fidelity-recorder",
        operation="Update",
        api_version="networking.istio.io/v1",
        subresource=None,
    )
    warnings = admit(
        kind=kind,
        new=new,
        old=None,
        operation="CREATE",
        subresource=None,
        field_validation=field_validation,
        ips=IpAllocator(),
        istio_webhook=istio_webhook,
    )
    return new, warnings


def full_request(index: int) -> dict[str, Any]:
    body = copy.deepcopy(EXCHANGES[index]["request"]["body"])
    if index in TRUNCATED_BY_RECORDER:
        labelled = "labels" in body["spec"]["endpoints"][0]
        body["spec"]["endpoints"] = [
            {
                "address": f"10.0.{i // 256}.{i % 256}",
                **({"labels": {"i": str(i)}} if labelled else {}),
            }
            for i in range(TRUNCATED_BY_RECORDER[index])
        ]
    return body


REFUSED = [
    i
    for i, e in enumerate(EXCHANGES)
    if e["response"]["status"] == 422 and e["request"]["method"] == "POST"
]
ACCEPTED = [i for i, e in enumerate(EXCHANGES) if e["response"]["status"] == 201 and i != 36]


@pytest.mark.parametrize(
    "index", REFUSED, ids=[EXCHANGES[i]["request"]["body"]["metadata"]["name"] for i in REFUSED]
)
def test_refusals_match_the_recorded_422(index: int) -> None:
    exchange = EXCHANGES[index]
    with pytest.raises(ApiError) as caught:
        created(kind_of(exchange["request"]["path"]), full_request(index))

    assert caught.value.code == 422
    assert caught.value.status_body() == exchange["response"]["body"]


@pytest.mark.parametrize(
    "index", ACCEPTED, ids=[EXCHANGES[i]["request"]["body"]["metadata"]["name"] for i in ACCEPTED]
)
def test_accepted_objects_match_the_recorded_body_and_warnings(index: int) -> None:
    exchange = EXCHANGES[index]
    query = exchange["request"]["query"]
    validation = query.split("=", 1)[1] if query.startswith("fieldValidation=") else "Warn"

    obj, warnings = created(
        kind_of(exchange["request"]["path"]), full_request(index), field_validation=validation
    )

    expected = exchange["response"]["body"]
    assert masked(obj["spec"]) == masked(expected["spec"])
    assert masked(obj["metadata"]["managedFields"]) == masked(expected["metadata"]["managedFields"])
    assert obj["metadata"]["generation"] == 1
    headers = [f"299 - {json.dumps(warning)}" for warning in warnings]
    assert ", ".join(headers) == exchange["response"].get("headers", {}).get("Warning", "")


def test_exactly_4096_endpoints_are_accepted() -> None:
    obj, _ = created(SERVICE_ENTRIES, full_request(36))

    assert len(obj["spec"]["endpoints"]) == 4096


def test_each_unknown_field_is_one_warning_header() -> None:
    body = copy.deepcopy(EXCHANGES[24]["request"]["body"])
    body["spec"]["bogusB"] = 2
    body["spec"]["bogusA"] = 1
    del body["spec"]["bogusField"]

    _, warnings = created(SERVICE_ENTRIES, body)

    example = EXCHANGES[23]["response"]["headers_raw_warning_lines_example"]
    assert [f"299 - {json.dumps(warning)}" for warning in warnings] == example


def test_strict_field_validation_refuses_unknown_fields_with_the_recorded_400() -> None:
    exchange = EXCHANGES[24]
    with pytest.raises(ApiError) as caught:
        created(SERVICE_ENTRIES, exchange["request"]["body"], field_validation="Strict")

    assert caught.value.status_body() == exchange["response"]["body"]


def test_unknown_metadata_fields_are_pruned_too() -> None:
    body = copy.deepcopy(EXCHANGES[25]["request"]["body"])
    body["metadata"]["colour"] = "blue"
    del body["spec"]["bogusField"]

    obj, warnings = created(SERVICE_ENTRIES, body)

    assert "colour" not in obj["metadata"]
    assert warnings == ['unknown field "metadata.colour"']


def test_status_is_dropped_on_create() -> None:
    body = {**copy.deepcopy(EXCHANGES[25]["request"]["body"]), "status": {"conditions": []}}

    obj, _ = created(SERVICE_ENTRIES, body, field_validation="Ignore")

    assert "status" not in obj


@pytest.mark.parametrize(
    ("spec", "field", "message"),
    [
        (
            {"address": "unix://relative"},
            "spec.address",
            "UDS must be an absolute path or abstract socket",
        ),
        ({"address": "unix:///dir/"}, "spec.address", "UDS may not be a dir"),
        (
            {"address": "1.2.3.4", "ports": {"http": 70000}},
            "spec.ports[http]",
            "port must be between 1-65535",
        ),
        ({"address": "1.2.3.4", "weight": 4294967296}, "spec.weight", None),
    ],
    ids=["uds-relative", "uds-dir", "port-range", "weight-max"],
)
def test_workload_entry_rules(spec: dict[str, Any], field: str, message: str | None) -> None:
    body = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "WorkloadEntry",
        "metadata": {"name": "we", "namespace": "ns"},
        "spec": spec,
    }

    with pytest.raises(ApiError) as caught:
        created(WORKLOAD_ENTRIES, body)

    cause = caught.value.causes[0]
    assert cause.field == field
    if message is not None:
        assert (
            cause.message
            == f'Invalid value: "{"string" if "address" in field else "integer"}": {message}'
        )
    else:
        assert cause.message == (
            "Invalid value: 4294967296: spec.weight in body should be less than or equal to "
            "4294967295"
        )


@pytest.mark.parametrize(
    ("spec", "field", "message"),
    [
        (
            {"hosts": ["h"], "location": 7},
            "spec.location",
            'Invalid value: "integer": spec.location in body must be of type string: "integer"',
        ),
        (
            {"hosts": ["h"], "addresses": ["x" * 65]},
            "spec.addresses[0]",
            "Too long: may not be longer than 64",
        ),
        (
            {"hosts": ["h"], "workloadSelector": {"labels": {"a": "*"}}},
            "spec.workloadSelector.labels[a]",
            'Invalid value: "string": wildcard is not supported in selector',
        ),
        (
            {
                "hosts": ["h"],
                "resolution": "DNS_ROUND_ROBIN",
                "endpoints": [{"address": "a"}, {"address": "b"}],
            },
            "spec",
            'Invalid value: "object": DNS_ROUND_ROBIN mode cannot have multiple endpoints',
        ),
        (
            {
                "hosts": ["h"],
                "endpoints": [{"address": "1.2.3.4", "labels": {str(i): "v" for i in range(257)}}],
                "resolution": "STATIC",
            },
            "spec.endpoints[0].labels",
            "Too many: 257: must have at most 256 items",
        ),
    ],
    ids=["wrong-type", "too-long", "selector-wildcard", "round-robin", "too-many-properties"],
)
def test_service_entry_schema_and_rules(spec: dict[str, Any], field: str, message: str) -> None:
    body = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "ServiceEntry",
        "metadata": {"name": "se", "namespace": "ns"},
        "spec": spec,
    }

    with pytest.raises(ApiError) as caught:
        created(SERVICE_ENTRIES, body)

    assert (caught.value.causes[0].field, caught.value.causes[0].message) == (field, message)


def test_the_webhook_rules_are_off_by_default_as_recorded() -> None:
    obj, _ = created(SERVICE_ENTRIES, EXCHANGES[0]["request"]["body"])

    assert obj["spec"]["endpoints"] == [{"address": "web-0.web.fid-a.svc.cluster.local"}]


@pytest.mark.parametrize(
    ("index", "message"),
    [
        (0, 'endpoint address "web-0.web.fid-a.svc.cluster.local" is not a valid IP address'),
        (5, "endpoint port 8080 is not defined by the service entry"),
    ],
    ids=["hostname-with-static", "undeclared-port"],
)
def test_the_webhook_refuses_what_istiod_would(index: int, message: str) -> None:
    with pytest.raises(ApiError) as caught:
        created(SERVICE_ENTRIES, EXCHANGES[index]["request"]["body"], istio_webhook=True)

    assert caught.value.status_body() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'admission webhook "validation.istio.io" denied the request: '
        f"configuration is invalid: {message}",
        "code": 400,
    }


def test_the_webhook_lists_several_errors() -> None:
    body = copy.deepcopy(EXCHANGES[5]["request"]["body"])
    body["spec"]["endpoints"].append({"address": "not-an-ip"})

    with pytest.raises(ApiError) as caught:
        created(SERVICE_ENTRIES, body, istio_webhook=True)

    assert caught.value.message.endswith(
        "configuration is invalid: 2 errors occurred:\n"
        "\t* endpoint port 8080 is not defined by the service entry\n"
        '\t* endpoint address "not-an-ip" is not a valid IP address\n\n'
    )


@pytest.mark.parametrize(
    "spec",
    [
        {"network": "n"},
        {"address": "10.0.0.1", "ports": {"http": 80}},
        {"address": "unix:///a.sock"},
    ],
    ids=["network-only", "ip", "uds"],
)
def test_the_webhook_admits_valid_workload_entries(spec: dict[str, Any]) -> None:
    body = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "WorkloadEntry",
        "metadata": {"name": "we", "namespace": "ns"},
        "spec": spec,
    }

    obj, _ = created(WORKLOAD_ENTRIES, body, istio_webhook=True)

    assert obj["spec"] == spec


def test_the_crd_rules_run_before_the_webhook() -> None:
    body = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "WorkloadEntry",
        "metadata": {"name": "we", "namespace": "ns"},
        "spec": {"address": "unix:///a.sock", "ports": {"http": 80}},
    }

    with pytest.raises(ApiError) as caught:
        created(WORKLOAD_ENTRIES, body, istio_webhook=True)

    assert caught.value.code == 422, "the CRD rule comes first: UDS may not include ports"
