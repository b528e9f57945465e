"""Service changes that touch pairing map to the headless Services that may want a twin.

The world (namespace ``ns``): headless Services ``web`` (no annotation: a
namespace-wide opt-in would pair it as ``web-grpc``), ``api`` and ``db``
(both annotated ``shared``), ``plain`` with a cluster IP and no annotation.
"""

from __future__ import annotations

import pytest
from runtime_world import service

from reconciler.models.projections import Service, ServiceSpec
from reconciler.models.refs import Kind, ObjectKey
from reconciler.runtime.cache import ClusterCache
from reconciler.runtime.mapping import keys_for_change
from reconciler.watching import Applied

GRPC_SERVICE = "headless-reconciler.io/grpc-service"
SHARED = {GRPC_SERVICE: "shared"}


def cluster_ip(name: str) -> Service:
    return Service(
        metadata=service(name).metadata, spec=ServiceSpec(cluster_ip="10.96.0.9", selector=None)
    )


def world(template: str = "{name}-grpc") -> ClusterCache:
    cache = ClusterCache(paired_name_template=template)
    for obj in (
        service("web"),
        service("api", annotations=SHARED),
        service("db", annotations=SHARED),
        cluster_ip("plain"),
    ):
        cache.apply(Kind.SERVICE, Applied(obj))
    return cache


def keys(*names: str) -> set[ObjectKey]:
    return {ObjectKey(Kind.SERVICE, "ns", name) for name in names}


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        pytest.param(
            None, cluster_ip("web-grpc"), keys("web-grpc", "web"), id="foreign-takes-template-name"
        ),
        pytest.param(
            cluster_ip("shared"), None, keys("shared", "api", "db"), id="foreign-leaves-asked-name"
        ),
        pytest.param(
            service("api", annotations=SHARED),
            service("api", version="2"),
            keys("api", "db"),
            id="one-of-two-rivals-lets-go",
        ),
        pytest.param(
            service("web", version="0"),
            service("web", annotations=SHARED, version="2"),
            keys("web", "api", "db"),
            id="a-third-rival-arrives",
        ),
        pytest.param(
            cluster_ip("plain"), cluster_ip("plain"), keys("plain"), id="unrelated-service"
        ),
    ],
)
def test_a_service_change_maps_to_those_that_may_ask_for_its_name_or_share_theirs(
    old: Service | None, new: Service | None, expected: set[ObjectKey]
) -> None:
    assert keys_for_change(Kind.SERVICE, old, new, links=world()) == expected


def test_the_name_template_decides_which_name_a_headless_service_may_ask_for() -> None:
    cache = world("{name}-h2")

    assert keys_for_change(Kind.SERVICE, None, cluster_ip("web-h2"), links=cache) == keys(
        "web-h2", "web"
    )
    assert keys_for_change(Kind.SERVICE, None, cluster_ip("web-grpc"), links=cache) == keys(
        "web-grpc"
    )


def test_the_index_follows_annotation_changes() -> None:
    cache = world()
    cache.apply(
        Kind.SERVICE, Applied(service("api", annotations={GRPC_SERVICE: "api-h2"}, version="2"))
    )

    assert cache.services_asking_for("ns", "shared") == (("ns", "db"),)
    assert cache.services_asking_for("ns", "api-h2") == (("ns", "api"),)
    assert cache.services_asking_for("ns", "plain-grpc") == ()
