"""Watch lines and LIST pages, exactly as a real API server sends them, decode into projections."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.api.errors import GoneError, PermanentError, TransientError
from reconciler.models.projections import (
    Endpoint,
    EndpointConditions,
    EndpointSlice,
    ServiceEntry,
    TargetRef,
    WorkloadSpec,
)
from reconciler.watching.decoding import Bookmark, Change, decoder_for

LINES: dict[str, str] = json.loads(
    (Path(__file__).parent / "data" / "fidelity-lines.json").read_text()
)


def raw(name: str) -> bytes:
    return LINES[name].encode()


def test_a_modified_endpointslice_line_decodes_into_the_projection() -> None:
    line = decoder_for(EndpointSlice).line(raw("05a_modified_slice"))
    assert isinstance(line, Change)
    assert line.type == "MODIFIED"
    assert line.resource_version == "1514"
    slice_ = line.object
    assert slice_.metadata.name == "web-pnr-dsvk5"
    assert slice_.metadata.namespace == "fid-a"
    assert slice_.metadata.labels["kubernetes.io/service-name"] == "web-pnr"
    assert slice_.metadata.owner_references[0].name == "web-pnr"
    assert slice_.address_type == "IPv4"
    assert slice_.endpoints is not None
    assert slice_.endpoints[0] == Endpoint(
        addresses=("192.0.2.10",),
        conditions=EndpointConditions(ready=True, serving=True, terminating=False),
        target_ref=TargetRef(kind="Pod", name="web-0", uid="e936bf62-9cbf-46eb-b1cf-76b6caa94434"),
    )
    assert slice_.ports is not None
    assert [(p.name, p.port, p.app_protocol) for p in slice_.ports] == [
        ("http", 8080, None),
        ("grpc", 9090, "grpc"),
    ]


@pytest.mark.parametrize(
    ("name", "change_type", "resource_version"),
    [("05a_added_slice", "ADDED", "1521"), ("05a_deleted_slice", "DELETED", "1525")],
)
def test_added_and_deleted_lines_carry_their_type_and_resource_version(
    name: str, change_type: str, resource_version: str
) -> None:
    line = decoder_for(EndpointSlice).line(raw(name))
    assert isinstance(line, Change)
    assert (line.type, line.resource_version) == (change_type, resource_version)
    assert line.object.metadata.name == "watch-tmp-kns9f"


def test_serviceentry_lines_in_alphabetical_key_order_decode() -> None:
    line = decoder_for(ServiceEntry).line(raw("05b_modified_serviceentry"))
    assert isinstance(line, Change)
    entry = line.object
    assert entry.metadata.annotations == {"headless-reconciler.io/service": "web"}
    assert entry.spec.resolution == "STATIC"
    assert entry.spec.hosts == ("web.fid-b.svc.cluster.local",)
    assert entry.spec.endpoints == (
        WorkloadSpec(address="192.0.2.10"),
        WorkloadSpec(address="192.0.2.11"),
    )
    deleted = decoder_for(ServiceEntry).line(raw("05b_deleted_serviceentry"))
    assert isinstance(deleted, Change)
    assert (deleted.type, deleted.resource_version) == ("DELETED", "1545")


def test_builtin_bookmark_the_zero_value_object_only_advances_the_resource_version() -> None:
    assert decoder_for(EndpointSlice).line(raw("05a_bookmark")) == Bookmark("1529")


def test_custom_resource_bookmark_with_only_metadata_advances_the_resource_version() -> None:
    assert decoder_for(ServiceEntry).line(raw("05b_bookmark")) == Bookmark("1545")


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("06_error_expired_configmaps", "too old resource version: 422 (1647)"),
        ("06_error_expired_serviceentries", "too old resource version: 1 (212)"),
    ],
)
def test_an_expired_error_line_raises_gone(name: str, message: str) -> None:
    with pytest.raises(GoneError) as raised:
        decoder_for(ServiceEntry).line(raw(name))
    assert (raised.value.code, raised.value.reason, raised.value.message) == (
        410,
        "Expired",
        message,
    )


def test_other_error_lines_raise_the_error_their_status_describes() -> None:
    line = (
        b'{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},'
        b'"status":"Failure","message":"etcd is unhappy","reason":"InternalError","code":500}}'
    )
    with pytest.raises(TransientError) as raised:
        decoder_for(EndpointSlice).line(line)
    assert raised.value.message == "etcd is unhappy"


def test_the_type_tag_need_not_come_first() -> None:
    line = b'{"object":{"metadata":{"name":"a","resourceVersion":"7"}},"type":"ADDED"}'
    decoded = decoder_for(EndpointSlice).line(line)
    assert isinstance(decoded, Change)
    assert (decoded.type, decoded.object.metadata.name) == ("ADDED", "a")


def test_the_placeholder_slice_with_null_endpoints_decodes() -> None:
    line = (
        b'{"type":"ADDED","object":{"kind":"EndpointSlice","metadata":{"name":"web-x",'
        b'"resourceVersion":"9"},"addressType":"IPv4","endpoints":null,"ports":null}}'
    )
    decoded = decoder_for(EndpointSlice).line(line)
    assert isinstance(decoded, Change)
    assert decoded.object.endpoints is None


@pytest.mark.parametrize(
    "line",
    [
        b"not json",
        b'{"type":"SURPRISE","object":{}}',
        b'{"type":"ADDED","object":{"metadata":{"name":7}}}',
    ],
)
def test_undecodable_lines_raise_a_permanent_error(line: bytes) -> None:
    with pytest.raises(PermanentError) as raised:
        decoder_for(EndpointSlice).line(line)
    assert raised.value.reason == "Undecodable"


def test_a_list_page_gives_items_resource_version_and_continue_token() -> None:
    page = decoder_for(EndpointSlice).page(raw("04_slices_page0"))
    assert len(page.items) == 2
    assert page.resource_version == "1417"
    assert page.continue_token.startswith("eyJ2Ijoi")
    assert all(isinstance(item, EndpointSlice) for item in page.items)


@pytest.mark.parametrize(
    ("name", "projection", "count"),
    [
        ("04_slices_page2_last", EndpointSlice, 1),
        ("04_serviceentries_last_page", ServiceEntry, 1),
        ("04_empty_final_page", EndpointSlice, 0),
        ("05b_empty_serviceentry_list", ServiceEntry, 0),
    ],
)
def test_the_last_page_has_no_continue_token_whether_omitted_or_empty(
    name: str, projection: type[EndpointSlice] | type[ServiceEntry], count: int
) -> None:
    page = decoder_for(projection).page(raw(name))
    assert page.continue_token == ""
    assert len(page.items) == count
    assert page.resource_version


def test_decoders_are_built_once_per_projection() -> None:
    assert decoder_for(EndpointSlice) is decoder_for(EndpointSlice)
    assert decoder_for(EndpointSlice) is not decoder_for(ServiceEntry)
