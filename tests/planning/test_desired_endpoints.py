"""SPEC section 3, desired state: which pods, at which address, a ServiceEntry lists.

Each row gives the EndpointSlices of Service ``prod/web`` (and maybe an entry
and Service) and the ``(pod, address)`` pairs an empty, opted-in ServiceEntry
is planned to hold.
"""

from __future__ import annotations

import pytest

from reconciler.models.projections import ServiceEntry
from reconciler.planning.desired import MULTICLUSTER_SERVICE_LABEL
from reconciler.planning.plans import NoWrite, UpdateServiceEntryEndpoints, Verdict
from reconciler.planning.references import IP_FAMILY_ANNOTATION, POD_NAME_LABEL

from .builders import (
    annotated_entry,
    endpoint_slice,
    namespace,
    plan_one,
    pod_endpoint,
    ready_slice,
    se_endpoint,
    service,
)
from .conftest import Cached, FakeView

DUAL_STACK = service(ip_families=("IPv4", "IPv6"))
IPV6_ONLY = service(ip_families=("IPv6",))
V4 = ready_slice({"web-0": "10.0.0.1", "web-1": "10.0.0.2"})
V6 = ready_slice({"web-0": "fd00::1", "web-1": "fd00::2"}, address_type="IPv6")
IPV6_ANNOTATION = {IP_FAMILY_ANNOTATION: "IPv6"}

RULES = [
    pytest.param(
        [ready_slice({"web-0": "10.0.0.1"}), ready_slice({"web-1": "10.0.0.2"})], None,
        [("web-0", "10.0.0.1"), ("web-1", "10.0.0.2")],
        id="the endpoints are the union of the Service's slices",
    ),
    pytest.param(
        [ready_slice({"web-0": "10.0.0.1"}), ready_slice({"db-0": "10.0.0.9"}, service="db")],
        None, [("web-0", "10.0.0.1")],
        id="slices of other Services are not included",
    ),
    pytest.param(
        [ready_slice({"web-0": "10.0.0.1"}),
         endpoint_slice(pod_endpoint("web-5", "10.8.0.5"),
                        labels={MULTICLUSTER_SERVICE_LABEL: "web"})],
        None, [("web-0", "10.0.0.1")],
        id="multicluster slices are skipped",
    ),
    pytest.param(
        [ready_slice({"web-0": "10.0.0.1"}),
         endpoint_slice(pod_endpoint("web-1", "web-1.example.com"), address_type="FQDN")],
        None, [("web-0", "10.0.0.1")],
        id="FQDN slices are skipped",
    ),
    pytest.param(
        [ready_slice({"web-0": "10.0.0.1"}), ready_slice({"web-0": "10.0.0.1"})], None,
        [("web-0", "10.0.0.1")],
        id="an address listed in two slices appears once",
    ),
    pytest.param(
        [endpoint_slice(pod_endpoint("web-0", "10.0.0.7", uid="old")),
         endpoint_slice(pod_endpoint("web-0", "10.0.0.3", uid="new"))],
        None, [("web-0", "10.0.0.3")],
        id="a pod listed twice while it is replaced gets one address",
    ),
    pytest.param(
        [endpoint_slice(pod_endpoint("web-0", "10.0.0.1", hostname="ignored-hostname"))], None,
        [("web-0", "10.0.0.1")],
        id="the targetRef names the pod",
    ),
    pytest.param(
        [endpoint_slice(pod_endpoint(None, "10.0.0.1", hostname="web-0"))], None,
        [("web-0", "10.0.0.1")],
        id="without a targetRef the hostname names the pod",
    ),
    pytest.param(
        [endpoint_slice(pod_endpoint(None, "10.0.0.1"), pod_endpoint("web-1", "10.0.0.2"))],
        None, [("web-1", "10.0.0.2")],
        id="an endpoint naming no pod is skipped",
    ),
    pytest.param(
        [endpoint_slice(pod_endpoint("web-0", "10.0.0.1", ready=None))], None,
        [("web-0", "10.0.0.1")],
        id="an endpoint without a ready condition is wanted",
    ),
    pytest.param(
        [endpoint_slice(pod_endpoint("web-0", "10.0.0.1", ready=False),
                        pod_endpoint("web-1", "10.0.0.2"))],
        None, [("web-1", "10.0.0.2")],
        id="a not-ready endpoint is not wanted",
    ),
    pytest.param(
        [endpoint_slice(pod_endpoint("web-0", "10.0.0.1", ready=False, terminating=True),
                        pod_endpoint("web-1", "10.0.0.2"))],
        None, [("web-1", "10.0.0.2")],
        id="a terminating endpoint is not wanted",
    ),
    pytest.param(
        [endpoint_slice(pod_endpoint("web-0", "10.0.0.1", ready=None, terminating=True),
                        pod_endpoint("web-1", "10.0.0.2"))],
        None, [("web-1", "10.0.0.2")],
        id="a terminating endpoint without a ready condition is not wanted",
    ),
    pytest.param(
        [endpoint_slice(pod_endpoint("web-0", "10.0.0.7"), pod_endpoint("web-1", "10.0.0.7"),
                        pod_endpoint("web-1", "10.0.0.8", uid="other"))],
        None, [("web-0", "10.0.0.7"), ("web-1", "10.0.0.8")],
        id="an address claimed by two pods goes to the first in natural order",
    ),
    pytest.param([V4, V6], None, [("web-0", "10.0.0.1"), ("web-1", "10.0.0.2")],
                 id="dual-stack lists IPv4 by default"),
    pytest.param([V4, V6], annotated_entry(annotations=IPV6_ANNOTATION),
                 [("web-0", "fd00::1"), ("web-1", "fd00::2")],
                 id="ip-family IPv6 on the entry selects IPv6"),
    pytest.param([V4, V6, service(ip_families=("IPv4", "IPv6"), annotations=IPV6_ANNOTATION)],
                 None, [("web-0", "fd00::1"), ("web-1", "fd00::2")],
                 id="ip-family IPv6 on the Service selects IPv6"),
    pytest.param([V4, V6, service(ip_families=("IPv4", "IPv6"), annotations=IPV6_ANNOTATION)],
                 annotated_entry(annotations={IP_FAMILY_ANNOTATION: "ipv4"}),
                 [("web-0", "10.0.0.1"), ("web-1", "10.0.0.2")],
                 id="ip-family on the entry wins over the Service's"),
    pytest.param([V6, IPV6_ONLY], None, [("web-0", "fd00::1"), ("web-1", "fd00::2")],
                 id="an IPv6 single-stack Service lists IPv6 without an annotation"),
    pytest.param([V6], None, [],
                 id="a dual-stack Service whose IPv4 slice is missing does not flip to IPv6"),
    pytest.param([V4], annotated_entry(pod="web-1"), [("web-1", "10.0.0.2")],
                 id="a pod-level entry lists exactly its pod"),
    pytest.param([V4], annotated_entry(hosts=("web-1.web.prod.svc.cluster.local",)),
                 [("web-1", "10.0.0.2")],
                 id="a pod host narrows a service-annotated entry to its pod"),
    pytest.param([ready_slice({f"web-{i}": f"10.0.0.{i}" for i in (10, 2, 1)})], None,
                 [("web-1", "10.0.0.1"), ("web-2", "10.0.0.2"), ("web-10", "10.0.0.10")],
                 id="endpoints are in natural pod order"),
]  # fmt: skip


@pytest.mark.parametrize(("objects", "entry", "expected"), RULES)
def test_desired_endpoints(
    objects: list[Cached], entry: ServiceEntry | None, expected: list[tuple[str, str]]
) -> None:
    view = FakeView([namespace(), DUAL_STACK, *objects])
    action = plan_one(view, entry or annotated_entry())
    if not expected:
        assert action is None
        return
    assert isinstance(action, UpdateServiceEntryEndpoints), action
    assert [((e.labels or {})[POD_NAME_LABEL], e.address) for e in action.after] == expected


def test_an_unknown_ip_family_is_refused() -> None:
    view = FakeView([namespace(), DUAL_STACK, V4])
    action = plan_one(view, annotated_entry(annotations={IP_FAMILY_ANNOTATION: "IPv5"}))
    assert isinstance(action, NoWrite)
    assert action.verdict is Verdict.REFUSED
    assert "'IPv5' is not IPv4 or IPv6" in action.message


def test_a_pod_recreated_with_a_new_ip_is_stale() -> None:
    view = FakeView([namespace(), DUAL_STACK, ready_slice({"web-0": "10.0.0.9"})])
    entry = annotated_entry(endpoints=(se_endpoint("10.0.0.1", "web-0"),))
    action = plan_one(view, entry)
    assert isinstance(action, UpdateServiceEntryEndpoints)
    assert [(c.pod, c.reason, c.before, c.after) for c in action.changes] == [
        ("web-0", "stale", "10.0.0.1", "10.0.0.9")
    ]
