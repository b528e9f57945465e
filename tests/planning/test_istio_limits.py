"""SPEC section 4: never write what Istio would reject; refuse, say why, write nothing."""

from __future__ import annotations

import pytest

from reconciler.models.projections import WorkloadSpec
from reconciler.planning.plans import DriftReason, NoWrite, UpdateServiceEntryEndpoints, Verdict

from .builders import (
    annotated_entry,
    namespace,
    plan_one,
    ready_slice,
    se_endpoint,
    service,
    workload_entry,
)
from .conftest import FakeView


def many_pods(count: int) -> dict[str, str]:
    return {f"web-{i}": f"10.{i // 65536}.{i // 256 % 256}.{i % 256}" for i in range(count)}


def test_at_most_4096_endpoints_are_written() -> None:
    view = FakeView([namespace(), service(), ready_slice(many_pods(4096))])
    action = plan_one(view, annotated_entry())
    assert isinstance(action, UpdateServiceEntryEndpoints)
    assert len(action.after) == 4096


def test_more_than_4096_endpoints_are_refused_with_the_drift_kept() -> None:
    view = FakeView([namespace(), service(), ready_slice(many_pods(4097))])
    action = plan_one(view, annotated_entry())
    assert isinstance(action, NoWrite)
    assert action.verdict is Verdict.REFUSED
    assert "4097 endpoints wanted; Istio allows at most 4096" in action.message
    assert len(action.changes) == 4097
    assert {c.reason for c in action.changes} == {DriftReason.MISSING}


@pytest.mark.parametrize(
    ("existing", "message"),
    [
        pytest.param(
            se_endpoint("10.0.0.9", "web-0", ports={"http_alt": 8080}),
            "endpoint of pod web-0: port name 'http_alt' is not a valid port name",
            id="an endpoint port name must be a valid port name",
        ),
        pytest.param(
            se_endpoint("10.0.0.9", "web-0", ports={"p" * 63: 8080}),
            "is not a valid port name",
            id="an endpoint port name is shorter than 63 characters",
        ),
        pytest.param(
            se_endpoint("10.0.0.9", "web-0", ports={"http": 0}),
            "port http number 0 is not in 1-65535",
            id="an endpoint port number is in 1-65535",
        ),
        pytest.param(
            se_endpoint("10.0.0.9", "web-0", labels={f"l{i}": "x" for i in range(256)}),
            "257 labels; Istio allows at most 256",
            id="an endpoint has at most 256 labels",
        ),
    ],
)
def test_user_fields_istio_would_reject_are_refused(existing: WorkloadSpec, message: str) -> None:
    view = FakeView([namespace(), service(), ready_slice({"web-0": "10.0.0.1"})])
    action = plan_one(view, annotated_entry(endpoints=(existing,)))
    assert isinstance(action, NoWrite)
    assert action.verdict is Verdict.REFUSED
    assert message in action.message
    assert [c.reason for c in action.changes] == [DriftReason.STALE]


def test_a_static_address_that_is_not_an_ip_is_refused() -> None:
    view = FakeView([namespace(), service(), ready_slice({"web-0": "web-0.example"})])
    action = plan_one(view, annotated_entry())
    assert isinstance(action, NoWrite)
    assert action.verdict is Verdict.REFUSED
    assert "address 'web-0.example' is not an IP address" in action.message


def test_a_pod_name_that_is_no_valid_label_value_is_refused() -> None:
    pod = "web-" + "x" * 60
    view = FakeView([namespace(), service(), ready_slice({pod: "10.0.0.1"})])
    action = plan_one(view, annotated_entry())
    assert isinstance(action, NoWrite)
    assert f"pod name {pod!r} is not a valid label value" in action.message


def test_a_workload_entry_address_that_is_not_an_ip_is_refused() -> None:
    view = FakeView([namespace(), service(), ready_slice({"web-0": "web-0.example"})])
    action = plan_one(view, workload_entry())
    assert isinstance(action, NoWrite)
    assert action.verdict is Verdict.REFUSED
    assert "pod web-0: address 'web-0.example' is not an IP address" in action.message
