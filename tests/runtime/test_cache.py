"""The cluster cache: the planner's view, the mapping's indexes, and readiness."""

from __future__ import annotations

import pytest
from runtime_world import (
    endpoint,
    endpoint_slice,
    namespace,
    service,
    service_entry,
    workload_entry,
)

from reconciler.models.refs import Kind, NamespacedName, ObjectKey
from reconciler.runtime.cache import ClusterCache
from reconciler.watching import Applied, Deleted, Relisted

ALL_KINDS = list(Kind)


def cache_with(
    *changes: tuple[Kind, object], cluster_domain: str = "cluster.local"
) -> ClusterCache:
    cache = ClusterCache(cluster_domain=cluster_domain)
    for kind, obj in changes:
        cache.apply(kind, Applied(obj))
    return cache


def names(keys: object) -> list[str]:
    assert isinstance(keys, tuple | list)
    return [f"{key.namespace}/{key.name}" for key in keys]


def test_slices_are_found_by_service_and_by_pod() -> None:
    first = endpoint_slice("web-a", endpoint("web-0", "10.0.0.1"), endpoint("web-1", "10.0.0.2"))
    second = endpoint_slice("web-b", endpoint("web-1", "10.0.0.9"))
    other = endpoint_slice("api-a", endpoint("api-0", "10.0.1.1"), service="api")
    cache = cache_with(*((Kind.ENDPOINT_SLICE, s) for s in (first, second, other)))
    assert list(cache.slices_of("ns", "web")) == [first, second]
    assert list(cache.slices_of("ns", "api")) == [other]
    assert list(cache.slices_of("other", "web")) == []
    assert list(cache.slices_with_pod("ns", "web-1")) == [first, second]
    assert list(cache.slices_with_pod("ns", "web-0")) == [first]


def test_an_endpoint_without_target_ref_is_found_by_hostname() -> None:
    manual = endpoint_slice("manual", endpoint("db-0", "10.0.0.1", by_hostname=True))
    cache = cache_with((Kind.ENDPOINT_SLICE, manual))
    assert list(cache.slices_with_pod("ns", "db-0")) == [manual]


def test_a_slice_without_service_label_belongs_to_no_service() -> None:
    orphan = endpoint_slice("orphan", endpoint("web-0", "10.0.0.1"), service=None)
    cache = cache_with((Kind.ENDPOINT_SLICE, orphan))
    assert list(cache.slices_of("ns", "web")) == []
    assert list(cache.slices_with_pod("ns", "web-0")) == [orphan]


SERVICE_ANNOTATION = "headless-reconciler.io/service"


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        pytest.param(
            service_entry("se", annotations={SERVICE_ANNOTATION: "web"}),
            [("ns", "web")],
            id="annotation",
        ),
        pytest.param(
            service_entry("se", annotations={SERVICE_ANNOTATION: "other/web"}),
            [("other", "web")],
            id="annotation-into-another-namespace-is-indexed-for-the-planner-to-refuse",
        ),
        pytest.param(service_entry("se", hosts=["web"]), [("ns", "web")], id="host-short"),
        pytest.param(service_entry("se", hosts=["web.ns"]), [("ns", "web")], id="host-ns"),
        pytest.param(service_entry("se", hosts=["web.ns.svc"]), [("ns", "web")], id="host-svc"),
        pytest.param(
            service_entry("se", hosts=["web.ns.svc.cluster.local"]),
            [("ns", "web")],
            id="host-fqdn",
        ),
        pytest.param(
            service_entry("se", hosts=["web-1.web.ns.svc.cluster.local"]),
            [("ns", "web")],
            id="host-of-one-pod",
        ),
        pytest.param(
            service_entry(
                "se", annotations={SERVICE_ANNOTATION: "web"}, hosts=["api.ns.svc.cluster.local"]
            ),
            [("ns", "web"), ("ns", "api")],
            id="annotation-and-host",
        ),
        pytest.param(
            service_entry("se", hosts=["api.example.com"]), [], id="external-host-names-nothing"
        ),
        pytest.param(
            service_entry("se", annotations={SERVICE_ANNOTATION: "a/b/c"}),
            [],
            id="malformed-annotation-names-nothing",
        ),
    ],
)
def test_service_entries_are_found_by_the_services_they_name(
    entry: object, expected: list[tuple[str, str]]
) -> None:
    cache = cache_with((Kind.SERVICE_ENTRY, entry))
    for ns, svc in expected:
        assert cache.service_entries_of_service(ns, svc) == (NamespacedName("ns", "se"),)
    assert cache.service_entries_of_service("ns", "unrelated") == ()


def test_hosts_are_read_with_the_configured_cluster_domain() -> None:
    entry = service_entry("se", hosts=["web.ns.svc.corp.example"])
    plain = cache_with((Kind.SERVICE_ENTRY, entry))
    custom = cache_with((Kind.SERVICE_ENTRY, entry), cluster_domain="corp.example")
    assert plain.service_entries_of_service("ns", "web") == ()
    assert custom.service_entries_of_service("ns", "web") == (NamespacedName("ns", "se"),)


def test_a_changed_annotation_moves_the_entry_in_the_index() -> None:
    before = service_entry("se", annotations={SERVICE_ANNOTATION: "web"})
    after = service_entry("se", version="2", annotations={SERVICE_ANNOTATION: "api"})
    cache = cache_with((Kind.SERVICE_ENTRY, before), (Kind.SERVICE_ENTRY, after))
    assert cache.service_entries_of_service("ns", "web") == ()
    assert cache.service_entries_of_service("ns", "api") == (NamespacedName("ns", "se"),)
    cache.apply(Kind.SERVICE_ENTRY, Deleted(after))
    assert cache.service_entries_of_service("ns", "api") == ()


def test_workload_entries_are_found_by_their_pod() -> None:
    cache = cache_with(
        (Kind.WORKLOAD_ENTRY, workload_entry("we-1", pod="web-1")),
        (Kind.WORKLOAD_ENTRY, workload_entry("we-1b", pod="web-1")),
        (Kind.WORKLOAD_ENTRY, workload_entry("far", pod="ns/web-2", namespace="other")),
        (Kind.WORKLOAD_ENTRY, workload_entry("none", pod=None)),
    )
    assert names(cache.workload_entries_of_pod("ns", "web-1")) == ["ns/we-1", "ns/we-1b"]
    assert names(cache.workload_entries_of_pod("ns", "web-2")) == ["other/far"]
    assert cache.workload_entries_of_pod("ns", "web-0") == ()


def test_the_planner_view_answers_from_the_stores() -> None:
    web, api = service("web"), service("api")
    entry, workload = service_entry("se"), workload_entry("we", pod="web-0")
    cache = cache_with(
        (Kind.NAMESPACE, namespace("ns")),
        (Kind.SERVICE, web),
        (Kind.SERVICE, api),
        (Kind.SERVICE_ENTRY, entry),
        (Kind.WORKLOAD_ENTRY, workload),
    )
    assert cache.namespace("ns") == namespace("ns")
    assert cache.namespace("missing") is None
    assert cache.service("ns", "web") is web
    assert sorted(cache.services_in("ns"), key=lambda s: s.metadata.name) == [api, web]
    assert cache.service_entry("ns", "se") is entry
    assert cache.workload_entry("ns", "we") is workload
    assert cache.service_entry("ns", "we") is None


@pytest.mark.parametrize(
    ("labels", "managed"),
    [
        ({"headless-reconciler.io/managed": "enabled"}, True),
        ({"headless-reconciler.io/managed": "disabled"}, False),
        ({}, False),
    ],
)
def test_namespace_label_state(labels: dict[str, str], managed: bool) -> None:
    cache = cache_with((Kind.NAMESPACE, namespace("ns", labels=labels)))
    assert cache.namespace_managed("ns") is managed
    assert cache.namespace_managed("absent") is False


def test_primary_keys_are_every_entry_and_service() -> None:
    cache = cache_with(
        (Kind.SERVICE, service("web")),
        (Kind.SERVICE_ENTRY, service_entry("se")),
        (Kind.WORKLOAD_ENTRY, workload_entry("we", pod="web-0")),
        (Kind.ENDPOINT_SLICE, endpoint_slice("web-a")),
        (Kind.NAMESPACE, namespace("ns")),
    )
    assert set(cache.primary_keys()) == {
        ObjectKey(Kind.SERVICE, "ns", "web"),
        ObjectKey(Kind.SERVICE_ENTRY, "ns", "se"),
        ObjectKey(Kind.WORKLOAD_ENTRY, "ns", "we"),
    }


def test_synced_only_once_every_kind_has_been_listed() -> None:
    cache = ClusterCache()
    for kind in ALL_KINDS[:-1]:
        cache.apply(kind, Relisted([], "1"))
    cache.apply(ALL_KINDS[-1], Applied(workload_entry("early", pod=None)))
    assert not cache.synced.is_set(), "a watch event before the list does not count"
    cache.apply(ALL_KINDS[-1], Relisted([], "2"))
    assert cache.synced.is_set()
    cache.apply(Kind.SERVICE, Relisted([], "3"))
    assert cache.synced.is_set(), "a later relist does not make the cache unsynced"


def test_apply_returns_the_changes_of_a_relist() -> None:
    cache = cache_with((Kind.SERVICE, service("gone")))
    changes = cache.apply(Kind.SERVICE, Relisted([service("new")], "7"))
    assert sorted((c.old is None, c.new is None) for c in changes) == [(False, True), (True, False)]
    assert cache.service("ns", "gone") is None
