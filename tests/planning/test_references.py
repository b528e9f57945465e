"""How hosts and annotation values name Services and pods (SPEC section 2)."""

from __future__ import annotations

import pytest

from reconciler.planning.references import (
    NameRef,
    ServiceRef,
    host_service_ref,
    hosts_service_refs,
    parse_name_ref,
    quoted,
)


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        pytest.param("web", ServiceRef("prod", "web"), id="<svc> is in the entry's namespace"),
        pytest.param("web.prod", ServiceRef("prod", "web"), id="<svc>.<ns>"),
        pytest.param("web.prod.svc", ServiceRef("prod", "web"), id="<svc>.<ns>.svc"),
        pytest.param(
            "web.prod.svc.cluster.local", ServiceRef("prod", "web"), id="<svc>.<ns>.svc.<domain>"
        ),
        pytest.param(
            "web-1.web.prod.svc.cluster.local",
            ServiceRef("prod", "web", pod="web-1"),
            id="<pod>.<svc>.<ns>.svc.<domain> names one pod",
        ),
        pytest.param(
            "web.other.svc.cluster.local",
            ServiceRef("other", "web"),
            id="a host of another namespace names that namespace",
        ),
        pytest.param("Web.Prod.SVC.cluster.local.", ServiceRef("prod", "web"), id="case and dot"),
        pytest.param("web.prod.svc.example.com", None, id="another domain names nothing"),
        pytest.param("api.example.com", None, id="an external host names nothing"),
        pytest.param("web-1.web.prod.svc", None, id="a pod host needs the cluster domain"),
        pytest.param("web..prod", None, id="an empty label names nothing"),
    ],
)
def test_host_names_a_service(host: str, expected: ServiceRef | None) -> None:
    assert host_service_ref(host, namespace="prod", cluster_domain="cluster.local") == expected


def test_hosts_name_distinct_services_in_order() -> None:
    hosts = ["web", "web.prod.svc.cluster.local", "db.prod", "api.example.com"]
    refs = hosts_service_refs(hosts, namespace="prod", cluster_domain="cluster.local")
    assert refs == (ServiceRef("prod", "web"), ServiceRef("prod", "db"))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("web", NameRef("prod", "web", explicit_namespace=False), id="name"),
        pytest.param(" web ", NameRef("prod", "web", explicit_namespace=False), id="trimmed"),
        pytest.param("other/web", NameRef("other", "web", explicit_namespace=True), id="ns/name"),
        pytest.param("", None, id="empty"),
        pytest.param("a/b/c", None, id="two slashes"),
        pytest.param("/web", None, id="empty namespace"),
        pytest.param("web 0", None, id="inner space"),
        pytest.param("Web", None, id="uppercase"),
    ],
)
def test_annotation_value_names_an_object(value: str, expected: NameRef | None) -> None:
    assert parse_name_ref(value, own_namespace="prod") == expected


def test_a_short_value_is_quoted_whole() -> None:
    assert quoted("web\ufffd") == "'web\ufffd'"


def test_a_long_value_is_quoted_cut_short_with_its_length() -> None:
    value = "web-" + "x" * 200_000
    assert quoted(value) == f"'web-{'x' * 60}…' (200004 characters)"
