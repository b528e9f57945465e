"""Services through admission: defaults, cluster IPs and IP families, validation.

Recorded cases come from ``../shared/fidelity/02`` (headless create) and
``09`` (allocated ClusterIP, immutable cluster IPs, port names, owner
references). Allocated addresses vary between runs and are masked.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import re
from pathlib import Path
from typing import Any

import pytest

from reconciler.simulator.admission import IpAllocator, admit
from reconciler.simulator.errors import ApiError
from reconciler.simulator.patching import MERGE_PATCH, apply_patch, track_managed_fields
from reconciler.simulator.resources import SERVICES

FIDELITY = Path(__file__).resolve().parents[3] / "shared" / "fidelity"
VARYING = ("uid", "creationTimestamp", "resourceVersion", "time", "clusterIP", "clusterIPs")


def exchange(case: str, index: int) -> dict[str, Any]:
    return dict(json.loads((FIDELITY / case).read_text())["exchanges"][index])


def masked(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: "*" if k in VARYING else masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(item) for item in value]
    return value


def without_pointers(body: Any) -> Any:
    return json.loads(re.sub(r"\(0x[0-9a-f]+\)", "(0x)", json.dumps(body)))


def write(
    body: dict[str, Any],
    *,
    ips: IpAllocator,
    old: dict[str, Any] | None = None,
    dry_run: bool = False,
) -> dict[str, Any]:
    new = copy.deepcopy(body)
    new.setdefault("metadata", {}).setdefault("namespace", "fid-a")
    track_managed_fields(
        kind=SERVICES,
        old=old,
        new=new,
        manager="fidelity-recorder",
        operation="Update",
        api_version="v1",
        subresource=None,
    )
    admit(
        kind=SERVICES,
        new=new,
        old=old,
        operation="CREATE" if old is None else "UPDATE",
        subresource=None,
        field_validation="Warn",
        ips=ips,
        dry_run=dry_run,
    )
    return new


def refused(
    body: dict[str, Any], *, ips: IpAllocator, old: dict[str, Any] | None = None
) -> ApiError:
    with pytest.raises(ApiError) as caught:
        write(body, ips=ips, old=old)
    return caught.value


@pytest.fixture
def ips() -> IpAllocator:
    return IpAllocator(ipv6_cidr=None)


@pytest.fixture
def dual_stack() -> IpAllocator:
    return IpAllocator()


@pytest.mark.parametrize(
    ("case", "index"),
    [
        ("02-service-create-conflict-notfound.json", 0),
        ("03-endpointslices-controller.json", 0),
        ("09-service-ownership-gc-validation.json", 0),
        ("09-service-ownership-gc-validation.json", 3),
        ("09-service-ownership-gc-validation.json", 12),
    ],
    ids=[
        "headless",
        "publish-not-ready",
        "owned-clusterip",
        "target-port-default",
        "long-port-name",
    ],
)
def test_creates_get_the_recorded_defaults(case: str, index: int, ips: IpAllocator) -> None:
    recorded = exchange(case, index)

    service = write(recorded["request"]["body"], ips=ips)

    expected = recorded["response"]["body"]
    assert masked(service["spec"]) == masked(expected["spec"])
    assert service["status"] == expected["status"]
    assert masked(service["metadata"]["managedFields"]) == masked(
        expected["metadata"]["managedFields"]
    )


def test_a_cluster_ip_comes_from_the_service_cidr_and_is_never_reused(ips: IpAllocator) -> None:
    body = exchange("09-service-ownership-gc-validation.json", 3)["request"]["body"]

    first = write(body, ips=ips)
    second = write(body, ips=ips)

    addresses = [first["spec"]["clusterIP"], second["spec"]["clusterIP"]]
    assert all(ipaddress.ip_address(a) in ipaddress.ip_network("10.96.0.0/16") for a in addresses)
    assert addresses[0] != addresses[1]
    assert first["spec"]["clusterIPs"] == [first["spec"]["clusterIP"]]


def test_a_requested_cluster_ip_is_reserved(ips: IpAllocator) -> None:
    body = {
        "metadata": {"name": "pinned"},
        "spec": {"clusterIP": "10.96.5.5", "ports": [{"port": 80}]},
    }
    write(body, ips=ips)

    error = refused({**body, "metadata": {"name": "again"}}, ips=ips)

    assert error.message == (
        'Service "again" is invalid: spec.clusterIPs: Invalid value: []string{"10.96.5.5"}: '
        "failed to allocate IP 10.96.5.5: provided IP is already allocated"
    )


def test_a_cluster_ip_outside_the_range_is_refused(ips: IpAllocator) -> None:
    body = {"metadata": {"name": "far"}, "spec": {"clusterIP": "10.0.0.5", "ports": [{"port": 80}]}}

    error = refused(body, ips=ips)

    assert error.causes[0].message.endswith(
        "failed to allocate IP 10.0.0.5: the provided IP (10.0.0.5) is not in the valid range. "
        "The range of valid IPs is 10.96.0.0/16"
    )


def test_refused_and_dry_run_creates_give_their_address_back(ips: IpAllocator) -> None:
    body = {"metadata": {"name": "a"}, "spec": {"clusterIP": "10.96.9.9", "ports": [{"port": 80}]}}
    bad = copy.deepcopy(body)
    bad["spec"]["ports"][0]["name"] = "BAD"

    refused(bad, ips=ips)
    write(body, ips=ips, dry_run=True)

    assert write(body, ips=ips)["spec"]["clusterIP"] == "10.96.9.9"


def test_release_service_frees_its_addresses(ips: IpAllocator) -> None:
    body = {"metadata": {"name": "a"}, "spec": {"clusterIP": "10.96.9.9", "ports": [{"port": 80}]}}
    service = write(body, ips=ips)

    ips.release_service(service)

    assert write(body, ips=ips)["spec"]["clusterIPs"] == ["10.96.9.9"]


@pytest.mark.parametrize(
    ("spec", "families", "policy", "addresses"),
    [
        ({"ipFamilyPolicy": "PreferDualStack"}, ["IPv4", "IPv6"], "PreferDualStack", 2),
        ({"ipFamilyPolicy": "RequireDualStack"}, ["IPv4", "IPv6"], "RequireDualStack", 2),
        ({"ipFamilies": ["IPv6"]}, ["IPv6"], "SingleStack", 1),
        (
            {"ipFamilyPolicy": "PreferDualStack", "ipFamilies": ["IPv6"]},
            ["IPv6", "IPv4"],
            "PreferDualStack",
            2,
        ),
        ({"clusterIP": "None", "selector": None}, ["IPv4", "IPv6"], "RequireDualStack", 1),
        ({"clusterIP": "None", "selector": {"a": "b"}}, ["IPv4"], "SingleStack", 1),
    ],
    ids=[
        "prefer",
        "require",
        "ipv6-only",
        "prefer-ipv6-first",
        "headless-selectorless",
        "headless-selector",
    ],
)
def test_a_dual_stack_capable_cluster_serves_both_families(
    spec: dict[str, Any], families: list[str], policy: str, addresses: int, dual_stack: IpAllocator
) -> None:
    body = {"metadata": {"name": "ds"}, "spec": {"ports": [{"port": 80}], **spec}}

    service = write(body, ips=dual_stack)

    assert (service["spec"]["ipFamilies"], service["spec"]["ipFamilyPolicy"]) == (families, policy)
    assert len(service["spec"]["clusterIPs"]) == addresses


def test_prefer_dual_stack_on_a_single_stack_cluster_keeps_one_family(ips: IpAllocator) -> None:
    body = {
        "metadata": {"name": "ds"},
        "spec": {"ports": [{"port": 80}], "ipFamilyPolicy": "PreferDualStack"},
    }

    service = write(body, ips=ips)

    assert service["spec"]["ipFamilies"] == ["IPv4"]
    assert len(service["spec"]["clusterIPs"]) == 1


def test_require_dual_stack_on_a_single_stack_cluster_is_refused(ips: IpAllocator) -> None:
    body = {
        "metadata": {"name": "ds"},
        "spec": {"ports": [{"port": 80}], "ipFamilyPolicy": "RequireDualStack"},
    }

    error = refused(body, ips=ips)

    assert error.message == (
        'Service "ds" is invalid: spec.ipFamilyPolicy: Invalid value: "RequireDualStack": '
        "this cluster is not configured for dual-stack services"
    )


@pytest.mark.parametrize(
    "index",
    [10, 11, 13, 14, 15],
    ids=["port-name", "unnamed-ports", "duplicate-name", "owner-uid", "two-controllers"],
)
def test_refusals_match_the_recorded_422(index: int, ips: IpAllocator) -> None:
    recorded = exchange("09-service-ownership-gc-validation.json", index)

    error = refused(recorded["request"]["body"], ips=ips)

    assert without_pointers(error.status_body()) == without_pointers(recorded["response"]["body"])


@pytest.fixture
def owned(ips: IpAllocator) -> dict[str, Any]:
    """The stored ClusterIP Service of 09, with its recorded address held by the allocator."""
    stored = exchange("09-service-ownership-gc-validation.json", 0)["response"]["body"]
    ips.reserve(stored["spec"]["clusterIP"])
    return dict(stored)


@pytest.mark.parametrize("index", [6, 7, 9], ids=["put", "merge-patch-cluster-ip", "to-headless"])
def test_cluster_ips_cannot_change(index: int, ips: IpAllocator, owned: dict[str, Any]) -> None:
    recorded = exchange("09-service-ownership-gc-validation.json", index)
    request = recorded["request"]
    if request["method"] == "PUT":
        new = request["body"]
    else:
        new = apply_patch(
            kind=SERVICES,
            current=owned,
            patch=json.dumps(request["body"]).encode(),
            content_type=MERGE_PATCH,
            field_manager="fidelity-recorder",
            force=False,
        )

    error = refused(new, ips=ips, old=owned)

    assert error.status_body() == recorded["response"]["body"]


def test_headless_cannot_get_an_address(ips: IpAllocator) -> None:
    stored = exchange("03-endpointslices-controller.json", 0)["response"]["body"]
    recorded = exchange("09-service-ownership-gc-validation.json", 8)
    new = apply_patch(
        kind=SERVICES,
        current=stored,
        patch=json.dumps(recorded["request"]["body"]).encode(),
        content_type=MERGE_PATCH,
        field_manager="m",
        force=False,
    )

    error = refused(new, ips=ips, old=stored)

    assert error.status_body() == recorded["response"]["body"]


def test_an_update_without_cluster_ips_keeps_the_allocated_ones(
    ips: IpAllocator, owned: dict[str, Any]
) -> None:
    recorded = exchange("09-service-ownership-gc-validation.json", 16)
    new = copy.deepcopy(recorded["request"]["body"])
    for name in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"):
        del new["spec"][name]

    service = write(new, ips=ips, old=owned)

    assert service["spec"] == recorded["response"]["body"]["spec"]
    assert service["metadata"]["labels"]["touched"] == "yes"


def test_external_name_services_have_no_cluster_ip(ips: IpAllocator) -> None:
    body = {"metadata": {"name": "ext"}, "spec": {"type": "ExternalName", "externalName": "a.b"}}

    service = write(body, ips=ips)

    assert "clusterIP" not in service["spec"]
    assert "internalTrafficPolicy" not in service["spec"]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            {"sessionAffinity": "ClientIP"},
            {"sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 10800}}},
        ),
        (
            {"type": "LoadBalancer"},
            {"externalTrafficPolicy": "Cluster", "allocateLoadBalancerNodePorts": True},
        ),
        (
            {"type": "NodePort"},
            {"externalTrafficPolicy": "Cluster", "internalTrafficPolicy": "Cluster"},
        ),
        (
            {"ports": [{"port": 53, "protocol": "UDP", "targetPort": "dns"}]},
            {"ports": [{"port": 53, "protocol": "UDP", "targetPort": "dns"}]},
        ),
    ],
    ids=["client-ip-affinity", "load-balancer", "node-port", "named-target-port"],
)
def test_scheme_defaults(spec: dict[str, Any], expected: dict[str, Any], ips: IpAllocator) -> None:
    body = {"metadata": {"name": "d"}, "spec": {"ports": [{"port": 80}], **spec}}

    service = write(body, ips=ips)

    assert expected.items() <= service["spec"].items()


@pytest.mark.parametrize(
    ("spec", "field", "message"),
    [
        (
            {"ports": [{"port": 80}, {"port": 80, "name": "b"}]},
            "spec.ports[0].name",
            "Required value",
        ),
        (
            {"ports": [{"port": 80, "name": "a"}, {"port": 80, "name": "b"}]},
            "spec.ports[1]",
            'Duplicate value: core.ServicePort{Name:"", Protocol:"TCP", '
            "AppProtocol:(*string)(nil), Port:80, "
            'TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:""}, NodePort:0}',
        ),
        (
            {"ports": [{"port": 0}]},
            "spec.ports[0].port",
            "Invalid value: 0: must be between 1 and 65535, inclusive",
        ),
        (
            {"ports": [{"port": 80, "protocol": "HTTP"}]},
            "spec.ports[0].protocol",
            'Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"',
        ),
        (
            {"ports": [{"port": 80, "targetPort": "way-too-long-name"}]},
            "spec.ports[0].targetPort",
            'Invalid value: "way-too-long-name": must be no more than 15 characters',
        ),
        ({"ports": [{"port": 80, "appProtocol": "a/b/c"}]}, "spec.ports[0].appProtocol", None),
        (
            {"ports": [{"port": 80}], "type": "Weird"},
            "spec.type",
            'Unsupported value: "Weird": supported values: "ClusterIP", "ExternalName", '
            '"LoadBalancer", "NodePort"',
        ),
        ({"ports": []}, "spec.ports", "Required value"),
        (
            {"ports": [{"port": 80, "nodePort": 30000}]},
            "spec.ports[0].nodePort",
            "Forbidden: may not be used when `type` is 'ClusterIP'",
        ),
        (
            {"ports": [{"port": 80}], "clusterIP": "not-an-ip"},
            "spec.clusterIPs[0]",
            'Invalid value: "not-an-ip": must be a valid IP address, '
            "(e.g. 10.9.8.7 or 2001:db8::ffff)",
        ),
    ],
    ids=[
        "unnamed",
        "duplicate-port",
        "port-zero",
        "protocol",
        "target-port-name",
        "app-protocol",
        "type",
        "no-ports",
        "node-port",
        "bad-ip",
    ],
)
def test_port_and_field_rules(
    spec: dict[str, Any], field: str, message: str | None, ips: IpAllocator
) -> None:
    error = refused({"metadata": {"name": "svc"}, "spec": spec}, ips=ips)

    assert error.causes[0].field == field
    if message is not None:
        assert error.causes[0].message == message


def test_service_names_are_dns_1035_labels(ips: IpAllocator) -> None:
    error = refused({"metadata": {"name": "1abc"}, "spec": {"ports": [{"port": 80}]}}, ips=ips)

    assert error.causes[0].message.startswith(
        'Invalid value: "1abc": a DNS-1035 label must consist of lower case alphanumeric'
    )
