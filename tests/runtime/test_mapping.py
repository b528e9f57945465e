"""From one changed object to the keys to reconcile: one row per relation.

The world (``ns`` unless said otherwise):

- headless Service ``web`` with slices ``web-a`` [web-0, web-1] and ``web-b`` [web-2];
  Service ``api`` with slice ``api-a`` [api-0]; Service ``web-grpc`` paired from ``web``;
- ServiceEntries ``se-web`` (annotation), ``se-host`` (host), ``se-api`` (annotation),
  ``other/se-far`` (annotation ``ns/web``, for the planner to refuse);
- WorkloadEntries ``we-1`` (pod web-1), ``we-2`` (pod web-2), ``we-api`` (pod api-0),
  ``other/we-far`` (pod ``ns/web-1``).
"""

from __future__ import annotations

import msgspec
import pytest
from runtime_world import (
    endpoint,
    endpoint_slice,
    namespace,
    service,
    service_entry,
    workload_entry,
)

from reconciler.models.projections import WorkloadSpec
from reconciler.models.refs import Kind, ObjectKey
from reconciler.runtime.cache import ClusterCache
from reconciler.runtime.mapping import keys_for_change
from reconciler.watching import Applied

SERVICE = "headless-reconciler.io/service"
SOURCE = "headless-reconciler.io/source"
MANAGED = {"headless-reconciler.io/managed": "enabled"}

WEB_A = endpoint_slice("web-a", endpoint("web-0", "10.0.0.1"), endpoint("web-1", "10.0.0.2"))
WEB_B = endpoint_slice("web-b", endpoint("web-2", "10.0.0.3"))
API_A = endpoint_slice("api-a", endpoint("api-0", "10.0.1.1"), service="api")
PAIRED = service("web-grpc", annotations={SOURCE: "web"})


def world() -> ClusterCache:
    cache = ClusterCache()
    objects: list[tuple[Kind, object]] = [
        (Kind.NAMESPACE, namespace("ns")),
        (Kind.SERVICE, service("web")),
        (Kind.SERVICE, service("api")),
        (Kind.SERVICE, PAIRED),
        (Kind.ENDPOINT_SLICE, WEB_A),
        (Kind.ENDPOINT_SLICE, WEB_B),
        (Kind.ENDPOINT_SLICE, API_A),
        (Kind.SERVICE_ENTRY, service_entry("se-web", annotations={SERVICE: "web"})),
        (Kind.SERVICE_ENTRY, service_entry("se-host", hosts=["web.ns.svc.cluster.local"])),
        (Kind.SERVICE_ENTRY, service_entry("se-api", annotations={SERVICE: "api"})),
        (
            Kind.SERVICE_ENTRY,
            service_entry("se-far", namespace="other", annotations={SERVICE: "ns/web"}),
        ),
        (Kind.WORKLOAD_ENTRY, workload_entry("we-1", pod="web-1")),
        (Kind.WORKLOAD_ENTRY, workload_entry("we-2", pod="web-2")),
        (Kind.WORKLOAD_ENTRY, workload_entry("we-api", pod="api-0")),
        (Kind.WORKLOAD_ENTRY, workload_entry("we-far", namespace="other", pod="ns/web-1")),
    ]
    for kind, obj in objects:
        cache.apply(kind, Applied(obj))
    return cache


def keys(*names: str) -> set[ObjectKey]:
    """``se:ns/name``, ``we:ns/name``, ``svc:ns/name`` into keys."""
    kinds = {"se": Kind.SERVICE_ENTRY, "we": Kind.WORKLOAD_ENTRY, "svc": Kind.SERVICE}
    found = set()
    for name in names:
        kind, _, rest = name.partition(":")
        ns, _, obj = rest.partition("/")
        found.add(ObjectKey(kinds[kind], ns, obj))
    return found


WEB_ENTRIES = ("se:ns/se-web", "se:ns/se-host", "se:other/se-far")
WEB_1_ENTRIES = ("we:ns/we-1", "we:other/we-far")


@pytest.mark.parametrize(
    ("kind", "old", "new", "expected"),
    [
        pytest.param(
            Kind.ENDPOINT_SLICE,
            WEB_A,
            endpoint_slice(
                "web-a", endpoint("web-0", "10.0.0.1"), endpoint("web-1", "10.0.0.7"), version="2"
            ),
            keys(*WEB_ENTRIES, *WEB_1_ENTRIES),
            id="slice-pod-new-ip->service-entries-and-that-pods-workload-entries",
        ),
        pytest.param(
            Kind.ENDPOINT_SLICE,
            WEB_A,
            endpoint_slice(
                "web-a",
                endpoint("web-0", "10.0.0.1"),
                endpoint("web-1", "10.0.0.2", ready=False),
                version="2",
            ),
            keys(*WEB_ENTRIES, *WEB_1_ENTRIES),
            id="slice-pod-not-ready->same",
        ),
        pytest.param(
            Kind.ENDPOINT_SLICE,
            WEB_A,
            endpoint_slice("web-a", endpoint("web-0", "10.0.0.1"), version="2"),
            keys(*WEB_ENTRIES, *WEB_1_ENTRIES),
            id="pod-left-the-slice->its-workload-entries-from-the-old-state",
        ),
        pytest.param(
            Kind.ENDPOINT_SLICE,
            WEB_A,
            endpoint_slice(
                "web-a",
                endpoint("web-0", "10.0.0.1"),
                endpoint("web-1", "10.0.0.2"),
                version="2",
                port=9090,
            ),
            keys(*WEB_ENTRIES),
            id="slice-ports-only->service-entries-only",
        ),
        pytest.param(
            Kind.ENDPOINT_SLICE,
            None,
            WEB_B,
            keys(*WEB_ENTRIES, "we:ns/we-2"),
            id="slice-created->every-pod-in-it",
        ),
        pytest.param(
            Kind.ENDPOINT_SLICE,
            WEB_A,
            None,
            keys(*WEB_ENTRIES, *WEB_1_ENTRIES),
            id="slice-deleted->every-pod-it-had",
        ),
        pytest.param(
            Kind.ENDPOINT_SLICE,
            API_A,
            endpoint_slice("api-a", endpoint("api-0", "10.0.1.1"), service="web", version="2"),
            keys(*WEB_ENTRIES, "se:ns/se-api", "we:ns/we-api"),
            id="slice-moved-between-services->both-services-and-all-its-pods",
        ),
        pytest.param(
            Kind.ENDPOINT_SLICE,
            None,
            endpoint_slice("loose", endpoint("web-2", "10.0.0.3"), service=None),
            keys("we:ns/we-2"),
            id="slice-without-service->workload-entries-only",
        ),
        pytest.param(
            Kind.SERVICE,
            service("web"),
            service("web", version="2"),
            keys("svc:ns/web", *WEB_ENTRIES, *WEB_1_ENTRIES, "we:ns/we-2"),
            id="service->itself-its-entries-and-the-workload-entries-of-its-pods",
        ),
        pytest.param(
            Kind.SERVICE,
            None,
            service("new"),
            keys("svc:ns/new"),
            id="unreferenced-service->itself",
        ),
        pytest.param(
            Kind.SERVICE,
            PAIRED,
            service("web-grpc", version="2"),
            keys("svc:ns/web-grpc", "svc:ns/web"),
            id="paired-service-losing-its-source-annotation->its-source-from-the-old-state",
        ),
        pytest.param(
            Kind.SERVICE,
            PAIRED,
            None,
            keys("svc:ns/web-grpc", "svc:ns/web"),
            id="paired-service-deleted->its-source",
        ),
        pytest.param(
            Kind.SERVICE_ENTRY,
            service_entry("se-web", annotations={SERVICE: "web"}),
            service_entry("se-web", annotations={SERVICE: "api"}, version="2"),
            keys("se:ns/se-web"),
            id="service-entry->itself",
        ),
        pytest.param(
            Kind.SERVICE_ENTRY,
            service_entry("se-web"),
            None,
            keys("se:ns/se-web"),
            id="service-entry-deleted->itself",
        ),
        pytest.param(
            Kind.WORKLOAD_ENTRY,
            None,
            workload_entry("we-new", pod="web-0"),
            keys("we:ns/we-new"),
            id="workload-entry->itself",
        ),
        pytest.param(
            Kind.NAMESPACE,
            namespace("ns"),
            namespace("ns", version="2", labels=MANAGED),
            keys(
                "se:ns/se-web",
                "se:ns/se-host",
                "se:ns/se-api",
                "we:ns/we-1",
                "we:ns/we-2",
                "we:ns/we-api",
                "svc:ns/web",
                "svc:ns/api",
                "svc:ns/web-grpc",
            ),
            id="namespace-opting-in->everything-in-it",
        ),
        pytest.param(
            Kind.NAMESPACE,
            namespace("ns", labels=MANAGED),
            namespace("ns", version="2", labels=MANAGED),
            set(),
            id="namespace-with-unchanged-labels->nothing",
        ),
        pytest.param(
            Kind.NAMESPACE,
            None,
            namespace("empty", labels=MANAGED),
            set(),
            id="new-empty-namespace->nothing",
        ),
    ],
)
def test_a_change_maps_to_the_keys_that_read_it(
    kind: Kind, old: object, new: object, expected: set[ObjectKey]
) -> None:
    assert keys_for_change(kind, old, new, links=world()) == expected


def test_the_kind_must_match_the_objects() -> None:
    with pytest.raises(TypeError):
        keys_for_change(Kind.SERVICE, None, WEB_A, links=world())


def test_a_change_needs_a_state() -> None:
    with pytest.raises(ValueError, match="old or a new state"):
        keys_for_change(Kind.SERVICE_ENTRY, None, None, links=world())


def test_a_pod_taking_an_address_re_plans_every_entry_still_listing_it() -> None:
    cache = world()
    listing = service_entry("se-stale", namespace="other", annotations={SERVICE: "gone"})
    spec = msgspec.structs.replace(
        listing.spec, endpoints=(WorkloadSpec(address="10.0.5.5"), WorkloadSpec(address="10.0.5.6"))
    )
    cache.apply(Kind.SERVICE_ENTRY, Applied(msgspec.structs.replace(listing, spec=spec)))
    recycled = endpoint_slice("db-a", endpoint("db-0", "10.0.5.5"), service="db")

    assert keys_for_change(Kind.ENDPOINT_SLICE, None, recycled, links=cache) == keys(
        "se:other/se-stale"
    )
    unrelated = endpoint_slice("db-b", endpoint("db-1", "10.0.5.7"), service="db")
    assert keys_for_change(Kind.ENDPOINT_SLICE, None, unrelated, links=cache) == set()
