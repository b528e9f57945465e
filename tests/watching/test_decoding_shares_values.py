"""Decoded EndpointSlices share what their endpoints repeat, without changing any value (SPEC 8)."""

from __future__ import annotations

from typing import Any

import orjson

from reconciler.models.projections import EndpointConditions, EndpointSlice, TargetRef
from reconciler.watching.decoding import Change, decoder_for


def _endpoint(pod: str, address: str, *, ready: bool = True) -> dict[str, Any]:
    return {
        "addresses": [address],
        "conditions": {"ready": ready, "serving": ready, "terminating": False},
        "hostname": pod,
        "targetRef": {"kind": "Pod", "namespace": "shop", "name": pod, "uid": f"uid-{pod}"},
        "nodeName": "node-1",
    }


def _slice_document(*endpoints: dict[str, Any]) -> dict[str, Any]:
    return {
        "metadata": {"name": "web-abcde", "namespace": "shop", "resourceVersion": "7"},
        "addressType": "IPv4",
        "endpoints": list(endpoints),
    }


def _decoded_line(*endpoints: dict[str, Any]) -> EndpointSlice:
    line = orjson.dumps({"type": "MODIFIED", "object": _slice_document(*endpoints)})
    change = decoder_for(EndpointSlice).line(line)
    assert isinstance(change, Change)
    return change.object


def test_endpoints_of_a_watched_slice_share_conditions_kind_and_hostname() -> None:
    decoded = _decoded_line(_endpoint("web-0", "10.0.0.1"), _endpoint("web-1", "10.0.0.2"))

    assert decoded.endpoints is not None
    first, second = decoded.endpoints
    assert first.conditions is second.conditions
    assert first.target_ref is not None
    assert second.target_ref is not None
    assert first.target_ref.kind is second.target_ref.kind
    assert first.hostname is first.target_ref.name
    assert first.conditions == EndpointConditions(ready=True, serving=True, terminating=False)
    assert first.target_ref == TargetRef(kind="Pod", name="web-0", uid="uid-web-0")
    assert first.hostname == "web-0"


def test_different_conditions_and_hostnames_keep_their_own_values() -> None:
    renamed = {**_endpoint("web-1", "10.0.0.2", ready=False), "hostname": "other"}
    decoded = _decoded_line(_endpoint("web-0", "10.0.0.1"), renamed)

    assert decoded.endpoints is not None
    ready, not_ready = decoded.endpoints
    assert not_ready.conditions == EndpointConditions(ready=False, serving=False, terminating=False)
    assert ready.conditions != not_ready.conditions
    assert not_ready.hostname == "other"


def test_slices_of_a_list_page_share_values_across_slices() -> None:
    page = orjson.dumps(
        {
            "metadata": {"resourceVersion": "9"},
            "items": [
                _slice_document(_endpoint("web-0", "10.0.0.1")),
                _slice_document(_endpoint("db-0", "10.0.0.9")),
            ],
        }
    )
    first, second = decoder_for(EndpointSlice).page(page).items

    assert first.endpoints is not None
    assert second.endpoints is not None
    assert first.endpoints[0].conditions is second.endpoints[0].conditions
    assert second.endpoints[0].hostname == "db-0"
